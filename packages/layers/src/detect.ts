// Choosing a snapshotter by trying the real thing rather than guessing from /proc/filesystems:
// overlay can be listed yet refuse to mount (user namespaces, an overlay or NFS workRoot).
import { lstat, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { nativeSnapshotter } from "./native.js";
import { overlaySnapshotter } from "./overlay.js";
import type { Snapshotter } from "./snapshot.js";

/** Mounts an overlay under workRoot, deletes a lower file through it and checks the whiteout. */
async function probeOverlay(workRoot: string): Promise<void> {
  const dir = await mkdtemp(path.join(workRoot, "overlay-probe-"));
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

/** Returns the snapshotter to use under workRoot and why (for `tsbuild info`). */
export async function detectSnapshotter(
  workRoot: string,
  preferred?: "overlay" | "native",
): Promise<{ snapshotter: Snapshotter; reason: string }> {
  if (preferred === "native") return { snapshotter: nativeSnapshotter(), reason: "native snapshotter requested" };
  try {
    await probeOverlay(workRoot);
  } catch (error) {
    const why = (error as Error).message;
    if (preferred === "overlay") throw new Error(`overlay snapshotter requested, but overlayfs does not work in ${workRoot}: ${why}`);
    return { snapshotter: nativeSnapshotter(), reason: `overlayfs does not work in ${workRoot} (${why}); copying snapshotter in use` };
  }
  return { snapshotter: overlaySnapshotter(), reason: `overlayfs mounts in ${workRoot}` };
}
