import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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

describe("selectionStamp", () => {
  /** A stat cache that keeps selections in memory: what the index needs to stamp at all. */
  const memoryCache = () => {
    const selections = new Map<string, string>();
    return {
      lookup: () => undefined,
      record: () => undefined,
      lookupSelection: (fingerprint: string) => selections.get(fingerprint),
      recordSelection: (fingerprint: string, _newest: unknown, sha256: string) => void selections.set(fingerprint, sha256),
    };
  };
  const stampOf = (roots: string[], basis = "basis", patterns: string[] = []) => BuildContextIndex.scan(dir, patterns, memoryCache()).selectionStamp(roots, basis)!;
  const past = new Date("2020-01-01T00:00:00Z");

  beforeEach(() => {
    mkdirSync(path.join(dir, "app/lib"), { recursive: true });
    writeFileSync(path.join(dir, "app/a.js"), "a\n");
    writeFileSync(path.join(dir, "app/lib/b.js"), "b\n");
    writeFileSync(path.join(dir, "other.txt"), "o\n");
  });

  test("is the same for the same stats and changes with the basis, the roots, and any entry's path, mode, size or times", () => {
    const before = stampOf(["app"]).fingerprint;
    expect(stampOf(["app"]).fingerprint).toBe(before);
    expect(stampOf(["app"], "another basis").fingerprint).not.toBe(before);
    expect(stampOf(["app", "other.txt"]).fingerprint).not.toBe(before);
    // Outside the roots: no change.
    writeFileSync(path.join(dir, "other.txt"), "changed\n");
    expect(stampOf(["app"]).fingerprint).toBe(before);

    const changes: [string, () => void][] = [
      ["same size, same mtime (ctime moves)", () => {
        const st = lstatSync(path.join(dir, "app/a.js"));
        writeFileSync(path.join(dir, "app/a.js"), "z\n");
        execFileSync("touch", ["-m", "-d", `@${st.mtimeMs / 1000}`, path.join(dir, "app/a.js")]);
      }],
      ["mode", () => execFileSync("chmod", ["600", path.join(dir, "app/lib/b.js")])],
      ["a new file", () => writeFileSync(path.join(dir, "app/lib/c.js"), "")],
      ["a removed file", () => rmSync(path.join(dir, "app/a.js"))],
      ["a symlink", () => symlinkSync("a.js", path.join(dir, "app/link"))],
      ["a dir's mode", () => execFileSync("chmod", ["700", path.join(dir, "app/lib")])],
    ];
    const seen = new Set([before]);
    for (const [what, change] of changes) {
      change();
      const now = stampOf(["app"]).fingerprint;
      expect(seen.has(now), what).toBe(false);
      seen.add(now);
    }
  });

  test("leaves out access times and dirs' times, and entries the ignore patterns leave out", () => {
    // An access time older than the mtime: the next read updates it (relatime), without a ctime change.
    execFileSync("touch", ["-a", "-d", past.toISOString(), path.join(dir, "app/a.js")]);
    const before = stampOf(["app"], "b", ["app/*.tmp"]).fingerprint;
    readFileSync(path.join(dir, "app/a.js"));
    writeFileSync(path.join(dir, "app/editor.tmp"), "ignored");
    expect(stampOf(["app"], "b", ["app/*.tmp"]).fingerprint).toBe(before);
  });

  test("gives the newest mtime or ctime of its files (what decides whether it is racy)", () => {
    execFileSync("touch", ["-d", past.toISOString(), path.join(dir, "app/a.js"), path.join(dir, "app/lib/b.js")]);
    const { newest } = stampOf(["app"]);
    const ctime = lstatSync(path.join(dir, "app/lib/b.js"), { bigint: true }).ctimeNs;
    const newestCtime = [lstatSync(path.join(dir, "app/a.js"), { bigint: true }).ctimeNs, ctime].reduce((a, b) => (a > b ? a : b));
    expect(BigInt(newest.sec) * 1_000_000_000n + BigInt(newest.nsec)).toBe(newestCtime);
  });

  test("stamps the whole context for the root \"\", across more entries than one batch hashes", () => {
    for (let i = 0; i < 1100; i++) writeFileSync(path.join(dir, `f${i}`), "");
    const before = stampOf([""]).fingerprint;
    writeFileSync(path.join(dir, "f1099"), "x");
    expect(stampOf([""]).fingerprint).not.toBe(before);
  });

  test("is not made without a stat cache to keep what it stands for", () => {
    expect(BuildContextIndex.scan(dir, []).selectionStamp(["app"], "b")).toBeUndefined();
  });
});
