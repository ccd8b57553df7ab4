// Lookups in the merged view of unpacked layers (overlay upper format, newest first) without
// mounting them: what overlayfs would show at a path, for steps that can then skip the mount.
import { lstatSync, type Stats } from "node:fs";
import path from "node:path";
import { isWhiteout } from "./tree-writer.js";
import { entryXattrs } from "./xattrs.js";

/** A directory of the merged view above a new path: what overlayfs would copy up. */
export interface DirAbove {
  /** Relative to the root, "/"-separated. */
  rel: string;
  mode: number;
  uid: number;
  gid: number;
}

/**
 * The directories above `containerPath` in the merged view of `lowers` (unpacked layers in overlay
 * upper format, newest first), outermost first, when the path itself is not there and is reached
 * through plain directories only. Undefined when the path exists, or when a symlink, a
 * non-directory or a directory with content xattrs is on the way: those need the mounted view.
 *
 * `namesAdded`: the names a step makes directly in `containerPath`. With them the path may be a
 * plain directory of the view already, and is then the last of the directories given, as long as
 * no lower that shows through it has anything (a whiteout included) at any of those names.
 */
export function dirsAbove(lowers: readonly string[], containerPath: string, namesAdded?: readonly string[]): DirAbove[] | undefined {
  const { names, entries } = entriesAlong(lowers, containerPath);
  if (names.length === 0) return undefined;
  if (entries.length === names.length && !addsOnlyNewNames(lowers, entries[entries.length - 1]!, namesAdded)) return undefined;
  if (entries.some((entry) => !entry.stat.isDirectory() || entryXattrs(path.join(lowers[entry.from]!, entry.rel)).xattrs)) return undefined;
  return entries.map(({ rel, stat }) => ({ rel, mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid }));
}

/**
 * Whether making `names` in the directory `dir` of the view only adds: no lower merged into it has
 * an entry there. A whiteout counts as one: over it, overlayfs makes a new directory opaque.
 */
function addsOnlyNewNames(lowers: readonly string[], dir: MergedEntry, names: readonly string[] | undefined): boolean {
  if (names === undefined || names.length === 0 || !dir.stat.isDirectory()) return false;
  for (const name of names) {
    if (name === "" || name === "." || name === ".." || name.includes("/")) return false;
    for (let index = dir.from; index < dir.to; index++) {
      if (lstatOrUndefined(path.join(lowers[index]!, dir.rel, name))) return false;
    }
  }
  return true;
}

/**
 * The index in `lowers` of the one layer that makes up what the merged view shows at
 * `containerPath`, a directory or a regular file reached through plain directories, when no other
 * layer adds to it; undefined otherwise (absent, a symlink, or merged from several layers). Read
 * from that layer's dir, the path's tree is the merged view's, except that whiteouts in it are
 * files there (they hide nothing: no older layer has anything below the path).
 */
export function onlyLayerOf(lowers: readonly string[], containerPath: string): number | undefined {
  const { names, entries } = entriesAlong(lowers, containerPath);
  const entry = names.length > 0 && entries.length === names.length ? entries[entries.length - 1]! : undefined;
  if (!entry || !(entry.stat.isDirectory() || entry.stat.isFile())) return undefined;
  return entry.to - entry.from === 1 ? entry.from : undefined;
}

/** What the merged view of `lowers` shows at `rel`, or undefined where it shows nothing. */
export function mergedStat(lowers: readonly string[], rel: string): Stats | undefined {
  const { names, entries } = entriesAlong(lowers, rel);
  return names.length > 0 && entries.length === names.length ? entries[entries.length - 1]!.stat : undefined;
}

/** An entry of the merged view; lowers[from] to lowers[to - 1] make it up (more than one: a merged directory). */
interface MergedEntry {
  rel: string;
  stat: Stats;
  from: number;
  to: number;
}

/**
 * The merged view's entries along `containerPath`, outermost first, as far as the view has them:
 * up to the first component it lacks, or up to and including the first non-directory.
 */
function entriesAlong(lowers: readonly string[], containerPath: string): { names: string[]; entries: MergedEntry[] } {
  const names = path.posix.normalize(`/${containerPath}`).split("/").filter((name) => name !== "");
  const entries: MergedEntry[] = [];
  // The lowers whose directory at the current depth merges into the view.
  let from = 0;
  let to = lowers.length;
  for (let depth = 0; depth < names.length; depth++) {
    const rel = names.slice(0, depth + 1).join("/");
    const entry = mergedEntry(lowers, rel, from, to);
    if (!entry) break;
    entries.push({ rel, ...entry });
    if (!entry.stat.isDirectory()) break;
    ({ from, to } = entry);
  }
  return { names, entries };
}

/**
 * The entry at `rel` as overlayfs shows it, looking in lowers[from] to lowers[to - 1]: the newest
 * that has it decides; a directory merges with the directories below it until a lower has
 * something else there (a whiteout, a file) or a directory marked opaque.
 */
function mergedEntry(lowers: readonly string[], rel: string, from: number, to: number): { stat: Stats; from: number; to: number } | undefined {
  let found: { stat: Stats; from: number; to: number } | undefined;
  for (let index = from; index < to; index++) {
    const stat = lstatOrUndefined(path.join(lowers[index]!, rel));
    if (!stat) continue;
    if (!found) {
      if (isWhiteout(stat)) return undefined;
      found = { stat, from: index, to: index + 1 };
      if (!stat.isDirectory()) return found;
    } else if (!stat.isDirectory()) {
      return found;
    } else {
      found.to = index + 1;
    }
    if (entryXattrs(path.join(lowers[index]!, rel)).opaque) return found;
  }
  return found;
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw error;
  }
}
