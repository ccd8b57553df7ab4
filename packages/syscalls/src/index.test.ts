import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { fixMallocThresholds, MNT_DETACH, mknod, mount, readDirectory, readXattrs, setXattr, STAT_FIELDS, StatField, syncFileSystem, umount } from "./index.js";

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
