// Directories that a step only passed through: overlayfs copies a lower
// directory up as soon as something is created inside it, even when that
// something is removed again (runc's mount stubs for /etc/hosts and
// /etc/resolv.conf do exactly this). Such a directory, empty in the upper dir
// and with the lower's mode and owner, is no change and does not belong in
// the layer (containerd's overlay differ leaves it out the same way).
// Synchronous calls: the walk lists every dir of the upper dir, and a thread-pool round trip per
// dir made it 0.4-0.6 s for the 6,400 dirs of small-files' COPY, 0.06-0.1 s now (docs/decisions/0009).
import { lstatSync, readdirSync, rmdirSync } from "node:fs";
import path from "node:path";
import { mergedStat } from "./lower-view.js";
import { entryXattrs } from "./xattrs.js";

export function pruneCopiedUpDirs(upper: string, lowers: readonly string[]): void {
  const visit = (rel: string): boolean => {
    const entries = readdirSync(path.join(upper, rel), { withFileTypes: true });
    let remaining = entries.length;
    for (const entry of entries) {
      if (entry.isDirectory() && visit(rel === "" ? entry.name : `${rel}/${entry.name}`)) remaining--;
    }
    if (rel === "" || remaining > 0) return false;
    // Only the few empty dirs are asked for xattrs: an opaque mark or a content xattr is a change.
    const { opaque, xattrs } = entryXattrs(path.join(upper, rel));
    if (opaque || xattrs) return false;
    const lower = mergedStat(lowers, rel);
    if (!lower?.isDirectory()) return false;
    const own = lstatSync(path.join(upper, rel));
    if (own.mode !== lower.mode || own.uid !== lower.uid || own.gid !== lower.gid) return false;
    rmdirSync(path.join(upper, rel));
    return true;
  };
  visit("");
}
