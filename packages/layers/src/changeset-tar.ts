// The differ's output half: a dir in overlay upper format -> an OCI layer changeset tar.
import { createReadStream, type BigIntStats } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { encodeTarHeader, tarEnd, tarPadding, type TarEntryHeader } from "./tar-format.js";
import { deviceNumbers, isWhiteout } from "./tree-writer.js";
import { readTreeXattrs } from "./xattrs.js";

export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_MARKER = ".wh..wh..opq";

export interface ChangesetTarOptions {
  /** Clamp every mtime to at most this (seconds since the epoch), for reproducible layers. */
  sourceDateEpoch?: number;
}

interface DirItem {
  name: string;
  /** The name in the archive (".wh.NAME" for a whiteout), compared bytewise for the order. */
  tarName: Buffer;
  st: BigIntStats;
}

function joinRel(dir: string, name: string): string {
  return dir === "" ? name : `${dir}/${name}`;
}

/**
 * Streams an OCI changeset tar of a dir in overlay upper format. Order: depth first, a dir
 * before its contents, its opaque marker first among them, siblings in byte order of their
 * archive names. Whiteouts and opaque markers are empty files with mode 0, owner 0:0 and mtime 0
 * (as containerd writes them), so equal changes give equal bytes.
 */
export function changesetTar(layerDir: string, options: ChangesetTarOptions = {}): Readable {
  return Readable.from(changesetChunks(path.resolve(layerDir), options), { objectMode: false });
}

async function* changesetChunks(root: string, options: ChangesetTarOptions): AsyncGenerator<Buffer> {
  const tree = await readTreeXattrs(root);
  // First archive name of each multiply-linked inode, so later names become Link entries.
  const firstNames = new Map<string, string>();
  const clamp = (st: BigIntStats): number => {
    const seconds = Number(st.mtimeNs / 1_000_000_000n);
    return options.sourceDateEpoch === undefined ? seconds : Math.min(seconds, options.sourceDateEpoch);
  };

  async function* walk(relDir: string): AsyncGenerator<Buffer> {
    const items: DirItem[] = [];
    for (const name of await readdir(path.join(root, relDir))) {
      const rel = joinRel(relDir, name);
      const st = await lstat(path.join(root, rel), { bigint: true });
      if (st.isSocket()) continue; // sockets cannot be archived; they are runtime state
      const whiteout = isWhiteout(st);
      if (!whiteout && name.startsWith(WHITEOUT_PREFIX)) {
        throw new Error(`cannot archive ${path.join(root, rel)}: names starting with ${WHITEOUT_PREFIX} are reserved for whiteouts in OCI layers`);
      }
      items.push({ name, tarName: Buffer.from(joinRel(relDir, whiteout ? WHITEOUT_PREFIX + name : name)), st });
    }
    items.sort((a, b) => Buffer.compare(a.tarName, b.tarName));
    for (const item of items) {
      const rel = joinRel(relDir, item.name);
      yield* entry(rel, item.tarName.toString("utf8"), item.st);
      if (item.st.isDirectory()) {
        if (tree.opaqueDirs.has(rel)) yield encodeTarHeader(marker(joinRel(rel, OPAQUE_MARKER)));
        yield* walk(rel);
      }
    }
  }

  async function* entry(rel: string, tarName: string, st: BigIntStats): AsyncGenerator<Buffer> {
    if (isWhiteout(st)) {
      yield encodeTarHeader(marker(tarName));
      return;
    }
    const header: TarEntryHeader = {
      name: tarName,
      type: "file",
      mode: Number(st.mode) & 0o7777,
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: 0,
      mtime: clamp(st),
      linkname: "",
      devmajor: 0,
      devminor: 0,
      xattrs: new Map([...(tree.xattrs.get(rel) ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    };
    if (!st.isDirectory() && st.nlink > 1n) {
      const inode = `${st.dev}:${st.ino}`;
      const first = firstNames.get(inode);
      if (first !== undefined) {
        yield encodeTarHeader({ ...header, type: "link", linkname: first, xattrs: new Map() });
        return;
      }
      firstNames.set(inode, tarName);
    }
    const source = path.join(root, rel);
    if (st.isDirectory()) yield encodeTarHeader({ ...header, type: "directory" });
    else if (st.isSymbolicLink()) yield encodeTarHeader({ ...header, type: "symlink", linkname: await readlink(source) });
    else if (st.isFIFO()) yield encodeTarHeader({ ...header, type: "fifo" });
    else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = deviceNumbers(st.rdev);
      yield encodeTarHeader({ ...header, type: st.isCharacterDevice() ? "char" : "block", devmajor: major, devminor: minor });
    } else {
      const size = Number(st.size);
      yield encodeTarHeader({ ...header, size });
      let read = 0;
      if (size > 0) {
        for await (const chunk of createReadStream(source, { end: size - 1, highWaterMark: 1 << 16 }) as AsyncIterable<Buffer>) {
          read += chunk.length;
          yield chunk;
        }
      }
      if (read !== size) throw new Error(`${source} changed size while it was archived (${size} bytes expected, ${read} read)`);
      yield tarPadding(size);
    }
  }

  if (tree.opaqueDirs.has("")) yield encodeTarHeader(marker(OPAQUE_MARKER));
  yield* walk("");
  yield tarEnd();
}

function marker(name: string): TarEntryHeader {
  return { name, type: "file", mode: 0, uid: 0, gid: 0, size: 0, mtime: 0, linkname: "", devmajor: 0, devminor: 0, xattrs: new Map() };
}
