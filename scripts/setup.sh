#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for tsbuild (as root: runc and overlay mounts need it),
# builds the packages, and builds the example image in examples/hello.
#   bash scripts/setup.sh              # everything, then the example build
#   bash scripts/setup.sh --no-example # everything but the example (what CI runs)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (sudo bash scripts/setup.sh): builds mount overlayfs and run runc" >&2
  exit 1
fi

# runc runs RUN steps; attr gives getfattr/setfattr, which tests use to set and check xattrs on their own; busybox-static is the offline
# test base; buildah, skopeo and umoci read what tsbuild writes in tests; docker-registry,
# apache2-utils and openssl serve a real registry in tests; gcc and libc6-dev compile the
# @tsbuild/syscalls addon (mount, umount, mknod, xattrs) against Node's headers; libdeflate-dev
# is what @tsbuild/store's gzip addon compresses layers with (docs/decisions/0013).
packages=(gcc libc6-dev libdeflate-dev runc attr busybox-static buildah skopeo umoci docker-registry apache2-utils openssl xz-utils bzip2)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci refuses a lock file that lacks the other platforms' optional binaries of @swc/core and
# turbo, and this workplace's npm registry does not serve those (404), so npm cannot record them
# (docs/decisions/0003-npm-install-fallback.md). npm install then installs the locked versions.
if ! npm ci --loglevel=error --no-audit --no-fund 2>/tmp/tsbuild-npm-ci.log; then
  echo "setup.sh: npm ci refused the lock file ($(grep -m1 -o 'Missing: [^ ]*' /tmp/tsbuild-npm-ci.log || echo 'see /tmp/tsbuild-npm-ci.log')); using npm install" >&2
  npm install --loglevel=error --no-audit --no-fund
fi
npm run build

if [ "${1:-}" = "--no-example" ]; then exit 0; fi

example=.example
rm -rf "$example"
mkdir -p "$example"
bash scripts/make-busybox-image.sh "$example/base" >/dev/null
npx tsbuild build -f examples/hello/Dockerfile \
  --build-context "busybox=oci-layout://$PWD/$example/base/busybox:latest" \
  --root "$example/store" -t hello:latest \
  -o "type=oci,dest=$example/hello.oci.tar" -o "type=local,dest=$example/rootfs" \
  --progress plain examples/hello
echo
echo "Built hello:latest into the store at $example/store;"
echo "OCI archive: $example/hello.oci.tar (try: skopeo inspect oci-archive:$example/hello.oci.tar)"
echo "Root filesystem: $example/rootfs (try: chroot $example/rootfs /usr/local/bin/greet)"
