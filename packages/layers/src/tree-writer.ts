// Creates entries under a root with their metadata in the order the kernel requires:
// content, then chown (which clears setuid/setgid and file capabilities), then chmod, then
// times; xattrs in one setfattr run at the end, and directory mtimes last of all because
// creating children changes them. Callers are responsible for the safety of relative paths.
import { constants, type BigIntStats } from "node:fs";
import { chmod, chown, copyFile, lchown, link, lutimes, mkdir, open, symlink, utimes } from "node:fs/promises";
import path from "node:path";
import { run } from "./run.js";
import { writeTreeXattrs, type Xattrs } from "./xattrs.js";

export interface EntryMeta {
  /** Permission bits incl. setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (fractions kept where the source has them). */
  mtime: number;
}

export function metaFromStat(st: BigIntStats): EntryMeta {
  return { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), mtime: Number(st.mtimeNs) / 1e9 };
}

/** overlayfs marks a deleted path with a 0/0 character device. */
export function isWhiteout(st: BigIntStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}

/** Linux dev_t encoding (glibc's gnu_dev_major/minor). */
export function deviceNumbers(rdev: bigint): { major: number; minor: number } {
  return {
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
  };
}

export function isErrno(error: unknown, ...codes: string[]): boolean {
  return error instanceof Error && codes.includes((error as NodeJS.ErrnoException).code ?? "");
}

export class TreeWriter {
  private readonly dirTimes = new Map<string, number>();
  private readonly pendingXattrs = new Map<string, Xattrs>();
  /** The first whiteout made by mknod; later ones are hardlinks to it, as overlayfs itself does. */
  private whiteoutTemplate: string | undefined;

  constructor(readonly root: string) {}

  abs(rel: string): string {
    return rel === "" ? this.root : path.join(this.root, rel);
  }

  /** Creates the dir unless it exists; its mtime is set by finish(). */
  async dir(rel: string, meta: EntryMeta): Promise<void> {
    const target = this.abs(rel);
    await mkdir(target).catch((e: unknown) => {
      if (!isErrno(e, "EEXIST")) throw e;
    });
    await chown(target, meta.uid, meta.gid);
    await chmod(target, meta.mode);
    this.dirTimes.set(target, meta.mtime);
  }

  /** Writes a new regular file from a byte stream (never following a symlink); returns its size. */
  async file(rel: string, content: AsyncIterable<Buffer>, meta: EntryMeta): Promise<number> {
    const handle = await open(this.abs(rel), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    let size = 0;
    try {
      for await (const chunk of content) {
        let written = 0;
        while (written < chunk.length) written += (await handle.write(chunk, written)).bytesWritten;
        size += chunk.length;
      }
      await handle.chown(meta.uid, meta.gid);
      await handle.chmod(meta.mode);
      await handle.utimes(meta.mtime, meta.mtime);
    } finally {
      await handle.close();
    }
    return size;
  }

  /** Copies a regular file, sharing extents where the file system can (reflink). */
  async copyFile(rel: string, source: string, meta: EntryMeta): Promise<void> {
    const target = this.abs(rel);
    await copyFile(source, target, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
    await chown(target, meta.uid, meta.gid);
    await chmod(target, meta.mode);
    await utimes(target, meta.mtime, meta.mtime);
  }

  async symlink(rel: string, linkTarget: string, meta: EntryMeta): Promise<void> {
    const target = this.abs(rel);
    await symlink(linkTarget, target);
    await lchown(target, meta.uid, meta.gid);
    await lutimes(target, meta.mtime, meta.mtime);
  }

  async hardlink(rel: string, existingRel: string): Promise<void> {
    await link(this.abs(existingRel), this.abs(rel));
  }

  /** Device nodes and FIFOs (Node cannot create either). */
  async special(rel: string, kind: "c" | "b" | "p", meta: EntryMeta, major = 0, minor = 0): Promise<void> {
    const target = this.abs(rel);
    const numbers = kind === "p" ? [] : [String(major), String(minor)];
    await run("mknod", ["-m", (meta.mode & 0o777).toString(8), "--", target, kind, ...numbers]);
    await chown(target, meta.uid, meta.gid);
    await chmod(target, meta.mode);
    await utimes(target, meta.mtime, meta.mtime);
  }

  async whiteout(rel: string): Promise<void> {
    const target = this.abs(rel);
    if (this.whiteoutTemplate !== undefined) {
      try {
        await link(this.whiteoutTemplate, target);
        return;
      } catch (e) {
        // The template was replaced by a later entry, or has too many links: start a new one.
        if (!isErrno(e, "ENOENT", "EMLINK")) throw e;
      }
    }
    await run("mknod", ["-m", "000", "--", target, "c", "0", "0"]);
    this.whiteoutTemplate = target;
  }

  /** Queues xattrs for rel (merged with earlier ones); written by finish(). */
  setXattrs(rel: string, xattrs: Xattrs): void {
    if (xattrs.size === 0) return;
    const target = this.abs(rel);
    const existing = this.pendingXattrs.get(target);
    this.pendingXattrs.set(target, existing ? new Map([...existing, ...xattrs]) : new Map(xattrs));
  }

  /** Forgets queued metadata of a path that was removed (and of everything under it). */
  forget(rel: string): void {
    const target = this.abs(rel);
    const inside = (p: string): boolean => p === target || p.startsWith(`${target}/`);
    for (const p of this.dirTimes.keys()) if (inside(p)) this.dirTimes.delete(p);
    for (const p of this.pendingXattrs.keys()) if (inside(p)) this.pendingXattrs.delete(p);
    if (this.whiteoutTemplate !== undefined && inside(this.whiteoutTemplate)) this.whiteoutTemplate = undefined;
  }

  async finish(): Promise<void> {
    await writeTreeXattrs(this.pendingXattrs);
    this.pendingXattrs.clear();
    for (const [dir, mtime] of this.dirTimes) await utimes(dir, mtime, mtime);
    this.dirTimes.clear();
  }
}
