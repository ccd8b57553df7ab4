// Shared by the integration tests: a store per test, files written from a map, and checks that
// a test left no overlay mount or runc container behind.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { expect } from "vitest";
import { busyboxBase } from "../support/busybox.js";
import { makeScratchDir } from "../support/scratch.js";
import { runTsbuild } from "../support/tsbuild.js";

/** Writes `files` (path -> content) under dir, creating parent dirs. */
export async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
}

/** `FROM` line for the offline busybox base. */
export async function fromBusybox(): Promise<string> {
  return `FROM oci-layout://${await busyboxBase()}:latest`;
}

/** Overlay mounts under `root` still mounted. */
export function mountsUnder(root: string): string[] {
  return execFileSync("findmnt", ["-rn", "-o", "TARGET"]).toString().split("\n").filter((m) => m.startsWith(root));
}

/** Pids of the processes (not this one) whose command line, arguments joined by spaces, contains `text`. */
export function processesWith(text: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").includes(text)) pids.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** What a failed build may not leave behind: mounts, snapshot dirs, temp files, runc containers. */
export async function expectNoLeftovers(root: string): Promise<void> {
  expect(mountsUnder(root)).toEqual([]);
  expect(await readdir(path.join(root, "snapshots")).catch(() => [])).toEqual([]);
  expect(await readdir(path.join(root, "tmp")).catch(() => [])).toEqual([]);
}

/** A listing of the store's content (blobs, layers, cache records, tags) to compare before and after. */
export async function storeContents(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ["blobs/sha256", "layers", "cache"]) {
    for (const name of await readdir(path.join(root, sub)).catch(() => [] as string[])) out.push(`${sub}/${name}`);
  }
  return out.sort();
}

/** A scratch dir with a store and a context holding `files`; `build(...args)` runs `tsbuild build --progress plain` there. */
export async function buildSetup(prefix: string, files: Record<string, string>) {
  const dir = await makeScratchDir(prefix);
  const root = path.join(dir, "store");
  const ctx = path.join(dir, "ctx");
  await writeTree(ctx, files);
  const build = (...args: string[]) => runTsbuild(["build", "--progress", "plain", ...args], { root, cwd: ctx });
  return { dir, root, ctx, build };
}
