// Creates entries under a root with their metadata in the order the kernel requires:
// content, then chown (which clears setuid/setgid and file capabilities), then chmod, then
// times; xattrs at the end, and directory mtimes last of all because creating children changes
// them. Callers are responsible for the safety of relative paths. Calls are synchronous: each
// is one short syscall, and a promise per call (through the libuv thread pool) costs more than
// the call itself.
import { chmodSync, chownSync, closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, symlinkSync, utimesSync, writeSync, type BigIntStats, type Stats } from "node:fs";
import { copyFile } from "node:fs/promises";
import path from "node:path";
import { mknod } from "@tsbuild/syscalls";
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
export function isWhiteout(st: Stats | BigIntStats): boolean {
  return st.isCharacterDevice() && Number(st.rdev) === 0;
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

/** A regular file being written (see TreeWriter.createFile). */
export class OpenFile {
  constructor(
    private readonly fd: number,
    private readonly meta: EntryMeta,
    private readonly chown: boolean,
  ) {}

  /** Appends bytes: one write call for a regular file, which takes all it is given. */
  write(bytes: Buffer): void {
    for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done);
  }

  /** Sets owner, mode and mtime, in that order, and closes the file. */
  finish(): void {
    try {
      if (this.chown) fchownSync(this.fd, this.meta.uid, this.meta.gid);
      fchmodSync(this.fd, this.meta.mode);
      futimesSync(this.fd, this.meta.mtime, this.meta.mtime);
    } finally {
      closeSync(this.fd);
    }
  }

  /** Closes the file as it is (when applying stopped on an error). */
  close(): void {
    closeSync(this.fd);
  }
}

export class TreeWriter {
  private readonly dirTimes = new Map<string, number>();
  private readonly pendingXattrs = new Map<string, Xattrs>();
  /** The first whiteout made by mknod; later ones are hardlinks to it, as overlayfs itself does. */
  private whiteoutTemplate: string | undefined;
  /** The group of each dir this writer set the owner of. */
  private readonly dirGroups = new Map<string, number>();
  private readonly uid = process.geteuid?.() ?? -1;
  private readonly gid = process.getegid?.() ?? -1;

  constructor(readonly root: string) {}

  /**
   * Whether an entry just created at target already has meta's owner, so chown can be skipped:
   * new entries are ours, and in a dir of our own group they are in that group (setgid dirs and
   * grpid mounts give a new entry its dir's group, others the creator's).
   */
  private ownedAsCreated(target: string, meta: EntryMeta): boolean {
    return meta.uid === this.uid && meta.gid === this.gid && this.dirGroups.get(path.dirname(target)) === meta.gid;
  }

  abs(rel: string): string {
    return rel === "" ? this.root : path.join(this.root, rel);
  }

  /**
   * Creates the dir unless one is there already (fails with EEXIST when something else is);
   * sets owner and mode now, its mtime in finish().
   */
  dir(rel: string, meta: EntryMeta): void {
    const target = this.abs(rel);
    let created = true;
    try {
      mkdirSync(target);
    } catch (e) {
      if (!isErrno(e, "EEXIST") || !lstatSync(target).isDirectory()) throw e;
      created = false;
    }
    if (!created || !this.ownedAsCreated(target, meta)) chownSync(target, meta.uid, meta.gid);
    chmodSync(target, meta.mode);
    this.dirGroups.set(target, meta.gid);
    this.dirTimes.set(target, meta.mtime);
  }

  /**
   * Creates a new, empty regular file, never through a symlink (EEXIST when anything is there),
   * for content to be written; meta is set when it is finished.
   */
  createFile(rel: string, meta: EntryMeta): OpenFile {
    const target = this.abs(rel);
    const fd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    return new OpenFile(fd, meta, !this.ownedAsCreated(target, meta));
  }

  /** Copies a regular file, sharing extents where the file system can (reflink). */
  async copyFile(rel: string, source: string, meta: EntryMeta): Promise<void> {
    const target = this.abs(rel);
    await copyFile(source, target, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
    chownSync(target, meta.uid, meta.gid);
    chmodSync(target, meta.mode);
    utimesSync(target, meta.mtime, meta.mtime);
  }

  symlink(rel: string, linkTarget: string, meta: EntryMeta): void {
    const target = this.abs(rel);
    symlinkSync(linkTarget, target);
    if (!this.ownedAsCreated(target, meta)) lchownSync(target, meta.uid, meta.gid);
    lutimesSync(target, meta.mtime, meta.mtime);
  }

  hardlink(rel: string, existingRel: string): void {
    linkSync(this.abs(existingRel), this.abs(rel));
  }

  /** Device nodes and FIFOs (Node cannot create either; the syscalls addon can). */
  special(rel: string, kind: "c" | "b" | "p", meta: EntryMeta, major = 0, minor = 0): void {
    const target = this.abs(rel);
    const type = kind === "c" ? constants.S_IFCHR : kind === "b" ? constants.S_IFBLK : constants.S_IFIFO;
    mknod(target, type | (meta.mode & 0o777), major, minor);
    chownSync(target, meta.uid, meta.gid);
    chmodSync(target, meta.mode);
    utimesSync(target, meta.mtime, meta.mtime);
  }

  whiteout(rel: string): void {
    const target = this.abs(rel);
    if (this.whiteoutTemplate !== undefined) {
      try {
        linkSync(this.whiteoutTemplate, target);
        return;
      } catch (e) {
        // The template was replaced by a later entry, or has too many links: start a new one.
        if (!isErrno(e, "ENOENT", "EMLINK")) throw e;
      }
    }
    mknod(target, constants.S_IFCHR, 0, 0);
    this.whiteoutTemplate = target;
  }

  /** Queues xattrs for rel (merged with earlier ones); written by finish(). */
  setXattrs(rel: string, xattrs: ReadonlyMap<string, Buffer>): void {
    if (xattrs.size === 0) return;
    const target = this.abs(rel);
    const existing = this.pendingXattrs.get(target);
    this.pendingXattrs.set(target, existing ? new Map([...existing, ...xattrs]) : new Map(xattrs));
  }

  /** Forgets queued metadata of a path that was removed (and, for a dir, of everything under it). */
  forget(rel: string, wasDir: boolean): void {
    const target = this.abs(rel);
    this.pendingXattrs.delete(target);
    if (this.whiteoutTemplate === target) this.whiteoutTemplate = undefined;
    if (!wasDir) return;
    const under = `${target}/`;
    this.dirTimes.delete(target);
    this.dirGroups.delete(target);
    for (const map of [this.dirTimes, this.dirGroups, this.pendingXattrs]) {
      for (const p of map.keys()) if (p.startsWith(under)) map.delete(p);
    }
    if (this.whiteoutTemplate?.startsWith(under)) this.whiteoutTemplate = undefined;
  }

  async finish(): Promise<void> {
    await writeTreeXattrs(this.pendingXattrs);
    this.pendingXattrs.clear();
    for (const [dir, mtime] of this.dirTimes) utimesSync(dir, mtime, mtime);
    this.dirTimes.clear();
  }
}
