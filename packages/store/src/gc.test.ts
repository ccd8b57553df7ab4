import { readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { assembleImage, sha256Digest, type ImageConfig, type ImageLayer } from "@tsbuild/oci";
import { describe, expect, it } from "vitest";
import type { Store } from "./store.js";
import { useScratchStore } from "./test-support.js";

let store: Store;
useScratchStore("tsbuild-gc-", (s) => {
  store = s;
});

/** Ingests `tar` as a gzip blob and commits an unpacked dir for it, as a build would. */
async function addLayer(tar: string): Promise<ImageLayer> {
  const ingested = await store.ingestLayerTar(Readable.from([Buffer.from(tar)]), { compress: true });
  const dir = await store.tempDir("diff");
  await writeFile(path.join(dir, "f"), tar);
  await store.commitLayerDir(dir, { diffID: ingested.diffID, size: ingested.size, blobs: [ingested.blob!] });
  return { diffID: ingested.diffID, descriptor: ingested.blob! };
}

async function addImage(name: string, layers: ImageLayer[]): Promise<string> {
  const config: ImageConfig = { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffID) } };
  const image = assembleImage(config, layers);
  await store.putBlobBytes(image.configBytes);
  await store.putBlobBytes(image.manifestBytes);
  await store.tagImage(name, image.manifestDigest);
  return image.manifestDigest;
}

describe("prune and diskUsage", () => {
  it("accounts shared layers and removes only what no tag reaches", async () => {
    const base = await addLayer("base".repeat(1000));
    const a = await addLayer("a".repeat(300));
    const b = await addLayer("b".repeat(200));
    const dangling = await addLayer("dangling".repeat(100));
    await addImage("one", [base, a]);
    await addImage("two", [base, b]);
    const orphan = await store.putBlobBytes(Buffer.from("an untagged manifest"));
    const keyKept = sha256Digest("step on base");
    const keyDropped = sha256Digest("step making dangling");
    await store.putCacheRecord(keyKept, { version: 1, layers: [base.diffID], payload: { any: "thing" } });
    await store.putCacheRecord(keyDropped, { version: 1, layers: [dangling.diffID], payload: null });

    const df = await store.diskUsage();
    const one = df.images.find((i) => i.name === "one:latest")!;
    expect(one.sharedSize).toBe(4000);
    expect(one.size).toBe(4300);
    expect(one.uniqueSize).toBe(300);
    expect(one.configDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(one.configDigest).not.toBe(df.images.find((i) => i.name === "two:latest")!.configDigest);
    expect(df.totals.imagesBytes).toBe(4000 + 300 + 200);
    expect(df.layers.find((l) => l.diffID === base.diffID)).toMatchObject({ images: 2, cacheRecords: 1 });
    expect(df.cacheRecords.find((c) => c.key === keyKept)!.shared).toBe(true);
    expect(df.cacheRecords.find((c) => c.key === keyDropped)!.shared).toBe(false);
    expect(df.totals.reclaimableBytes).toBeGreaterThan(800 + orphan.size);
    const { layers, blobs, cacheRecords } = df.totals.reclaimable;
    expect(layers).toBeGreaterThan(800);
    expect(blobs).toBe(orphan.size);
    expect(cacheRecords).toBeGreaterThan(0);
    expect(layers + blobs + cacheRecords).toBe(df.totals.reclaimableBytes);

    const pruned = await store.prune();
    expect(pruned.layers).toEqual([dangling.diffID]);
    expect(pruned.blobs).toEqual([orphan.digest]);
    expect(pruned.cacheRecords).toEqual([keyDropped]);
    expect(pruned.bytesFreed).toBe(df.totals.reclaimableBytes);
    expect(await store.hasBlob(dangling.descriptor.digest)).toBe(false);
    expect(await store.getCacheRecord(keyKept)).toMatchObject({ payload: { any: "thing" } });
    expect(await store.hasLayer(base.diffID)).toBe(true);
    expect((await store.diskUsage()).totals.reclaimableBytes).toBe(0);
    expect(await readdir(store.paths.tmp)).toEqual([]);

    // Untagging "two" frees its own layer but not the shared base.
    await store.untag("two");
    const second = await store.prune();
    expect(second.layers).toEqual([b.diffID]);
    expect(await store.hasLayer(base.diffID)).toBe(true);
  });

  it("with keepStorage removes oldest first and stops once under the limit", async () => {
    const old = await addLayer("old".repeat(1000));
    const recent = await addLayer("new".repeat(1000));
    const key = sha256Digest("uses recent");
    // A cache hit on the record that uses `recent` makes it the most recently used.
    await new Promise((r) => setTimeout(r, 20));
    await store.putCacheRecord(key, { version: 1, layers: [recent.diffID], payload: 1 });
    expect(await store.getCacheRecord(key)).toBeDefined();
    const { totals } = await store.diskUsage();
    const result = await store.prune({ keepStorage: totals.totalBytes - 1 });
    expect(result.layers).toEqual([old.diffID]);
    expect(await store.hasLayer(recent.diffID)).toBe(true);
    expect(await store.getCacheRecord(key)).toBeDefined();
  });

  it("treats a cache record whose layer is gone as a miss", async () => {
    const key = sha256Digest("k");
    await store.putCacheRecord(key, { version: 1, layers: [sha256Digest("never stored")], payload: 1 });
    expect(await store.getCacheRecord(key)).toBeUndefined();
  });
});

describe("GC roots", () => {
  it("keep their layers (with the blobs the layer records own) and blobs through prune until removed", async () => {
    const base = await addLayer("base".repeat(500));
    const top = await addLayer("top".repeat(300));
    const manifest = await store.putBlobBytes(Buffer.from('{"a manifest":"of an untagged image"}'));
    const config = await store.putBlobBytes(Buffer.from('{"a config":true}'));
    const orphan = await store.putBlobBytes(Buffer.from("nobody keeps this"));
    const key = sha256Digest("step making top");
    await store.putCacheRecord(key, { version: 1, layers: [base.diffID, top.diffID], payload: 1 });
    await store.addGcRoot("container-abc", { layers: [base.diffID, top.diffID], blobs: [manifest.digest, config.digest] });
    expect(await store.listGcRoots()).toEqual([{ name: "container-abc", layers: [base.diffID, top.diffID], blobs: [manifest.digest, config.digest] }]);

    const df = await store.diskUsage();
    expect(df.layers.find((l) => l.diffID === base.diffID)).toMatchObject({ images: 0, roots: 1 });
    expect(df.cacheRecords.find((c) => c.key === key)!.shared).toBe(true);
    expect(df.totals.reclaimable).toEqual({ layers: 0, blobs: orphan.size, cacheRecords: 0 });

    const pruned = await store.prune();
    expect(pruned).toEqual({ layers: [], blobs: [orphan.digest], cacheRecords: [], bytesFreed: orphan.size });
    for (const layer of [base, top]) {
      expect(await store.hasLayer(layer.diffID)).toBe(true);
      expect(await store.hasBlob(layer.descriptor.digest)).toBe(true);
    }
    expect(await store.hasBlob(manifest.digest)).toBe(true);
    expect(await store.hasBlob(config.digest)).toBe(true);
    expect(await store.getCacheRecord(key)).toBeDefined();

    expect(await store.removeGcRoot("container-abc")).toBe(true);
    expect(await store.removeGcRoot("container-abc")).toBe(false);
    expect(await store.listGcRoots()).toEqual([]);
    const after = await store.diskUsage();
    expect(after.layers.find((l) => l.diffID === base.diffID)).toMatchObject({ roots: 0 });
    const reclaimed = await store.prune();
    expect(reclaimed.layers.sort()).toEqual([base.diffID, top.diffID].sort());
    expect(reclaimed.blobs.sort()).toEqual([manifest.digest, config.digest].sort());
    expect(reclaimed.cacheRecords).toEqual([key]);
    expect(reclaimed.bytesFreed).toBe(after.totals.reclaimableBytes);
    expect(await store.hasBlob(base.descriptor.digest)).toBe(false);
    expect((await store.diskUsage()).totals.totalBytes).toBe(0);
  });

  it("keep a layer that a tag no longer reaches, and add to what tags keep", async () => {
    const shared = await addLayer("shared".repeat(100));
    const own = await addLayer("own".repeat(100));
    await addImage("img", [shared, own]);
    await store.addGcRoot("user-1", { layers: [shared.diffID], blobs: [] });
    await store.untag("img");
    const pruned = await store.prune();
    expect(pruned.layers).toEqual([own.diffID]);
    expect(await store.hasLayer(shared.diffID)).toBe(true);
    expect((await store.diskUsage()).layers).toMatchObject([{ diffID: shared.diffID, images: 0, roots: 1 }]);
  });

  it("refuse layers that are not stored, bad digests and bad names, and leave no root behind", async () => {
    const missing = sha256Digest("never stored");
    await expect(store.addGcRoot("r", { layers: [missing], blobs: [] })).rejects.toThrow(new RegExp(`layer ${missing} is not in the store .*cannot make GC root r keep it`));
    await expect(store.addGcRoot("r", { layers: [], blobs: ["md5:abc"] })).rejects.toThrow(/GC root r: "blobs" must be a list of sha256 digests/);
    await expect(store.addGcRoot("../escape", { layers: [], blobs: [] })).rejects.toThrow(/invalid GC root name "..\/escape"/);
    expect(await store.listGcRoots()).toEqual([]);
  });

  it("make prune fail on a root file it cannot read rather than delete what it protects", async () => {
    const layer = await addLayer("kept".repeat(10));
    await writeFile(path.join(store.paths.roots, "broken.json"), "{ not json");
    await expect(store.prune()).rejects.toThrow(/GC root .*broken\.json is not valid JSON/);
    await writeFile(path.join(store.paths.roots, "broken.json"), JSON.stringify({ layers: "sha256:x", blobs: [] }));
    await expect(store.diskUsage()).rejects.toThrow(/broken\.json: "layers" must be a list of sha256 digests/);
    expect(await store.hasLayer(layer.diffID)).toBe(true);
  });
});
