// Copying entries with everything that makes them what they are: mode (incl. setuid/setgid/
// sticky), owner, mtime, xattrs, symlink targets, hardlinks within the copy, FIFOs, devices.
import type { BigIntStats } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import path from "node:path";
import { deviceNumbers, isErrno, isWhiteout, metaFromStat, TreeWriter } from "./tree-writer.js";
import { readTreeXattrs, type Xattrs } from "./xattrs.js";

export interface CopyTreeOptions {
  /** Give every copied entry this owner (COPY --chown); by default each keeps its own. */
  owner?: { uid: number; gid: number };
}

export interface CopyContext {
  /** Destination path of the first copy of each multiply-linked source inode ("dev:ino"). */
  readonly links: Map<string, string>;
  readonly owner?: { uid: number; gid: number };
}

/** Copies one entry (a dir only as itself, not its contents) from source to rel under the writer's root. */
export async function copyEntry(writer: TreeWriter, source: string, st: BigIntStats, rel: string, xattrs: Xattrs | undefined, context: CopyContext): Promise<void> {
  const meta = metaFromStat(st);
  if (context.owner) Object.assign(meta, context.owner);
  if (!st.isDirectory() && !isWhiteout(st) && st.nlink > 1n) {
    const inode = `${st.dev}:${st.ino}`;
    const first = context.links.get(inode);
    if (first !== undefined) return writer.hardlink(rel, first);
    context.links.set(inode, rel);
  }
  if (st.isDirectory()) await writer.dir(rel, meta);
  else if (st.isFile()) await writer.copyFile(rel, source, meta);
  else if (st.isSymbolicLink()) await writer.symlink(rel, await readlink(source), meta);
  else if (isWhiteout(st)) await writer.whiteout(rel);
  else if (st.isFIFO()) await writer.special(rel, "p", meta);
  else if (st.isCharacterDevice() || st.isBlockDevice()) {
    const { major, minor } = deviceNumbers(st.rdev);
    await writer.special(rel, st.isCharacterDevice() ? "c" : "b", meta, major, minor);
  } else return; // sockets are runtime state, not content
  if (xattrs) writer.setXattrs(rel, xattrs);
}

/** Copies source (whatever it is) and, for a dir, everything below it, depth first. */
export async function copySubtree(
  writer: TreeWriter,
  source: string,
  rel: string,
  xattrsOf: (sourceRel: string) => Xattrs | undefined,
  context: CopyContext,
  sourceRel = "",
): Promise<void> {
  const st = await lstat(source, { bigint: true });
  await copyEntry(writer, source, st, rel, xattrsOf(sourceRel), context);
  if (!st.isDirectory()) return;
  for (const name of (await readdir(source)).sort()) {
    await copySubtree(writer, path.join(source, name), rel === "" ? name : `${rel}/${name}`, xattrsOf, context, sourceRel === "" ? name : `${sourceRel}/${name}`);
  }
}

/**
 * Copies src (a dir tree, or a single file/symlink) to dest, which must not exist yet (its
 * parent must). Files are reflinked where the file system can (FICLONE), else copied.
 * trusted.overlay.* xattrs are not copied; whiteout devices are (as whiteouts).
 */
export async function copyTree(src: string, dest: string, options: CopyTreeOptions = {}): Promise<void> {
  const target = path.resolve(dest);
  const exists = await lstat(target).then(
    () => true,
    (e: unknown) => {
      if (isErrno(e, "ENOENT")) return false;
      throw e;
    },
  );
  if (exists) throw new Error(`cannot copy ${src} to ${dest}: the destination already exists`);
  const { xattrs } = await readTreeXattrs(src);
  const writer = new TreeWriter(path.dirname(target));
  await copySubtree(writer, path.resolve(src), path.basename(target), (rel) => xattrs.get(rel), { links: new Map(), owner: options.owner });
  await writer.finish();
}
