import { execFileSync } from "node:child_process";
import { access, mkdir, readFile, readdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { sha256Digest } from "@tsbuild/oci";
import { describe, expect, it } from "vitest";
import { LayerDiffIDMismatchError } from "./errors.js";
import { GZIP_PIECE_SIZE } from "./parallel-gzip.js";
import type { Store } from "./store.js";
import { useScratchStore } from "./test-support.js";

let store: Store;
useScratchStore("tsbuild-layers-", (s) => {
  store = s;
});

async function preparedDir(content: string): Promise<string> {
  const dir = await store.tempDir("diff");
  await writeFile(path.join(dir, "file"), content);
  return dir;
}

describe("layers", () => {
  it("commits a prepared dir under its diffID, keeping the first of two commits", async () => {
    const tar = Buffer.from("pretend tar");
    const diffID = sha256Digest(tar);
    const first = await store.commitLayerDir(await preparedDir("first"), { diffID, size: tar.length });
    expect(first.diffDir).toBe(store.layerDir(diffID));
    expect(await readFile(path.join(first.diffDir, "file"), "utf8")).toBe("first");
    expect(await store.hasLayer(diffID)).toBe(true);

    const second = await preparedDir("second");
    const kept = await store.commitLayerDir(second, { diffID, size: tar.length });
    expect(kept.createdAt).toBe(first.createdAt);
    expect(await readFile(path.join(kept.diffDir, "file"), "utf8")).toBe("first");
    await expect(access(second)).rejects.toThrow();
    expect(await readdir(store.paths.tmp)).toEqual([]);
    expect(await store.getLayer(sha256Digest("other"))).toBeUndefined();
  });

  it("commits small layers (fsync by file, FIFOs and symlinks left to their dir) and big ones (syncfs) alike", async () => {
    const small = await store.tempDir("diff");
    await mkdir(path.join(small, "sub"));
    await writeFile(path.join(small, "sub", "file"), "data");
    await symlink("sub/file", path.join(small, "link"));
    execFileSync("mkfifo", [path.join(small, "pipe")]);
    const big = await store.tempDir("diff");
    for (let i = 0; i < 100; i++) await writeFile(path.join(big, `f${i}`), `${i}`);
    for (const [dir, name] of [[small, "small"], [big, "big"]] as const) {
      const layer = await store.commitLayerDir(dir, { diffID: sha256Digest(name), size: 1 });
      expect((await readdir(layer.diffDir)).length, name).toBe(name === "small" ? 3 : 100);
    }
  });

  it("compresses a layer once, records the blob, and serves its uncompressed tar", async () => {
    const tars = [Buffer.from("a".repeat(10_000)), Buffer.from("b".repeat(20_000))];
    const diffIDs = tars.map((t) => sha256Digest(t));
    for (const [i, t] of tars.entries()) await store.commitLayerDir(await preparedDir(`${i}`), { diffID: diffIDs[i], size: t.length });

    let opened = 0;
    const items = tars.map((t, i) => ({ diffID: diffIDs[i], openTar: () => (opened++, Readable.from([t])) }));
    const blobs = await store.compressLayers(items, { concurrency: 2 });
    expect(opened).toBe(2);
    expect((await store.getLayer(diffIDs[0]))!.blobs).toEqual([blobs[0]]);
    expect(await store.compressLayer(diffIDs[0], items[0].openTar)).toEqual(blobs[0]);
    expect(opened).toBe(2);

    const { size, stream } = await store.openLayerTar(diffIDs[1]);
    expect(size).toBe(20_000);
    expect(await text(stream as Readable)).toBe("b".repeat(20_000));

    const wrong = sha256Digest("c");
    await store.commitLayerDir(await preparedDir("c"), { diffID: wrong, size: 1 });
    await expect(store.compressLayer(wrong, () => Readable.from([Buffer.from("not c")]))).rejects.toBeInstanceOf(
      LayerDiffIDMismatchError,
    );
    expect((await store.getLayer(wrong))!.blobs).toEqual([]);
    await expect(store.openLayerTar(wrong)).rejects.toThrow(/compress it first/);
    expect(await readdir(store.paths.blobs)).toHaveLength(2);
  });

  it("compresses small layers together, and large ones `concurrency` at a time", async () => {
    const small = Array.from({ length: 6 }, (_, i) => Buffer.from(`small layer ${i}`));
    const large = Array.from({ length: 3 }, (_, i) => Buffer.alloc(GZIP_PIECE_SIZE + 1, i));
    const open = { small: 0, large: 0 };
    const mostOpen = { small: 0, large: 0 };
    const items = [];
    for (const [kind, tars] of [["small", small], ["large", large]] as const) {
      for (const [i, tar] of tars.entries()) {
        const diffID = sha256Digest(tar);
        await store.commitLayerDir(await preparedDir(`${kind}${i}`), { diffID, size: tar.length });
        const openTar = async () => {
          mostOpen[kind] = Math.max(mostOpen[kind], ++open[kind]);
          // Stays open a moment, so that whatever may run at the same time does.
          await new Promise((resolve) => setTimeout(resolve, 20));
          return Readable.from([tar]).on("end", () => open[kind]--);
        };
        items.push({ diffID, openTar });
      }
    }
    await store.compressLayers(items, { concurrency: 1 });
    // All six small ones at once, beside the large ones, which go one at a time.
    expect(mostOpen).toEqual({ small: 6, large: 1 });
    expect(await readdir(store.paths.blobs)).toHaveLength(9);
  });
});
