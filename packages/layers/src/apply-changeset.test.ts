import { lstat, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { applyChangeset } from "./apply-changeset.js";
import { changesetTar } from "./changeset-tar.js";
import { LayerSecurityError } from "./errors.js";
import { mergeLayers } from "./merge.js";
import { overlaySnapshotter } from "./overlay.js";
import { describeTree, Scratch, sh, tarOf } from "./test-support.js";

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

/** Two layers made by real overlay steps: base (plain files) and top (deletions, opaque dir, replacements). */
async function twoLayers(): Promise<{ root: string; base: string; top: string }> {
  const root = await scratch.dir();
  const base = path.join(root, "base");
  sh(root, `mkdir -p base/dir/sub base/olddir/deep base/rmdir && cd base && echo a > a.txt && echo k > dir/keep
    echo g > dir/gone && echo s > dir/sub/s && echo x > olddir/x && echo d > olddir/deep/d && echo z > rmdir/z
    echo f > file-to-dir && mkdir dir-to-file && echo i > dir-to-file/inner && chmod 750 dir`);
  const snapshot = scratch.track(await overlaySnapshotter().prepare([base], root));
  sh(snapshot.rootfs, `rm dir/gone && rm -rf rmdir olddir && mkdir olddir && echo n > olddir/n && mv a.txt b.txt
    rm file-to-dir && mkdir file-to-dir && echo new > file-to-dir/new && rm -rf dir-to-file && echo now-a-file > dir-to-file
    echo changed > dir/sub/s && ln -s ../b.txt dir/sym`);
  return { root, base, top: await snapshot.commit() };
}

describe("applyChangeset merge mode and mergeLayers", () => {
  it("agree with what overlayfs shows for the same layers", async () => {
    const { root, base, top } = await twoLayers();
    const applied = path.join(root, "applied");
    await applyChangeset(changesetTar(base), applied, { mode: "merge" });
    await applyChangeset(changesetTar(top), applied, { mode: "merge" });
    const merged = path.join(root, "merged");
    await mergeLayers([top, base], merged);
    const view = scratch.track(await overlaySnapshotter().prepare([top, base], root));
    const expected = await describeTree(view.rootfs);
    expect(expected).toEqual(
      expect.arrayContaining([
        'dir-to-file file 644 0:0 nlink=1 "now-a-file\\n"',
        "file-to-dir/ dir 755 0:0",
        'file-to-dir/new file 644 0:0 nlink=1 "new\\n"',
        'dir/sub/s file 644 0:0 nlink=1 "changed\\n"',
        "dir/ dir 750 0:0",
        "dir/sym -> ../b.txt 0:0",
      ]),
    );
    expect(expected.filter((line) => /^(olddir\/|rmdir|a\.txt|dir\/gone|dir-to-file\/)/.test(line))).toEqual([
      "olddir/ dir 755 0:0",
      'olddir/n file 644 0:0 nlink=1 "n\\n"',
    ]);
    expect(await describeTree(applied)).toEqual(expected);
    expect(await describeTree(merged)).toEqual(expected);
  });

  it("keeps entries the same layer wrote before its opaque marker", async () => {
    const dest = await scratch.dir();
    await mkdir(path.join(dest, "d"));
    await writeFile(path.join(dest, "d", "lower"), "old");
    await applyChangeset(
      tarOf([
        { name: "d/", type: "directory", mode: 0o755 },
        { name: "d/mine", content: "new" },
        { name: "d/.wh..wh..opq" },
      ]),
      dest,
      { mode: "merge" },
    );
    expect(await readdir(path.join(dest, "d"))).toEqual(["mine"]);
  });
});

describe("applyChangeset refuses escapes", () => {
  async function attempt(entries: Parameters<typeof tarOf>[0], mode: "overlay" | "merge" = "overlay", allowDevices = false) {
    const root = await scratch.dir();
    const dest = path.join(root, "dest");
    const outside = path.join(root, "outside");
    await mkdir(outside);
    await mkdir(dest);
    const error = await applyChangeset(tarOf(entries), dest, { mode, allowDevices }).then(
      () => undefined,
      (e: unknown) => e,
    );
    return { error, dest, outside, root };
  }

  const cases: { title: string; entries: Parameters<typeof tarOf>[0]; bad: string; mode?: "overlay" | "merge" }[] = [
    { title: "a .. component", entries: [{ name: "../outside/x", content: "pwned" }], bad: "../outside/x" },
    { title: "a .. in the middle", entries: [{ name: "a/../../outside/x", content: "pwned" }], bad: "a/../../outside/x" },
    { title: "an absolute name", entries: [{ name: "/etc/tsbuild-escape", content: "pwned" }], bad: "/etc/tsbuild-escape" },
    { title: "a whiteout of ..", entries: [{ name: "d/.wh..." }], bad: "d/.wh...", mode: "merge" },
    { title: "a hardlink out of the tree", entries: [{ name: "hl", type: "link", linkname: "../outside/secret" }], bad: "hl" },
    { title: "a hardlink to an absolute path", entries: [{ name: "hl", type: "link", linkname: "/etc/passwd" }], bad: "hl" },
    { title: "a hardlink to a file not yet in the tree", entries: [{ name: "hl", type: "link", linkname: "later" }, { name: "later", content: "x" }], bad: "hl" },
    { title: "a device node", entries: [{ name: "null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 }], bad: "null" },
  ];

  for (const { title, entries, bad, mode } of cases) {
    it(`refuses ${title} and leaves the dest unchanged`, async () => {
      const { error, dest, outside, root } = await attempt(entries, mode);
      expect(error).toBeInstanceOf(LayerSecurityError);
      expect((error as LayerSecurityError).entry).toBe(bad);
      expect(await readdir(dest)).toEqual([]);
      expect(await readdir(outside)).toEqual([]);
      expect((await readdir(root)).sort()).toEqual(["dest", "outside"]);
    });
  }

  it("refuses writing through a symlink parent", async () => {
    const root = await scratch.dir();
    const { error, dest, outside } = await attempt([
      { name: "evil", type: "symlink", linkname: path.join(root, "outside") },
      { name: "evil/pwn", content: "pwned" },
    ]);
    expect(error).toBeInstanceOf(LayerSecurityError);
    expect((error as LayerSecurityError).entry).toBe("evil/pwn");
    expect(await readdir(outside)).toEqual([]);
    // The symlink itself is harmless content and stays.
    expect((await lstat(path.join(dest, "evil"))).isSymbolicLink()).toBe(true);
  });

  it("refuses a relative symlink parent that points out, and replaces (never follows) a final symlink", async () => {
    const { error, outside } = await attempt([
      { name: "up", type: "symlink", linkname: "../outside" },
      { name: "up/pwn", content: "pwned" },
    ]);
    expect(error).toBeInstanceOf(LayerSecurityError);
    expect(await readdir(outside)).toEqual([]);

    const replaced = await attempt([
      { name: "f", type: "symlink", linkname: "../outside/target" },
      { name: "f", content: "replaced" },
    ]);
    expect(replaced.error).toBeUndefined();
    expect(await readdir(replaced.outside)).toEqual([]);
    expect(await readFile(path.join(replaced.dest, "f"), "utf8")).toBe("replaced");
  });

  it("creates device nodes only when allowed, and never a 0/0 one in overlay format", async () => {
    const allowed = await attempt([{ name: "null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 }], "merge", true);
    expect(allowed.error).toBeUndefined();
    const st = await lstat(path.join(allowed.dest, "null"), { bigint: true });
    expect(st.isCharacterDevice() && st.rdev === (1n << 8n) + 3n).toBe(true);

    const whiteoutLike = await attempt([{ name: "w", type: "character-device", devmajor: 0, devminor: 0 }], "overlay", true);
    expect(whiteoutLike.error).toBeInstanceOf(LayerSecurityError);
    expect(await readdir(whiteoutLike.dest)).toEqual([]);
  });
});
