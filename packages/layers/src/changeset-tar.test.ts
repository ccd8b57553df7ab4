import { execFileSync } from "node:child_process";
import { lstat } from "node:fs/promises";
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
