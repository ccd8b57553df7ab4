// The build context: a walk of the context directory filtered by .dockerignore,
// and content digests for the files a COPY reads, through a persistent stat
// cache so that unchanged files are never read twice.
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, type BigIntStats } from "node:fs";
import { open, readFile } from "node:fs/promises";
import path from "node:path";
import { ContextFilter, dockerignoreCandidates, parseDockerignore } from "@tsbuild/dockerfile";

export type ContextEntryType = "file" | "dir" | "symlink" | "other";

/**
 * What the build needs of an lstat: a context of 20,000 files keeps one each, and a whole
 * BigIntStats (a BigInt per field) costs ~1 KiB of heap.
 */
export interface EntryStat {
  type: ContextEntryType;
  /** st_mode, file type bits included. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  ino: number;
  /** Whole milliseconds, as Date keeps them. */
  atimeMs: number;
  mtimeMs: number;
  /** Nanoseconds, for the stat cache. */
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export function entryStat(st: BigIntStats): EntryStat {
  return {
    type: entryType(st),
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    nlink: Number(st.nlink),
    ino: Number(st.ino),
    atimeMs: Number(st.atimeMs),
    mtimeMs: Number(st.mtimeMs),
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
  };
}

export interface ContextEntry {
  /** Relative to the context root, `/`-separated. */
  path: string;
  type: ContextEntryType;
  stat: EntryStat;
}

/** The stat cache the index consults (the store's persistent one, or none). */
export interface FileDigestCache {
  lookup(path: string, stat: { size: number; mtimeNs: bigint; ctimeNs: bigint; ino: number }): string | undefined;
  record(path: string, stat: { size: number; mtimeNs: bigint; ctimeNs: bigint; ino: number }, sha256: string): void;
}

export class BuildContextIndex {
  /** Every entry sent to the build, by relative path (the root is ""). */
  readonly entries = new Map<string, ContextEntry>();
  private readonly digests = new Map<string, Promise<string>>();

  private constructor(
    readonly root: string,
    private readonly cache: FileDigestCache | undefined,
  ) {}

  /** Walks `root`, leaving out what the ignore patterns exclude. */
  static scan(root: string, ignorePatterns: readonly string[], cache?: FileDigestCache): BuildContextIndex {
    const index = new BuildContextIndex(root, cache);
    const rootStat = entryStat(lstatSync(root, { bigint: true }));
    if (rootStat.type !== "dir") throw new Error(`build context ${root} is not a directory`);
    index.entries.set("", { path: "", type: "dir", stat: rootStat });
    const filter = new ContextFilter(ignorePatterns);
    const pending = new Map<string, ContextEntry>();
    const walk = (relDir: string) => {
      const absDir = relDir === "" ? root : path.join(root, relDir);
      let names: string[];
      try {
        names = readdirSync(absDir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EACCES" && !index.entries.has(relDir)) return;
        throw error;
      }
      names.sort(compareBytes);
      for (const name of names) {
        const rel = relDir === "" ? name : `${relDir}/${name}`;
        const stat = entryStat(lstatSync(path.join(root, rel), { bigint: true }));
        const entry: ContextEntry = { path: rel, type: stat.type, stat };
        const visit = filter.visit(rel, entry.type === "dir");
        if (visit.action === "skip") continue;
        if (visit.action === "include") {
          for (const parent of visit.parents) index.entries.set(parent, pending.get(parent)!);
          index.entries.set(rel, entry);
        } else {
          pending.set(rel, entry);
        }
        if (entry.type === "dir") walk(rel);
      }
    };
    walk("");
    return index;
  }

  /** The digest of a regular file when known without reading it (hashed already, or unchanged in the stat cache). */
  knownDigest(rel: string): string | undefined {
    const entry = this.entries.get(rel);
    if (!entry || entry.type !== "file" || this.digests.has(rel)) return undefined;
    const hit = this.cache?.lookup(rel, { size: entry.stat.size, mtimeNs: entry.stat.mtimeNs, ctimeNs: entry.stat.ctimeNs, ino: entry.stat.ino });
    if (hit) this.digests.set(rel, Promise.resolve(hit));
    return hit;
  }

  /** sha256 (hex) of a regular file's content, from the stat cache when its stat is unchanged. */
  fileDigest(rel: string): Promise<string> {
    let digest = this.digests.get(rel);
    if (!digest) {
      digest = this.computeDigest(rel);
      this.digests.set(rel, digest);
    }
    return digest;
  }

  private async computeDigest(rel: string): Promise<string> {
    const entry = this.entries.get(rel);
    if (!entry || entry.type !== "file") throw new Error(`${rel} is not a regular file in the build context`);
    const key = { size: entry.stat.size, mtimeNs: entry.stat.mtimeNs, ctimeNs: entry.stat.ctimeNs, ino: entry.stat.ino };
    const cached = this.cache?.lookup(rel, key);
    if (cached) return cached;
    const hash = createHash("sha256");
    const buffer = hashBuffers.pop() ?? Buffer.allocUnsafe(HASH_READ_SIZE);
    const file = await open(path.join(this.root, rel), "r");
    try {
      for (let got; (got = (await file.read(buffer, 0, buffer.length, null)).bytesRead) > 0; ) hash.update(buffer.subarray(0, got));
    } finally {
      await file.close();
      hashBuffers.push(buffer);
    }
    const hex = hash.digest("hex");
    this.cache?.record(rel, key, hex);
    return hex;
  }
}

/** Files are hashed through reused buffers (as many as files hashed at once), not a new Buffer per read. */
const HASH_READ_SIZE = 256 * 1024;
const hashBuffers: Buffer[] = [];

export function entryType(stat: BigIntStats): ContextEntryType {
  if (stat.isFile()) return "file";
  if (stat.isDirectory()) return "dir";
  if (stat.isSymbolicLink()) return "symlink";
  return "other";
}

/** Byte order of UTF-8 names, as Go sorts them (the walk order fsutil uses). */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The ignore patterns for a build: `<Dockerfile>.dockerignore` beside the Dockerfile wins over `<context>/.dockerignore`. */
export async function readIgnorePatterns(contextDir: string, dockerfilePath: string | undefined): Promise<string[]> {
  const candidates = dockerfilePath
    ? dockerignoreCandidates(dockerfilePath, contextDir)
    : [path.join(contextDir, ".dockerignore")];
  for (const candidate of candidates) {
    try {
      return parseDockerignore(await readFile(candidate, "utf8"));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  return [];
}
