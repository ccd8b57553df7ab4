// The applier: a changeset tar -> files, refusing every entry that could write outside the root.
import type { BigIntStats } from "node:fs";
import { lstat, mkdir, readdir, rm } from "node:fs/promises";
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from "./changeset-tar.js";
import { LayerSecurityError } from "./errors.js";
import { readTarEntries, type TarEntryHeader } from "./tar-format.js";
import { isErrno, isWhiteout, TreeWriter } from "./tree-writer.js";
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

function lstatOrNull(file: string): Promise<BigIntStats | null> {
  return lstat(file, { bigint: true }).catch((e: unknown) => {
    if (isErrno(e, "ENOENT")) return null;
    throw e;
  });
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
  const writer = new TreeWriter(destDir);
  const merge = options.mode === "merge";
  // Dirs known to be real directories (not symlinks) during this apply.
  const safeDirs = new Set<string>([""]);
  // Paths this tar wrote; an opaque marker keeps them (merge mode).
  const written = new Set<string>();
  let entries = 0;
  let bytes = 0;

  const forgetSubtree = (rel: string): void => {
    for (const dir of safeDirs) if (dir === rel || dir.startsWith(`${rel}/`)) safeDirs.delete(dir);
    writer.forget(rel);
  };

  /** Checks every parent component is a real dir; creates missing ones when asked. */
  const resolveParents = async (parts: readonly string[], entry: string, create: boolean): Promise<boolean> => {
    let rel = "";
    for (const part of parts) {
      rel = rel === "" ? part : `${rel}/${part}`;
      if (safeDirs.has(rel)) continue;
      const st = await lstatOrNull(writer.abs(rel));
      if (st === null) {
        if (!create) return false;
        await mkdir(writer.abs(rel), { mode: 0o755 });
      } else if (st.isSymbolicLink()) {
        throw new LayerSecurityError(entry, `its parent ${rel} is a symlink; writing through it could leave the root`);
      } else if (!st.isDirectory()) {
        throw new Error(`layer entry ${JSON.stringify(entry)}: its parent ${rel} is not a directory`);
      }
      safeDirs.add(rel);
    }
    return true;
  };

  /** Removes what is at rel, unless it is a dir and a dir is to be written there (keepDir). */
  const clearSlot = async (rel: string, keepDir: boolean): Promise<void> => {
    const st = await lstatOrNull(writer.abs(rel));
    if (st === null || (keepDir && st.isDirectory())) return;
    await rm(writer.abs(rel), { recursive: true, force: true });
    forgetSubtree(rel);
  };

  /** Merge mode: deletes everything under rel that this tar did not write. */
  const clearLowerContents = async (rel: string): Promise<void> => {
    for (const name of await readdir(writer.abs(rel))) {
      const child = rel === "" ? name : `${rel}/${name}`;
      if (!written.has(child)) {
        await rm(writer.abs(child), { recursive: true, force: true });
        forgetSubtree(child);
      } else if ((await lstat(writer.abs(child))).isDirectory()) {
        await clearLowerContents(child);
      }
    }
  };

  const checkAllowed = (header: TarEntryHeader, entry: string): void => {
    if (header.type !== "char" && header.type !== "block") return;
    if (!merge && header.type === "char" && header.devmajor === 0 && header.devminor === 0) {
      throw new LayerSecurityError(entry, "a 0/0 character device would be read as a whiteout in overlay format");
    }
    if (!options.allowDevices) throw new LayerSecurityError(entry, `${header.type} device nodes are not allowed in layers (allowDevices is off)`);
  };

  for await (const { header, body } of readTarEntries(tar as AsyncIterable<Buffer>)) {
    const entry = header.name;
    const parts = components(header.name, entry, "the name");
    entries++;
    if (parts.length === 0) continue; // the layer root itself: the rootfs root keeps its own metadata
    const base = parts[parts.length - 1]!;
    const parentParts = parts.slice(0, -1);
    const parent = parentParts.join("/");
    const rel = parts.join("/");

    if (base === OPAQUE_MARKER) {
      if (merge) {
        if (await resolveParents(parentParts, entry, false)) await clearLowerContents(parent);
      } else {
        await resolveParents(parentParts, entry, true);
        writer.setXattrs(parent, new Map([[OPAQUE_XATTR, Buffer.from("y")]]));
      }
      continue;
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      const hidden = base.slice(WHITEOUT_PREFIX.length);
      // Other ".wh..wh." names are AUFS bookkeeping, meaningless here.
      if (hidden.startsWith(WHITEOUT_PREFIX)) continue;
      if (hidden === "" || hidden === "." || hidden === "..") throw new LayerSecurityError(entry, "whiteout of an invalid name");
      const target = parent === "" ? hidden : `${parent}/${hidden}`;
      if (merge) {
        if (await resolveParents(parentParts, entry, false)) await clearSlot(target, false);
      } else {
        await resolveParents(parentParts, entry, true);
        await clearSlot(target, false);
        await writer.whiteout(target);
      }
      continue;
    }

    checkAllowed(header, entry);
    let linkTarget: string | undefined;
    if (header.type === "link") {
      const targetParts = components(header.linkname, entry, "the hardlink target");
      linkTarget = targetParts.join("/");
      const inside = targetParts.length > 0 && (await resolveParents(targetParts.slice(0, -1), entry, false));
      const st = inside ? await lstatOrNull(writer.abs(linkTarget)) : null;
      if (st === null || st.isDirectory() || isWhiteout(st)) {
        throw new LayerSecurityError(entry, `hardlink target ${JSON.stringify(header.linkname)} is not a file already in the tree`);
      }
      if (linkTarget === rel) continue;
    }
    await resolveParents(parentParts, entry, true);
    await clearSlot(rel, header.type === "directory");
    const meta = { mode: header.mode, uid: header.uid, gid: header.gid, mtime: header.mtime };
    switch (header.type) {
      case "directory":
        await writer.dir(rel, meta);
        safeDirs.add(rel);
        break;
      case "file":
        bytes += await writer.file(rel, body, meta);
        break;
      case "symlink":
        await writer.symlink(rel, header.linkname, meta);
        break;
      case "link":
        await writer.hardlink(rel, linkTarget!);
        break;
      case "fifo":
        await writer.special(rel, "p", meta);
        break;
      case "char":
      case "block":
        await writer.special(rel, header.type === "char" ? "c" : "b", meta, header.devmajor, header.devminor);
        break;
    }
    if (header.type !== "link") writer.setXattrs(rel, new Map([...header.xattrs].filter(([name]) => isContentXattr(name))));
    if (merge) written.add(rel);
  }
  await writer.finish();
  return { entries, bytes };
}
