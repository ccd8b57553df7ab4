// The merged view of a stack of layer dirs in overlay upper format, computed the way overlayfs
// does: a newer layer's entry hides older ones, a whiteout hides the name, a non-dir ends the
// merging of a dir, and an opaque dir hides the same dir in older layers.
import type { BigIntStats } from "node:fs";
import { lstat, mkdir, readdir } from "node:fs/promises";
import path from "node:path";
import { copyEntry, type CopyContext } from "./copy-tree.js";
import { isErrno, isWhiteout, metaFromStat, TreeWriter } from "./tree-writer.js";
import { readTreeXattrs, type TreeXattrs, type Xattrs } from "./xattrs.js";

export interface MergedEntry {
  /** Index into the lowers of the layer that provides the entry. */
  layer: number;
  path: string;
  st: BigIntStats;
  /** For a dir: the layers (newest first) whose dirs of this path merge into it. */
  dirLayers: number[] | null;
}

async function lstatOrNull(file: string): Promise<BigIntStats | null> {
  try {
    return await lstat(file, { bigint: true });
  } catch (e) {
    if (isErrno(e, "ENOENT", "ENOTDIR")) return null;
    throw e;
  }
}

/** Each layer's xattrs, one layer after another (the reads are synchronous system calls). */
async function readAllXattrs(lowers: readonly string[]): Promise<TreeXattrs[]> {
  const result: TreeXattrs[] = [];
  for (const dir of lowers) result.push(await readTreeXattrs(dir));
  return result;
}

export class MergedView {
  private constructor(
    readonly lowers: readonly string[],
    private readonly trees: readonly TreeXattrs[],
  ) {}

  /** lowers: layer dirs in overlay upper format, newest first. */
  static async open(lowers: readonly string[]): Promise<MergedView> {
    const resolved = lowers.map((dir) => path.resolve(dir));
    return new MergedView(resolved, await readAllXattrs(resolved));
  }

  private file(layer: number, rel: string): string {
    return rel === "" ? this.lowers[layer]! : path.join(this.lowers[layer]!, rel);
  }

  xattrsOf(layer: number, rel: string): Xattrs | undefined {
    return this.trees[layer]!.xattrs.get(rel);
  }

  private isOpaque(layer: number, rel: string): boolean {
    return this.trees[layer]!.opaqueDirs.has(rel);
  }

  /** The layers whose root dirs make up the merged root. */
  rootLayers(): number[] {
    const layers: number[] = [];
    for (let i = 0; i < this.lowers.length; i++) {
      layers.push(i);
      if (this.isOpaque(i, "")) break;
    }
    return layers;
  }

  /** The layers whose dirs at rel make up the merged dir, or null when rel is not a dir in the merged view. */
  async dirLayers(rel: string): Promise<number[] | null> {
    let layers = this.rootLayers();
    let current = "";
    for (const part of rel === "" ? [] : rel.split("/")) {
      current = current === "" ? part : `${current}/${part}`;
      const next: number[] = [];
      for (const layer of layers) {
        const st = await lstatOrNull(this.file(layer, current));
        if (st === null) continue;
        if (!st.isDirectory()) break; // a whiteout or non-dir hides this path in older layers
        next.push(layer);
        if (this.isOpaque(layer, current)) break;
      }
      if (next.length === 0) return null;
      layers = next;
    }
    return layers;
  }

  /** The merged entries of the dir at rel, given its dirLayers. */
  async list(rel: string, layers: readonly number[]): Promise<Map<string, MergedEntry>> {
    const entries = new Map<string, MergedEntry>();
    // Names whose merging is over: whited out, a non-dir won, or an opaque dir was reached.
    const closed = new Set<string>();
    for (const layer of layers) {
      for (const name of await readdir(this.file(layer, rel))) {
        if (closed.has(name)) continue;
        const childRel = rel === "" ? name : `${rel}/${name}`;
        const childPath = this.file(layer, childRel);
        const st = await lstat(childPath, { bigint: true });
        const existing = entries.get(name);
        if (isWhiteout(st) || !st.isDirectory()) {
          closed.add(name);
          if (!existing && !isWhiteout(st)) entries.set(name, { layer, path: childPath, st, dirLayers: null });
          continue;
        }
        if (existing) existing.dirLayers!.push(layer);
        else entries.set(name, { layer, path: childPath, st, dirLayers: [layer] });
        if (this.isOpaque(layer, childRel)) closed.add(name);
      }
    }
    return entries;
  }
}

/** Merges layer dirs (overlay upper format, newest first) into destDir (absent or empty) as one plain tree. */
export async function mergeLayers(lowers: readonly string[], destDir: string): Promise<void> {
  await mkdir(destDir, { recursive: true });
  if (lowers.length === 0) return;
  const view = await MergedView.open(lowers);
  const writer = new TreeWriter(path.resolve(destDir));
  const context: CopyContext = { links: new Map() };
  await writer.dir("", metaFromStat(await lstat(view.lowers[0]!, { bigint: true })));
  const walk = async (rel: string, layers: readonly number[]): Promise<void> => {
    const entries = await view.list(rel, layers);
    for (const name of [...entries.keys()].sort()) {
      const entry = entries.get(name)!;
      const childRel = rel === "" ? name : `${rel}/${name}`;
      await copyEntry(writer, entry.path, entry.st, childRel, view.xattrsOf(entry.layer, childRel), context);
      if (entry.dirLayers) await walk(childRel, entry.dirLayers);
    }
  };
  await walk("", view.rootLayers());
  await writer.finish();
}
