import { execFileSync } from "node:child_process";
import { lstat, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { changesetTar } from "./changeset-tar.js";
import { copyTree } from "./copy-tree.js";
import { detectSnapshotter } from "./detect.js";
import { mergeLayers } from "./merge.js";
import { nativeSnapshotter } from "./native.js";
import { MAX_OVERLAY_LOWERS, overlaySnapshotter } from "./overlay.js";
import type { Snapshotter } from "./snapshot.js";
import { collect, describeTree, readWithTarStream, Scratch, sh } from "./test-support.js";

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const isMounted = (dir: string): boolean => execFileSync("findmnt", ["-rn", "-o", "TARGET"]).toString().split("\n").includes(dir);

/** The same RUN-like operations on the same base, through a given snapshotter. */
async function changesetAfterOperations(snapshotter: Snapshotter): Promise<Buffer> {
  const root = await scratch.dir();
  const base = path.join(root, "base");
  sh(root, `mkdir -p base/dir/sub base/rmdir base/keepdir && cd base && echo a > a.txt && echo k > dir/keep
    echo g > dir/gone && echo s > dir/sub/s && echo z > rmdir/z && echo m > mode && echo o > owner && echo l > linked
    echo x > keepdir/x && echo u > untouched`);
  const snapshot = scratch.track(await snapshotter.prepare([base], root));
  sh(snapshot.rootfs, `echo new > new.txt && echo more >> dir/sub/s && chmod 4755 mode && chown 7:8 owner
    rm dir/gone && rm -rf rmdir && mkdir -p fresh/deeper && echo f > fresh/deeper/f && ln -s a.txt sym
    echo h > h1 && ln h1 h2 && ln linked linked2 && mv a.txt moved.txt && setfattr -n user.tag -v v keepdir/x && mkfifo pipe`);
  const upper = await snapshot.commit();
  return collect(changesetTar(upper, { sourceDateEpoch: 1 }));
}

describe("snapshotters", () => {
  it("overlay and native give the same changeset for the same operations", async () => {
    const overlay = await changesetAfterOperations(overlaySnapshotter());
    const native = await changesetAfterOperations(nativeSnapshotter());
    const names = (await readWithTarStream(overlay)).map((e) => e.name);
    expect(names).toEqual([
      ".wh.a.txt",
      ".wh.rmdir",
      "dir/",
      "dir/.wh.gone",
      "dir/sub/",
      "dir/sub/s",
      "fresh/",
      "fresh/deeper/",
      "fresh/deeper/f",
      "h1",
      "h2",
      "keepdir/",
      "keepdir/x",
      "linked",
      "linked2",
      "mode",
      "moved.txt",
      "new.txt",
      "owner",
      "pipe",
      "sym",
    ]);
    expect((await readWithTarStream(native)).map((e) => e.name)).toEqual(names);
    expect(native.equals(overlay)).toBe(true);
  });

  it("native commit of a recreated or swapped dir hides the old contents", async () => {
    const root = await scratch.dir();
    const base = path.join(root, "base");
    sh(root, "mkdir -p base/a base/c && echo 1 > base/a/same && echo a > base/a/only-a && echo 2 > base/c/same");
    const snapshot = scratch.track(await nativeSnapshotter().prepare([base], root));
    sh(snapshot.rootfs, "mv a b && mv c a && rm -rf b");
    const upper = await snapshot.commit();
    const merged = path.join(root, "merged");
    await mergeLayers([upper, base], merged);
    expect(await describeTree(merged)).toEqual(["a/ dir 755 0:0", 'a/same file 644 0:0 nlink=1 "2\\n"']);
  });

  it("mounts a 120-layer chain with long paths and shows the newest version of each file", async () => {
    const root = await scratch.dir();
    const deep = path.join(root, "store-with-a-long-path-like-var-lib-tsbuild", "layers", "sha256");
    const lowers: string[] = [];
    for (let i = 0; i < 120; i++) {
      const layer = path.join(deep, `${i.toString(16).padStart(64, "0")}`);
      await mkdir(layer, { recursive: true });
      await writeFile(path.join(layer, "version"), String(i));
      await writeFile(path.join(layer, `only-${i}`), "");
      lowers.unshift(layer); // newest first
    }
    expect(lowers.join(":").length).toBeGreaterThan(4096);
    const snapshot = scratch.track(await overlaySnapshotter().prepare(lowers, root));
    expect(await readFile(path.join(snapshot.rootfs, "version"), "utf8")).toBe("119");
    expect((await readdir(snapshot.rootfs)).length).toBe(121);
    await snapshot.remove();
    expect(isMounted(snapshot.rootfs)).toBe(false);
    // Distinct dirs: the same dir given twice is mounted once (next test).
    const tooMany = Array.from({ length: MAX_OVERLAY_LOWERS + 1 }, (_, i) => path.join(deep, `missing-${i}`));
    await expect(overlaySnapshotter().prepare(tooMany, root)).rejects.toThrow(/at most 500 lower layers/);
  });

  it("mounts a layer the chain holds twice once, showing what the chain shows", async () => {
    const root = await scratch.dir();
    sh(root, `mkdir -p base/etc same/etc other && echo base > base/etc/passwd && echo old > base/etc/motd && echo s > same/etc/app
      mknod same/etc/motd c 0 0 && echo o > other/o`);
    const [base, same, other] = ["base", "same", "other"].map((name) => path.join(root, name));
    // Newest first: the same layer above and below another one, as two steps making the same change would leave it.
    const twice = scratch.track(await overlaySnapshotter().prepare([same!, other!, same!, base!], root));
    const once = scratch.track(await overlaySnapshotter().prepare([same!, other!, base!], root));
    expect(await describeTree(twice.rootfs)).toEqual(await describeTree(once.rootfs));
    expect((await readdir(path.join(twice.rootfs, "etc"))).sort()).toEqual(["app", "passwd"]);
  });

  it("starts from scratch with no lowers, and remove() is idempotent after commit", async () => {
    const root = await scratch.dir();
    for (const snapshotter of [overlaySnapshotter(), nativeSnapshotter()]) {
      const snapshot = scratch.track(await snapshotter.prepare([], root));
      expect(await readdir(snapshot.rootfs)).toEqual([]);
      await writeFile(path.join(snapshot.rootfs, "hello"), "hi");
      const upper = await snapshot.commit();
      expect(await readdir(upper)).toEqual(["hello"]);
      await snapshot.remove();
      await snapshot.remove();
    }
    expect(await readdir(root)).toEqual([]);
  });

  it("detects overlay here, and honours a preference for native", async () => {
    const root = await scratch.dir();
    const detected = await detectSnapshotter(root);
    expect(detected.snapshotter.kind).toBe("overlay");
    expect(detected.reason).toContain(root);
    expect((await detectSnapshotter(root, "native")).snapshotter.kind).toBe("native");
    expect(await readdir(root)).toEqual([]);
  });
});

describe("copyTree", () => {
  it("copies modes, owners, xattrs, symlinks and hardlinks, and refuses an existing dest", async () => {
    const root = await scratch.dir();
    sh(root, `mkdir -p src/d && cd src && echo a > a && chmod 2755 a && chown 5:6 a && ln a a2 && ln -s a s
      mkdir -m 1777 d/t && setfattr -n user.k -v v d && touch -d 2001-01-01 d/old`);
    await copyTree(path.join(root, "src"), path.join(root, "copy"));
    expect(await describeTree(path.join(root, "copy"))).toEqual(await describeTree(path.join(root, "src")));
    expect(execFileSync("getfattr", ["--absolute-names", "--only-values", "-n", "user.k", path.join(root, "copy", "d")]).toString()).toBe("v");
    expect((await lstat(path.join(root, "copy", "d", "old"))).mtime.getUTCFullYear()).toBe(2001);
    await expect(copyTree(path.join(root, "src"), path.join(root, "copy"))).rejects.toThrow(/already exists/);

    await copyTree(path.join(root, "src"), path.join(root, "chowned"), { owner: { uid: 9, gid: 9 } });
    expect((await describeTree(path.join(root, "chowned"))).every((line) => line.includes(" 9:9"))).toBe(true);
  });
});
