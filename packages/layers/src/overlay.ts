// The overlay snapshotter: lowers = unpacked layer dirs, upper = the step's changes, which are
// already in the layer format, so commit is just an unmount.
import { mkdir, rm, symlink } from "node:fs/promises";
import path from "node:path";
import { pruneCopiedUpDirs } from "./prune-copyups.js";
import { MNT_DETACH, mount, umount } from "@tsbuild/syscalls";
import { makeScratchDir, type Snapshot, type Snapshotter } from "./snapshot.js";

/** The kernel's limit on stacked lower layers (OVL_MAX_STACK). */
export const MAX_OVERLAY_LOWERS = 500;
/** mount(2) copies at most one page of options. */
const MAX_MOUNT_OPTIONS = 4095;

/**
 * The upper dir must stand alone as a layer: no redirects or metacopy-only files pointing into
 * the lowers, and no index tying it to them.
 */
const SELF_CONTAINED_UPPER = "index=off,redirect_dir=off,metacopy=off";

export async function unmountOverlay(mountpoint: string): Promise<void> {
  try {
    umount(mountpoint);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // EINVAL: not a mount point (unmounted already); ENOENT: the directory is gone.
    if (code === "EINVAL" || code === "ENOENT") return;
    if (code !== "EBUSY") throw error;
    // Something still holds a file open (a lingering process): detach now, freed when released.
    umount(mountpoint, MNT_DETACH);
  }
}

/**
 * Mounts an overlay of lowers (newest first) at dir/merged with dir/upper and dir/work.
 * Each lower gets a short symlink dir/l/N and mount runs in dir/l with relative names, as
 * Docker's overlay2 does, so the option string stays far below one page even for deep chains.
 * Mounting again over an existing dir (a working container's) keeps its upper and work dirs.
 *
 * An image may hold the same layer twice (two steps that made the same change in the same
 * second); overlayfs refuses a dir given twice (ELOOP). Only the newest of them is mounted: an
 * older copy shows nothing the newer one does not already show or hide.
 */
export async function mountOverlay(allLowers: readonly string[], dir: string): Promise<{ merged: string; upper: string }> {
  const lowers = [...new Set(allLowers.map((lower) => path.resolve(lower)))];
  if (lowers.length > MAX_OVERLAY_LOWERS) {
    throw new Error(
      `cannot mount ${lowers.length} layers with overlayfs: the kernel stacks at most ${MAX_OVERLAY_LOWERS} lower layers; squash the base image or use the native snapshotter`,
    );
  }
  const links = path.join(dir, "l");
  const upper = path.join(dir, "upper");
  const merged = path.join(dir, "merged");
  await rm(links, { recursive: true, force: true });
  await mkdir(links);
  await mkdir(upper, { mode: 0o755, recursive: true });
  await mkdir(path.join(dir, "work"), { recursive: true });
  await mkdir(merged, { recursive: true });
  const sources = lowers.length > 0 ? lowers : [path.resolve(dir, "empty")];
  if (lowers.length === 0) await mkdir(sources[0]!, { recursive: true }); // overlay needs one lower; scratch is an empty one
  const names: string[] = [];
  for (const [index, lower] of sources.entries()) {
    const name = index.toString(36);
    await symlink(lower, path.join(links, name));
    names.push(name);
  }
  const options = `lowerdir=${names.join(":")},upperdir=../upper,workdir=../work,${SELF_CONTAINED_UPPER}`;
  if (options.length > MAX_MOUNT_OPTIONS) {
    throw new Error(`overlay mount options for ${lowers.length} layers exceed one page (${options.length} bytes)`);
  }
  mount("overlay", merged, "overlay", options, { cwd: links });
  return { merged, upper };
}

class OverlaySnapshot implements Snapshot {
  private mounted = true;
  constructor(
    private readonly dir: string,
    readonly rootfs: string,
    readonly upperDir: string,
    private readonly lowers: readonly string[],
  ) {}

  private async unmountOnce(): Promise<void> {
    if (!this.mounted) return;
    await unmountOverlay(this.rootfs);
    this.mounted = false;
  }

  async commit(): Promise<string> {
    await this.unmountOnce();
    await rm(path.join(this.dir, "work"), { recursive: true, force: true });
    pruneCopiedUpDirs(this.upperDir, this.lowers);
    return this.upperDir;
  }

  async remove(): Promise<void> {
    await this.unmountOnce();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export function overlaySnapshotter(): Snapshotter {
  return {
    kind: "overlay",
    async prepare(lowers, workRoot) {
      const dir = await makeScratchDir(workRoot, "snapshot");
      try {
        const { merged, upper } = await mountOverlay(lowers, dir);
        return new OverlaySnapshot(dir, merged, upper, [...lowers]);
      } catch (error) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    },
  };
}
