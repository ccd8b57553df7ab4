import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { LayerSecurityError } from "@tsbuild/layers";
import { CorruptLayerError, MediaTypes, type ImageLayer } from "@tsbuild/oci";
import { BlobDigestMismatchError, LayerDiffIDMismatchError, openStore, type Store } from "@tsbuild/store";
import { importLayer, type LayerBlobReader } from "./layer-io.js";

let dir: string;
let store: Store;
beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "tsbuild-layer-io-"));
  store = await openStore(path.join(dir, "store"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/** A gzip layer of `files` (name → content) as GNU tar writes it; `tarArgs` go before the names. */
function gzipLayer(files: Record<string, Buffer | string>, tarArgs: string[] = []): { layer: ImageLayer; blob: Buffer } {
  const src = path.join(dir, `src-${Object.keys(files).join("-").replace(/\W/g, "")}`);
  mkdirSync(src, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(src, name), content);
  const tar = execFileSync("tar", ["-cf", "-", "--owner=0", "--group=0", ...tarArgs, "-C", src, ...Object.keys(files)], { maxBuffer: 64 << 20 });
  const blob = gzipSync(tar);
  return { layer: { diffID: sha256(tar), descriptor: { mediaType: MediaTypes.ociLayerGzip, digest: sha256(blob), size: blob.length } }, blob };
}

/** Delivers the blob in 64 KiB chunks, as a download would; records whether it was asked for. */
function readerOf(blob: Buffer): LayerBlobReader & { reads: number } {
  const reader = Object.assign(
    <T>(_descriptor: unknown, sink: (stream: NodeJS.ReadableStream) => Promise<T>) => {
      reader.reads++;
      const chunks = Array.from({ length: Math.ceil(blob.length / 65536) }, (_, i) => blob.subarray(i * 65536, (i + 1) * 65536));
      return sink(Readable.from(chunks));
    },
    { reads: 0 },
  );
  return reader;
}

/**
 * What a failed import must not leave: a layer, anything in the store's tmp/, and (`blob`) the
 * blob. A blob that matched its digest may stay when the layer failed: it is the image's own
 * content, and `prune` removes it unless an image holds it.
 */
async function expectNothingKept(layer: ImageLayer, blob: "blob too" | "blob may stay"): Promise<void> {
  expect(await store.hasLayer(layer.diffID)).toBe(false);
  if (blob === "blob too") expect(await store.hasBlob(layer.descriptor.digest)).toBe(false);
  expect(readdirSync(store.paths.tmp)).toEqual([]);
}

describe("importLayer", () => {
  test("unpacks a blob as it arrives and stores the same bytes as the blob", async () => {
    const big = Buffer.alloc(3 << 20, "layer bytes ");
    const { layer, blob } = gzipLayer({ "a.txt": "hello\n", "big.bin": big });
    const read = readerOf(blob);
    await importLayer(store, layer, read);

    const stored = await store.getLayer(layer.diffID);
    expect(stored?.blobs).toEqual([{ digest: layer.descriptor.digest, size: blob.length, mediaType: MediaTypes.ociLayerGzip }]);
    expect(readFileSync(path.join(stored!.diffDir, "a.txt"), "utf8")).toBe("hello\n");
    expect(readFileSync(path.join(stored!.diffDir, "big.bin")).equals(big)).toBe(true);
    expect(readFileSync(store.blobPath(layer.descriptor.digest)).equals(blob)).toBe(true);
    expect(readdirSync(store.paths.tmp)).toEqual([]);

    // Once in the store, neither is read again.
    await importLayer(store, layer, read);
    expect(read.reads).toBe(1);
  });

  test("a blob the store has is unpacked from there, without the reader", async () => {
    const { layer, blob } = gzipLayer({ "b.txt": "from the store\n" });
    await store.putBlob(Readable.from([blob]), { expectedDigest: layer.descriptor.digest });
    const read = readerOf(blob);
    await importLayer(store, layer, read);
    expect(read.reads).toBe(0);
    expect(readFileSync(path.join((await store.getLayer(layer.diffID))!.diffDir, "b.txt"), "utf8")).toBe("from the store\n");
  });

  test("bytes that do not hash to the blob's digest keep nothing", async () => {
    const { layer, blob } = gzipLayer({ "c.txt": "content\n" });
    const wrong = { ...layer, descriptor: { ...layer.descriptor, digest: sha256(Buffer.from("something else")) } };
    await expect(importLayer(store, wrong, readerOf(blob))).rejects.toThrow(BlobDigestMismatchError);
    await expectNothingKept(wrong, "blob too");
  });

  test("a tar that does not hash to the diffID keeps no layer", async () => {
    const { layer, blob } = gzipLayer({ "d.txt": "content\n" });
    const wrong = { ...layer, diffID: sha256(Buffer.from("another tar")) };
    await expect(importLayer(store, wrong, readerOf(blob))).rejects.toThrow(LayerDiffIDMismatchError);
    await expectNothingKept(wrong, "blob may stay");
  });

  test("a refused entry stops the download and keeps nothing", async () => {
    // Unpacking stops at the first entry while hashing and storing would take the rest: every
    // stream must stop, so that the rest of a large layer is not downloaded for nothing.
    const { layer, blob } = gzipLayer({ a: "x", big: randomBytes(16 << 20) }, ["-P", "--transform=s,^a$,../escape,"]);
    let delivered = 0;
    const read: LayerBlobReader = (_d, sink) => {
      const chunks = (function* () {
        for (let offset = 0; offset < blob.length; offset += 65536) {
          delivered = Math.min(offset + 65536, blob.length);
          yield blob.subarray(offset, offset + 65536);
        }
      })();
      return sink(Readable.from(chunks));
    };
    await expect(importLayer(store, layer, read)).rejects.toThrow(LayerSecurityError);
    expect(delivered).toBeLessThan(blob.length / 2);
    await expectNothingKept(layer, "blob too");
  });

  test("a blob that is not valid gzip fails with its digest named, and keeps nothing", async () => {
    // Unpacked as it arrives, the gzip error comes before the blob's digest can be checked.
    const { layer, blob } = gzipLayer({ "g.txt": "content\n" });
    const corrupt = Buffer.from(blob);
    corrupt.write("XXXXXXXX", 0);
    await expect(importLayer(store, layer, readerOf(corrupt))).rejects.toThrow(CorruptLayerError);
    await expect(importLayer(store, layer, readerOf(corrupt))).rejects.toThrow(layer.descriptor.digest);
    await expectNothingKept(layer, "blob too");
  });

  test("a download that breaks off fails the import and keeps nothing", async () => {
    const { layer, blob } = gzipLayer({ "e.bin": Buffer.alloc(2 << 20, 7) });
    const broken: LayerBlobReader = (_d, sink) => {
      const stream = new PassThrough();
      stream.write(blob.subarray(0, 1000));
      setTimeout(() => stream.destroy(new Error("connection reset")), 10);
      return sink(stream);
    };
    await expect(importLayer(store, layer, broken)).rejects.toThrow("connection reset");
    await expectNothingKept(layer, "blob too");
  });
});
