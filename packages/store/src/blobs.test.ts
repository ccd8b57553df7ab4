import { execFile } from "node:child_process";
import { readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { sha256Digest } from "@tsbuild/oci";
import { describe, expect, it } from "vitest";
import { BlobDigestMismatchError, LayerDiffIDMismatchError } from "./errors.js";
import type { Store } from "./store.js";
import { useScratchStore } from "./test-support.js";

const run = promisify(execFile);

let scratch: string;
let store: Store;
useScratchStore("tsbuild-store-", (s, dir) => {
  store = s;
  scratch = dir;
});

const list = (dir: string) => readdir(dir);

/**
 * 1 MiB of pseudo-random (xorshift) 16 KiB runs: gzip finds the repeats within its window, so
 * it compresses fast yet does real work.
 */
const NOISE_BLOCK = (() => {
  const run = Buffer.alloc(16 << 10);
  let x = 0x9e3779b9;
  for (let i = 0; i < run.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    run.writeUInt32LE(x >>> 0, i);
  }
  return Buffer.concat(Array<Buffer>(64).fill(run));
})();

function* noise(total: number): Generator<Buffer> {
  for (let done = 0, n = 0; done < total; done += NOISE_BLOCK.length, n++) {
    const chunk = Buffer.from(NOISE_BLOCK.subarray(0, Math.min(NOISE_BLOCK.length, total - done)));
    chunk.writeUInt32LE(n, 0);
    yield chunk;
  }
}

/** A stream that yields some data and then fails, like a broken network read. */
function failingStream(): Readable {
  return Readable.from(
    (async function* () {
      yield Buffer.alloc(64 * 1024, 1);
      throw new Error("source broke");
    })(),
  );
}

describe("blobs", () => {
  it("stores by digest and reads back", async () => {
    const data = Buffer.from("hello blob");
    const info = await store.putBlob(Readable.from([data]));
    expect(info).toEqual({ digest: sha256Digest(data), size: data.length });
    expect(await store.hasBlob(info.digest)).toBe(true);
    expect(await store.blobSize(info.digest)).toBe(data.length);
    const chunks: Buffer[] = [];
    for await (const c of (await store.openBlob(info.digest)) as Readable) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(await store.putBlobBytes(data)).toEqual(info);
    await expect(store.openBlob(sha256Digest("absent"))).rejects.toThrow(/is not in the store/);
  });

  it("reads an empty blob, a small one and one of 1 MiB pieces and a tail whole, in chunks of at most 1 MiB", async () => {
    for (const size of [0, 10, 2 * (1 << 20) + 3]) {
      const data = Buffer.alloc(size, size % 251);
      const info = await store.putBlobBytes(data);
      const chunks: Buffer[] = [];
      for await (const c of (await store.openBlob(info.digest)) as Readable) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(data), `${size} bytes`).toBe(true);
      expect(chunks.map((c) => c.length)).toEqual(size === 0 ? [] : size === 10 ? [10] : [1 << 20, 1 << 20, 3]);
    }
  });

  it("verifies the expected digest and leaves nothing on a mismatch", async () => {
    const expected = sha256Digest("something else");
    const err = await store.putBlob(Readable.from([Buffer.from("content")]), { expectedDigest: expected }).catch((e) => e);
    expect(err).toBeInstanceOf(BlobDigestMismatchError);
    expect(err.expected).toBe(expected);
    expect(err.actual).toBe(sha256Digest("content"));
    expect(await list(store.paths.blobs)).toEqual([]);
    expect(await list(store.paths.tmp)).toEqual([]);
  });

  it("leaves no blob and no temp file when the source fails or the ingest is aborted", async () => {
    await expect(store.putBlob(failingStream())).rejects.toThrow(/source broke/);
    await expect(store.ingestLayerTar(failingStream(), { compress: true })).rejects.toThrow(/source broke/);
    const controller = new AbortController();
    const endless = Readable.from(noise(1 << 30));
    setTimeout(() => controller.abort(), 50);
    await expect(store.ingestLayerTar(endless, { compress: true, signal: controller.signal })).rejects.toThrow(/abort/i);
    expect(await list(store.paths.blobs)).toEqual([]);
    expect(await list(store.paths.tmp)).toEqual([]);
  });
});

describe("ingestLayerTar", () => {
  it("computes the diffID and digest that sha256sum and gzip -d | sha256sum compute", async () => {
    const data = Buffer.concat([...noise(3 << 20)]);
    const file = path.join(scratch, "layer.tar");
    await writeFile(file, data);
    const layer = await store.ingestLayerTar(Readable.from([data]), { compress: true });
    const blobPath = store.blobPath(layer.blob!.digest);
    const sha = async (cmd: string) => `sha256:${(await run("sh", ["-c", cmd])).stdout.split(" ")[0]}`;
    expect(layer.diffID).toBe(await sha(`sha256sum ${file}`));
    expect(layer.size).toBe(data.length);
    expect(layer.blob!.digest).toBe(await sha(`sha256sum ${blobPath}`));
    expect(layer.diffID).toBe(await sha(`gzip -dc ${blobPath} | sha256sum`));
    expect(layer.blob!.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");

    const plain = await store.ingestLayerTar(Readable.from([data]), { compress: false });
    expect(plain).toEqual({ diffID: layer.diffID, size: data.length });
    await expect(
      store.ingestLayerTar(Readable.from([data]), { compress: true, expectedDiffID: sha256Digest("x") }),
    ).rejects.toBeInstanceOf(LayerDiffIDMismatchError);
    expect(await list(store.paths.blobs)).toEqual([layer.blob!.digest.slice(7)]);
    expect(await list(store.paths.tmp)).toEqual([]);
  });

  it("streams 200 MiB without holding it in memory", async () => {
    const total = 200 << 20;
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    try {
      const layer = await store.ingestLayerTar(Readable.from(noise(total)), { compress: true, gzipLevel: 1 });
      expect(layer.size).toBe(total);
      expect(await store.blobSize(layer.blob!.digest)).toBe(layer.blob!.size);
    } finally {
      clearInterval(sampler);
    }
    expect(peak - before).toBeLessThan(50 << 20);
  });
});
