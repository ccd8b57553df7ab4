// Base images for the workloads, made offline (busybox) or once and cached (Debian via debootstrap)
// as OCI image layouts, and served to every builder by a local registry (cold builds pull them).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, createWriteStream, existsSync, openSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { createGzip } from "node:zlib";
import { registryConfigLines } from "../registry-config.mjs";
import { run, tail } from "./measure.mjs";

export const DEBIAN_SUITE = "bookworm";
const DEBIAN_MIRROR = "http://deb.debian.org/debian";
/** Node's architecture names → OCI (Go) names. */
const OCI_ARCH = { x64: "amd64", ia32: "386" }[process.arch] ?? process.arch;

/** OCI layout of busybox (ref latest) at dir/busybox, from scripts/make-busybox-image.sh. */
export async function busyboxLayout(repo, dir) {
  await run("sh", [path.join(repo, "scripts", "make-busybox-image.sh"), dir]);
  return path.join(dir, "busybox");
}

/**
 * OCI layout of a Debian minbase (ref latest) at dir/debian. The debootstrap root file system is
 * cached at cacheDir/debian-SUITE-minbase: a second run with the same --work skips the download.
 */
export async function debianLayout(cacheDir, dir, log) {
  const rootfs = path.join(cacheDir, `debian-${DEBIAN_SUITE}-minbase`);
  if (!existsSync(rootfs)) {
    if (!existsSync("/usr/sbin/debootstrap")) {
      throw new Error("debootstrap is missing: run `apt-get install -y debootstrap` (the Debian workloads need it)");
    }
    log(`debootstrap --variant=minbase ${DEBIAN_SUITE} (once; cached in ${rootfs})`);
    const partial = `${rootfs}.partial`;
    await rm(partial, { recursive: true, force: true });
    await run("debootstrap", ["--variant=minbase", DEBIAN_SUITE, partial, DEBIAN_MIRROR]);
    await rename(partial, rootfs);
  }
  const layout = path.join(dir, "debian");
  await layoutFromRootfs(rootfs, layout, `debootstrap --variant=minbase ${DEBIAN_SUITE}`);
  return layout;
}

/** Counts and hashes the bytes flowing through. */
function digester() {
  const hash = createHash("sha256");
  let size = 0;
  const stream = new Transform({
    transform(chunk, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  return { stream, result: () => ({ digest: `sha256:${hash.digest("hex")}`, size }) };
}

/**
 * One-layer OCI layout (ref latest) from a root file system: GNU tar (numeric owners, sorted, no
 * device nodes or /proc, /sys contents: images carry empty mount points) → diffID, gzip → digest.
 */
async function layoutFromRootfs(rootfs, layout, createdBy) {
  const blobs = path.join(layout, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const tmpBlob = path.join(layout, "layer.tmp");
  const tar = spawn(
    "tar",
    ["--create", "--numeric-owner", "--sort=name", "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "-C", rootfs, "."],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const tarExit = new Promise((resolve) => tar.on("close", resolve));
  const diff = digester();
  const blob = digester();
  await pipeline(tar.stdout, diff.stream, createGzip({ level: 1 }), blob.stream, createWriteStream(tmpBlob));
  if ((await tarExit) !== 0) throw new Error(`tar of ${rootfs} failed`);
  const layer = blob.result();
  await rename(tmpBlob, path.join(blobs, layer.digest.slice(7)));

  const addJson = async (value) => {
    const bytes = Buffer.from(JSON.stringify(value));
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    await writeFile(path.join(blobs, digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  };
  const created = "1970-01-01T00:00:00Z";
  const config = await addJson({
    architecture: OCI_ARCH,
    os: "linux",
    created,
    config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["bash"] },
    rootfs: { type: "layers", diff_ids: [diff.result().digest] },
    history: [{ created, created_by: createdBy }],
  });
  const manifest = await addJson({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...layer }],
  });
  await writeFile(path.join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    path.join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          platform: { architecture: OCI_ARCH, os: "linux" },
          annotations: { "org.opencontainers.image.ref.name": "latest" },
        },
      ],
    }),
  );
}

const REGISTRY_BINARY = "/usr/bin/docker-registry";

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The HTTP status of GET url, or undefined when nothing answers. */
function httpStatus(url) {
  return new Promise((resolve) => {
    const request = http.get(url, (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on("error", () => resolve(undefined));
  });
}

/**
 * Debian's docker-registry (CNCF Distribution) on 127.0.0.1 at a free port, plain HTTP, storage in
 * dir/data, log in dir/registry.log. Returns { host, push(layout, name) → reference, stop() };
 * stop() kills it and deletes dir.
 */
export async function startBaseRegistry(dir) {
  if (!existsSync(REGISTRY_BINARY)) throw new Error("docker-registry is missing: run `apt-get install -y docker-registry` (cold builds pull their base from it)");
  await mkdir(dir, { recursive: true });
  const host = `127.0.0.1:${await freePort()}`;
  const config = path.join(dir, "config.yml");
  await writeFile(config, `${registryConfigLines({ host, storageDir: path.join(dir, "data") }).join("\n")}\n`);
  const policy = path.join(dir, "policy.json");
  await writeFile(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  const logFile = path.join(dir, "registry.log");
  const logFd = openSync(logFile, "a");
  const child = spawn(REGISTRY_BINARY, ["serve", config], { stdio: ["ignore", logFd, logFd] });
  closeSync(logFd);
  const exited = new Promise((resolve) => child.once("close", resolve));
  child.on("error", () => {});

  let stopped;
  const registry = {
    host,
    /** Pushes the layout's `latest` as bench/NAME:latest (not timed) and returns that reference. */
    async push(layout, name) {
      const reference = `${host}/bench/${name}:latest`;
      await run("skopeo", ["copy", "--quiet", "--policy", policy, "--dest-tls-verify=false", `oci:${layout}:latest`, `docker://${reference}`]);
      return reference;
    },
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
          await exited;
          clearTimeout(timer);
        }
        await rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
  for (let waited = 0; waited < 200; waited++) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if ((await httpStatus(`http://${host}/v2/`)) === 200) return registry;
    await sleep(100);
  }
  const output = await readFile(logFile, "utf8").catch(() => "");
  await registry.stop();
  throw new Error(`docker-registry did not answer on http://${host}/v2/ within 20 s:\n${tail(output, 8)}`);
}
