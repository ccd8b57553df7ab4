// A persistent stat cache for hashing a build context without re-reading unchanged files, as
// git's index does: path -> (size, inode, mtime, ctime) -> sha256.
//
// File: statcache/<sha256 of contextId>.bin, little-endian:
//   "TSSTATC\n", u32 version (2), u32 entry count, then per entry:
//   u16 path length, path (UTF-8), f64 size, f64 inode, f64 mtime s, u32 mtime ns, f64 ctime s,
//   u32 ctime ns, 32 bytes sha256.
// Version 1 was JSON with decimal strings ({"<path>": ["<size>", "<mtime ns>", …]}): parsed, the
// 20,000 entries of the bench context were ~6 MiB of heap, and each lookup compared BigInts
// turned into strings. Now the file stays one Buffer, a Map holds each path's offset in it, and a
// lookup compares numbers read in place.
//
// Racy entries: file times have coarse granularity (a kernel tick), so a file changed again
// within the same tick after it was hashed keeps its times. As in git, an entry whose mtime or
// ctime is not older than the cache file itself is not trusted on the next load.
//
// save() writes the entries looked up or recorded in this session, so files that left the
// context drop out (the indexer walks the whole context each build).
//
// Selections (statcache/<sha256 of contextId>.selections, JSON): the cache key of a step that reads
// a selection of the context (a COPY's sources), by a fingerprint of its other inputs and of the
// selection's entries' stats, so that a rebuild whose sources did not change neither lists nor
// looks up their files one by one (docs/decisions/0016). The same racy rule holds: a selection
// whose newest file time is not older than the file is not trusted.
//
// Both files are read on first use, not on open: a build whose selections are known never reads
// the per-file entries.
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { digestHex, sha256Digest } from "@tsbuild/oci";
import { writeFileAtomic } from "./atomic.js";
import type { StorePaths } from "./paths.js";

/** What the cache compares of an lstat: sizes and inodes as numbers, times as seconds and nanoseconds. */
export interface StatKey {
  size: number;
  ino: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
}

/** A file time as the kernel has it: whole seconds and the nanoseconds within the second. */
export interface FileTime {
  sec: number;
  nsec: number;
}

export interface StatCache {
  /** The recorded sha256 (hex) of `path` if its stat still matches, else undefined. */
  lookup(path: string, stat: StatKey): string | undefined;
  /** Records the sha256 (64 hex digits) of `path` as it was at `stat`. */
  record(path: string, stat: StatKey, sha256: string): void;
  /** The value (a sha256 in hex) recorded for a selection `fingerprint`, unless racy. */
  lookupSelection(fingerprint: string): string | undefined;
  /** Records a selection's value; `newest`: the latest mtime or ctime among its files. */
  recordSelection(fingerprint: string, newest: FileTime, sha256: string): void;
  /** Writes the cache atomically. */
  save(): Promise<void>;
}

const MAGIC = "TSSTATC\n";
const VERSION = 2;
const HEADER_SIZE = 16;
/** Bytes of an entry after its path: size, inode, mtime s, mtime ns, ctime s, ctime ns, sha256. */
const FIELDS_SIZE = 72;
const SHA256_HEX = /^[0-9a-f]{64}$/;

const cacheFileName = (paths: StorePaths, contextId: string, extension: string) =>
  path.join(paths.statCache, `${digestHex(sha256Digest(contextId))}.${extension}`);

/** A loaded cache file: its bytes and the offset of each path's fields in them. */
interface LoadedEntries {
  bytes: Buffer;
  fieldsAt: Map<string, number>;
  /** The file's mtime: entries with times not older are racy. */
  saved: FileTime;
}

/** A selection's record: [fingerprint, sha256, newest sec, newest nsec]. */
type SelectionRecord = [string, string, number, number];
/** Selections kept per context: the most recently recorded or used (a use is written with the next record). */
const MAX_SELECTIONS = 64;

/** The stat cache of the build context `contextId` (e.g. its absolute path) in `store`. */
export async function openStatCache(store: { paths: StorePaths }, contextId: string): Promise<StatCache> {
  const { paths } = store;
  const file = cacheFileName(paths, contextId, "bin");
  const selectionsFile = cacheFileName(paths, contextId, "selections");
  let loadedOnce = false;
  let loadedEntries: LoadedEntries | undefined;
  const loaded = () => {
    if (!loadedOnce) [loadedOnce, loadedEntries] = [true, loadEntries(file)];
    return loadedEntries;
  };
  // This session's entries, as the offset of their fields: in the loaded file (an entry found
  // unchanged), or as -1 - offset in `recorded` (fields encoded as in the file, one after another).
  const current = new Map<string, number>();
  let recorded = Buffer.alloc(0);
  let recordedEnd = 0;
  const fieldsOf = (offset: number): [Buffer, number] => (offset >= 0 ? [loadedEntries!.bytes, offset] : [recorded, -1 - offset]);
  // Selections by fingerprint, the most recently used last; read on first use.
  let selections: Map<string, SelectionRecord> | undefined;
  let selectionsChanged = false;
  const selectionsNow = () => (selections ??= loadSelections(selectionsFile));
  return {
    lookup(p, s) {
      const fresh = current.get(p);
      if (fresh !== undefined) return digestIfSame(...fieldsOf(fresh), s);
      const entries = loaded();
      const at = entries?.fieldsAt.get(p);
      if (at === undefined || racy(entries!, at)) return undefined;
      const digest = digestIfSame(entries!.bytes, at, s);
      if (digest) current.set(p, at);
      return digest;
    },
    record(p, s, sha256) {
      if (!SHA256_HEX.test(sha256)) throw new Error(`stat cache: ${p}: not a sha256 in hex: ${sha256}`);
      if (recordedEnd + FIELDS_SIZE > recorded.length) {
        const grown = Buffer.alloc(Math.max(64 * FIELDS_SIZE, recorded.length * 2));
        recorded.copy(grown, 0, 0, recordedEnd);
        recorded = grown;
      }
      writeFields(recorded, recordedEnd, s, sha256);
      current.set(p, -1 - recordedEnd);
      recordedEnd += FIELDS_SIZE;
    },
    lookupSelection(fingerprint) {
      const all = selectionsNow();
      const record = all.get(fingerprint);
      if (!record) return undefined;
      // Used again: moved to the end, so that it is among the last dropped.
      all.delete(fingerprint);
      all.set(fingerprint, record);
      return record[1];
    },
    recordSelection(fingerprint, newest, sha256) {
      if (!SHA256_HEX.test(sha256)) throw new Error(`stat cache: selection ${fingerprint}: not a sha256 in hex: ${sha256}`);
      const all = selectionsNow();
      all.delete(fingerprint);
      all.set(fingerprint, [fingerprint, sha256, newest.sec, newest.nsec]);
      selectionsChanged = true;
    },
    async save() {
      // Lost in a crash, the files are hashed again: the renames need not be flushed on their own.
      if (selectionsChanged) {
        const kept = [...selections!.values()].slice(-MAX_SELECTIONS);
        await writeFileAtomic(paths.tmp, selectionsFile, JSON.stringify({ version: 1, selections: kept }), { durableName: false });
      }
      // Nothing recorded, and the file not read (every selection was known) or every entry looked up
      // unchanged: the file on disk says it already.
      if (recordedEnd === 0 && (!loadedOnce || current.size === (loadedEntries?.fieldsAt.size ?? 0))) return;
      await writeFileAtomic(paths.tmp, file, encodeEntries(current, fieldsOf), { durableName: false });
      // The JSON file of version 1, if this context had one.
      await rm(cacheFileName(paths, contextId, "json"), { force: true });
    },
  };
}

/** The file's bytes and mtime (of the same file: one open), or undefined if it does not exist. */
function readWithTime(file: string): { bytes: Buffer; saved: FileTime } | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    // A missing cache only costs re-hashing.
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  try {
    const { mtimeNs } = fstatSync(fd, { bigint: true });
    return { bytes: readFileSync(fd), saved: { sec: Number(mtimeNs / 1_000_000_000n), nsec: Number(mtimeNs % 1_000_000_000n) } };
  } finally {
    closeSync(fd);
  }
}

/** The selections of a file, the racy ones left out; none from a file of another form. */
function loadSelections(file: string): Map<string, SelectionRecord> {
  const read = readWithTime(file);
  const out = new Map<string, SelectionRecord>();
  if (!read) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(read.bytes.toString("utf8"));
  } catch {
    return out;
  }
  const { version, selections } = (parsed ?? {}) as { version?: unknown; selections?: unknown };
  if (version !== 1 || !Array.isArray(selections)) return out;
  for (const record of selections as unknown[]) {
    if (!isSelectionRecord(record) || notOlder(record[2], record[3], read.saved)) continue;
    out.set(record[0], record);
  }
  return out;
}

function isSelectionRecord(value: unknown): value is SelectionRecord {
  return (
    Array.isArray(value) &&
    value.length === 4 &&
    typeof value[0] === "string" &&
    typeof value[1] === "string" &&
    SHA256_HEX.test(value[1]) &&
    Number.isFinite(value[2]) &&
    Number.isInteger(value[3])
  );
}

function loadEntries(file: string): LoadedEntries | undefined {
  const read = readWithTime(file);
  if (!read) return undefined;
  const { bytes, saved } = read;
  // A file of another format or cut short is ignored the same way (it is rewritten on save).
  if (bytes.length < HEADER_SIZE || bytes.toString("latin1", 0, 8) !== MAGIC || bytes.readUInt32LE(8) !== VERSION) return undefined;
  const count = bytes.readUInt32LE(12);
  const fieldsAt = new Map<string, number>();
  let at = HEADER_SIZE;
  for (let i = 0; i < count; i++) {
    if (at + 2 > bytes.length) return undefined;
    const pathEnd = at + 2 + bytes.readUInt16LE(at);
    if (pathEnd + FIELDS_SIZE > bytes.length) return undefined;
    fieldsAt.set(bytes.toString("utf8", at + 2, pathEnd), pathEnd);
    at = pathEnd + FIELDS_SIZE;
  }
  return { bytes, fieldsAt, saved };
}

/** Offsets within an entry's fields. */
const SIZE = 0;
const INO = 8;
const MTIME_SEC = 16;
const MTIME_NSEC = 24;
const CTIME_SEC = 28;
const CTIME_NSEC = 36;
const SHA256 = 40;

function digestIfSame(bytes: Buffer, at: number, s: StatKey): string | undefined {
  const same =
    bytes.readDoubleLE(at + SIZE) === s.size &&
    bytes.readDoubleLE(at + INO) === s.ino &&
    bytes.readDoubleLE(at + MTIME_SEC) === s.mtimeSec &&
    bytes.readUInt32LE(at + MTIME_NSEC) === s.mtimeNsec &&
    bytes.readDoubleLE(at + CTIME_SEC) === s.ctimeSec &&
    bytes.readUInt32LE(at + CTIME_NSEC) === s.ctimeNsec;
  return same ? bytes.toString("hex", at + SHA256, at + FIELDS_SIZE) : undefined;
}

/** Changed within the clock tick the file was saved in, so perhaps again after it was hashed. */
function racy({ bytes, saved }: LoadedEntries, at: number): boolean {
  return notOlder(bytes.readDoubleLE(at + MTIME_SEC), bytes.readUInt32LE(at + MTIME_NSEC), saved) || notOlder(bytes.readDoubleLE(at + CTIME_SEC), bytes.readUInt32LE(at + CTIME_NSEC), saved);
}

const notOlder = (sec: number, nsec: number, than: FileTime) => sec > than.sec || (sec === than.sec && nsec >= than.nsec);

function writeFields(out: Buffer, at: number, s: StatKey, sha256: string): void {
  out.writeDoubleLE(s.size, at + SIZE);
  out.writeDoubleLE(s.ino, at + INO);
  out.writeDoubleLE(s.mtimeSec, at + MTIME_SEC);
  out.writeUInt32LE(s.mtimeNsec, at + MTIME_NSEC);
  out.writeDoubleLE(s.ctimeSec, at + CTIME_SEC);
  out.writeUInt32LE(s.ctimeNsec, at + CTIME_NSEC);
  out.write(sha256, at + SHA256, "hex");
}

function encodeEntries(entries: Map<string, number>, fieldsOf: (offset: number) => [Buffer, number]): Buffer {
  // A path too long for its u16 length (deeper than PATH_MAX allows to open) is left out: rehashed.
  const kept = [...entries].map(([p, offset]) => [Buffer.from(p), offset] as const).filter(([name]) => name.length <= 0xffff);
  const out = Buffer.alloc(HEADER_SIZE + kept.reduce((sum, [name]) => sum + 2 + name.length + FIELDS_SIZE, 0));
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(VERSION, 8);
  out.writeUInt32LE(kept.length, 12);
  let at = HEADER_SIZE;
  for (const [name, offset] of kept) {
    at = out.writeUInt16LE(name.length, at);
    at += name.copy(out, at);
    const [bytes, fields] = fieldsOf(offset);
    at += bytes.copy(out, at, fields, fields + FIELDS_SIZE);
  }
  return out;
}
