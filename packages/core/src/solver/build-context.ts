// The build context: a walk of the context directory filtered by .dockerignore,
// and content digests for the files a COPY reads, through a persistent stat
// cache so that unchanged files are never read twice.
import { createHash } from "node:crypto";
import { createReadStream, lstatSync, readdirSync, type BigIntStats } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { ContextFilter, dockerignoreCandidates, parseDockerignore } from "@tsbuild/dockerfile";

export type ContextEntryType = "file" | "dir" | "symlink" | "other";

export interface ContextEntry {
  /** Relative to the context root, `/`-separated. */
  path: string;
  type: ContextEntryType;
  stat: BigIntStats;
}

/** The stat cache the index consults (the store's persistent one, or none). */
export interface FileDigestCache {
  lookup(path: string, stat: { size: bigint; mtimeNs: bigint; ctimeNs: bigint; ino: bigint }): string | undefined;
  record(path: string, stat: { size: bigint; mtimeNs: bigint; ctimeNs: bigint; ino: bigint }, sha256: string): void;
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
    const rootStat = lstatSync(root, { bigint: true });
    if (!rootStat.isDirectory()) throw new Error(`build context ${root} is not a directory`);
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
        const stat = lstatSync(path.join(root, rel), { bigint: true });
        const entry: ContextEntry = { path: rel, type: entryType(stat), stat };
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
    for await (const chunk of createReadStream(path.join(this.root, rel))) hash.update(chunk as Buffer);
    const hex = hash.digest("hex");
    this.cache?.record(rel, key, hex);
    return hex;
  }
}

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
