// Paths inside a container rootfs, resolved the way runc resolves them: symlinks are followed
// but can never lead outside the rootfs (an absolute link target is relative to the rootfs).
import { chown, lstat, mkdir, readlink, rmdir, unlink } from "node:fs/promises";
import path from "node:path";

const MAX_SYMLINKS = 40;

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** The host path `containerPath` refers to inside `rootfs`, after following symlinks within it. */
export async function resolveInRoot(rootfs: string, containerPath: string): Promise<string> {
  const root = path.resolve(rootfs);
  let pending = containerPath.split("/").filter((part) => part !== "" && part !== ".");
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const [part, ...rest] = pending;
    pending = rest;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const candidate = path.join(root, ...resolved, part);
    let isLink = false;
    try {
      isLink = (await lstat(candidate)).isSymbolicLink();
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new Error(`too many levels of symbolic links resolving ${containerPath} in ${rootfs}`);
    const target = await readlink(candidate);
    if (target.startsWith("/")) resolved.length = 0;
    pending = [...target.split("/").filter((p) => p !== "" && p !== "."), ...pending];
  }
  return path.join(root, ...resolved);
}

/** The path itself and those of its ancestors below `root` that do not exist, outermost first. */
export async function missingPaths(root: string, hostPath: string): Promise<string[]> {
  const missing: string[] = [];
  for (let current = hostPath; current !== path.resolve(root) && current !== path.dirname(current); current = path.dirname(current)) {
    try {
      await lstat(current);
      break;
    } catch (error) {
      if (!isMissing(error)) throw error;
      missing.unshift(current);
    }
  }
  return missing;
}

/** Creates `containerPath` in `rootfs` with its missing ancestors, owned by uid:gid, mode 0755. */
export async function mkdirInRoot(rootfs: string, containerPath: string, uid: number, gid: number): Promise<void> {
  const target = await resolveInRoot(rootfs, containerPath);
  for (const dir of await missingPaths(rootfs, target)) {
    await mkdir(dir, { mode: 0o755 });
    await chown(dir, uid, gid);
  }
}

/**
 * Removes the mount stubs runc left at `created` (outermost first, as missingPaths returns them):
 * the innermost path only if it is an empty regular file, directories only if empty. A path that
 * was never in a lower layer leaves no whiteout when it goes.
 */
export async function removeStubs(created: string[]): Promise<void> {
  for (const [index, stub] of [...created].reverse().entries()) {
    let stats;
    try {
      stats = await lstat(stub);
    } catch (error) {
      if (isMissing(error)) continue;
      throw error;
    }
    if (index === 0 && stats.isFile() && stats.size === 0) {
      await unlink(stub);
    } else if (stats.isDirectory()) {
      try {
        await rmdir(stub);
      } catch (error) {
        // The process put files there: they are its output, not our stub.
        if ((error as NodeJS.ErrnoException).code === "ENOTEMPTY") return;
        throw error;
      }
    } else {
      return;
    }
  }
}
