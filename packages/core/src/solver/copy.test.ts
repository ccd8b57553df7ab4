import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, test } from "vitest";
import { copyIntoRootfs, selectSources, type CopySourceRoot } from "./copy.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "tsbuild-copy-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

test("a layer dir read directly skips its whiteouts; any other source refuses a device", async () => {
  const layer = path.join(dir, "layer");
  await mkdir(path.join(layer, "out"), { recursive: true });
  await writeFile(path.join(layer, "out", "keep"), "kept\n");
  execFileSync("mknod", [path.join(layer, "out", "gone"), "c", "0", "0"]);
  const copy = async (root: CopySourceRoot, rootfs: string) => {
    await mkdir(rootfs);
    await copyIntoRootfs(root, await selectSources(root, ["/out"], false), rootfs, { dest: "/app", isDir: true }, { exclude: undefined });
    return readdir(path.join(rootfs, "app"));
  };
  const root: CopySourceRoot = { dir: layer, preserveOwner: true, label: "stage builder", layerDir: true };
  expect(await copy(root, path.join(dir, "direct"))).toEqual(["keep"]);
  await expect(copy({ ...root, layerDir: false }, path.join(dir, "merged"))).rejects.toThrow(/cannot copy a device/);
});
