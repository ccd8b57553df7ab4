// A persistent stat cache for hashing a build context without re-reading unchanged files, as
// git's index does: path -> (size, mtime ns, ctime ns, inode) -> sha256.
//
// File: statcache/<sha256 of contextId>.json, one JSON document
//   {"version":1,"entries":{"<path>":["<size>","<mtimeNs>","<ctimeNs>","<ino>","<sha256>"]}}
// (numbers as decimal strings: nanosecond times and inodes exceed 2^53). 20,000 entries are
// ~2.5 MB and parse in a few ms.
//
// Racy entries: file times have coarse granularity (a kernel tick), so a file changed again
// within the same tick after it was hashed keeps its times. As in git, an entry whose mtime or
// ctime is not older than the cache file itself is not trusted on the next load.
//
// save() writes the entries looked up or recorded in this session, so files that left the
// context drop out (the indexer walks the whole context each build).
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { digestHex, sha256Digest } from "@tsbuild/oci";
import { writeFileAtomic } from "./atomic.js";
import type { StorePaths } from "./paths.js";

/** The parts of fs.BigIntStats the cache compares (fs.stat(p, { bigint: true }) gives them). */
export interface StatKey {
  size: bigint | number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint | number;
}

type Entry = [size: string, mtimeNs: string, ctimeNs: string, ino: string, sha256: string];

export interface StatCache {
  /** The recorded sha256 of `path` if its stat still matches, else undefined. */
  lookup(path: string, stat: StatKey): string | undefined;
  record(path: string, stat: StatKey, sha256: string): void;
  /** Writes the cache atomically. */
  save(): Promise<void>;
}

const statCacheFile = (paths: StorePaths, contextId: string) =>
  path.join(paths.statCache, `${digestHex(sha256Digest(contextId))}.json`);

/** The stat cache of the build context `contextId` (e.g. its absolute path) in `store`. */
export async function openStatCache(store: { paths: StorePaths }, contextId: string): Promise<StatCache> {
  const { paths } = store;
  const file = statCacheFile(paths, contextId);
  let loaded: Record<string, Entry> = {};
  let savedAtNs = 0n;
  try {
    const [text, s] = await Promise.all([readFile(file, "utf8"), stat(file, { bigint: true })]);
    const parsed = JSON.parse(text) as { version?: number; entries?: Record<string, Entry> };
    if (parsed.version === 1 && parsed.entries) {
      loaded = parsed.entries;
      savedAtNs = s.mtimeNs;
    }
  } catch (e) {
    // A missing or unreadable cache only costs re-hashing.
    if ((e as NodeJS.ErrnoException).code !== "ENOENT" && !(e instanceof SyntaxError)) throw e;
  }
  const current = new Map<string, Entry>();
  const loadedCount = Object.keys(loaded).length;
  let recorded = false;
  const matches = (entry: Entry, s: StatKey) =>
    entry[0] === String(s.size) && entry[1] === String(s.mtimeNs) && entry[2] === String(s.ctimeNs) && entry[3] === String(s.ino);
  return {
    lookup(p, s) {
      const fresh = current.get(p);
      if (fresh) return matches(fresh, s) ? fresh[4] : undefined;
      const old = Object.hasOwn(loaded, p) ? loaded[p] : undefined;
      if (!old || !matches(old, s) || BigInt(old[1]) >= savedAtNs || BigInt(old[2]) >= savedAtNs) return undefined;
      current.set(p, old);
      return old[4];
    },
    record(p, s, sha256) {
      recorded = true;
      current.set(p, [String(s.size), String(s.mtimeNs), String(s.ctimeNs), String(s.ino), sha256]);
    },
    async save() {
      // Every entry was looked up unchanged and none was added: the file on disk says it already.
      if (!recorded && current.size === loadedCount) return;
      await writeFileAtomic(paths.tmp, file, JSON.stringify({ version: 1, entries: Object.fromEntries(current) }));
    },
  };
}
