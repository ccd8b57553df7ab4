// A snapshot written in the layer format directly, without a mount, for a step that only adds
// files under a path its parent layers do not have (a COPY into a new directory). Creating files
// through an overlay mount costs about three times what it costs on the file system below (`cp -a`
// of 5,000 small files: 0.68 s into an overlay, 0.22 s into a plain directory), and the upper dir
// is the layer either way. The directories above that path that the layers have are made in the
// upper dir as overlayfs copies them up: same mode and owner (dirsAbove in lower-view.ts).
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import type { DirAbove } from "./lower-view.js";
import { makeScratchDir, type Snapshot } from "./snapshot.js";

/** An unmounted snapshot under `workRoot` whose rootfs is its upper dir, with `dirs` made in it. */
export async function prepareUpperSnapshot(workRoot: string, dirs: readonly DirAbove[]): Promise<Snapshot> {
  const dir = await makeScratchDir(workRoot, "snapshot");
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
