// Garbage collection and disk-usage accounting.
//
// Roots are the tags and the GC root files (gc-roots.ts). From a tag: manifest (or index ->
// manifests) -> config and layer blobs, and the config's diff_ids -> unpacked layers; a root
// file names its layers and blobs directly. A reachable layer keeps the blobs its record lists.
// A cache record names the layers it uses (CacheRecordInput.layers): it is kept for free
// while all of them are reachable, else it is a candidate, and removing a layer
// removes the cache records that use it (they would be misses anyway). A record that uses no
// layer (a step that changed nothing, a miss explanation) holds nothing a tag needs: it is a
// candidate too, so such records cannot pile up.
//
// Sizes: a blob counts its file size; a layer counts its uncompressed tar size (record.size,
// standing in for its unpacked diff/ so no walk of the tree is needed) plus the blobs it owns.
// "Last used": a blob's mtime, a cache record's mtime (touched on every hit), a layer's
// creation or the last use of a cache record that refers to it. prune removes oldest first.
import { readdir, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { isDigest, isIndexMediaType } from "@tsbuild/oci";
import { listMountPoints, MNT_DETACH, umount } from "@tsbuild/syscalls";
import { tempName } from "./atomic.js";
import { cacheRecordFile, readCacheRecordFile, type CacheRecord } from "./cache-records.js";
import { listGcRoots, type NamedGcRoot } from "./gc-roots.js";
import { isProcessAlive, withLock, type LockOptions } from "./lock.js";
import { layerRoot, blobFile, type StorePaths } from "./paths.js";
import type { LayerRecord } from "./layers.js";
import { IMAGES_LOCK, listImages, type TaggedImage } from "./tags.js";

const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

interface BlobEntry {
  size: number;
  mtimeMs: number;
}
interface CacheEntry {
  record: CacheRecord;
  fileSize: number;
  mtimeMs: number;
}
interface ImageWalk {
  tag: TaggedImage;
  blobs: Set<string>;
  /** diffID -> the blob descriptor size (used when the layer is not unpacked here). */
  layers: Map<string, number>;
  /** The config of the (first) manifest: the image ID. */
  configDigest?: string;
  created?: string;
  /** A document the tag needs is missing from the store. */
  incomplete: boolean;
}

interface Inventory {
  blobs: Map<string, BlobEntry>;
  layers: Map<string, LayerRecord>;
  cache: Map<string, CacheEntry>;
  images: ImageWalk[];
  roots: NamedGcRoot[];
}

async function listDir(dir: string): Promise<string[]> {
  return readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return [];
    throw e;
  });
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, "utf8"));
  } catch {
    return undefined;
  }
}

async function walkImage(paths: StorePaths, blobs: Map<string, BlobEntry>, tag: TaggedImage): Promise<ImageWalk> {
  const walk: ImageWalk = { tag, blobs: new Set(), layers: new Map(), incomplete: false };
  const visit = async (digest: string, depth: number): Promise<void> => {
    const entry = blobs.get(digest);
    if (!entry || entry.size > MAX_DOCUMENT_BYTES || depth > 8) {
      walk.incomplete = true;
      return;
    }
    walk.blobs.add(digest);
    const doc = (await readJson(blobFile(paths, digest))) as {
      mediaType?: string;
      manifests?: { digest: string }[];
      config?: { digest: string };
      layers?: { digest: string; size: number }[];
    } | undefined;
    if (!doc) {
      walk.incomplete = true;
      return;
    }
    if (isIndexMediaType(doc.mediaType) || Array.isArray(doc.manifests)) {
      // Platforms that were never pulled are absent: that is normal for an index.
      for (const m of doc.manifests ?? []) if (blobs.has(m.digest)) await visit(m.digest, depth + 1);
      return;
    }
    const configDigest = doc.config?.digest;
    const config = configDigest && blobs.has(configDigest)
      ? ((await readJson(blobFile(paths, configDigest))) as { created?: string; rootfs?: { diff_ids?: string[] } } | undefined)
      : undefined;
    if (!configDigest || !config) {
      walk.incomplete = true;
      return;
    }
    walk.blobs.add(configDigest);
    walk.configDigest ??= configDigest;
    walk.created ??= config.created;
    const diffIDs = config.rootfs?.diff_ids ?? [];
    (doc.layers ?? []).forEach((layer, i) => {
      walk.blobs.add(layer.digest);
      if (diffIDs[i]) walk.layers.set(diffIDs[i], layer.size);
    });
  };
  await visit(tag.manifestDigest, 0);
  return walk;
}

async function takeInventory(paths: StorePaths): Promise<Inventory> {
  const blobs = new Map<string, BlobEntry>();
  for (const hex of await listDir(paths.blobs)) {
    const s = await stat(path.join(paths.blobs, hex)).catch(() => undefined);
    if (s && isDigest(`sha256:${hex}`)) blobs.set(`sha256:${hex}`, { size: s.size, mtimeMs: s.mtimeMs });
  }
  const layers = new Map<string, LayerRecord>();
  for (const hex of await listDir(paths.layers)) {
    const record = (await readJson(path.join(paths.layers, hex, "layer.json"))) as LayerRecord | undefined;
    if (record && record.diffID === `sha256:${hex}`) layers.set(record.diffID, record);
  }
  const cache = new Map<string, CacheEntry>();
  for (const name of await listDir(paths.cache)) {
    const file = path.join(paths.cache, name);
    const [record, s] = await Promise.all([readCacheRecordFile(file).catch(() => undefined), stat(file).catch(() => undefined)]);
    if (record && s && isDigest(record.key)) cache.set(record.key, { record, fileSize: s.size, mtimeMs: s.mtimeMs });
  }
  const images: ImageWalk[] = [];
  for (const tag of await listImages(paths)) images.push(await walkImage(paths, blobs, tag));
  return { blobs, layers, cache, images, roots: await listGcRoots(paths) };
}

interface Candidate {
  kind: "layer" | "blob" | "cache";
  id: string;
  bytes: number;
  lastUsedMs: number;
}

interface Plan {
  reachableBlobs: Set<string>;
  reachableLayers: Set<string>;
  candidates: Candidate[];
  /** diffID -> keys of the cache records that use it. */
  cacheUsers: Map<string, string[]>;
  totalBytes: number;
}

function layerBytes(inv: Inventory, record: LayerRecord): number {
  return record.size + record.blobs.reduce((sum, b) => sum + (inv.blobs.get(b.digest)?.size ?? 0), 0);
}

function planCollection(inv: Inventory): Plan {
  const reachableBlobs = new Set<string>();
  const reachableLayers = new Set<string>();
  for (const image of inv.images) {
    for (const d of image.blobs) reachableBlobs.add(d);
    for (const diffID of image.layers.keys()) reachableLayers.add(diffID);
  }
  for (const root of inv.roots) {
    for (const d of root.blobs) reachableBlobs.add(d);
    for (const diffID of root.layers) reachableLayers.add(diffID);
  }
  const ownedBlobs = new Set<string>();
  for (const record of inv.layers.values()) {
    for (const b of record.blobs) {
      ownedBlobs.add(b.digest);
      if (reachableLayers.has(record.diffID)) reachableBlobs.add(b.digest);
    }
  }
  const cacheUsers = new Map<string, string[]>();
  const layerLastUsed = new Map<string, number>();
  const candidates: Candidate[] = [];
  for (const [key, entry] of inv.cache) {
    for (const diffID of entry.record.layers) {
      cacheUsers.set(diffID, [...(cacheUsers.get(diffID) ?? []), key]);
      layerLastUsed.set(diffID, Math.max(layerLastUsed.get(diffID) ?? 0, entry.mtimeMs));
    }
    if (entry.record.layers.length === 0 || !entry.record.layers.every((d) => reachableLayers.has(d))) {
      candidates.push({ kind: "cache", id: key, bytes: entry.fileSize, lastUsedMs: entry.mtimeMs });
    }
  }
  for (const record of inv.layers.values()) {
    if (reachableLayers.has(record.diffID)) continue;
    const created = Date.parse(record.createdAt) || 0;
    const lastUsedMs = Math.max(created, layerLastUsed.get(record.diffID) ?? 0);
    const bytes = record.size + record.blobs.reduce((sum, b) => sum + (reachableBlobs.has(b.digest) ? 0 : inv.blobs.get(b.digest)?.size ?? 0), 0);
    candidates.push({ kind: "layer", id: record.diffID, bytes, lastUsedMs });
  }
  for (const [digest, entry] of inv.blobs) {
    if (reachableBlobs.has(digest) || ownedBlobs.has(digest)) continue;
    candidates.push({ kind: "blob", id: digest, bytes: entry.size, lastUsedMs: entry.mtimeMs });
  }
  candidates.sort((a, b) => a.lastUsedMs - b.lastUsedMs);
  let totalBytes = 0;
  for (const b of inv.blobs.values()) totalBytes += b.size;
  for (const r of inv.layers.values()) totalBytes += r.size;
  for (const c of inv.cache.values()) totalBytes += c.fileSize;
  return { reachableBlobs, reachableLayers, candidates, cacheUsers, totalBytes };
}

export interface PruneOptions {
  /** Stop once the store holds at most this many bytes; without it, remove everything unreachable. */
  keepStorage?: number;
  /** Keep anything used within this many ms (a build may have written layers it has not tagged yet). */
  graceMs?: number;
  lock?: LockOptions;
}

export interface PruneResult {
  layers: string[];
  blobs: string[];
  cacheRecords: string[];
  bytesFreed: number;
}

/** Removes a path by renaming it into tmp/ first, so it vanishes atomically, then deleting it. */
async function removeAtomically(paths: StorePaths, target: string): Promise<void> {
  const trash = tempName(paths.tmp, "trash");
  try {
    await rename(target, trash);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  await rm(trash, { recursive: true, force: true });
}

/**
 * Entries of `dir` named `<kind>-<pid>-<random>` (temp files, snapshots) whose process is gone: a
 * crash's leftovers. What is mounted in them (a snapshot's overlay) is unmounted first, innermost
 * first, so that deleting them never reaches through a mount.
 */
async function removeDeadScratch(dir: string): Promise<void> {
  for (const name of await listDir(dir)) {
    const pid = Number(name.split("-").at(-2));
    if (!Number.isInteger(pid) || pid <= 0 || isProcessAlive(pid)) continue;
    const entry = path.join(dir, name);
    const inside = listMountPoints().filter((point) => point === entry || point.startsWith(`${entry}/`));
    for (const point of inside.sort().reverse()) umount(point, MNT_DETACH);
    await rm(entry, { recursive: true, force: true });
  }
}

export async function prune(paths: StorePaths, options: PruneOptions = {}): Promise<PruneResult> {
  return withLock(
    paths.locks,
    IMAGES_LOCK,
    async () => {
      const inv = await takeInventory(paths);
      const plan = planCollection(inv);
      const result: PruneResult = { layers: [], blobs: [], cacheRecords: [], bytesFreed: 0 };
      const removedCache = new Set<string>();
      const newest = Date.now() - (options.graceMs ?? 0);
      let total = plan.totalBytes;
      const removeCache = async (key: string, bytes: number) => {
        if (removedCache.has(key)) return;
        removedCache.add(key);
        await rm(cacheRecordFile(paths, key), { force: true });
        result.cacheRecords.push(key);
        result.bytesFreed += bytes;
        total -= bytes;
      };
      for (const c of plan.candidates) {
        if (options.keepStorage !== undefined && total <= options.keepStorage) break;
        if (c.lastUsedMs > newest) continue;
        if (c.kind === "cache") {
          await removeCache(c.id, c.bytes);
          continue;
        }
        if (c.kind === "layer") {
          for (const key of plan.cacheUsers.get(c.id) ?? []) await removeCache(key, inv.cache.get(key)?.fileSize ?? 0);
          const record = inv.layers.get(c.id) as LayerRecord;
          await removeAtomically(paths, layerRoot(paths, c.id));
          for (const b of record.blobs) {
            if (!plan.reachableBlobs.has(b.digest)) await rm(blobFile(paths, b.digest), { force: true });
          }
          result.layers.push(c.id);
        } else {
          await rm(blobFile(paths, c.id), { force: true });
          result.blobs.push(c.id);
        }
        result.bytesFreed += c.bytes;
        total -= c.bytes;
      }
      await removeDeadScratch(paths.tmp);
      await removeDeadScratch(paths.snapshots);
      return result;
    },
    options.lock,
  );
}

export interface ImageUsage {
  name: string;
  manifestDigest: string;
  /** The digest of its config, the image ID (of the first manifest, for an index). */
  configDigest?: string;
  created?: string;
  /** Bytes of its layers, uncompressed (as `docker images` counts). */
  size: number;
  /** Bytes of its layers that another image (another manifest) also uses. */
  sharedSize: number;
  uniqueSize: number;
  layers: number;
  /** A manifest, config or index the tag needs is missing. */
  incomplete: boolean;
}

export interface LayerUsage {
  diffID: string;
  /** Uncompressed tar size, plus the blobs (e.g. gzip) kept for it. */
  size: number;
  createdAt: string;
  images: number;
  /** GC roots (roots/*.json, e.g. working containers) that keep it. */
  roots: number;
  cacheRecords: number;
}

export interface CacheRecordUsage {
  key: string;
  createdAt: string;
  lastUsedAt: string;
  /** Bytes of the layers it refers to. */
  size: number;
  /** All its layers belong to tagged images or GC roots: prune keeps it at no cost. */
  shared: boolean;
}

export interface DiskUsage {
  images: ImageUsage[];
  layers: LayerUsage[];
  cacheRecords: CacheRecordUsage[];
  totals: {
    images: number;
    layers: number;
    cacheRecords: number;
    blobsBytes: number;
    layersBytes: number;
    cacheBytes: number;
    totalBytes: number;
    /** Uncompressed bytes of the layers tagged images use, each layer counted once. */
    imagesBytes: number;
    /** What prune() without keepStorage would free. */
    reclaimableBytes: number;
    /** reclaimableBytes by what prune removes: layers (with blobs only they own), other blobs, cache records. */
    reclaimable: { layers: number; blobs: number; cacheRecords: number };
  };
}

export async function diskUsage(paths: StorePaths): Promise<DiskUsage> {
  const inv = await takeInventory(paths);
  const plan = planCollection(inv);
  const layerSize = (diffID: string, blobSize: number) => inv.layers.get(diffID)?.size ?? blobSize;
  // diffID -> manifest digests of the images using it.
  const usedBy = new Map<string, Set<string>>();
  for (const image of inv.images) {
    for (const diffID of image.layers.keys()) {
      usedBy.set(diffID, (usedBy.get(diffID) ?? new Set()).add(image.tag.manifestDigest));
    }
  }
  const images: ImageUsage[] = inv.images.map((image) => {
    let size = 0;
    let sharedSize = 0;
    for (const [diffID, blobSize] of image.layers) {
      const bytes = layerSize(diffID, blobSize);
      size += bytes;
      if ((usedBy.get(diffID)?.size ?? 0) > 1) sharedSize += bytes;
    }
    return {
      name: image.tag.name,
      manifestDigest: image.tag.manifestDigest,
      configDigest: image.configDigest,
      created: image.created,
      size,
      sharedSize,
      uniqueSize: size - sharedSize,
      layers: image.layers.size,
      incomplete: image.incomplete,
    };
  });
  const cacheRecordsOf = (diffID: string) => plan.cacheUsers.get(diffID)?.length ?? 0;
  const rootsOf = (diffID: string) => inv.roots.filter((r) => r.layers.includes(diffID)).length;
  const layers: LayerUsage[] = [...inv.layers.values()].map((r) => ({
    diffID: r.diffID,
    size: layerBytes(inv, r),
    createdAt: r.createdAt,
    images: usedBy.get(r.diffID)?.size ?? 0,
    roots: rootsOf(r.diffID),
    cacheRecords: cacheRecordsOf(r.diffID),
  }));
  const cacheRecords: CacheRecordUsage[] = [...inv.cache.values()].map(({ record, mtimeMs }) => ({
    key: record.key,
    createdAt: record.createdAt,
    lastUsedAt: new Date(mtimeMs).toISOString(),
    size: record.layers.reduce((sum, d) => sum + (inv.layers.get(d)?.size ?? 0), 0),
    shared: record.layers.every((d) => plan.reachableLayers.has(d)),
  }));
  let blobsBytes = 0;
  for (const b of inv.blobs.values()) blobsBytes += b.size;
  let layersBytes = 0;
  for (const r of inv.layers.values()) layersBytes += r.size;
  let cacheBytes = 0;
  for (const c of inv.cache.values()) cacheBytes += c.fileSize;
  const imageLayers = new Map<string, number>();
  for (const image of inv.images) for (const [diffID, blobSize] of image.layers) imageLayers.set(diffID, layerSize(diffID, blobSize));
  let imagesBytes = 0;
  for (const bytes of imageLayers.values()) imagesBytes += bytes;
  const reclaimable = { layers: 0, blobs: 0, cacheRecords: 0 };
  const field = { layer: "layers", blob: "blobs", cache: "cacheRecords" } as const;
  for (const c of plan.candidates) reclaimable[field[c.kind]] += c.bytes;
  return {
    images,
    layers,
    cacheRecords,
    totals: {
      images: images.length,
      layers: layers.length,
      cacheRecords: cacheRecords.length,
      blobsBytes,
      layersBytes,
      cacheBytes,
      totalBytes: plan.totalBytes,
      imagesBytes,
      reclaimableBytes: plan.candidates.reduce((sum, c) => sum + c.bytes, 0),
      reclaimable,
    },
  };
}

/** Deletes the cache mount directories (renamed aside first, so a build never sees half of one). */
export async function pruneCacheMounts(paths: StorePaths): Promise<number> {
  let names: string[];
  try {
    names = await readdir(paths.cacheMounts);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw e;
  }
  let freed = 0;
  for (const name of names) {
    const aside = tempName(paths.tmp, "cache-mount");
    await rename(path.join(paths.cacheMounts, name), aside);
    freed += await treeBytes(aside);
    await rm(aside, { recursive: true, force: true });
  }
  return freed;
}

async function treeBytes(p: string): Promise<number> {
  const st = await stat(p);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of await readdir(p)) total += await treeBytes(path.join(p, name)).catch(() => 0);
  return total;
}
