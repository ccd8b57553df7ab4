import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { buffer } from "node:stream/consumers";
import { afterEach, beforeEach, expect, test } from "vitest";
import { PatternMatcher } from "@tsbuild/dockerfile";
import { ChangesetDigest, changesetTar } from "@tsbuild/layers";
import { BuildContextIndex } from "./build-context.js";
import { copyIntoRootfs, selectSources, type CopyOptions, type CopySourceRoot } from "./copy.js";

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

test("a copy into a new layer dir tells its digest every entry: the diffID its tar has, or none", async () => {
  const src = path.join(dir, "src");
  await mkdir(src);
  // Owners, set-ID modes, times, hard and symbolic links, names out of UTF-16 order, an empty
  // file, and a file past the size COPY reads whole (copied by the kernel, then read back).
  execFileSync("sh", ["-euc", `
    mkdir -p out/sub/deep out/empty
    echo a > out/a; ln out/a out/sub/a-link; ln -s ../a out/sub/a-sym; : > out/zero
    echo e > "out/\u{1F600}"; echo f > "out/\uFB00"
    head -c 1100000 /dev/urandom > out/big.bin; ln out/big.bin out/big-link
    chown -R 1000:1001 out/sub; chmod 4750 out/a; chmod 1777 out/empty
    touch -d @1234567890.75 out/sub/deep out/a; touch -h -d @99 out/sub/a-sym
    echo ignored > out/skip.log`], { cwd: src });
  const stage: CopySourceRoot = { dir: src, preserveOwner: true, label: "stage builder" };
  const context: CopySourceRoot = { dir: src, index: BuildContextIndex.scan(src, ["out/skip.log"]), preserveOwner: false, label: "build context" };
  const walked = async (upper: string) => {
    const tar = await buffer(changesetTar(upper));
    return { diffID: `sha256:${createHash("sha256").update(tar).digest("hex")}`, size: tar.length };
  };
  const cases: { name: string; root: CopySourceRoot; sources: string[]; dest: string; isDir?: boolean; parents?: boolean; options?: Partial<CopyOptions>; hashed: boolean }[] = [
    { name: "a stage dir", root: stage, sources: ["/out"], dest: "/app/", hashed: true },
    { name: "a context dir", root: context, sources: ["out"], dest: "/srv/app", hashed: true },
    { name: "a file as a file", root: stage, sources: ["/out/big.bin"], dest: "/data/big.bin", hashed: true },
    { name: "--chown, --chmod, --exclude", root: context, sources: ["out"], dest: "/x/", options: { owner: { uid: 7, gid: 8 }, mode: 0o640, exclude: new PatternMatcher(["sub/deep"]) }, hashed: true },
    { name: "two files in order", root: stage, sources: ["/out/a", "/out/zero"], dest: "/two/", hashed: true },
    { name: "two dirs that interleave", root: stage, sources: ["/out/sub", "/out"], dest: "/both/", hashed: false },
    { name: "--parents", root: stage, sources: ["/out/./sub", "/out/./a"], dest: "/p/", parents: true, hashed: false },
  ];
  for (const c of cases) {
    const upper = path.join(dir, `upper-${cases.indexOf(c)}`);
    await mkdir(upper);
    const digest = ChangesetDigest.open(upper)!;
    const selected = await selectSources(c.root, c.sources, c.parents ?? false);
    await copyIntoRootfs(c.root, selected, upper, { dest: c.dest, isDir: c.isDir ?? c.dest.endsWith("/") }, { exclude: undefined, ...c.options, digest });
    const result = digest.finish();
    if (c.hashed) expect(result, c.name).toEqual(await walked(upper));
    else expect(result, c.name).toBeUndefined();
  }
});

test("a tree of many files, copied in batches, keeps every entry's bytes, owner, mode and times, and its digest", async () => {
  // 9 dirs of 130 files (batches end mid-dir), a file too big for a batch halfway, hard links to
  // files of earlier batches, symlinks among the files, odd modes and set times on files and dirs.
  execFileSync("sh", ["-euc", `
    for d in 1 2 3 4 5 6 7 8 9; do
      mkdir -p t/d$d/sub
      i=0; while [ $i -lt 130 ]; do head -c $((i * 97 + d)) /dev/urandom > t/d$d/f$i; i=$((i+1)); done
      ln -s f1 t/d$d/link; echo "$d" > t/d$d/sub/leaf
      touch -d @$((1600000000 + d)) t/d$d/sub
    done
    head -c 1200000 /dev/urandom > t/d5/big; ln t/d1/f3 t/d8/hard; ln t/d2/f4 t/d9/hard
    chmod 4755 t/d3/f7; chmod 600 t/d4/f8; chmod 777 t/d6/f9; chmod 2775 t/d7; chown -R 1000:1001 t/d2
    touch -d @1500000000.5 t/d1/f0 t/d6; touch -d @1400000000 t/d9 t`], { cwd: dir });
  const stage: CopySourceRoot = { dir: path.join(dir, "t"), preserveOwner: true, label: "stage builder" };
  const upper = path.join(dir, "upper");
  await mkdir(upper);
  const digest = ChangesetDigest.open(upper)!;
  await copyIntoRootfs(stage, await selectSources(stage, ["/"], false), upper, { dest: "/app/", isDir: true }, { exclude: undefined, digest });
  const result = digest.finish(); // sets the times of the dirs the copy made above /app
  const tar = await buffer(changesetTar(upper));
  expect(result).toEqual({ diffID: `sha256:${createHash("sha256").update(tar).digest("hex")}`, size: tar.length });
  // Times in whole milliseconds: COPY sets the source's, cut to the millisecond (give or take the
  // microsecond a Date's float loses: the copy's are rounded). The destination dir is the copy's own.
  const describe = (root: string, toMs: (ms: number) => number) =>
    execFileSync("sh", ["-c", `cd "${root}" && find . -mindepth 1 -printf '%p %y %m %U:%G %s %n %T@\\n' | sort && find . -type f -exec md5sum {} + | sort`], { encoding: "utf8" })
      .replace(/ (\d+)\.(\d{3})(\d+)$/gm, (_match, s: string, ms: string, rest: string) => ` ${Number(s) * 1000 + toMs(Number(`${ms}.${rest}`))}`);
  const copied = describe(path.join(upper, "app"), Math.round);
  expect(copied.split("\n").length).toBeGreaterThan(2000);
  expect(copied).toBe(describe(stage.dir, Math.floor));
});
