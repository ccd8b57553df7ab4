import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setXattr } from "@tsbuild/syscalls";
import { afterEach, beforeEach, expect, test } from "vitest";
import { readTreeXattrs, writeTreeXattrs } from "./xattrs.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "tsbuild-xattrs-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("reads content xattrs and opaque marks of a whole tree, leaving overlay's own out", async () => {
  mkdirSync(path.join(dir, "a/b"), { recursive: true });
  writeFileSync(path.join(dir, "a/b/f"), "");
  symlinkSync("f", path.join(dir, "a/b/l"));
  setXattr(dir, "user.root", Buffer.from("r"));
  setXattr(path.join(dir, "a"), "trusted.overlay.opaque", Buffer.from("y"));
  setXattr(path.join(dir, "a/b"), "trusted.overlay.origin", Buffer.from("x"));
  await writeTreeXattrs([
    [path.join(dir, "a/b/f"), new Map([["trusted.bytes", Buffer.from([1, 0, 0, 2])], ["user.k", Buffer.from("v")]])],
    [path.join(dir, "a/b/l"), new Map([["trusted.link", Buffer.from("s")]])],
  ]);
  const tree = await readTreeXattrs(dir);
  expect(tree.opaqueDirs).toEqual(new Set(["a"]));
  expect(tree.xattrs).toEqual(
    new Map([
      ["", new Map([["user.root", Buffer.from("r")]])],
      ["a/b/f", new Map([["trusted.bytes", Buffer.from([1, 0, 0, 2])], ["user.k", Buffer.from("v")]])],
      ["a/b/l", new Map([["trusted.link", Buffer.from("s")]])],
    ]),
  );
});

test("a single file is a tree of one", async () => {
  const file = path.join(dir, "one");
  writeFileSync(file, "");
  setXattr(file, "user.a", Buffer.from("1"));
  expect((await readTreeXattrs(file)).xattrs).toEqual(new Map([["", new Map([["user.a", Buffer.from("1")]])]]));
});
