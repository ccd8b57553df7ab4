// The native (copying) snapshotter, for hosts without overlayfs: the merged lowers are copied
// into a fresh dir, and commit() walks that dir against the lowers to write the upper dir.
//
// What changed is decided the way overlayfs decides what to copy up: by what was touched.
// Every entry's ctime is at most the prepare-time marker unless the step created, wrote,
// chmod/chown'ed, renamed or hardlinked it afterwards (ctime cannot be set from user space).
// Dirs moved or recreated are recognised by their inode no longer being the one prepared there.
import { chmod, lstat, mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { pruneCopiedUpDirs } from "./prune-copyups.js";
import { setTimeout as sleep } from "node:timers/promises";
import { copyEntry, copySubtree, type CopyContext } from "./copy-tree.js";
import { MergedView, mergeLayers } from "./merge.js";
import { makeScratchDir, type Snapshot, type Snapshotter } from "./snapshot.js";
import { TreeWriter } from "./tree-writer.js";
import { OPAQUE_XATTR, readTreeXattrs } from "./xattrs.js";

/** The inode of every dir in the prepared rootfs, by relative path. */
async function dirInodes(root: string): Promise<Map<string, bigint>> {
  const inodes = new Map<string, bigint>();
  const walk = async (rel: string): Promise<void> => {
    const abs = rel === "" ? root : path.join(root, rel);
    inodes.set(rel, (await lstat(abs, { bigint: true })).ino);
    for (const entry of await readdir(abs, { withFileTypes: true })) {
      if (entry.isDirectory()) await walk(rel === "" ? entry.name : `${rel}/${entry.name}`);
    }
  };
  await walk("");
  return inodes;
}

/**
 * A ctime no earlier than any change made so far, returned only once the file system clock
 * (coarse: a few ms) has moved past it, so any later change has a greater ctime.
 */
async function ctimeMarker(dir: string): Promise<bigint> {
  const probe = path.join(dir, "ctime-marker");
  await writeFile(probe, "");
  const marker = (await stat(probe, { bigint: true })).ctimeNs;
  for (;;) {
    await chmod(probe, 0o600);
    if ((await stat(probe, { bigint: true })).ctimeNs > marker) return marker;
    await sleep(1);
  }
}

interface Prepared {
  lowers: readonly string[];
  dirInodes: Map<string, bigint>;
  marker: bigint;
}

/** Writes the changes of rootfs since prepare into upper, in overlay upper format. */
async function writeNativeDiff(rootfs: string, upper: string, prepared: Prepared): Promise<void> {
  const view = await MergedView.open(prepared.lowers);
  const { xattrs } = await readTreeXattrs(rootfs);
  const xattrsOf = (rel: string) => xattrs.get(rel);
  await mkdir(upper, { mode: 0o755 });
  const writer = new TreeWriter(upper);
  const context: CopyContext = { links: new Map() };
  const emittedDirs = new Set<string>([""]);
  const abs = (rel: string): string => (rel === "" ? rootfs : path.join(rootfs, rel));
  const join = (rel: string, name: string): string => (rel === "" ? name : `${rel}/${name}`);

  /** Emits rel and its ancestors as dirs (overlay copies up the parents of every change). */
  const ensureDir = async (rel: string): Promise<void> => {
    if (emittedDirs.has(rel)) return;
    await ensureDir(path.posix.dirname(rel) === "." ? "" : path.posix.dirname(rel));
    await copyEntry(writer, abs(rel), await lstat(abs(rel), { bigint: true }), rel, xattrsOf(rel), context);
    emittedDirs.add(rel);
  };

  const walk = async (rel: string): Promise<void> => {
    const dirSt = await lstat(abs(rel), { bigint: true });
    const names = (await readdir(abs(rel))).sort();
    // An untouched dir has exactly the names it had at prepare; a touched one may have lost some.
    if (dirSt.ctimeNs > prepared.marker) {
      await ensureDir(rel);
      const layers = await view.dirLayers(rel);
      const present = new Set(names);
      const lowerNames = layers ? [...(await view.list(rel, layers)).keys()].sort() : [];
      for (const name of lowerNames) if (!present.has(name)) await writer.whiteout(join(rel, name));
    }
    for (const name of names) {
      const child = join(rel, name);
      const st = await lstat(abs(child), { bigint: true });
      if (st.isDirectory()) {
        const preparedInode = prepared.dirInodes.get(child);
        if (preparedInode === st.ino) {
          await walk(child);
          continue;
        }
        // A new dir, or one moved or recreated here: all of it is new, and it hides the old one.
        await ensureDir(rel);
        await copySubtree(writer, abs(child), child, xattrsOf, context, child);
        if (preparedInode !== undefined) writer.setXattrs(child, new Map([[OPAQUE_XATTR, Buffer.from("y")]]));
      } else if (st.ctimeNs > prepared.marker) {
        await ensureDir(rel);
        await copyEntry(writer, abs(child), st, child, xattrsOf(child), context);
      }
    }
  };
  await walk("");
  await writer.finish();
}

class NativeSnapshot implements Snapshot {
  private committed = false;
  constructor(
    private readonly dir: string,
    readonly rootfs: string,
    readonly upperDir: string,
    private readonly prepared: Prepared,
  ) {}

  async commit(): Promise<string> {
    if (!this.committed) {
      await writeNativeDiff(this.rootfs, this.upperDir, this.prepared);
      pruneCopiedUpDirs(this.upperDir, this.prepared.lowers);
      this.committed = true;
      await rm(this.rootfs, { recursive: true, force: true });
    }
    return this.upperDir;
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

export function nativeSnapshotter(): Snapshotter {
  return {
    kind: "native",
    async prepare(lowers, workRoot) {
      const dir = await makeScratchDir(workRoot, "snapshot");
      try {
        const rootfs = path.join(dir, "rootfs");
        await mkdir(rootfs, { mode: 0o755 });
        await mergeLayers(lowers, rootfs);
        const inodes = await dirInodes(rootfs);
        const marker = await ctimeMarker(dir);
        return new NativeSnapshot(dir, rootfs, path.join(dir, "upper"), { lowers: [...lowers], dirInodes: inodes, marker });
      } catch (error) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    },
  };
}
