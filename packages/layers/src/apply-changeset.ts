// The applier: a changeset tar -> files, refusing every entry that could write outside the root.
// It works chunk by chunk: the parser hands out headers and views of content as they arrive,
// and each entry is made with synchronous syscalls (no promise per file), so a layer unpacks at
// the speed of the syscalls themselves; the event loop turns between chunks.
import { lstatSync, mkdirSync, readdirSync, rmSync, type Stats } from "node:fs";
import { mkdir } from "node:fs/promises";
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from "./changeset-tar.js";
import { LayerSecurityError } from "./errors.js";
import { TarParser, type TarEntryHeader, type TarPiece } from "./tar-format.js";
import { isErrno, isWhiteout, TreeWriter, type EntryMeta, type OpenFile } from "./tree-writer.js";
import { isContentXattr, OPAQUE_XATTR } from "./xattrs.js";

export interface ApplyChangesetOptions {
  /**
   * "overlay": write overlay upper format (whiteouts become 0/0 char devices, opaque markers the
   * trusted.overlay.opaque xattr) into an empty dir, to unpack a pulled or imported layer.
   * "merge": apply on top of an existing plain tree (whited-out paths are deleted, opaque dirs
   * lose what lower layers put in them), to export a merged rootfs.
   */
  mode: "overlay" | "merge";
  /** Create character and block devices from the tar (refused by default). */
  allowDevices?: boolean;
}

export interface ApplyChangesetResult {
  /** Tar entries applied (whiteouts and markers included). */
  entries: number;
  /** Content bytes written to regular files. */
  bytes: number;
}

/** "a/./b//c" -> ["a","b","c"]; refuses absolute names and ".." anywhere. */
function components(name: string, entry: string, what: string): string[] {
  if (name.startsWith("/")) throw new LayerSecurityError(entry, `${what} is absolute`);
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new LayerSecurityError(entry, `${what} contains a ".." component`);
  return parts;
}

function lstatOrNull(file: string): Stats | null {
  try {
    return lstatSync(file);
  } catch (e) {
    if (isErrno(e, "ENOENT")) return null;
    throw e;
  }
}

/** Applies tar pieces to a tree, one entry at a time, with synchronous file system calls. */
class ChangesetApplier {
  readonly result: ApplyChangesetResult = { entries: 0, bytes: 0 };
  private readonly merge: boolean;
  /** Dirs known to be real directories (not symlinks) during this apply; their parents are too. */
  private readonly safeDirs = new Set<string>([""]);
  /** Paths this tar wrote; an opaque marker keeps them (merge mode). */
  private readonly written = new Set<string>();
  /** The regular file whose content is arriving. */
  private file: OpenFile | undefined;

  constructor(
    private readonly writer: TreeWriter,
    private readonly options: ApplyChangesetOptions,
  ) {
    this.merge = options.mode === "merge";
  }

  apply(piece: TarPiece): void {
    if (piece.kind === "header") return this.entry(piece.header);
    const file = this.file;
    if (file === undefined) return; // content of an entry that is not a regular file
    file.write(piece.bytes);
    this.result.bytes += piece.bytes.length;
    if (piece.last) {
      this.file = undefined;
      file.finish();
    }
  }

  /** Closes the file being written, if any (after an error). */
  close(): void {
    this.file?.close();
    this.file = undefined;
  }

  finish(): Promise<void> {
    return this.writer.finish();
  }

  private entry(header: TarEntryHeader): void {
    const entry = header.name;
    const parts = components(entry, entry, "the name");
    this.result.entries++;
    if (parts.length === 0) return; // the layer root itself: the rootfs root keeps its own metadata
    const base = parts[parts.length - 1]!;
    const rel = parts.join("/");
    const parent = parts.length === 1 ? "" : rel.slice(0, rel.length - base.length - 1);

    if (base === OPAQUE_MARKER) {
      if (this.merge) {
        if (this.resolveParents(parent, entry, false)) this.clearLowerContents(parent);
      } else {
        this.resolveParents(parent, entry, true);
        this.writer.setXattrs(parent, new Map([[OPAQUE_XATTR, Buffer.from("y")]]));
      }
      return;
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      const hidden = base.slice(WHITEOUT_PREFIX.length);
      // Other ".wh..wh." names are AUFS bookkeeping, meaningless here.
      if (hidden.startsWith(WHITEOUT_PREFIX)) return;
      if (hidden === "" || hidden === "." || hidden === "..") throw new LayerSecurityError(entry, "whiteout of an invalid name");
      const target = parent === "" ? hidden : `${parent}/${hidden}`;
      if (this.merge) {
        if (this.resolveParents(parent, entry, false)) this.clearSlot(target, false);
        return;
      }
      this.resolveParents(parent, entry, true);
      this.clearSlot(target, false);
      this.writer.whiteout(target);
      return;
    }

    this.checkAllowed(header, entry);
    let linkTarget: string | undefined;
    if (header.type === "link") {
      const targetParts = components(header.linkname, entry, "the hardlink target");
      linkTarget = targetParts.join("/");
      const inside = targetParts.length > 0 && this.resolveParents(targetParts.slice(0, -1).join("/"), entry, false);
      const st = inside ? lstatOrNull(this.writer.abs(linkTarget)) : null;
      if (st === null || st.isDirectory() || isWhiteout(st)) {
        throw new LayerSecurityError(entry, `hardlink target ${JSON.stringify(header.linkname)} is not a file already in the tree`);
      }
      if (linkTarget === rel) return;
    }
    this.resolveParents(parent, entry, true);
    if (this.merge) this.written.add(rel);
    const meta: EntryMeta = { mode: header.mode, uid: header.uid, gid: header.gid, mtime: header.mtime };
    switch (header.type) {
      case "directory":
        this.replacing(rel, true, () => this.writer.dir(rel, meta));
        this.safeDirs.add(rel);
        break;
      case "file": {
        const file = this.replacing(rel, false, () => this.writer.createFile(rel, meta));
        if (header.size === 0) file.finish();
        else this.file = file;
        break;
      }
      case "symlink":
        this.replacing(rel, false, () => this.writer.symlink(rel, header.linkname, meta));
        break;
      case "link":
        this.replacing(rel, false, () => this.writer.hardlink(rel, linkTarget!));
        break;
      case "fifo":
        this.clearSlot(rel, false);
        this.writer.special(rel, "p", meta);
        break;
      case "char":
      case "block":
        this.clearSlot(rel, false);
        this.writer.special(rel, header.type === "char" ? "c" : "b", meta, header.devmajor, header.devminor);
        break;
    }
    // After creating: clearing a slot forgets the xattrs queued for it.
    if (header.type !== "link" && header.xattrs.size > 0) {
      this.writer.setXattrs(rel, new Map([...header.xattrs].filter(([name]) => isContentXattr(name))));
    }
  }

  private checkAllowed(header: TarEntryHeader, entry: string): void {
    if (header.type !== "char" && header.type !== "block") return;
    if (!this.merge && header.type === "char" && header.devmajor === 0 && header.devminor === 0) {
      throw new LayerSecurityError(entry, "a 0/0 character device would be read as a whiteout in overlay format");
    }
    if (!this.options.allowDevices) throw new LayerSecurityError(entry, `${header.type} device nodes are not allowed in layers (allowDevices is off)`);
  }

  /**
   * Checks every component of parent (a relative dir path) is a real dir; creates missing ones
   * when asked, else returns false for a missing one.
   */
  private resolveParents(parent: string, entry: string, create: boolean): boolean {
    if (this.safeDirs.has(parent)) return true;
    let rel = "";
    for (const part of parent.split("/")) {
      rel = rel === "" ? part : `${rel}/${part}`;
      if (this.safeDirs.has(rel)) continue;
      const st = lstatOrNull(this.writer.abs(rel));
      if (st === null) {
        if (!create) return false;
        mkdirSync(this.writer.abs(rel), { mode: 0o755 });
      } else if (st.isSymbolicLink()) {
        throw new LayerSecurityError(entry, `its parent ${rel} is a symlink; writing through it could leave the root`);
      } else if (!st.isDirectory()) {
        throw new Error(`layer entry ${JSON.stringify(entry)}: its parent ${rel} is not a directory`);
      }
      this.safeDirs.add(rel);
    }
    return true;
  }

  /** Creates an entry; when something is in its way (EEXIST), clears the slot and creates it again. */
  private replacing<T>(rel: string, keepDir: boolean, create: () => T): T {
    try {
      return create();
    } catch (e) {
      if (!isErrno(e, "EEXIST")) throw e;
    }
    this.clearSlot(rel, keepDir);
    return create();
  }

  /** Removes what is at rel, unless it is a dir and a dir is to be written there (keepDir). */
  private clearSlot(rel: string, keepDir: boolean): void {
    const st = lstatOrNull(this.writer.abs(rel));
    if (st === null || (keepDir && st.isDirectory())) return;
    this.remove(rel, st.isDirectory());
  }

  /** Removes rel and what is known about it; only a dir needs a look at everything known. */
  private remove(rel: string, isDir: boolean): void {
    rmSync(this.writer.abs(rel), { recursive: true, force: true });
    if (isDir) {
      this.safeDirs.delete(rel);
      for (const dir of this.safeDirs) if (dir.startsWith(`${rel}/`)) this.safeDirs.delete(dir);
    }
    this.writer.forget(rel, isDir);
  }

  /** Merge mode: deletes everything under rel that this tar did not write. */
  private clearLowerContents(rel: string): void {
    for (const dirent of readdirSync(this.writer.abs(rel), { withFileTypes: true })) {
      const child = rel === "" ? dirent.name : `${rel}/${dirent.name}`;
      if (!this.written.has(child)) this.remove(child, dirent.isDirectory());
      else if (dirent.isDirectory()) this.clearLowerContents(child);
    }
  }
}

/**
 * Applies an OCI layer changeset tar to destDir (created if missing). Entries that would
 * escape are refused with a LayerSecurityError before anything is written for them; entries
 * before the bad one stay applied, so unpack into a scratch dir and rename it on success.
 */
export async function applyChangeset(
  tar: NodeJS.ReadableStream,
  destDir: string,
  options: ApplyChangesetOptions,
): Promise<ApplyChangesetResult> {
  await mkdir(destDir, { recursive: true });
  const applier = new ChangesetApplier(new TreeWriter(destDir), options);
  const parser = new TarParser();
  try {
    // Reads to the end even after the end-of-archive blocks: the same stream may be hashed.
    for await (const chunk of tar as AsyncIterable<Buffer | string>) {
      parser.write(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
      for (let piece = parser.next(); piece !== null; piece = parser.next()) applier.apply(piece);
    }
    parser.end();
    await applier.finish();
  } finally {
    applier.close();
  }
  return applier.result;
}
