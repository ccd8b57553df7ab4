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
 */
export function dirsAbove(lowers: readonly string[], containerPath: string): DirAbove[] | undefined {
  const names = path.posix.normalize(`/${containerPath}`).split("/").filter((name) => name !== "");
  if (names.length === 0) return undefined;
  const dirs: DirAbove[] = [];
  // The lowers whose directory at the current depth merges into the view.
  let merging = lowers;
  for (let depth = 0; depth < names.length; depth++) {
    const rel = names.slice(0, depth + 1).join("/");
    const entry = mergedEntry(merging, rel);
    if (!entry) return dirs;
    if (depth === names.length - 1 || !entry.stat.isDirectory()) return undefined;
    if (entryXattrs(path.join(merging[entry.from]!, rel)).xattrs) return undefined;
    dirs.push({ rel, mode: entry.stat.mode & 0o7777, uid: entry.stat.uid, gid: entry.stat.gid });
    merging = merging.slice(entry.from, entry.to);
  }
  return dirs;
}

/**
 * The index in `lowers` of the one layer that makes up what the merged view shows at
 * `containerPath`, a directory or a regular file reached through plain directories, when no other
 * layer adds to it; undefined otherwise (absent, a symlink, or merged from several layers). Read
 * from that layer's dir, the path's tree is the merged view's, except that whiteouts in it are
 * files there (they hide nothing: no older layer has anything below the path).
 */
export function onlyLayerOf(lowers: readonly string[], containerPath: string): number | undefined {
  const names = path.posix.normalize(`/${containerPath}`).split("/").filter((name) => name !== "");
  if (names.length === 0) return undefined;
  let merging = lowers;
  let offset = 0;
  for (let depth = 0; depth < names.length; depth++) {
    const entry = mergedEntry(merging, names.slice(0, depth + 1).join("/"));
    if (!entry) return undefined;
    if (depth === names.length - 1) {
      const plain = entry.stat.isDirectory() || entry.stat.isFile();
      return plain && entry.to - entry.from === 1 ? offset + entry.from : undefined;
    }
    if (!entry.stat.isDirectory()) return undefined;
    merging = merging.slice(entry.from, entry.to);
    offset += entry.from;
  }
  return undefined;
}

/**
 * The entry at `rel` as overlayfs shows it: the newest lower that has it decides; a directory
 * merges with the directories below it until a lower has something else there (a whiteout, a
 * file) or a directory marked opaque. `from`–`to` are the lowers that make up a directory.
 */
function mergedEntry(lowers: readonly string[], rel: string): { stat: Stats; from: number; to: number } | undefined {
  let found: { stat: Stats; from: number; to: number } | undefined;
  for (const [index, lower] of lowers.entries()) {
    const stat = lstatOrUndefined(path.join(lower, rel));
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
    if (entryXattrs(path.join(lower, rel)).opaque) return found;
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
