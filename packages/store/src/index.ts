export { openStore, Store } from "./store.js";
export type { CompressLayerItem, StoreOptions } from "./store.js";
export { defaultStoreRoot } from "./paths.js";
export type { StorePaths } from "./paths.js";
export { normalizeImageName } from "./image-name.js";
export {
  BlobDigestMismatchError,
  BlobNotFoundError,
  InvalidImageNameError,
  LayerDiffIDMismatchError,
  LayerNotFoundError,
  StoreLockTimeoutError,
} from "./errors.js";
export type { BlobInfo, IngestLayerOptions, IngestedLayer, LayerBlob, PutBlobOptions } from "./blobs.js";
export type { CompressLayerOptions, LayerRecord, LayerTarFactory, NewLayerRecord, StoredLayer } from "./layers.js";
export type { CacheRecord, CacheRecordInput } from "./cache-records.js";
export type { TaggedImage } from "./tags.js";
export type { GcRoot, NamedGcRoot } from "./gc-roots.js";
export type { CacheRecordUsage, DiskUsage, ImageUsage, LayerUsage, PruneOptions, PruneResult } from "./gc.js";
export { openStatCache } from "./stat-cache.js";
export type { FileTime, StatCache, StatKey } from "./stat-cache.js";
export { isProcessAlive, withLock } from "./lock.js";
export type { LockOptions } from "./lock.js";
export { writeFileAtomic } from "./atomic.js";
