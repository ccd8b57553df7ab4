// Build cache records: cache/<key hex>.json. The payload belongs to the solver; the store only
// needs to know which layers a record holds on to, for garbage collection.
import { readFileSync } from "node:fs";
import path from "node:path";
import { digestHex } from "@tsbuild/oci";
import { touch, writeFileAtomic } from "./atomic.js";
import { hasLayer } from "./layers.js";
import type { StorePaths } from "./paths.js";

export interface CacheRecordInput<T = unknown> {
  /** The solver's format version of `payload`; the solver ignores records of other versions. */
  version: number;
  /** diffIDs of the layers the record refers to. prune keeps them while it keeps the record. */
  layers: string[];
  payload: T;
}

export interface CacheRecord<T = unknown> extends CacheRecordInput<T> {
  key: string;
  createdAt: string;
}

export const cacheRecordFile = (paths: StorePaths, key: string) => path.join(paths.cache, `${digestHex(key)}.json`);

/** Writes (or replaces) the record for `key`, a sha256 digest, atomically. */
export async function putCacheRecord<T>(paths: StorePaths, key: string, input: CacheRecordInput<T>): Promise<CacheRecord<T>> {
  const record: CacheRecord<T> = {
    key,
    version: input.version,
    createdAt: new Date().toISOString(),
    layers: input.layers,
    payload: input.payload,
  };
  // A record whose rename a crash undoes is a cache miss; one whose layer is gone is one as well
  // (getCacheRecord checks), so the rename need not be flushed to disk on its own.
  await writeFileAtomic(paths.tmp, cacheRecordFile(paths, key), JSON.stringify(record), { durableName: false });
  return record;
}

/** Synchronous, as a record is a few hundred bytes and a no-op build reads one a step (docs/decisions/0009). */
export async function readCacheRecordFile(file: string): Promise<CacheRecord | undefined> {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as CacheRecord;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/**
 * The record for `key`, or undefined when there is none or a layer it refers to is gone (a
 * record without its layers cannot be used). A hit marks the record as used now, which is
 * what prune orders by.
 */
export async function getCacheRecord<T = unknown>(paths: StorePaths, key: string): Promise<CacheRecord<T> | undefined> {
  const file = cacheRecordFile(paths, key);
  const record = await readCacheRecordFile(file);
  if (!record) return undefined;
  for (const diffID of record.layers) if (!(await hasLayer(paths, diffID))) return undefined;
  await touch(file);
  return record as CacheRecord<T>;
}
