// Directories that a step only passed through: overlayfs copies a lower
// directory up as soon as something is created inside it, even when that
// something is removed again (runc's mount stubs for /etc/hosts and
// /etc/resolv.conf do exactly this). Such a directory, empty in the upper dir
// and with the lower's mode and owner, is no change and does not belong in
// the layer (containerd's overlay differ leaves it out the same way).
import { lstat, readdir, rmdir } from "node:fs/promises";
import path from "node:path";
import { isWhiteout } from "./tree-writer.js";
import { entryXattrs } from "./xattrs.js";

export async function pruneCopiedUpDirs(upper: string, lowers: readonly string[]): Promise<void> {
  const visit = async (rel: string): Promise<boolean> => {
    const entries = await readdir(path.join(upper, rel), { withFileTypes: true });
    let remaining = entries.length;
    for (const entry of entries) {
      if (entry.isDirectory() && (await visit(rel === "" ? entry.name : `${rel}/${entry.name}`))) remaining--;
    }
    if (rel === "" || remaining > 0) return false;
    // Only the few empty dirs are asked for xattrs: an opaque mark or a content xattr is a change.
    const { opaque, xattrs } = entryXattrs(path.join(upper, rel));
    if (opaque || xattrs) return false;
    const lower = await lowerEntry(lowers, rel);
    if (!lower?.isDirectory()) return false;
    const own = await lstat(path.join(upper, rel), { bigint: true });
    if (own.mode !== lower.mode || own.uid !== lower.uid || own.gid !== lower.gid) return false;
    await rmdir(path.join(upper, rel));
    return true;
  };
  await visit("");
}

/** The entry the merged view showed at `rel` before the step: the newest lower that has it. */
async function lowerEntry(lowers: readonly string[], rel: string) {
  for (const lower of lowers) {
    try {
      const st = await lstat(path.join(lower, rel), { bigint: true });
      return isWhiteout(st) ? undefined : st;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw error;
    }
  }
  return undefined;
}
