// A snapshot written in the layer format directly, without a mount, for a step that only adds
// files under a path its parent layers do not have (a COPY into a new directory). Creating files
// through an overlay mount costs about three times what it costs on the file system below (`cp -a`
// of 5,000 small files: 0.68 s into an overlay, 0.22 s into a plain directory), and the upper dir
// is the layer either way. The directories above that path that the layers have are made in the
// upper dir as overlayfs copies them up: same mode and owner.
import { chmodSync, chownSync, lstatSync, mkdirSync, type Stats } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import type { Snapshot } from "./snapshot.js";
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

/** An unmounted snapshot under `workRoot` whose rootfs is its upper dir, with `dirs` made in it. */
export async function prepareUpperSnapshot(workRoot: string, dirs: readonly DirAbove[]): Promise<Snapshot> {
  const dir = await mkdtemp(path.join(workRoot, "snapshot-"));
  const upper = path.join(dir, "upper");
  try {
    mkdirSync(upper);
    for (const above of dirs) {
      const made = path.join(upper, above.rel);
      mkdirSync(made);
      // chown before chmod: chown may clear the set-group-ID bit.
      chownSync(made, above.uid, above.gid);
      chmodSync(made, above.mode);
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    rootfs: upper,
    upperDir: upper,
    commit: async () => upper,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
