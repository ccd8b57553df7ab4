// Extended attributes of whole trees, through the syscalls addon (Node has no xattr API).
import { lstatSync, readdirSync } from "node:fs";
import path from "node:path";
import { readXattrs, setXattr } from "@tsbuild/syscalls";

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

/** One file's content xattrs (undefined when none), and whether it is marked opaque. */
export function entryXattrs(absPath: string): { xattrs: Xattrs | undefined; opaque: boolean } {
  let xattrs: Xattrs | undefined;
  let opaque = false;
  for (const [name, value] of readXattrs(absPath) ?? []) {
    if (name === OPAQUE_XATTR) opaque = value.toString("latin1") === "y";
    else if (isContentXattr(name)) (xattrs ??= new Map()).set(name, value);
  }
  return { xattrs, opaque };
}

/** Directories read between turns of the event loop while a tree's xattrs are read. */
const DIRS_PER_TURN = 256;

/** Reads every xattr under root, without following symlinks. */
export async function readTreeXattrs(root: string): Promise<TreeXattrs> {
  const absRoot = path.resolve(root);
  const result: TreeXattrs = { xattrs: new Map(), opaqueDirs: new Set() };
  const visit = (rel: string, abs: string): void => {
    const { xattrs, opaque } = entryXattrs(abs);
    if (opaque) result.opaqueDirs.add(rel);
    if (xattrs) result.xattrs.set(rel, xattrs);
  };
  visit("", absRoot);
  // The root may be a single file (a `cp` of one file).
  const dirs: [rel: string, abs: string][] = lstatSync(absRoot).isDirectory() ? [["", absRoot]] : [];
  for (let done = 1; dirs.length > 0; done++) {
    const [rel, abs] = dirs.pop()!;
    for (const child of readdirSync(abs, { withFileTypes: true })) {
      const childRel = rel === "" ? child.name : `${rel}/${child.name}`;
      const childAbs = path.join(abs, child.name);
      visit(childRel, childAbs);
      if (child.isDirectory()) dirs.push([childRel, childAbs]);
    }
    if (done % DIRS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return result;
}

/**
 * Sets xattrs on many files. Symlinks are not followed, so a symlink in the tree can never
 * redirect the write. Run it after chown: chown clears security.capability.
 */
export async function writeTreeXattrs(entries: Iterable<readonly [absPath: string, xattrs: Xattrs]>): Promise<void> {
  for (const [file, xattrs] of entries) for (const [name, value] of xattrs) setXattr(file, name, value);
}
