// Content-addressed blobs: blobs/sha256/<hex>, written once (temp file, fsync, rename), read-only.
import { existsSync } from "node:fs";
import { open, rename, rm, stat } from "node:fs/promises";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DigestingStream, MediaTypes, isDigest, sha256Digest } from "@tsbuild/oci";
import { fileSink, fsyncDir, tempName } from "./atomic.js";
import { BlobDigestMismatchError, BlobNotFoundError, LayerDiffIDMismatchError } from "./errors.js";
import { ParallelGzipStream } from "./parallel-gzip.js";
import { blobFile, type StorePaths } from "./paths.js";

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface LayerBlob extends BlobInfo {
  mediaType: string;
}

export interface PutBlobOptions {
  /** When given, content hashing to anything else throws BlobDigestMismatchError and stores nothing. */
  expectedDigest?: string;
  signal?: AbortSignal;
}

/** Moves a complete, fsynced temp file to its content address; a blob already there is kept. */
async function commitTempBlob(paths: StorePaths, temp: string, digest: string): Promise<void> {
  const target = blobFile(paths, digest);
  if (await exists(target)) {
    await rm(temp, { force: true });
    return;
  }
  await rename(temp, target);
  await fsyncDir(paths.blobs);
}

// A synchronous check: one syscall, cheaper than a thread-pool round trip (docs/decisions/0009).
async function exists(p: string): Promise<boolean> {
  return existsSync(p);
}

/**
 * Streams `source` through `stages` into a new temp file; `check` runs after everything is on
 * disk and fsynced and before anything gets a final name. Any failure removes the temp file.
 */
async function streamToTemp(
  paths: StorePaths,
  source: NodeJS.ReadableStream,
  stages: NodeJS.ReadWriteStream[],
  signal: AbortSignal | undefined,
): Promise<string> {
  const temp = tempName(paths.tmp, "blob");
  const fh = await open(temp, "wx", 0o444);
  try {
    await pipeline([source, ...stages, fileSink(fh)], { signal });
    return temp;
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  } finally {
    await fh.close();
  }
}

export async function putBlob(paths: StorePaths, source: NodeJS.ReadableStream, options: PutBlobOptions = {}): Promise<BlobInfo> {
  if (options.expectedDigest !== undefined && !isDigest(options.expectedDigest)) {
    throw new Error(`putBlob: expected digest ${JSON.stringify(options.expectedDigest)} is not a sha256 digest`);
  }
  const digester = new DigestingStream();
  const temp = await streamToTemp(paths, source, [digester], options.signal);
  const digest = digester.digest();
  try {
    if (options.expectedDigest !== undefined && digest !== options.expectedDigest) {
      throw new BlobDigestMismatchError(options.expectedDigest, digest);
    }
    await commitTempBlob(paths, temp, digest);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  return { digest, size: digester.size };
}

export async function putBlobBytes(paths: StorePaths, bytes: Uint8Array): Promise<BlobInfo> {
  const digest = sha256Digest(bytes);
  if (!(await exists(blobFile(paths, digest)))) {
    const temp = tempName(paths.tmp, "blob");
    try {
      const fh = await open(temp, "wx", 0o444);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await commitTempBlob(paths, temp, digest);
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
  }
  return { digest, size: bytes.byteLength };
}

export async function hasBlob(paths: StorePaths, digest: string): Promise<boolean> {
  return exists(blobFile(paths, digest));
}

export async function blobSize(paths: StorePaths, digest: string): Promise<number> {
  try {
    return (await stat(blobFile(paths, digest))).size;
  } catch {
    throw new BlobNotFoundError(digest, paths.root);
  }
}

export async function openBlob(paths: StorePaths, digest: string): Promise<NodeJS.ReadableStream> {
  const file = blobFile(paths, digest);
  // Open first, so a missing blob is a clear error here rather than an 'error' event later.
  const fh = await open(file, "r").catch(() => {
    throw new BlobNotFoundError(digest, paths.root);
  });
  // A blob never changes: reading to its known end takes buffers of its size, not 1 MiB for
  // each read of a small blob, and no extra read to find the end.
  const { size } = await fh.stat();
  return fh.createReadStream(size > 0 ? { highWaterMark: 1 << 20, start: 0, end: size - 1 } : { highWaterMark: 1 << 20 });
}

export interface IngestLayerOptions {
  /**
   * gzip the tar into a blob (digest computed on the way), on all cores: 1 MiB pieces, each its
   * own gzip member (ParallelGzipStream). Without it only the diffID is computed.
   */
  compress: boolean;
  /**
   * libdeflate's level, 0 to 12 (ParallelGzipStream). Default 1: on the small-files tar (166 MiB)
   * level 1 takes 0.7 s of CPU and level 6 2.9 s for a 10% smaller blob (docs/decisions/0013),
   * and layer export is bound by compression.
   */
  gzipLevel?: number;
  /** The tar must hash to this diffID, or nothing is stored (LayerDiffIDMismatchError). */
  expectedDiffID?: string;
  signal?: AbortSignal;
}

export interface IngestedLayer {
  diffID: string;
  /** Bytes of the uncompressed tar. */
  size: number;
  blob?: LayerBlob;
}

/**
 * The one streaming pass over a layer tar: tar bytes -> sha256 (diffID) [-> gzip -> sha256
 * (digest) -> temp file -> blobs/]. Nothing is buffered beyond stream chunks and the gzip pieces
 * in flight.
 */
export async function ingestLayerTar(
  paths: StorePaths,
  tar: NodeJS.ReadableStream,
  options: IngestLayerOptions,
): Promise<IngestedLayer> {
  const tarDigest = new DigestingStream();
  const checkDiffID = () => {
    const diffID = tarDigest.digest();
    if (options.expectedDiffID !== undefined && diffID !== options.expectedDiffID) {
      throw new LayerDiffIDMismatchError(options.expectedDiffID, diffID);
    }
    return diffID;
  };
  if (!options.compress) {
    const discard = new Writable({ write: (_chunk, _enc, callback) => callback() });
    await pipeline([tar, tarDigest, discard], { signal: options.signal });
    return { diffID: checkDiffID(), size: tarDigest.size };
  }
  const gzip = new ParallelGzipStream({ level: options.gzipLevel ?? 1 });
  const blobDigest = new DigestingStream();
  const temp = await streamToTemp(paths, tar, [tarDigest, gzip, blobDigest], options.signal);
  const digest = blobDigest.digest();
  try {
    const diffID = checkDiffID();
    await commitTempBlob(paths, temp, digest);
    return { diffID, size: tarDigest.size, blob: { digest, size: blobDigest.size, mediaType: MediaTypes.ociLayerGzip } };
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}
