#!/bin/sh
# Builds, offline, a minimal busybox base image as an OCI image layout at OUT_DIR/busybox
# (reference `latest`) from the installed Debian package busybox-static.
#
#   scripts/make-busybox-image.sh OUT_DIR
#
# Deterministic: fixed mtimes, numeric owners, sorted tar entries and `gzip -n`, so the same host
# (same busybox and gzip) gives the same bytes every run. Needs root (files are chowned to the
# owners the image records) and: busybox-static, GNU tar, gzip, sha256sum, dpkg.
set -eu

if [ "$#" -ne 1 ]; then
  echo "usage: $0 OUT_DIR   (writes an OCI image layout to OUT_DIR/busybox)" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "$0: must run as root: the layer records root and uid 1000 owners" >&2
  exit 1
fi
BUSYBOX=/bin/busybox
if ! dpkg -S "$BUSYBOX" 2>/dev/null | grep -q '^busybox-static:'; then
  echo "$0: $BUSYBOX is not from the Debian package busybox-static; run: apt-get install busybox-static" >&2
  exit 1
fi

mkdir -p "$1"
OUT_DIR=$(cd "$1" && pwd)
# 1970-01-01T00:00:00Z for every file and for the config's `created`: nothing here depends on when
# the script ran.
EPOCH=0
CREATED=1970-01-01T00:00:00Z
BUSYBOX_VERSION=$(dpkg-query -W -f='${Version}' busybox-static)
# Debian architecture names -> OCI (Go) names.
case "$(dpkg --print-architecture)" in
  amd64) ARCH=amd64 ;;
  arm64) ARCH=arm64 ;;
  armhf | armel) ARCH=arm ;;
  i386) ARCH=386 ;;
  ppc64el) ARCH=ppc64le ;;
  *) ARCH=$(dpkg --print-architecture) ;;
esac

WORK=$(mktemp -d "$OUT_DIR/.busybox-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOTFS=$WORK/rootfs
LAYOUT=$WORK/layout

# --- root filesystem -------------------------------------------------------------------------
umask 022
mkdir -p "$ROOTFS"
cd "$ROOTFS"
mkdir -p bin sbin usr/bin usr/sbin etc dev proc sys tmp root home/builder var
cp "$BUSYBOX" bin/busybox
chmod 0755 bin/busybox
# One symlink per applet at the path busybox itself lists (bin/sh among them). `linuxrc` is the
# initrd entry point, not a command.
"$BUSYBOX" --list-full | while read -r applet; do
  case "$applet" in
    bin/busybox | linuxrc) ;;
    *) ln -s /bin/busybox "$applet" ;;
  esac
done
test -L bin/sh

cat > etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
builder:x:1000:1000:builder:/home/builder:/bin/sh
EOF
# `builder` is also a member of `users`, so images built on this base have a supplementary group.
cat > etc/group <<'EOF'
root:x:0:
users:x:100:builder
nobody:x:65534:
builder:x:1000:
EOF
chmod 0644 etc/passwd etc/group
chmod 1777 tmp
chmod 0700 root
chown -R 0:0 .
chown 1000:1000 home/builder

# --- the layer: sorted entries, fixed mtimes, numeric owners ---------------------------------
mkdir -p "$LAYOUT/blobs/sha256"
find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort > "$WORK/entries"
LAYER_TAR=$WORK/layer.tar
tar --create --file="$LAYER_TAR" --format=gnu --no-recursion --verbatim-files-from \
  --files-from="$WORK/entries" --numeric-owner --mtime="@$EPOCH"
cd "$OUT_DIR"

sha256() { sha256sum "$1" | cut -d' ' -f1; }
size() { wc -c < "$1" | tr -d ' '; }
# Moves a file into the blob store under its own digest and prints the digest.
add_blob() {
  digest=$(sha256 "$1")
  mv "$1" "$LAYOUT/blobs/sha256/$digest"
  echo "$digest"
}

DIFF_ID=$(sha256 "$LAYER_TAR")
gzip -n -9 < "$LAYER_TAR" > "$WORK/layer.tar.gz"
rm "$LAYER_TAR"
LAYER_SIZE=$(size "$WORK/layer.tar.gz")
LAYER_DIGEST=$(add_blob "$WORK/layer.tar.gz")

printf '%s' "{\"architecture\":\"$ARCH\",\"os\":\"linux\",\"created\":\"$CREATED\",\
\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],\"Cmd\":[\"sh\"]},\
\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$DIFF_ID\"]},\
\"history\":[{\"created\":\"$CREATED\",\"created_by\":\"scripts/make-busybox-image.sh (busybox-static $BUSYBOX_VERSION)\"}]}" \
  > "$WORK/config.json"
CONFIG_SIZE=$(size "$WORK/config.json")
CONFIG_DIGEST=$(add_blob "$WORK/config.json")

printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$CONFIG_DIGEST\",\"size\":$CONFIG_SIZE},\
\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$LAYER_DIGEST\",\"size\":$LAYER_SIZE}]}" \
  > "$WORK/manifest.json"
MANIFEST_SIZE=$(size "$WORK/manifest.json")
MANIFEST_DIGEST=$(add_blob "$WORK/manifest.json")

printf '%s' '{"imageLayoutVersion":"1.0.0"}' > "$LAYOUT/oci-layout"
printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\
\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$MANIFEST_DIGEST\",\"size\":$MANIFEST_SIZE,\
\"platform\":{\"architecture\":\"$ARCH\",\"os\":\"linux\"},\
\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}" \
  > "$LAYOUT/index.json"

# Replace any previous layout only once the new one is complete.
rm -rf "$OUT_DIR/busybox"
mv "$LAYOUT" "$OUT_DIR/busybox"
echo "$OUT_DIR/busybox: busybox-static $BUSYBOX_VERSION, manifest sha256:$MANIFEST_DIGEST"
