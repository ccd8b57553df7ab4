// Working containers are GC roots: rmi refuses to untag the last name of an image a container
// stands on (unless -f), and prune keeps the container's layers until the container is removed.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { makeScratchDir } from "../support/scratch.js";
import { runTsbuild, type TsbuildRun } from "../support/tsbuild.js";
import { fromBusybox, mountsUnder, writeTree } from "./helpers.js";

let dir: string;
let root: string;

const tsbuild = (...args: string[]) => runTsbuild(args, { root, cwd: dir });
const runIn = (container: string, script: string) =>
  runTsbuild(["run", container, "--", "sh", "-c", script], { root, cwd: dir, rootVia: "env" });

function ok(result: TsbuildRun): string {
  expect(result.code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(0);
  return result.stdout;
}

const storedLayers = async () => (await readdir(path.join(root, "layers"))).map((hex) => `sha256:${hex}`).sort();

beforeAll(async () => {
  dir = await makeScratchDir("tsbuild-containers-gc-", { untilFileEnds: true });
  root = path.join(dir, "store");
  const ctx = path.join(dir, "ctx");
  await writeTree(ctx, { Dockerfile: `${await fromBusybox()}\nRUN echo layer > /marker\n` });
  ok(await runTsbuild(["build", "--progress", "plain", "-t", "gc-img:1", "-t", "gc-img:alias", ctx], { root, cwd: dir }));
});

afterEach(() => {
  expect(mountsUnder(root)).toEqual([]);
});

describe("working containers as GC roots", { timeout: 120_000 }, () => {
  it("rmi refuses the last tag without -f; after rmi -f and prune the container still runs; rm lets prune reclaim its layers", async () => {
    expect(ok(await tsbuild("from", "gc-img:1", "--name", "gc-box")).trim()).toBe("gc-box");
    onTestFinished(async () => void (await tsbuild("rm", "gc-box")));
    ok(await runIn("gc-box", "echo mine > /mine"));

    const [info] = JSON.parse(ok(await tsbuild("inspect", "gc-box"))) as { Id: string; Image: string; RootFS: { Layers: string[] } }[];
    const layers = [...info!.RootFS.Layers].sort();
    expect(layers).toHaveLength(2);
    expect(await storedLayers()).toEqual(layers);
    const rootFile = path.join(root, "roots", `container-${info!.Id}.json`);
    const gcRoot = JSON.parse(await readFile(rootFile, "utf8")) as { layers: string[]; blobs: string[] };
    expect(gcRoot.layers).toEqual(info!.RootFS.Layers);
    expect(gcRoot.blobs).toContain(info!.Image);

    // Another name still tags the image: untagging one of two is fine.
    expect(ok(await tsbuild("rmi", "gc-img:alias"))).toBe("Untagged: gc-img:alias\n");
    const refused = await tsbuild("rmi", "gc-img:1");
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toMatch(
      new RegExp(
        `^tsbuild: conflict: unable to remove repository reference "gc-img:1" \\(must force\\) - container gc-box \\(${info!.Id.slice(0, 12)}\\) ` +
          `is using its referenced image ${info!.Image.slice(7, 19)}; 'tsbuild rm' it first, or pass -f`,
      ),
    );
    expect(ok(await tsbuild("images", "-q"))).toBe(`${info!.Image.slice(7, 19)}\n`);

    expect(ok(await tsbuild("rmi", "-f", "gc-img:1"))).toBe("Untagged: gc-img:1\n");
    expect(ok(await tsbuild("images", "-q"))).toBe("");
    // No tag reaches the layers now, but the container does: they are active, and prune keeps them.
    expect(ok(await tsbuild("df")).split("\n")[2]).toMatch(/^Layers\s+2\s+2\s+\S+\s+0B \(0%\)$/);
    const pruned = ok(await tsbuild("prune", "-f"));
    expect(pruned).not.toMatch(/Deleted layers/);
    expect(await storedLayers()).toEqual(layers);
    expect(ok(await runIn("gc-box", "cat /mine /marker"))).toBe("mine\nlayer\n");
    expect(ok(await tsbuild("diff", "gc-box"))).toBe("A /mine\n");
    // df -v lists the container's writable layer (SIZE) with its image's layers (virtual).
    const df = ok(await tsbuild("df", "-v"));
    expect(df).toContain("Containers space usage:");
    expect(df).toMatch(/^\S{12}\s+gc-box\s+gc-img:1\s+.* ago\s+\S+ \(virtual \S+\)\s+no$/m);
    expect(df).toContain("Local Volumes space usage:");

    expect(ok(await tsbuild("rm", "gc-box")).trim()).toBe("gc-box");
    await expect(readFile(rootFile)).rejects.toThrow(/ENOENT/);
    const reclaimed = ok(await tsbuild("prune", "-f"));
    const deleted = /Deleted layers:\n((?:sha256:[0-9a-f]{64}\n)+)/.exec(reclaimed);
    expect(deleted?.[1]?.trim().split("\n").sort()).toEqual(layers);
    expect(await storedLayers()).toEqual([]);
    expect(ok(await tsbuild("df")).split("\n")[2]).toMatch(/^Layers\s+0\s+0\s+0B\s/);
  });

  it("rmi -f is not needed when no container uses the image, and the refusal leaves other names to go", async () => {
    const ctx = path.join(dir, "ctx-2");
    await writeTree(ctx, { Dockerfile: `${await fromBusybox()}\nRUN echo two > /two\n` });
    ok(await runTsbuild(["build", "--progress", "plain", "-t", "gc-two:1", "-t", "gc-free:1", ctx], { root, cwd: dir }));
    ok(await runTsbuild(["build", "--progress", "plain", "-t", "gc-three:1", path.join(dir, "ctx")], { root, cwd: dir }));
    expect(ok(await tsbuild("from", "gc-three:1", "--name", "gc-box-3")).trim()).toBe("gc-box-3");
    onTestFinished(async () => void (await tsbuild("rm", "gc-box-3")));
    // gc-two:1 and gc-free:1 name an image no container uses; gc-three:1 is refused, the others go.
    const result = await tsbuild("rmi", "gc-two:1", "gc-three:1", "gc-free:1");
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("Untagged: gc-two:1\nUntagged: gc-free:1\n");
    expect(result.stderr).toMatch(/conflict: unable to remove repository reference "gc-three:1" \(must force\) - container gc-box-3 /);
    ok(await tsbuild("rm", "gc-box-3"));
    expect(ok(await tsbuild("rmi", "gc-three:1"))).toBe("Untagged: gc-three:1\n");
  });
});
