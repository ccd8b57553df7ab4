import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { BuildContextIndex, compareBytes, entryStat } from "./build-context.js";

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

describe("BuildContextIndex.scan", () => {
  test("walks the context in byte order with each entry's lstat, leaving out what .dockerignore excludes", () => {
    mkdirSync(path.join(dir, "src", "deep"), { recursive: true });
    writeFileSync(path.join(dir, "src", "deep", "main.js"), "main\n");
    writeFileSync(path.join(dir, "src", "B.txt"), "b");
    writeFileSync(path.join(dir, "notes.log"), "ignored");
    symlinkSync("src/B.txt", path.join(dir, "link"));
    const index = BuildContextIndex.scan(dir, ["*.log"]);
    expect([...index.entries.keys()]).toEqual(["", "link", "src", "src/B.txt", "src/deep", "src/deep/main.js"]);
    for (const [rel, entry] of index.entries) {
      const now = entryStat(lstatSync(path.join(dir, rel), { bigint: true }));
      // Listing a directory updates its atime: compare that for the others only.
      if (entry.type === "dir") expect({ ...entry.stat, atimeMs: 0 }, rel).toEqual({ ...now, atimeMs: 0 });
      else expect(entry.stat, rel).toEqual(now);
    }
    expect(index.entries.get("link")!.type).toBe("symlink");
    expect(index.entries.get("src/deep")!.type).toBe("dir");
  });
});
