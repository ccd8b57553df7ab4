// Unpacked layers: layers/<diffID hex>/ holds layer.json (the record) and diff/ (the layer's
// files in overlay upper format, usable as an overlay lower dir).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { digestHex, fsyncPath, isDigest, layerCompression, uncompressedLayerStream, type LayerTarSource } from "@tsbuild/oci";
import { syncFileSystem } from "@tsbuild/syscalls";
import { fsyncDir, tempName, writeFileAtomic } from "./atomic.js";
import { hasBlob, ingestLayerTar, openBlob, type LayerBlob } from "./blobs.js";
import { LayerNotFoundError } from "./errors.js";
import { withLock } from "./lock.js";
import { layerRoot, type StorePaths } from "./paths.js";

export interface LayerRecord {
  diffID: string;
  /** Bytes of the layer's uncompressed tar. */
  size: number;
  /** Blobs holding this layer's tar (e.g. its gzip form), once made; kept as long as the layer is. */
  blobs: LayerBlob[];
  createdAt: string;
}

export interface StoredLayer extends LayerRecord {
  /** The unpacked layer (overlay upper format). */
  diffDir: string;
}

export type NewLayerRecord = Pick<LayerRecord, "diffID" | "size"> & { blobs?: LayerBlob[] };

const RECORD = "layer.json";

export function layerDir(paths: StorePaths, diffID: string): string {
  return path.join(layerRoot(paths, diffID), "diff");
}

export async function getLayer(paths: StorePaths, diffID: string): Promise<StoredLayer | undefined> {
  if (!isDigest(diffID)) return undefined;
  let text: string;
  try {
    // Synchronous: a record is a few hundred bytes, read once a step (docs/decisions/0009).
    text = readFileSync(path.join(layerRoot(paths, diffID), RECORD), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  return { ...(JSON.parse(text) as LayerRecord), diffDir: layerDir(paths, diffID) };
}

export async function hasLayer(paths: StorePaths, diffID: string): Promise<boolean> {
  return isDigest(diffID) && existsSync(path.join(layerRoot(paths, diffID), RECORD));
}

/**
 * Makes the prepared directory `srcDir` (on the store's filesystem, e.g. from tempDir()) the
 * layer `record.diffID`. The record and diff/ appear together with one rename, once the files are
 * on the disk: a layer is trusted for as long as it is kept, so a crash must not leave one whose
 * files were never written (the empty files containerd's unsynced unpacks left, containerd#8895).
 * If the layer exists already (another build made it), `srcDir` is deleted and the existing layer kept.
 */
export async function commitLayerDir(paths: StorePaths, srcDir: string, record: NewLayerRecord): Promise<StoredLayer> {
  const finalDir = layerRoot(paths, record.diffID);
  const existing = await getLayer(paths, record.diffID);
  if (existing) {
    await rm(srcDir, { recursive: true, force: true });
    return existing;
  }
  const staging = tempName(paths.tmp, "layer");
  await mkdir(staging);
  try {
    await makeDurable(srcDir);
    await rename(srcDir, path.join(staging, "diff")).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "EXDEV") {
        throw new Error(`cannot commit layer ${record.diffID}: ${srcDir} is on another filesystem than the store ${paths.root}; prepare it under the store's tmp/ (store.tempDir())`);
      }
      throw e;
    });
    const full: LayerRecord = {
      diffID: record.diffID,
      size: record.size,
      blobs: record.blobs ?? [],
      createdAt: new Date().toISOString(),
    };
    await writeFileAtomic(paths.tmp, path.join(staging, RECORD), JSON.stringify(full));
    try {
      await rename(staging, finalDir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
      // Another process committed the same layer first; theirs is as good as ours.
      await rm(staging, { recursive: true, force: true });
      const winner = await getLayer(paths, record.diffID);
      if (!winner) throw e;
      return winner;
    }
    await fsyncDir(paths.layers);
    return { ...full, diffDir: layerDir(paths, record.diffID) };
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    await rm(srcDir, { recursive: true, force: true });
    throw e;
  }
}

/** Up to this many files and dirs, a layer is made durable file by file; past it, with one syncfs. */
const FSYNC_ENTRIES = 64;

/**
 * Gets a layer dir's files onto the disk. A small layer fsyncs its files and dirs, all at once
 * (concurrent fsyncs share the journal's commits), and waits for its own writes only; a bigger
 * one syncs the file system once (syncfs), which also writes what others left dirty there. After
 * an overlay snapshot's unmount, which has synced already, either finds little to write.
 * Symlinks, devices and FIFOs are only metadata: their dir's fsync covers them.
 */
async function makeDurable(dir: string): Promise<void> {
  const dirs = [dir];
  const files: string[] = [];
  for (let i = 0; i < dirs.length; i++) {
    for (const entry of readdirSync(dirs[i]!, { withFileTypes: true })) {
      if (entry.isDirectory()) dirs.push(path.join(dirs[i]!, entry.name));
      else if (entry.isFile()) files.push(path.join(dirs[i]!, entry.name));
      if (dirs.length + files.length > FSYNC_ENTRIES) return syncFileSystem(dir);
    }
  }
  await Promise.all([...files, ...dirs].map((p) => fsyncPath(p)));
}

/** Adds a blob form of a layer to its record (no-op if recorded). Serialised per layer. */
export async function addLayerBlob(paths: StorePaths, diffID: string, blob: LayerBlob): Promise<void> {
  await withLock(paths.locks, `layer-${digestHex(diffID)}`, async () => {
    const layer = await getLayer(paths, diffID);
    if (!layer) throw new LayerNotFoundError(diffID, paths.root);
    if (layer.blobs.some((b) => b.digest === blob.digest)) return;
    const { diffDir: _diffDir, ...record } = layer;
    record.blobs = [...record.blobs, blob];
    await writeFileAtomic(paths.tmp, path.join(layerRoot(paths, diffID), RECORD), JSON.stringify(record));
  });
}

export type LayerTarFactory = () => NodeJS.ReadableStream | Promise<NodeJS.ReadableStream>;

export interface CompressLayerOptions {
  gzipLevel?: number;
}

/**
 * The gzip blob of a stored layer, made from `openTar` (its uncompressed tar) on first use and
 * recorded in the layer record, so later exports reuse it. The tar must hash to the diffID.
 */
export async function compressLayer(
  paths: StorePaths,
  diffID: string,
  openTar: LayerTarFactory,
  options: CompressLayerOptions = {},
): Promise<LayerBlob> {
  const layer = await getLayer(paths, diffID);
  if (!layer) throw new LayerNotFoundError(diffID, paths.root);
  for (const b of layer.blobs) {
    if (layerCompression(b.mediaType) === "gzip" && (await hasBlob(paths, b.digest))) return b;
  }
  const ingested = await ingestLayerTar(paths, await openTar(), {
    compress: true,
    gzipLevel: options.gzipLevel,
    expectedDiffID: diffID,
  });
  const blob = ingested.blob as LayerBlob;
  await addLayerBlob(paths, diffID, blob);
  return blob;
}

/** Uncompressed layer tars (for docker archives) from the blobs recorded for each stored layer. */
export function storeLayerTarSource(paths: StorePaths): LayerTarSource {
  return {
    async openLayerTar(diffID) {
      const layer = await getLayer(paths, diffID);
      if (!layer) throw new LayerNotFoundError(diffID, paths.root);
      for (const b of layer.blobs) {
        if (layerCompression(b.mediaType) === undefined || !(await hasBlob(paths, b.digest))) continue;
        return { size: layer.size, stream: uncompressedLayerStream(await openBlob(paths, b.digest), b) };
      }
      throw new LayerNotFoundError(diffID, paths.root, " as a tar blob; compress it first (compressLayer)");
    },
  };
}
