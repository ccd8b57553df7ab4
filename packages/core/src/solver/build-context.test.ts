import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { BuildContextIndex, compareBytes, entryStat, type EntryStat } from "./build-context.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "tsbuild-context-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("compareBytes", () => {
  test("orders names by their UTF-8 bytes, as Go does", () => {
    const names = ["b", "a", "B", "é", "a.txt", "a-b", "\u{1F600}", "\uFF5E", "_"];
    const byBytes = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...names].sort(compareBytes)).toEqual(byBytes);
    // UTF-16 order would put the emoji (surrogates) before U+FF5E; UTF-8 puts it after.
    expect(compareBytes("\u{1F600}", "\uFF5E")).toBe(1);
    expect(compareBytes("same", "same")).toBe(0);
  });
});

const fieldsOf = (st: EntryStat) => ({
  type: st.type,
  mode: st.mode,
  uid: st.uid,
  gid: st.gid,
  size: st.size,
  nlink: st.nlink,
  ino: st.ino,
  atimeSec: st.atimeSec,
  atimeNsec: st.atimeNsec,
  mtimeSec: st.mtimeSec,
  mtimeNsec: st.mtimeNsec,
  ctimeSec: st.ctimeSec,
  ctimeNsec: st.ctimeNsec,
});

describe("BuildContextIndex.scan", () => {
  test("walks the context in byte order with each entry's lstat, leaving out what .dockerignore excludes", () => {
    mkdirSync(path.join(dir, "src", "deep"), { recursive: true });
    writeFileSync(path.join(dir, "src", "deep", "main.js"), "main\n");
    writeFileSync(path.join(dir, "src", "B.txt"), "b");
    writeFileSync(path.join(dir, "notes.log"), "ignored");
    symlinkSync("src/B.txt", path.join(dir, "link"));
    // Before 1970: the kernel's seconds round down and its nanoseconds stay positive.
    // (Node's utimes takes a negative time for "now": GNU touch sets it.)
    execFileSync("touch", ["-h", "-d", "@-1.25", path.join(dir, "src", "B.txt")]);
    const index = BuildContextIndex.scan(dir, ["*.log"]);
    expect([...index.entries.keys()]).toEqual(["", "link", "src", "src/B.txt", "src/deep", "src/deep/main.js"]);
    for (const [rel, entry] of index.entries) {
      const now = entryStat(lstatSync(path.join(dir, rel), { bigint: true }));
      // Listing a directory updates its atime: compare that for the others only.
      if (entry.type === "dir") expect({ ...fieldsOf(entry.stat), atimeSec: 0, atimeNsec: 0 }, rel).toEqual({ ...fieldsOf(now), atimeSec: 0, atimeNsec: 0 });
      else expect(fieldsOf(entry.stat), rel).toEqual(fieldsOf(now));
    }
    expect(fieldsOf(index.entries.get("src/B.txt")!.stat)).toMatchObject({ mtimeSec: -2, mtimeNsec: 750_000_000 });
    expect(index.entries.get("link")!.type).toBe("symlink");
    expect(index.entries.get("src/deep")!.type).toBe("dir");
  });

  test("lists each dir's entries sent to the build, in byte order, dirs kept for an exception inside them included", () => {
    for (const file of ["keep/a.txt", "keep/B.txt", "keep/\u{1F600}", "keep/\uFF5E", "drop/x.txt", "drop/inner/wanted.txt", "drop/inner/other.txt"]) {
      mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
      writeFileSync(path.join(dir, file), file);
    }
    const index = BuildContextIndex.scan(dir, ["drop", "!drop/inner/wanted.txt", "keep/a.txt"]);
    expect(index.childNames("")).toEqual(["drop", "keep"]);
    expect(index.childNames("keep")).toEqual(["B.txt", "\uFF5E", "\u{1F600}"]);
    expect(index.childNames("drop")).toEqual(["inner"]);
    expect(index.childNames("drop/inner")).toEqual(["wanted.txt"]);
    expect(index.childNames("keep/B.txt")).toBeUndefined();
    expect(index.childNames("missing")).toBeUndefined();
  });
});
