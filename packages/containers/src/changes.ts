// `tsbuild diff`: what a container changed, read from its upper dir as `docker diff` reports it.
// Every entry in the upper dir is a change: a whiteout device is a deletion (D), a name the
// image's layers have is a change (C), anything else is new (A). Parents of a change are in the
// upper dir too (overlayfs copies them up), so they appear as C, as Docker shows them. An opaque
// dir hides the image's dir of that name: the names it hid that were not re-created are D.
import type { BigIntStats } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
import { readTreeXattrs } from "@tsbuild/layers";

export type ChangeKind = "A" | "C" | "D";

export interface Change {
  kind: ChangeKind;
  /** Absolute path inside the container. */
  path: string;
}

/** How one entry of the upper dir shows in a diff. */
export function classifyUpperEntry(entry: { whiteout: boolean; inImage: boolean }): ChangeKind {
  if (entry.whiteout) return "D";
  return entry.inImage ? "C" : "A";
}

/** Sorted by path, one `K /path` line each, as docker diff prints them. */
export function formatChanges(changes: readonly Change[]): string {
  return [...changes]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((c) => `${c.kind} ${c.path}\n`)
    .join("");
}

function isWhiteout(st: BigIntStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}

async function lstatOrNull(file: string): Promise<BigIntStats | null> {
  try {
    return await lstat(file, { bigint: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw error;
  }
}

/** The image layers' view of `rel`: the newest layer that has it decides (a whiteout hides it). */
async function inImage(lowers: readonly string[], rel: string): Promise<boolean> {
  for (const lower of lowers) {
    const st = await lstatOrNull(path.join(lower, rel));
    if (st !== null) return !isWhiteout(st);
  }
  return false;
}

/** Names the image layers show in dir `rel`, merged newest first down to the first opaque one. */
async function imageChildren(lowers: readonly string[], lowerOpaque: readonly Set<string>[], rel: string): Promise<Set<string>> {
  const visible = new Set<string>();
  const hidden = new Set<string>();
  for (const [index, lower] of lowers.entries()) {
    const st = await lstatOrNull(path.join(lower, rel));
    if (st === null) continue;
    if (!st.isDirectory()) break;
    for (const name of await readdir(path.join(lower, rel))) {
      if (visible.has(name) || hidden.has(name)) continue;
      const child = await lstat(path.join(lower, rel, name), { bigint: true });
      (isWhiteout(child) ? hidden : visible).add(name);
    }
    if (lowerOpaque[index]!.has(rel)) break;
  }
  return visible;
}

/** The changes in `upper` over the image layers `lowers` (newest first). */
export async function containerChanges(upper: string, lowers: readonly string[]): Promise<Change[]> {
  const { opaqueDirs } = await readTreeXattrs(upper);
  let lowerOpaque: Set<string>[] | undefined;
  const changes: Change[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = await readdir(path.join(upper, rel));
    if (opaqueDirs.has(rel)) {
      lowerOpaque ??= await Promise.all(lowers.map(async (l) => (await readTreeXattrs(l)).opaqueDirs));
      for (const name of await imageChildren(lowers, lowerOpaque, rel)) {
        if (!names.includes(name)) changes.push({ kind: "D", path: `/${path.posix.join(rel, name)}` });
      }
    }
    for (const name of names) {
      const childRel = rel === "" ? name : `${rel}/${name}`;
      const st = await lstat(path.join(upper, childRel), { bigint: true });
      const whiteout = isWhiteout(st);
      changes.push({ kind: classifyUpperEntry({ whiteout, inImage: !whiteout && (await inImage(lowers, childRel)) }), path: `/${childRel}` });
      if (st.isDirectory()) await walk(childRel);
    }
  };
  await walk("");
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
