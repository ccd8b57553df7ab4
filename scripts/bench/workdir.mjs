// The run's work dir (stores, contexts, registry, archives) and the file system under it.
import { existsSync, readdirSync } from "node:fs";
import { readFile, realpath, rm, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { decodeMountPath, mountsUnder, run } from "./measure.mjs";

/** Size of the sparse image behind a journaled work dir; only what is written takes disk space. */
const IMAGE_BYTES = 96 * 2 ** 30;

/** The mount holding `dir` (the longest mount point above it): its kernel device name, e.g. "vda". */
async function deviceOf(dir) {
  const table = await readFile("/proc/self/mountinfo", "utf8");
  let best;
  for (const line of table.split("\n")) {
    const fields = line.split(" ");
    const mountPoint = decodeMountPath(fields[4]);
    if (!mountPoint || !(dir === mountPoint || dir.startsWith(mountPoint === "/" ? "/" : `${mountPoint}/`))) continue;
    if (!best || mountPoint.length > best.mountPoint.length) best = { mountPoint, majorMinor: fields[2] };
  }
  if (!best) return undefined;
  return path.basename(await realpath(`/sys/dev/block/${best.majorMinor}`).catch(() => ""));
}

/** True when `dir` is on ext4 mounted without a journal (no jbd2 entry for its device). */
export async function onExt4WithoutJournal(dir) {
  const device = await deviceOf(dir);
  if (!device || !existsSync(`/proc/fs/ext4/${device}`)) return false;
  const journals = existsSync("/proc/fs/jbd2") ? readdirSync("/proc/fs/jbd2") : [];
  return !journals.some((name) => name.startsWith(`${device}-`));
}

/**
 * Makes `work` (an empty dir) the mount point of a journaled ext4 (mkfs.ext4's defaults) on a loop
 * device over a sparse file at `image`, when `work` is on ext4 without a journal, as this machine's
 * disk is. There the kernel avoids reusing inodes freed in the last minute (six while their
 * inode-table block is dirty, as creating files beside them keeps it) and scans past each for
 * every file it creates (recently_deleted() in fs/ext4/ialloc.c): after a builder's store was
 * deleted, creating files near it was up to 10x slower for minutes (a shell loop creating 2,000
 * files: 0.06 s on a journaled ext4, 0.6-0.8 s there). That measures the disk's set-up and the
 * order of the builders, not the builders. Returns a description for the report; `trim()` frees
 * the disk blocks of deleted files; `release()` deletes the image, unmounting it first unless the
 * work dir's removal already did.
 */
export async function journaledWorkDir(work, image, log) {
  const asItIs = { trim: async () => {}, release: async () => {} };
  if (!(await onExt4WithoutJournal(work))) return { note: undefined, ...asItIs };
  if (process.getuid?.() !== 0) {
    return { note: "ext4 without a journal, used as it is (a journaled loop file system needs root): cold builds after a deletion may be slower", ...asItIs };
  }
  log(`${work} is on ext4 without a journal: mounting a journaled ext4 on a loop device there (docs/benchmarks.md, "Work dir")`);
  try {
    await writeFile(image, "");
    await truncate(image, IMAGE_BYTES);
    await run("mkfs.ext4", ["-q", "-F", image]);
    await run("mount", ["-o", "loop", image, work]);
    // Direct I/O from the loop device to the file: without it every block is cached twice and an
    // fsync in the work dir flushes the whole file's dirty pages, other builders' writes included.
    const device = (await run("losetup", ["--list", "--noheadings", "--output", "NAME", "--associated", image])).trim().split("\n")[0];
    await run("losetup", ["--direct-io=on", device]);
  } catch (error) {
    await rm(image, { force: true });
    log(`no loop file system (${error.message.split("\n")[0]}): the work dir stays as it is`);
    return { note: "ext4 without a journal, used as it is (a loop mount failed): cold builds after a deletion may be slower", ...asItIs };
  }
  return {
    note: "a journaled ext4 (mkfs.ext4 defaults) on a loop device (direct I/O) over a sparse file, because the disk's ext4 has no journal (docs/benchmarks.md, \"Work dir\")",
    /**
     * Gives the disk back the blocks of what was deleted in the work dir: the sparse image only
     * grows otherwise, and five repetitions of every builder's stores and archives outgrew the
     * disk's free space (the loop file system then went read-only mid-run).
     */
    async trim() {
      await run("fstrim", [work]);
    },
    async release() {
      if ((await mountsUnder(work)).includes(work)) await run("umount", ["-l", work]);
      await rm(image, { force: true });
    },
  };
}
