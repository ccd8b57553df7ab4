import { createHash } from "node:crypto";
import { chmodSync, chownSync, lchownSync, linkSync, lutimesSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { setXattr } from "@tsbuild/syscalls";
import { ChangesetDigest, type WrittenEntryMeta } from "./changeset-digest.js";
import { changesetTar } from "./changeset-tar.js";
import { collect, Scratch } from "./test-support.js";

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

async function walkDigest(dir: string): Promise<{ diffID: string; size: number }> {
  const tar = await collect(changesetTar(dir));
  return { diffID: `sha256:${createHash("sha256").update(tar).digest("hex")}`, size: tar.length };
}

interface FileNode {
  kind: "file";
  content: Buffer;
  meta: WrittenEntryMeta;
}
type TreeNode = FileNode | { kind: "symlink"; target: string; meta: WrittenEntryMeta } | { kind: "dir"; children: [string, TreeNode][]; meta: WrittenEntryMeta };

/** Files bigger than this are handed over as written (read back), smaller ones by content. */
const HANDED_OVER = 64 << 10;

/**
 * Writes `children` under `dir` as COPY does (archive order, metadata after content, a file met a
 * second time becomes a hard link), telling the digest each entry.
 */
async function writeTree(digest: ChangesetDigest, dir: string, children: readonly [string, TreeNode][], firsts: Map<FileNode, string>): Promise<void> {
  const ordered = [...new Map(children)].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const [name, node] of ordered) {
    const abs = path.join(dir, name);
    const { meta } = node;
    const time = new Date(meta.mtimeMs);
    if (node.kind === "dir") {
      mkdirSync(abs);
      digest.directory(abs, meta);
      await writeTree(digest, abs, node.children, firsts);
      chownSync(abs, meta.uid, meta.gid);
      chmodSync(abs, meta.mode);
      utimesSync(abs, time, time);
    } else if (node.kind === "symlink") {
      symlinkSync(node.target, abs);
      lchownSync(abs, meta.uid, meta.gid);
      lutimesSync(abs, time, time);
      digest.symlink(abs, meta, node.target);
    } else if (firsts.has(node)) {
      linkSync(firsts.get(node)!, abs);
      digest.hardlink(abs, firsts.get(node)!, meta);
    } else {
      firsts.set(node, abs);
      writeFileSync(abs, node.content);
      chownSync(abs, meta.uid, meta.gid);
      chmodSync(abs, meta.mode);
      utimesSync(abs, time, time);
      if (node.content.length > HANDED_OVER) await digest.fileFromDisk(abs, meta);
      else digest.file(abs, meta, node.content);
    }
  }
}

// Names whose UTF-16 and UTF-8 orders differ (an astral emoji against U+FB00), prefixes of each
// other, and one too long for a ustar header.
const name = fc.constantFrom("a", "b", "B", "a-b", "a.b", "ab", "é", "\u{1F600}", "\uFB00", "z", "x".repeat(120));
const meta = fc.record({
  mode: fc.constantFrom(0o755, 0o644, 0o4755, 0o2775, 0o1777, 0o600, 0o000),
  uid: fc.constantFrom(0, 1000, 65534, 0o7777777 + 5),
  gid: fc.constantFrom(0, 1001, 0o7777777 + 9),
  // Fractions of a second, before 1970, and past what 11 octal digits of seconds hold.
  mtimeMs: fc.constantFrom(0, 999, 1000, 1_700_000_000_123, -1500, 9_000_000_000_000),
});
const content = fc.oneof(
  fc.constantFrom(0, 1, 511, 512, 513).map((n) => Buffer.alloc(n, 7)),
  fc.constantFrom(100 << 10, 300 << 10).map((n) => Buffer.alloc(n, 9)),
);
const fileNode = fc.record({ kind: fc.constant("file" as const), content, meta });
const { tree } = fc.letrec<{ tree: [string, TreeNode][]; node: TreeNode }>((tie) => ({
  tree: fc.array(fc.tuple(name, tie("node")), { maxLength: 4 }),
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fileNode,
    fc.record({ kind: fc.constant("symlink" as const), target: fc.constantFrom("a", "../b", "/etc/passwd", "é".repeat(60)), meta }),
    fc.record({ kind: fc.constant("dir" as const), children: tie("tree") as fc.Arbitrary<[string, TreeNode][]>, meta }),
  ),
}));

/** The tree with some of its files given a second name at the top: hard links. */
function withHardlinks(children: [string, TreeNode][], picks: readonly number[]): [string, TreeNode][] {
  const files: FileNode[] = [];
  const collect = (nodes: readonly [string, TreeNode][]) => {
    for (const [, node] of nodes) {
      if (node.kind === "file") files.push(node);
      if (node.kind === "dir") collect(node.children);
    }
  };
  collect(children);
  if (files.length === 0) return children;
  return [...children, ...picks.map((pick, i): [string, TreeNode] => [`link${i}`, files[pick % files.length]!])];
}

describe("ChangesetDigest", () => {
  it("gives the diffID and size of the tar changesetTar makes of what was written", async () => {
    await fc.assert(
      fc.asyncProperty(tree, fc.array(fc.nat(), { maxLength: 2 }), async (children, picks) => {
        const dir = await scratch.dir();
        const upper = path.join(dir, "upper");
        // Dirs above the destination, as prepareUpperSnapshot copies them up.
        mkdirSync(path.join(upper, "srv"), { recursive: true });
        chownSync(path.join(upper, "srv"), 1000, 1001);
        chmodSync(path.join(upper, "srv"), 0o2750);
        const digest = ChangesetDigest.open(upper)!;
        const dest = path.join(upper, "srv", "app");
        mkdirSync(dest);
        digest.parents(dest);
        await writeTree(digest, dest, withHardlinks(children, picks), new Map());
        expect(digest.finish()).toEqual(await walkDigest(upper));
        await scratch.cleanup();
      }),
      { numRuns: 60 },
    );
  });

  it("gives up on entries out of archive order, written twice or before their dir, so the dir is hashed instead", async () => {
    const meta = { mode: 0o644, uid: 0, gid: 0, mtimeMs: 0 };
    for (const names of [["b", "a"], ["a", "a"], ["a-b", "a/x"], ["a", "b/x"], ["x/y"]]) {
      const upper = await scratch.dir();
      const digest = ChangesetDigest.open(upper)!;
      for (const n of names) digest.file(path.join(upper, n), meta, Buffer.from("x"));
      expect(digest.finish(), names.join(" then ")).toBeUndefined();
    }
  });

  it("refuses names reserved for whiteouts as changesetTar does", async () => {
    const upper = await scratch.dir();
    writeFileSync(path.join(upper, ".wh.x"), "");
    const digest = ChangesetDigest.open(upper)!;
    const error = await walkDigest(upper).catch((e: Error) => e);
    expect(() => digest.file(path.join(upper, ".wh.x"), { mode: 0o644, uid: 0, gid: 0, mtimeMs: 0 }, Buffer.alloc(0))).toThrow((error as Error).message);
  });

  it("is not offered for a dir with xattrs, which new entries could inherit", async () => {
    const upper = await scratch.dir();
    expect(ChangesetDigest.open(upper)).toBeDefined();
    setXattr(upper, "user.inherited", Buffer.from("y"));
    expect(ChangesetDigest.open(upper)).toBeUndefined();
  });
});
