// ADD beyond COPY: local tar archives (plain, gzip, bzip2, xz) are extracted,
// and http(s) URLs are downloaded, verified with --checksum when given.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { chmod, chown, rm, utimes } from "node:fs/promises";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import type { CopyInstruction } from "@tsbuild/dockerfile";
import { mkdirInRoot, resolveInRoot } from "@tsbuild/executor";
import { applyChangeset } from "@tsbuild/layers";
import { GUNZIP_OUTPUT_CHUNK } from "@tsbuild/oci";
import { trustedCertificates } from "@tsbuild/registry";
import { copyIntoRootfs, CopyError, readHead, type CopyOptions, type CopySourceRoot, type SelectedSource } from "./copy.js";

type Compression = "none" | "gzip" | "bzip2" | "xz";

/** The compression of a tar archive by its first bytes, or undefined when it is not a tar. */
export function archiveKind(head: Buffer): Compression | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 3 && head.toString("latin1", 0, 3) === "BZh") return "bzip2";
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return "xz";
  if (head.length >= 262 && head.toString("latin1", 257, 262) === "ustar") return "none";
  return undefined;
}

export async function addFromSource(
  root: CopySourceRoot,
  selected: readonly SelectedSource[],
  urls: readonly string[],
  rootfs: string,
  destination: { dest: string; isDir: boolean },
  options: CopyOptions,
  instruction: Pick<CopyInstruction, "checksum" | "unpack">,
): Promise<void> {
  const plain: SelectedSource[] = [];
  for (const source of selected) {
    const hostPath = path.join(root.dir, source.rel);
    const kind = source.stat.type === "file" && instruction.unpack !== false ? archiveKind(await readHead(hostPath, 512)) : undefined;
    // A compressed file that is not a tar inside is copied as it is, as Docker does.
    if (kind !== undefined && (await extractArchive(hostPath, kind, rootfs, destination.dest))) continue;
    plain.push(source);
  }
  if (plain.length > 0) await copyIntoRootfs(root, plain, rootfs, destination, options);
  for (const url of urls) await download(url, rootfs, destination, options, instruction.checksum);
}

async function extractArchive(file: string, kind: Compression, rootfs: string, dest: string): Promise<boolean> {
  if (kind !== "none" && !(await containsTar(file, kind))) return false;
  await mkdirInRoot(rootfs, dest, 0, 0);
  const target = await resolveInRoot(rootfs, dest);
  await applyChangeset(decompress(createReadStream(file), kind), target, { mode: "merge" });
  return true;
}

async function containsTar(file: string, kind: Compression): Promise<boolean> {
  const stream = decompress(createReadStream(file, { end: 1 << 16 }), kind);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= 512) break;
    }
  } catch {
    // A truncated read of the head fails to decompress fully; what came out still tells.
  }
  return archiveKind(Buffer.concat(chunks)) === "none";
}

function decompress(input: Readable, kind: Compression): Readable {
  if (kind === "none") return input;
  if (kind === "gzip") return input.pipe(createGunzip({ chunkSize: GUNZIP_OUTPUT_CHUNK }));
  const tool = kind === "bzip2" ? "bzip2" : "xz";
  const child = spawn(tool, ["-dc"], { stdio: ["pipe", "pipe", "pipe"] });
  const out = new PassThrough();
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  input.pipe(child.stdin);
  child.stdin.on("error", () => undefined);
  child.stdout.pipe(out, { end: false });
  child.on("close", (code) => {
    if (code === 0) out.end();
    else out.destroy(new CopyError(`${tool} -dc failed (exit ${code}): ${stderr.trim()}`));
  });
  child.on("error", (e) => out.destroy(new CopyError(`cannot run ${tool} to decompress: ${e.message}`)));
  return out;
}

async function download(url: string, rootfs: string, destination: { dest: string; isDir: boolean }, options: CopyOptions, checksum: string | undefined): Promise<void> {
  const name = path.posix.basename(new URL(url).pathname) || "index.html";
  const containerPath = destination.isDir ? path.posix.join(destination.dest, name) : destination.dest;
  await mkdirInRoot(rootfs, path.posix.dirname(containerPath), options.owner?.uid ?? 0, options.owner?.gid ?? 0);
  const target = await resolveInRoot(rootfs, containerPath);
  const response = await httpGet(url);
  const hash = createHash("sha256");
  const hashing = new PassThrough();
  hashing.on("data", (chunk: Buffer) => hash.update(chunk));
  await rm(target, { recursive: true, force: true });
  await pipeline(response, hashing, createWriteStream(target, { mode: 0o600 }));
  const actual = `sha256:${hash.digest("hex")}`;
  if (checksum !== undefined && checksum !== actual) {
    await rm(target, { force: true });
    throw new CopyError(`ADD ${url}: checksum mismatch: expected ${checksum}, got ${actual}`);
  }
  await chmod(target, options.mode ?? 0o600);
  await chown(target, options.owner?.uid ?? 0, options.owner?.gid ?? 0);
  const modified = response.headers["last-modified"];
  if (modified) {
    const when = new Date(modified);
    if (!Number.isNaN(when.getTime())) await utimes(target, when, when);
  }
}

const MAX_REDIRECTS = 10;
const DOWNLOAD_IDLE_MS = 300_000;
/** The system's CAs and NODE_EXTRA_CA_CERTS, read on the first https download. */
let httpsAgent: Promise<https.Agent> | undefined;

/** A 200 response for `url` (its body unread), following redirects as curl -L does. */
async function httpGet(url: string): Promise<IncomingMessage> {
  let current = new URL(url);
  for (let redirects = 0; ; redirects++) {
    if (current.protocol !== "http:" && current.protocol !== "https:") throw new CopyError(`ADD ${url}: unsupported URL scheme ${current.protocol}`);
    const agent = current.protocol === "https:" ? await (httpsAgent ??= trustedCertificates().then((ca) => new https.Agent({ ca }))) : undefined;
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const request = (current.protocol === "https:" ? https : http).get(current, { agent }, resolve);
      request.on("error", (e) => reject(new CopyError(`ADD ${url}: ${e.message}`)));
      // An idle connection fails the step rather than hanging it (the socket timeout also covers the body).
      request.setTimeout(DOWNLOAD_IDLE_MS, () => request.destroy(new Error(`no data for ${DOWNLOAD_IDLE_MS / 1000} s`)));
    });
    const location = response.headers.location;
    if (response.statusCode && response.statusCode >= 300 && response.statusCode < 400 && location) {
      response.resume();
      if (redirects === MAX_REDIRECTS) throw new CopyError(`ADD ${url}: more than ${MAX_REDIRECTS} redirects`);
      current = new URL(location, current);
      continue;
    }
    if (response.statusCode !== 200) {
      response.resume();
      throw new CopyError(`ADD ${url}: the server answered ${response.statusCode} ${response.statusMessage ?? ""}`.trimEnd());
    }
    return response;
  }
}
