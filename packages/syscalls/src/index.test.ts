import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { copyFiles, fixMallocThresholds, MNT_DETACH, mknod, mount, readDirectory, readXattrs, setXattr, STAT_FIELDS, StatField, syncFileSystem, umount } from "./index.js";

let dir: string;
const mounted: string[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "tsbuild-syscalls-"));
});

afterEach(() => {
  for (const target of mounted.splice(0).reverse()) {
    try {
      umount(target, MNT_DETACH);
    } catch {
      // unmounted by the test already
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

const isMountPoint = (p: string) => readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((line) => line.split(" ")[4] === p);

describe("mount and umount", () => {
  test("mount an overlay with relative lower names resolved in cwd, without moving the process's cwd", () => {
    for (const name of ["a", "b", "upper", "work", "merged", "l"]) mkdirSync(path.join(dir, name));
    writeFileSync(path.join(dir, "a", "from-a"), "a");
    writeFileSync(path.join(dir, "b", "from-b"), "b");
    symlinkSync(path.join(dir, "a"), path.join(dir, "l", "0"));
    symlinkSync(path.join(dir, "b"), path.join(dir, "l", "1"));
    const cwd = process.cwd();
    const merged = path.join(dir, "merged");
    mount("overlay", merged, "overlay", "lowerdir=0:1,upperdir=../upper,workdir=../work", { cwd: path.join(dir, "l") });
    mounted.push(merged);
    expect(process.cwd()).toBe(cwd);
    expect(isMountPoint(merged)).toBe(true);
    expect(readFileSync(path.join(merged, "from-a"), "utf8")).toBe("a");
    expect(readFileSync(path.join(merged, "from-b"), "utf8")).toBe("b");
    writeFileSync(path.join(merged, "new"), "n");
    umount(merged);
    expect(isMountPoint(merged)).toBe(false);
    expect(readFileSync(path.join(dir, "upper", "new"), "utf8")).toBe("n");
  });

  test("errors carry the errno name, the system call and the path", () => {
    const target = path.join(dir, "missing");
    expect(() => mount("tmpfs", target, "tmpfs", "")).toThrow(expect.objectContaining({ code: "ENOENT", syscall: "mount", message: expect.stringContaining(target) }));
    expect(() => umount(dir)).toThrow(expect.objectContaining({ code: "EINVAL", syscall: "umount2" }));
    expect(() => mount("overlay", dir, "overlay", "lowerdir=nope", { cwd: path.join(dir, "nowhere") })).toThrow(expect.objectContaining({ code: "ENOENT", syscall: "chdir" }));
  });

  test("a busy mount detaches with MNT_DETACH", () => {
    const target = path.join(dir, "t");
    mkdirSync(target);
    mount("tmpfs", target, "tmpfs", "size=1m");
    mounted.push(target);
    umount(target, MNT_DETACH);
    expect(isMountPoint(target)).toBe(false);
  });
});

describe("mknod", () => {
  test("makes character devices (overlay whiteouts are 0:0) and fifos", () => {
    const whiteout = path.join(dir, "gone");
    mknod(whiteout, 0o20000 | 0o000);
    const st = lstatSync(whiteout);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);
    mknod(path.join(dir, "null"), 0o20000 | 0o666, 1, 3);
    expect(lstatSync(path.join(dir, "null")).rdev).toBe((1 << 8) | 3);
    mknod(path.join(dir, "fifo"), 0o10000 | 0o644);
    expect(lstatSync(path.join(dir, "fifo")).isFIFO()).toBe(true);
    expect(() => mknod(whiteout, 0o20000)).toThrow(expect.objectContaining({ code: "EEXIST" }));
  });
});

describe("extended attributes", () => {
  test("set and read back, on files and on symlinks themselves", () => {
    const file = path.join(dir, "f");
    writeFileSync(file, "");
    expect(readXattrs(file)).toBeUndefined();
    setXattr(file, "user.one", Buffer.from("1"));
    setXattr(file, "trusted.overlay.opaque", Buffer.from("y"));
    setXattr(file, "user.empty", Buffer.alloc(0));
    expect(readXattrs(file)).toEqual(
      new Map([
        ["user.one", Buffer.from("1")],
        ["trusted.overlay.opaque", Buffer.from("y")],
        ["user.empty", Buffer.alloc(0)],
      ]),
    );
    const link = path.join(dir, "link");
    symlinkSync(file, link);
    setXattr(link, "trusted.on-link", Buffer.from([0, 255]));
    expect(readXattrs(link)).toEqual(new Map([["trusted.on-link", Buffer.from([0, 255])]]));
    expect(() => readXattrs(path.join(dir, "missing"))).toThrow(expect.objectContaining({ code: "ENOENT", syscall: "llistxattr" }));
  });
});

describe("readDirectory", () => {
  test("lists every entry but . and .. with the same numbers lstat gives", () => {
    writeFileSync(path.join(dir, "file"), "twelve bytes");
    mkdirSync(path.join(dir, "sub"));
    symlinkSync("file", path.join(dir, "link"));
    mknod(path.join(dir, "fifo"), 0o010644);
    const { names, stats } = readDirectory(dir);
    expect([...names].sort()).toEqual(["fifo", "file", "link", "sub"]);
    expect(stats).toHaveLength(names.length * STAT_FIELDS);
    names.forEach((name, i) => {
      const st = lstatSync(path.join(dir, name), { bigint: true });
      const field = (f: number) => stats[i * STAT_FIELDS + f]!;
      expect(field(StatField.mode)).toBe(Number(st.mode));
      expect([field(StatField.uid), field(StatField.gid), field(StatField.size), field(StatField.nlink), field(StatField.ino)]).toEqual([st.uid, st.gid, st.size, st.nlink, st.ino].map(Number));
      expect(BigInt(field(StatField.mtimeSec)) * 1_000_000_000n + BigInt(field(StatField.mtimeNsec))).toBe(st.mtimeNs);
      expect(BigInt(field(StatField.ctimeSec)) * 1_000_000_000n + BigInt(field(StatField.ctimeNsec))).toBe(st.ctimeNs);
      expect(BigInt(field(StatField.atimeSec)) * 1_000_000_000n + BigInt(field(StatField.atimeNsec))).toBe(st.atimeNs);
    });
  });

  test("with xattrs: the size of each entry's xattr names, 0 for none, symlinks not followed", () => {
    writeFileSync(path.join(dir, "plain"), "");
    writeFileSync(path.join(dir, "marked"), "");
    setXattr(path.join(dir, "marked"), "user.tsbuild", Buffer.from("yes"));
    symlinkSync("marked", path.join(dir, "link"));
    const { names, xattrBytes } = readDirectory(dir, { xattrs: true });
    const sizes = Object.fromEntries(names.map((name, i) => [name, xattrBytes![i]]));
    expect(sizes).toEqual({ plain: 0, marked: "user.tsbuild\0".length, link: 0 });
    expect(readDirectory(dir).xattrBytes).toBeUndefined();
  });

  test("an empty directory lists nothing; a missing one or a file is an error with Node's code", () => {
    mkdirSync(path.join(dir, "empty"));
    expect(readDirectory(path.join(dir, "empty"))).toEqual({ names: [], stats: new Float64Array(0) });
    expect(() => readDirectory(path.join(dir, "missing"))).toThrow(expect.objectContaining({ code: "ENOENT", syscall: "opendir" }));
    writeFileSync(path.join(dir, "file"), "");
    expect(() => readDirectory(path.join(dir, "file"))).toThrow(expect.objectContaining({ code: "ENOTDIR" }));
  });
});

describe("fixMallocThresholds", () => {
  test("glibc takes the threshold; out-of-range values are refused before libc sees them", () => {
    expect(fixMallocThresholds(128 * 1024)).toBe(true);
    expect(() => fixMallocThresholds(-1)).toThrow(RangeError);
    expect(() => fixMallocThresholds(2 ** 31)).toThrow(RangeError);
  });
});

describe("syncFileSystem", () => {
  test("syncs the file system of a dir or a file off the main thread; a missing path rejects with Node's code", async () => {
    writeFileSync(path.join(dir, "data"), Buffer.alloc(1 << 20, 1));
    const pending = syncFileSystem(dir);
    expect(pending).toBeInstanceOf(Promise);
    await expect(pending).resolves.toBeUndefined();
    await expect(syncFileSystem(path.join(dir, "data"))).resolves.toBeUndefined();
    await expect(syncFileSystem(path.join(dir, "missing"))).rejects.toMatchObject({ code: "ENOENT", syscall: "open", message: expect.stringContaining(path.join(dir, "missing")) });
  });
});

describe("copyFiles", () => {
  const attrs = { uid: 0, gid: 0, atimeMs: 1_000_000_123, mtimeMs: 1_234_567_890_750 };

  test("copies each file with its owner, mode and times, and leaves their bytes one after another", async () => {
    const files = [
      { name: "plain", bytes: "plain\n", mode: 0o644, uid: 0, gid: 0 },
      { name: "empty", bytes: "", mode: 0o600, uid: 0, gid: 0 },
      // Bits a umask takes away, set-ID bits (which chown would clear) and another owner.
      { name: "setuid", bytes: "x".repeat(5000), mode: 0o4777, uid: 1000, gid: 1001 },
      { name: "sticky", bytes: "s", mode: 0o1775, uid: 0, gid: 7 },
    ];
    for (const file of files) writeFileSync(path.join(dir, file.name), file.bytes);
    const content = Buffer.alloc(8192);
    const lengths = await copyFiles(
      files.map((file) => ({ ...attrs, ...file, source: path.join(dir, file.name), target: path.join(dir, `${file.name}.copy`) })),
      content,
    );
    expect([...lengths]).toEqual(files.map((file) => file.bytes.length));
    const all = files.map((file) => file.bytes).join("");
    expect(content.subarray(0, all.length).toString() === all).toBe(true);
    for (const file of files) {
      const target = path.join(dir, `${file.name}.copy`);
      const st = lstatSync(target);
      expect(readFileSync(target, "utf8")).toBe(file.bytes);
      expect({ mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs, atimeMs: st.atimeMs }, file.name).toEqual({
        mode: file.mode,
        uid: file.uid,
        gid: file.gid,
        mtimeMs: attrs.mtimeMs,
        atimeMs: attrs.atimeMs,
      });
    }
  });

  test("a file past the room left in content is copied whole and reported as -1; the next one still fits", async () => {
    writeFileSync(path.join(dir, "big"), Buffer.alloc(300_000, 1));
    writeFileSync(path.join(dir, "small"), "after\n");
    const content = Buffer.alloc(100_000);
    const lengths = await copyFiles(
      ["big", "small"].map((name) => ({ ...attrs, mode: 0o644, source: path.join(dir, name), target: path.join(dir, `${name}.copy`) })),
      content,
    );
    expect([...lengths]).toEqual([-1, 6]);
    expect(content.subarray(0, 6).toString()).toBe("after\n");
    expect(readFileSync(path.join(dir, "big.copy")).equals(Buffer.alloc(300_000, 1))).toBe(true);
  });

  test("rejects with the first failure, naming the call and the path, and copies nothing after it", async () => {
    writeFileSync(path.join(dir, "a"), "a");
    writeFileSync(path.join(dir, "taken"), "already here");
    const copy = (source: string, target: string) => ({ ...attrs, mode: 0o644, source: path.join(dir, source), target: path.join(dir, target) });
    await expect(copyFiles([copy("a", "a1"), copy("a", "taken"), copy("a", "a2")], Buffer.alloc(64))).rejects.toMatchObject({
      code: "EEXIST",
      syscall: "open",
      message: expect.stringContaining(path.join(dir, "taken")),
    });
    expect(readFileSync(path.join(dir, "a1"), "utf8")).toBe("a");
    expect(readFileSync(path.join(dir, "taken"), "utf8")).toBe("already here");
    expect(() => lstatSync(path.join(dir, "a2"))).toThrow(/ENOENT/);
    await expect(copyFiles([copy("missing", "m")], Buffer.alloc(64))).rejects.toMatchObject({ code: "ENOENT", message: expect.stringContaining("missing") });
  });
});
