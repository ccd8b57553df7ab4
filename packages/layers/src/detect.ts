// Choosing a snapshotter by trying the real thing rather than guessing from /proc/filesystems:
// overlay can be listed yet refuse to mount (user namespaces, an overlay or NFS workRoot).
import { lstat, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { nativeSnapshotter } from "./native.js";
import { overlaySnapshotter } from "./overlay.js";
import { makeScratchDir, type Snapshotter } from "./snapshot.js";

/** Mounts an overlay under workRoot, deletes a lower file through it and checks the whiteout. */
async function probeOverlay(workRoot: string): Promise<void> {
  const dir = await makeScratchDir(workRoot, "overlay-probe");
  try {
    const lower = path.join(dir, "lower");
    await mkdir(lower);
    await writeFile(path.join(lower, "file"), "");
    const snapshot = await overlaySnapshotter().prepare([lower], dir);
    try {
      await rm(path.join(snapshot.rootfs, "file"));
      const upper = await snapshot.commit();
      const whiteout = await lstat(path.join(upper, "file"), { bigint: true });
      if (!whiteout.isCharacterDevice() || whiteout.rdev !== 0n) throw new Error("deleting a file did not leave a 0/0 whiteout device in the upper dir");
    } finally {
      await snapshot.remove();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What a probe found, remembered per work root and kernel so that a build needs no probe mount. */
interface ProbeRecord {
  kernel: string;
  overlay: boolean;
  why: string;
}

async function probeOnce(workRoot: string, file: string | undefined): Promise<ProbeRecord & { cached: boolean }> {
  if (file) {
    try {
      const record = JSON.parse(await readFile(file, "utf8")) as ProbeRecord;
      if (record.kernel === os.release()) return { ...record, cached: true };
    } catch {
      // No record yet (or an unreadable one): probe.
    }
  }
  let record: ProbeRecord;
  try {
    await probeOverlay(workRoot);
    record = { kernel: os.release(), overlay: true, why: "" };
  } catch (error) {
    record = { kernel: os.release(), overlay: false, why: (error as Error).message };
  }
  if (file) {
    const temp = `${file}.${process.pid}`;
    await writeFile(temp, JSON.stringify(record));
    await rename(temp, file);
  }
  return { ...record, cached: false };
}

/**
 * Returns the snapshotter to use under workRoot and why (for `tsbuild info`). Given `probeFile`,
 * the overlay probe (a real mount) runs once per kernel and its result is kept there, so that a
 * build whose steps are all cached mounts nothing.
 */
export async function detectSnapshotter(
  workRoot: string,
  preferred?: "overlay" | "native",
  probeFile?: string,
): Promise<{ snapshotter: Snapshotter; reason: string }> {
  if (preferred === "native") return { snapshotter: nativeSnapshotter(), reason: "native snapshotter requested" };
  await mkdir(workRoot, { recursive: true });
  const probe = await probeOnce(workRoot, probeFile);
  const when = probe.cached ? ` (probed earlier on kernel ${probe.kernel})` : "";
  if (!probe.overlay) {
    if (preferred === "overlay") throw new Error(`overlay snapshotter requested, but overlayfs does not work in ${workRoot}: ${probe.why}`);
    return { snapshotter: nativeSnapshotter(), reason: `overlayfs does not work in ${workRoot} (${probe.why})${when}; copying snapshotter in use` };
  }
  return { snapshotter: overlaySnapshotter(), reason: `overlayfs mounts in ${workRoot}${when}` };
}
