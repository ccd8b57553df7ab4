import { createHash } from "node:crypto";
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { applyChangeset } from "./apply-changeset.js";
import { changesetTar } from "./changeset-tar.js";
import { LayerSecurityError } from "./errors.js";
import { mergeLayers } from "./merge.js";
import { overlaySnapshotter } from "./overlay.js";
import { TarFormatError } from "./tar-format.js";
import { describeTree, Scratch, sh, tarOf } from "./test-support.js";
import { readTreeXattrs } from "./xattrs.js";

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

/** bytes as a stream of chunks of the given sizes (cycled), each a fresh copy. */
function chunked(bytes: Buffer, sizes: readonly number[]): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length]!;
    chunks.push(Buffer.from(bytes.subarray(at, at + size)));
    at += size;
  }
  return Readable.from(chunks);
}

/** Every entry below root (not root itself) with what a layer carries: type, mode, owner, whole-second mtime, content, target, links, xattrs. */
async function metadataTree(root: string): Promise<string[]> {
  const { xattrs } = await readTreeXattrs(root);
  const lines: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(root, rel))).sort()) {
      const child = rel === "" ? name : `${rel}/${name}`;
      const file = path.join(root, child);
      const st = await lstat(file);
      const what = st.isFile()
        ? `file ${createHash("sha256").update(await readFile(file)).digest("hex").slice(0, 12)} nlink=${st.nlink}`
        : st.isSymbolicLink()
          ? `-> ${await readlink(file)}`
          : st.isDirectory()
            ? "dir"
            : `special ${st.mode.toString(8)}`;
      const attrs = [...(xattrs.get(child) ?? [])].map(([k, v]) => `${k}=${v.toString("hex")}`).join(",");
      lines.push(`${child} ${what} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${Math.floor(st.mtimeMs / 1000)} ${attrs}`);
      if (st.isDirectory()) await walk(child);
    }
  };
  await walk("");
  return lines;
}

describe("applyChangeset unpacks what GNU tar unpacks", () => {
  it("gives the tree tar -x gives, however the stream is split", async () => {
    const root = await scratch.dir();
    sh(root, `mkdir -p src/etc/deep/${"n".repeat(100)} src/var/shared src/empty-dir && cd src
      echo conf > etc/conf && head -c 200000 /dev/urandom > etc/big && : > etc/empty
      echo long > etc/deep/${"n".repeat(100)}/${"f".repeat(100)}
      echo suid > suid && chown 1000:1000 suid && chmod 4755 suid
      echo sgid > sgid && chown 0:50 sgid && chmod 2711 sgid
      chown 1000:1000 var/shared && chmod 2775 var/shared && echo inherits > var/shared/f && chown 7:8 var/shared/f
      echo root > var/shared/root-owned && ln -s f var/shared/root-link && mkdir var/shared/root-dir && chown -h 0:0 var/shared/root-*
      ln etc/conf etc/conf-hardlink && ln -s ${"../".repeat(40)}etc/conf long-symlink && chown -h 5:6 long-symlink
      mkfifo fifo && chmod 640 fifo
      setfattr -n user.note -v 0x00ff0aff etc/conf && setfattr -n security.capability -v 0x0100000200100000000000000000000000000000 sgid
      chmod 555 empty-dir && touch -h -d @1000000000 long-symlink && touch -d @1234567890 etc/deep etc/conf empty-dir
      touch -d @1500000000.5 .`);
    sh(root, "tar --format=pax --xattrs --xattrs-include='*' --numeric-owner -cf layer.tar -C src . && mkdir by-tar && tar --xattrs --xattrs-include='*' -xpf layer.tar -C by-tar");
    const expected = await metadataTree(path.join(root, "by-tar"));
    expect(expected).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^suid file \w+ nlink=1 4755 1000:1000 /),
        expect.stringMatching(/^sgid file \w+ nlink=1 2711 0:50 \d+ security.capability=01000002/),
        expect.stringMatching(/^var\/shared\/f file \w+ nlink=1 644 7:8 /),
        // Made in a setgid dir of group 1000, they would get that group without a chown.
        expect.stringMatching(/^var\/shared\/root-owned file \w+ nlink=1 644 0:0 /),
        expect.stringMatching(/^var\/shared\/root-link -> f 777 0:0 /),
        expect.stringMatching(/^var\/shared\/root-dir dir 2755 0:0 /),
        expect.stringMatching(/^etc\/conf file \w+ nlink=2 644 0:0 1234567890 user.note=00ff0aff$/),
        expect.stringMatching(/^empty-dir dir 555 0:0 1234567890 $/),
        expect.stringMatching(/^fifo special 10640 640 0:0 /),
        expect.stringMatching(/^long-symlink -> (\.\.\/){40}etc\/conf 777 5:6 1000000000 $/),
      ]),
    );
    const bytes = await readFile(path.join(root, "layer.tar"));
    for (const [i, sizes] of [[bytes.length], [1, 2, 5000], [777, 1, 4096], [511, 513]].entries()) {
      const dest = path.join(root, `applied-${i}`);
      const result = await applyChangeset(chunked(bytes, sizes), dest, { mode: "overlay" });
      expect(await metadataTree(dest), `chunks of ${sizes.join(",")}`).toEqual(expected);
      // big, then conf, long, suid, sgid, f and root-owned (the hardlink carries no content)
      expect(result.bytes).toBe(200_000 + 5 + 5 + 5 + 5 + 9 + 5);
    }
  });

  it("rejects with errors that name the entry", async () => {
    const root = await scratch.dir();
    const notADir = await applyChangeset(tarOf([{ name: "a", content: "x" }, { name: "a/b", content: "y" }]), path.join(root, "one"), { mode: "overlay" }).catch((e: unknown) => e);
    expect(String(notADir)).toMatch(/layer entry "a\/b": its parent a is not a directory/);
    const whole = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      tarOf([{ name: "f", content: "x".repeat(3000) }])
        .on("data", (c: Buffer) => chunks.push(c))
        .on("end", () => resolve(Buffer.concat(chunks)))
        .on("error", reject);
    });
    const truncated = await applyChangeset(chunked(whole.subarray(0, 2000), [100]), path.join(root, "two"), { mode: "overlay" }).catch((e: unknown) => e);
    expect(truncated).toBeInstanceOf(TarFormatError);
    expect(String(truncated)).toMatch(/ends inside the content of f/);
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
