// Extended attributes of whole trees. Node has no xattr API, so a tree is read with ONE
// `getfattr -R` and written with ONE `setfattr --restore`, never one process per file.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { run } from "./run.js";

export type Xattrs = Map<string, Buffer>;

/** Marks an overlay upper dir as hiding the lower dirs of the same path. */
export const OPAQUE_XATTR = "trusted.overlay.opaque";

/**
 * Whether an xattr belongs to the layer's content. overlayfs keeps its own bookkeeping in
 * trusted.overlay.* (uuid, origin, impure, ...); opaque is translated separately, and a layer
 * tar must never be able to set any of them.
 */
export function isContentXattr(name: string): boolean {
  return !name.startsWith("trusted.overlay.");
}

export interface TreeXattrs {
  /** Content xattrs (see isContentXattr) by path relative to the root ("" is the root). */
  xattrs: Map<string, Xattrs>;
  /** Dirs (relative paths) that carry trusted.overlay.opaque=y. */
  opaqueDirs: Set<string>;
}

/** getfattr/setfattr quote bytes as `\ooo` (control chars, backslash). */
function unquote(text: string): Buffer {
  return Buffer.from(text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))), "latin1");
}

function quote(bytes: Buffer): Buffer {
  const out: number[] = [];
  for (const b of bytes) {
    if (b < 0x20 || b === 0x7f || b === 0x5c) out.push(...Buffer.from(`\\${b.toString(8).padStart(3, "0")}`));
    else out.push(b);
  }
  return Buffer.from(out);
}

/** Reads every xattr under root, without following symlinks. */
export async function readTreeXattrs(root: string): Promise<TreeXattrs> {
  const absRoot = path.resolve(root);
  const result: TreeXattrs = { xattrs: new Map(), opaqueDirs: new Set() };
  let current: string | undefined;
  let pending = "";
  const takeLine = (line: string): void => {
    if (line.startsWith("# file: ")) {
      const file = unquote(line.slice("# file: ".length)).toString("utf8");
      current = file === absRoot ? "" : path.relative(absRoot, file);
      return;
    }
    const eq = line.indexOf("=");
    if (current === undefined || eq <= 0) return;
    const name = unquote(line.slice(0, eq)).toString("utf8");
    // With -e base64 every value is printed as 0s<base64>.
    const value = Buffer.from(line.slice(eq + 1).replace(/^0s/, ""), "base64");
    if (name === OPAQUE_XATTR) {
      if (value.toString("latin1") === "y") result.opaqueDirs.add(current);
    } else if (isContentXattr(name)) {
      let entry = result.xattrs.get(current);
      if (!entry) result.xattrs.set(current, (entry = new Map()));
      entry.set(name, value);
    }
  };
  await run("getfattr", ["-R", "-P", "-h", "-d", "-m", "-", "--absolute-names", "-e", "base64", absRoot], {
    onStdout: (chunk) => {
      // latin1 keeps bytes 1:1, so quoted file names can be decoded back to bytes.
      const lines = (pending + chunk.toString("latin1")).split("\n");
      pending = lines.pop()!;
      for (const line of lines) takeLine(line);
    },
  });
  if (pending) takeLine(pending);
  return result;
}

/**
 * Sets xattrs on many files with one setfattr run. Symlinks are not followed (-h), so a
 * symlink in the tree can never redirect the write. Run it after chown: chown clears
 * security.capability.
 */
export async function writeTreeXattrs(entries: Iterable<readonly [absPath: string, xattrs: Xattrs]>): Promise<void> {
  const parts: Buffer[] = [];
  for (const [file, xattrs] of entries) {
    if (xattrs.size === 0) continue;
    parts.push(Buffer.from("# file: "), quote(Buffer.from(file)), Buffer.from("\n"));
    for (const [name, value] of xattrs) {
      parts.push(quote(Buffer.from(name)), Buffer.from(`=0s${value.toString("base64")}\n`));
    }
    parts.push(Buffer.from("\n"));
  }
  if (parts.length === 0) return;
  const dir = await mkdtemp(path.join(os.tmpdir(), "tsbuild-xattrs-"));
  try {
    const restoreFile = path.join(dir, "restore");
    await writeFile(restoreFile, Buffer.concat(parts));
    await run("setfattr", ["-h", `--restore=${restoreFile}`]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
