import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { readdirSync, readlinkSync } from "node:fs";
import { lstat, mkdir, stat, truncate, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { applyChangeset } from "./apply-changeset.js";
import { changesetTar } from "./changeset-tar.js";
import { overlaySnapshotter } from "./overlay.js";
import { collect, readWithTarStream, Scratch, sh } from "./test-support.js";

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const LONG_A = "a".repeat(60);
const LONG_B = "b".repeat(60);
// security.capability v2 with CAP_SETUID (bit 7) permitted: byte 0x80 is not valid UTF-8 alone.
const CAPABILITY = Buffer.from("0100000280000000000000000000000000000000", "hex");

/** A lower layer and a snapshot on it after the kinds of operations a RUN step does. */
async function upperAfterOperations(): Promise<{ upper: string; lower: string }> {
  const root = await scratch.dir();
  const lower = path.join(root, "lower");
  sh(root, `mkdir lower && cd lower && echo a > a.txt && mkdir dir olddir rmdir && echo k > dir/keep && echo g > dir/gone
    echo x > olddir/x && echo z > rmdir/z`);
  const snapshot = scratch.track(await overlaySnapshotter().prepare([lower], root));
  sh(snapshot.rootfs, `echo new > new.txt && chmod 644 new.txt && setfattr -n user.note -v hello new.txt
    rm dir/gone && rm -rf rmdir && rm -rf olddir && mkdir olddir && echo n > olddir/n
    mv a.txt b.txt
    echo s > suid && chmod 4755 suid && mkdir tmp && chmod 1777 tmp
    echo o > owned && chown 1000:2000 owned
    echo h > h1 && ln h1 h2 && ln -s ../b.txt dir/sym && mkfifo fifo
    mkdir -p ${LONG_A}/${LONG_B} && echo l > ${LONG_A}/${LONG_B}/${LONG_A}.txt
    echo c > cap && setfattr -n security.capability -v 0x${CAPABILITY.toString("hex")} cap`);
  return { upper: await snapshot.commit(), lower };
}

describe("changesetTar", () => {
  it("turns a real overlay upper dir into OCI changeset entries", async () => {
    const { upper } = await upperAfterOperations();
    const entries = await readWithTarStream(await collect(changesetTar(upper)));
    expect(entries.map((e) => e.name)).toEqual([
      ".wh.a.txt",
      ".wh.rmdir",
      `${LONG_A}/`,
      `${LONG_A}/${LONG_B}/`,
      `${LONG_A}/${LONG_B}/${LONG_A}.txt`,
      "b.txt",
      "cap",
      "dir/",
      "dir/.wh.gone",
      "dir/sym",
      "fifo",
      "h1",
      "h2",
      "new.txt",
      "olddir/",
      "olddir/.wh..wh..opq",
      "olddir/n",
      "owned",
      "suid",
      "tmp/",
    ]);
    const byName = new Map(entries.map((e) => [e.name, e]));
    for (const marker of [".wh.a.txt", "dir/.wh.gone", "olddir/.wh..wh..opq"]) {
      expect(byName.get(marker)).toMatchObject({ type: "file", mode: 0, uid: 0, gid: 0, mtime: 0, content: "" });
    }
    expect(byName.get("b.txt")).toMatchObject({ type: "file", content: "a\n" });
    expect(byName.get("suid")!.mode).toBe(0o4755);
    expect(byName.get("tmp/")).toMatchObject({ type: "directory", mode: 0o1777 });
    expect(byName.get("owned")).toMatchObject({ uid: 1000, gid: 2000, uname: "", gname: "" });
    expect(byName.get("h2")).toMatchObject({ type: "link", linkname: "h1" });
    expect(byName.get("dir/sym")).toMatchObject({ type: "symlink", linkname: "../b.txt" });
    expect(byName.get("fifo")!.type).toBe("fifo");
    expect(byName.get(`${LONG_A}/${LONG_B}/${LONG_A}.txt`)!.content).toBe("l\n");
    expect(byName.get("new.txt")!.pax).toEqual({ "SCHILY.xattr.user.note": "hello" });
    expect(Object.keys(byName.get("cap")!.pax)).toEqual(["SCHILY.xattr.security.capability"]);
    // overlayfs's own xattrs (trusted.overlay.origin, impure, ...) never reach the layer.
    expect(entries.flatMap((e) => Object.keys(e.pax)).filter((k) => k.includes("trusted.overlay"))).toEqual([]);
  });

  it("gives identical bytes for the same tree, and clamps mtimes to sourceDateEpoch", async () => {
    const { upper } = await upperAfterOperations();
    const first = await collect(changesetTar(upper, { sourceDateEpoch: 1_000_000 }));
    const second = await collect(changesetTar(upper, { sourceDateEpoch: 1_000_000 }));
    expect(first.equals(second)).toBe(true);
    const mtimes = (await readWithTarStream(first)).map((e) => e.mtime);
    expect(Math.max(...mtimes)).toBeLessThanOrEqual(1_000_000);
    expect(mtimes).toContain(1_000_000);
  });

  it("round-trips: changesetTar -> applyChangeset(overlay) -> changesetTar gives the same bytes", async () => {
    const { upper } = await upperAfterOperations();
    const first = await collect(changesetTar(upper));
    const unpacked = path.join(await scratch.dir(), "layer");
    const result = await applyChangeset(changesetTar(upper), unpacked, { mode: "overlay" });
    expect(result.entries).toBe(20);
    const second = await collect(changesetTar(unpacked));
    expect(second.equals(first)).toBe(true);
    // The unpacked dir is real overlay upper format, binary xattrs intact.
    const whiteout = await lstat(path.join(unpacked, "a.txt"), { bigint: true });
    expect(whiteout.isCharacterDevice() && whiteout.rdev === 0n).toBe(true);
    const attr = (name: string, file: string) =>
      execFileSync("getfattr", ["--absolute-names", "--only-values", "-h", "-n", name, path.join(unpacked, file)]);
    expect(attr("trusted.overlay.opaque", "olddir").toString()).toBe("y");
    expect(attr("security.capability", "cap").equals(CAPABILITY)).toBe(true);
    expect(((await lstat(path.join(unpacked, "suid"))).mode & 0o7777).toString(8)).toBe("4755");
  });
});

describe("changesetTar on a hand-made upper dir", () => {
  const MiB = 1 << 20;
  const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
  /** Files of this process open on path (vitest runs each test file in its own process). */
  const fdsOpenOn = (file: string) =>
    readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === file;
      } catch {
        return false; // the fd readdir itself used is gone by now
      }
    });

  it("writes every entry type, packing small files and splitting big ones across chunks", async () => {
    const upper = await scratch.dir();
    const big = randomBytes(2 * MiB + 1234);
    await writeFile(path.join(upper, "big.bin"), big);
    // U+FF21 sorts after U+1F600 in UTF-16 but before it in UTF-8: the order is by bytes.
    const small = Array.from({ length: 300 }, (_, i) => `small/f${i + 100}`);
    await mkdir(path.join(upper, "small"));
    for (const name of small) await writeFile(path.join(upper, name), Buffer.alloc(5000, "x"));
    sh(upper, `mkdir -p opaque/sub && echo hi > opaque/sub/f && setfattr -n trusted.overlay.opaque -v y opaque && setfattr -n trusted.overlay.opaque -v y .
      echo a > a && ln a z-link && touch empty && ln -s big.bin sym && mkfifo fifo
      mknod gone c 0 0 && mknod null c 1 3 && mknod loop b 7 1 && setfattr -n user.b -v 2 a && setfattr -n user.a -v 1 a
      touch $'\\uff21' $'\\U0001f600' && python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('sock')"`);
    const chunks: Buffer[] = [];
    for await (const chunk of changesetTar(upper, { sourceDateEpoch: 1000 })) chunks.push(chunk as Buffer);
    expect(Math.max(...chunks.map((c) => c.length))).toBe(MiB);

    const tar = Buffer.concat(chunks);
    const entries = await readWithTarStream(tar);
    expect(entries.map((e) => `${e.type} ${e.name}${e.linkname ? ` -> ${e.linkname}` : ""}`)).toEqual([
      "file .wh..wh..opq",
      "file .wh.gone",
      "file a",
      "file big.bin",
      "file empty",
      "fifo fifo",
      "block-device loop",
      "character-device null",
      "directory opaque/",
      "file opaque/.wh..wh..opq",
      "directory opaque/sub/",
      "file opaque/sub/f",
      "directory small/",
      ...small.map((name) => `file ${name}`),
      "symlink sym -> big.bin",
      "link z-link -> a",
      "file \uff21",
      "file \u{1f600}",
    ]);
    const byName = new Map(entries.map((e) => [e.name, e]));
    expect(small.every((name) => byName.get(name)!.content === "x".repeat(5000))).toBe(true);
    expect(byName.get("a")).toMatchObject({ pax: { "SCHILY.xattr.user.a": "1", "SCHILY.xattr.user.b": "2" }, content: "a\n" });
    expect(Object.keys(byName.get("a")!.pax)).toEqual(["SCHILY.xattr.user.a", "SCHILY.xattr.user.b"]);
    expect(byName.get("z-link")).toMatchObject({ pax: {}, content: "" });
    expect(byName.get(".wh.gone")).toMatchObject({ mode: 0, mtime: 0 });
    // GNU tar, another independent reader, agrees on the big file's bytes.
    const gnu = execFileSync("tar", ["-xOf", "-", "big.bin"], { input: tar, maxBuffer: 8 * MiB });
    expect(sha256(gnu)).toBe(sha256(big));
    expect(Math.max(...entries.map((e) => e.mtime))).toBe(1000);
  });

  it("closes the open file when the consumer destroys the stream mid-file", async () => {
    const upper = await scratch.dir();
    const file = path.join(upper, "big.bin");
    await writeFile(file, Buffer.alloc(5 * MiB, 1));
    const fdsBefore = readdirSync("/proc/self/fd").length;
    const stream = changesetTar(upper);
    const chunks = stream[Symbol.asyncIterator]();
    expect((await chunks.next()).done).toBe(false);
    expect(fdsOpenOn(file)).toHaveLength(1);
    stream.destroy();
    await once(stream, "close");
    expect(fdsOpenOn(file)).toEqual([]);
    expect(readdirSync("/proc/self/fd").length).toBe(fdsBefore);
  });

  it("fails the stream when a file shrinks while it is archived, closing it", async () => {
    const upper = await scratch.dir();
    const file = path.join(upper, "big.bin");
    await writeFile(file, Buffer.alloc(5 * MiB, 1));
    const stream = changesetTar(upper);
    const chunks = stream[Symbol.asyncIterator]();
    expect((await chunks.next()).done).toBe(false);
    await truncate(file, MiB + 1);
    await expect(collect({ [Symbol.asyncIterator]: () => chunks })).rejects.toThrow(
      new RegExp(`^${file} changed size while it was archived \\(${5 * MiB} bytes expected, \\d+ read\\)$`),
    );
    expect(fdsOpenOn(file)).toEqual([]);
  });

  it("reads files without updating their access time, as the owner (root) may", async () => {
    const upper = await scratch.dir();
    const file = path.join(upper, "f.txt");
    await writeFile(file, "content\n");
    // An atime before the mtime: relatime would move it to now on the first read.
    const past = new Date("2001-02-03T04:05:06Z");
    await utimes(file, past, new Date());
    const entries = await readWithTarStream(await collect(changesetTar(upper)));
    expect(entries.map((e) => e.name)).toEqual(["f.txt"]);
    expect((await stat(file)).atime).toEqual(past);
  });

  it("fails the stream on a regular file named like a whiteout", async () => {
    const upper = await scratch.dir();
    sh(upper, "mkdir d && touch d/.wh.x");
    await expect(collect(changesetTar(upper))).rejects.toThrow(`cannot archive ${path.join(upper, "d/.wh.x")}: names starting with .wh. are reserved`);
  });
});
