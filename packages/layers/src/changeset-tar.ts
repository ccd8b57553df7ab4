// The differ's output half: a dir in overlay upper format -> an OCI layer changeset tar.
// It is on the critical path of every commit (diffID hashing), export and push, so it works
// synchronously in bounded slices: each slice walks the tree and reads file contents straight
// into one output chunk until it is full, instead of a promise per entry and a stream per file.
import { closeSync, constants, lstatSync, openSync, readlinkSync, readSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { readDirectory, STAT_FIELDS, StatField } from "@tsbuild/syscalls";
import { encodeTarHeader, tarEnd, tarPadding, type TarEntryHeader, type TarEntryType } from "./tar-format.js";
import { deviceNumbers } from "./tree-writer.js";
import { entryXattrs, type Xattrs } from "./xattrs.js";

export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_MARKER = ".wh..wh..opq";

export interface ChangesetTarOptions {
  /** Clamp every mtime to at most this (seconds since the epoch), for reproducible layers. */
  sourceDateEpoch?: number;
}

/** Output is pushed in chunks of this size: small files are packed together, big ones read in pieces. */
const CHUNK_SIZE = 1 << 20;
const NO_XATTRS: Xattrs = new Map();

/** What an entry's header in a changeset tar is made of, as lstat gives it. */
export interface ChangesetEntryMeta {
  type: TarEntryType;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Whole seconds, from the nanosecond value (mtimeMs can round up into the next second). */
  mtime: number;
  /** Content bytes of a file (ignored for other types). */
  size: number;
  devmajor: number;
  devminor: number;
}

/** One entry of the tree, with just what its header needs (no Stats kept alive). */
interface TreeEntry extends Omit<ChangesetEntryMeta, "type"> {
  /** Path relative to the root. */
  rel: string;
  /** The name in the archive (".wh.NAME" for a whiteout); its bytes give the order. */
  tarName: string;
  type: TarEntryType | "whiteout";
  /** The inode number of a non-dir with more than one link, so its later names become Link entries. */
  inode: string | undefined;
  /** Whether it has any xattrs (content ones, or overlay's opaque mark) to read. */
  hasXattrs: boolean;
}

/** The header of an entry (not a whiteout) in a changeset tar; xattrs are written sorted by name. */
export function changesetHeader(tarName: string, meta: ChangesetEntryMeta, xattrs: Xattrs | undefined, sourceDateEpoch?: number): TarEntryHeader {
  return {
    name: tarName,
    type: meta.type,
    mode: meta.mode,
    uid: meta.uid,
    gid: meta.gid,
    size: meta.type === "file" ? meta.size : 0,
    mtime: sourceDateEpoch === undefined ? meta.mtime : Math.min(meta.mtime, sourceDateEpoch),
    linkname: "",
    devmajor: meta.devmajor,
    devminor: meta.devminor,
    xattrs: xattrs ? new Map([...xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : NO_XATTRS,
  };
}

/** The header of a later name of a file already in the archive as `firstName`. */
export function hardlinkHeader(header: TarEntryHeader, firstName: string): TarEntryHeader {
  return { ...header, type: "link", size: 0, linkname: firstName, devmajor: 0, devminor: 0, xattrs: NO_XATTRS };
}

export function reservedNameError(absPath: string): Error {
  return new Error(`cannot archive ${absPath}: names starting with ${WHITEOUT_PREFIX} are reserved for whiteouts in OCI layers`);
}

/** A dir being archived: its entries in archive order and how far we are. */
interface DirFrame {
  entries: TreeEntry[];
  next: number;
}

/** The regular file whose content is being copied into the output. */
interface OpenFile {
  fd: number;
  path: string;
  size: number;
  done: number;
}

function joinRel(dir: string, name: string): string {
  return dir === "" ? name : `${dir}/${name}`;
}

/** A tree's entries in archive order, reading one dir at a time (readdir + lstat, sorted). */
class TreeWalk {
  private stack: DirFrame[] | undefined;

  constructor(private readonly root: string) {}

  /** The next entry; undefined once the whole tree has been walked. */
  next(): TreeEntry | undefined {
    this.stack ??= [this.readDir("")];
    for (let frame = this.stack.at(-1); frame; frame = this.stack.at(-1)) {
      const entry = frame.entries[frame.next++];
      if (!entry) {
        this.stack.pop();
        continue;
      }
      if (entry.type === "directory") this.stack.push(this.readDir(entry.rel));
      return entry;
    }
    return undefined;
  }

  /** One call lists a dir with each entry's lstat and xattr list size (readDirectory); only devices are looked up again, for their numbers. */
  private readDir(relDir: string): DirFrame {
    const absDir = path.join(this.root, relDir);
    const { names, stats, xattrBytes } = readDirectory(absDir, { xattrs: true });
    const keyed: [Buffer, TreeEntry][] = [];
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const at = i * STAT_FIELDS;
      const mode = stats[at + StatField.mode]!;
      const format = mode & constants.S_IFMT;
      if (format === constants.S_IFSOCK) continue; // sockets cannot be archived; they are runtime state
      const device = format === constants.S_IFCHR || format === constants.S_IFBLK;
      const rdev = device ? lstatSync(path.join(absDir, name), { bigint: true }).rdev : 0n;
      // overlayfs marks a deleted path with a 0/0 character device.
      const whiteout = format === constants.S_IFCHR && rdev === 0n;
      if (!whiteout && name.startsWith(WHITEOUT_PREFIX)) throw reservedNameError(path.join(absDir, name));
      const type = whiteout ? "whiteout" : TYPE_OF_FORMAT.get(format) ?? "file";
      const { major, minor } = device ? deviceNumbers(rdev) : { major: 0, minor: 0 };
      const tarName = joinRel(relDir, whiteout ? WHITEOUT_PREFIX + name : name);
      keyed.push([
        Buffer.from(tarName),
        {
          rel: joinRel(relDir, name),
          tarName,
          type,
          mode: mode & 0o7777,
          uid: stats[at + StatField.uid]!,
          gid: stats[at + StatField.gid]!,
          // The kernel's whole seconds (rounded down): the tar's for every time it can hold.
          mtime: stats[at + StatField.mtimeSec]!,
          size: stats[at + StatField.size]!,
          devmajor: major,
          devminor: minor,
          // One file system: the inode number alone identifies a file.
          inode: type !== "directory" && stats[at + StatField.nlink]! > 1 ? String(stats[at + StatField.ino]) : undefined,
          hasXattrs: xattrBytes![i]! > 0,
        },
      ]);
    }
    keyed.sort(([a], [b]) => Buffer.compare(a, b));
    return { entries: keyed.map(([, entry]) => entry), next: 0 };
  }
}

const TYPE_OF_FORMAT = new Map<number, TarEntryType>([
  [constants.S_IFDIR, "directory"],
  [constants.S_IFLNK, "symlink"],
  [constants.S_IFIFO, "fifo"],
  [constants.S_IFCHR, "char"],
  [constants.S_IFBLK, "block"],
  [constants.S_IFREG, "file"],
]);

/**
 * Streams an OCI changeset tar of a dir in overlay upper format. Order: depth first, a dir
 * before its contents, its opaque marker first among them, siblings in byte order of their
 * archive names. Whiteouts and opaque markers are empty files with mode 0, owner 0:0 and mtime 0
 * (as containerd writes them), so equal changes give equal bytes.
 */
export function changesetTar(layerDir: string, options: ChangesetTarOptions = {}): Readable {
  return new ChangesetTarStream(path.resolve(layerDir), options);
}

class ChangesetTarStream extends Readable {
  private readonly walk: TreeWalk;
  private started = false;
  /** First archive name of each multiply-linked inode. */
  private readonly firstNames = new Map<string, string>();
  private file: OpenFile | undefined;
  private chunk = Buffer.allocUnsafe(CHUNK_SIZE);
  private used = 0;
  private pushed = 0;
  private finished = false;
  private wanted = false;
  private scheduled = false;

  constructor(
    private readonly root: string,
    private readonly options: ChangesetTarOptions,
  ) {
    super();
    this.walk = new TreeWalk(root);
  }

  override _read(): void {
    this.wanted = true;
    this.schedule();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.closeFile();
    callback(error);
  }

  // Slices run from setImmediate, never inside _read: Readable calls _read from read(), and a
  // push there would make read() concatenate the new chunk onto the one it returns. Between
  // slices the event loop runs other I/O.
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.slice();
    });
  }

  private slice(): void {
    if (this.destroyed) return;
    try {
      if (!this.wanted) return;
      this.wanted = false;
      if (!this.started) {
        this.started = true;
        if (entryXattrs(this.root).opaque) this.write(encodeTarHeader(marker(OPAQUE_MARKER)));
      }
      const target = this.pushed + 1;
      while (this.pushed < target && !this.finished) this.step();
      if (this.finished) {
        if (this.used > 0) this.flush();
        this.push(null);
      }
    } catch (error) {
      this.destroy(error as Error);
    }
  }

  /** Advances by one entry, or by one read of the current file's content. */
  private step(): void {
    if (this.file) return this.copyFileContent(this.file);
    const entry = this.walk.next();
    if (!entry) {
      this.write(tarEnd());
      this.finished = true;
      return;
    }
    // A whiteout is a 0/0 device in the upper dir; its xattrs are overlay's, never content.
    const { xattrs, opaque } = entry.type === "whiteout" || !entry.hasXattrs ? { xattrs: undefined, opaque: false } : entryXattrs(path.join(this.root, entry.rel));
    this.writeEntry(entry, xattrs);
    if (entry.type === "directory" && opaque) this.write(encodeTarHeader(marker(joinRel(entry.rel, OPAQUE_MARKER))));
  }

  private writeEntry(entry: TreeEntry, xattrs: Xattrs | undefined): void {
    const { type, tarName, size } = entry;
    if (type === "whiteout") return this.write(encodeTarHeader(marker(tarName)));
    const header = changesetHeader(tarName, { ...entry, type }, xattrs, this.options.sourceDateEpoch);
    if (entry.inode !== undefined) {
      const first = this.firstNames.get(entry.inode);
      if (first !== undefined) return this.write(encodeTarHeader(hardlinkHeader(header, first)));
      this.firstNames.set(entry.inode, tarName);
    }
    const source = path.join(this.root, entry.rel);
    if (type === "symlink") header.linkname = readlinkSync(source);
    this.write(encodeTarHeader(header));
    // Empty files are never opened; the content of others follows in the next steps.
    if (type === "file" && size > 0) this.file = { fd: openForArchive(source), path: source, size, done: 0 };
  }

  /** Reads the next piece of the open file straight into the output chunk. */
  private copyFileContent(file: OpenFile): void {
    const want = Math.min(file.size - file.done, CHUNK_SIZE - this.used);
    const got = readSync(file.fd, this.chunk, this.used, want, file.done);
    if (got === 0) {
      throw new Error(`${file.path} changed size while it was archived (${file.size} bytes expected, ${file.done} read)`);
    }
    file.done += got;
    this.used += got;
    if (this.used === CHUNK_SIZE) this.flush();
    if (file.done === file.size) {
      this.closeFile();
      this.write(tarPadding(file.size));
    }
  }

  private closeFile(): void {
    if (!this.file) return;
    const { fd } = this.file;
    this.file = undefined;
    closeSync(fd);
  }

  /** Appends bytes to the output, pushing each chunk as it fills. */
  private write(bytes: Buffer): void {
    let from = 0;
    while (from < bytes.length) {
      const n = bytes.copy(this.chunk, this.used, from);
      from += n;
      this.used += n;
      if (this.used === CHUNK_SIZE) this.flush();
    }
  }

  private flush(): void {
    const full = this.chunk.subarray(0, this.used);
    this.chunk = Buffer.allocUnsafe(CHUNK_SIZE);
    this.used = 0;
    this.pushed++;
    this.push(full);
  }
}

/**
 * Opens a file to archive without updating its access time: the first read of a file made since
 * its atime was set dirties its inode even with relatime, and a layer of 20,000 files would then
 * write back as many inodes. O_NOATIME needs the file's owner or CAP_FOWNER (root has it): after
 * the first refusal, this process opens files plainly, rather than try each twice.
 */
let noAtime = constants.O_NOATIME;
function openForArchive(file: string): number {
  try {
    return openSync(file, constants.O_RDONLY | noAtime);
  } catch (error) {
    if (noAtime === 0 || (error as NodeJS.ErrnoException).code !== "EPERM") throw error;
    noAtime = 0;
    return openSync(file, constants.O_RDONLY);
  }
}

function marker(name: string): TarEntryHeader {
  return { name, type: "file", mode: 0, uid: 0, gid: 0, size: 0, mtime: 0, linkname: "", devmajor: 0, devminor: 0, xattrs: NO_XATTRS };
}
