// Linux system calls Node.js has no API for, from a small N-API addon (src/syscalls.c, compiled
// by `npm run build` into dist/syscalls.node). Synchronous, each one or two system calls, but for
// syncFileSystem and copyFiles, which work off the main thread.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

interface Addon {
  mount(source: string, target: string, fstype: string, flags: number, data: string, cwd?: string): void;
  umount(target: string, flags: number): void;
  mknod(path: string, mode: number, major: number, minor: number): void;
  lxattrs(path: string): (string | Buffer)[] | undefined;
  lsetxattr(path: string, name: string, value: Buffer): void;
  readDirectory(path: string, withXattrs: boolean): [string[], Float64Array, Float64Array?];
  fixMallocThresholds(bytes: number): boolean;
  syncFileSystem(path: string): Promise<void>;
  copyFiles(paths: string, attrs: Float64Array, content: Buffer): Promise<Float64Array>;
}

/**
 * The addon `name` that `npm run build` compiles from a package's src/NAME.c into dist/NAME.node,
 * loaded relative to `moduleUrl` (the caller's import.meta.url): the same relative path from src/
 * (tests) and dist/ (the build). `needs` says what the build needs besides a C compiler and Node's headers.
 */
export function loadAddon<T>(moduleUrl: string, name: string, needs = ""): T {
  try {
    return createRequire(moduleUrl)(`../dist/${name}.node`) as T;
  } catch (error) {
    throw new Error(`the tsbuild ${name} addon is not built or cannot load (${(error as Error).message}); run \`npm run build\` (it needs a C compiler and Node's headers${needs})`, { cause: error });
  }
}

let addon: Addon | undefined;

function load(): Addon {
  addon ??= loadAddon<Addon>(import.meta.url, "syscalls");
  return addon;
}

/** umount2(2) flag: detach now, finish when the last user lets go. */
export const MNT_DETACH = 2;

/**
 * mount(2). With `cwd`, relative paths in `data` (overlay's lowerdir names) are resolved there:
 * the call runs in a thread with a file system context of its own, so the process's working
 * directory never changes.
 */
export function mount(source: string, target: string, fstype: string, data: string, options: { flags?: number; cwd?: string } = {}): void {
  load().mount(source, target, fstype, options.flags ?? 0, data, options.cwd);
}

/** umount2(2). */
export function umount(target: string, flags = 0): void {
  load().umount(target, flags);
}

/** mknod(2): `mode` includes the file type (S_IFCHR, S_IFBLK, S_IFIFO). */
export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  load().mknod(path, mode, major, minor);
}

/** Every extended attribute of `path` (not following a symlink), by name; undefined when it has none. */
export function readXattrs(path: string): Map<string, Buffer> | undefined {
  const flat = load().lxattrs(path);
  if (flat === undefined) return undefined;
  const out = new Map<string, Buffer>();
  for (let i = 0; i < flat.length; i += 2) out.set(flat[i] as string, flat[i + 1] as Buffer);
  return out;
}

/** lsetxattr(2): sets one extended attribute of `path` (not following a symlink). */
export function setXattr(path: string, name: string, value: Buffer): void {
  load().lsetxattr(path, name, value);
}

/** Numbers per entry in DirectoryListing.stats, and where each one is. */
export const STAT_FIELDS = 12;
export const StatField = {
  mode: 0,
  uid: 1,
  gid: 2,
  size: 3,
  nlink: 4,
  ino: 5,
  atimeSec: 6,
  atimeNsec: 7,
  mtimeSec: 8,
  mtimeNsec: 9,
  ctimeSec: 10,
  ctimeNsec: 11,
} as const;

export interface DirectoryListing {
  /** Entry names (not . and ..), in the order the file system lists them. */
  names: string[];
  /** STAT_FIELDS numbers per name, in the order of StatField: the entry's lstat. */
  stats: Float64Array;
  /** With `{ xattrs: true }`: the size of each entry's xattr name list, 0 when it has none. */
  xattrBytes?: Float64Array;
}

/**
 * A directory's entries with their lstat, in one call: each stat is relative to the open directory
 * (fstatat), not a lookup of the whole path, and no Stats object is made per entry. An entry
 * removed between the listing and its stat is left out.
 */
export function readDirectory(path: string, options: { xattrs?: boolean } = {}): DirectoryListing {
  const [names, stats, xattrBytes] = load().readDirectory(path, options.xattrs === true);
  return xattrBytes ? { names, stats, xattrBytes } : { names, stats };
}

/**
 * Fixes glibc's mmap and trim thresholds at `bytes` (mallopt M_MMAP_THRESHOLD, M_TRIM_THRESHOLD):
 * blocks at least that big are mapped, and unmapped when freed, whatever was freed before. By
 * default glibc moves both up as big blocks are freed, after which 1 MiB stream buffers stay
 * resident in the heap once freed. Process-wide, so for programs (the CLI), not libraries. False
 * where libc has no such settings.
 */
export function fixMallocThresholds(bytes: number): boolean {
  return load().fixMallocThresholds(bytes);
}

/** Where things are mounted in this process's mount namespace (/proc/self/mountinfo, octal escapes decoded). */
export function listMountPoints(): string[] {
  const points: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const field = line.split(" ")[4];
    if (field) points.push(field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8))));
  }
  return points;
}

/**
 * syncfs(2) of the file system that holds `path`, on libuv's thread pool: everything written
 * there so far is on the disk when the promise resolves (one call for a whole tree of files, where
 * fsync would take one per file). Rejects with the errno error of open or syncfs.
 */
export function syncFileSystem(path: string): Promise<void> {
  return load().syncFileSystem(path);
}

/** One file for copyFiles: a new file at `target` with `source`'s content and these attributes. */
export interface FileCopy {
  source: string;
  target: string;
  uid: number;
  gid: number;
  /** Permission and set-id bits. */
  mode: number;
  atimeMs: number;
  mtimeMs: number;
}

/** Numbers per file in copyFiles' attributes. */
const COPY_FIELDS = 5;

/**
 * Copies small files on libuv's thread pool, all in one hand-off: per file an open of the source,
 * an exclusive create of the target (it must not exist), its content, then owner, mode and times
 * (chown and chmod only where the new file differs). Each file's bytes are also left in `content`,
 * one after another (the caller hashes them without reading the files again; it must not touch
 * `content` until the promise settles). Resolves with each file's length in `content`, or -1 for
 * one that no longer fit there (it grew since it was listed: read it back). Rejects with the first
 * error (the files copied until then stay).
 */
export function copyFiles(files: readonly FileCopy[], content: Buffer): Promise<Float64Array> {
  const attrs = new Float64Array(files.length * COPY_FIELDS);
  let paths = "";
  files.forEach((file, i) => {
    paths += `${file.source}\0${file.target}\0`;
    const at = i * COPY_FIELDS;
    attrs[at] = file.uid;
    attrs[at + 1] = file.gid;
    attrs[at + 2] = file.mode;
    attrs[at + 3] = file.atimeMs;
    attrs[at + 4] = file.mtimeMs;
  });
  return load().copyFiles(paths, attrs, content);
}
