// Tiny images for the registry tests: one gzip layer holding one file, blobs in a real store.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { MediaTypes, assembleImage, sha256Digest } from "@tsbuild/oci";
import type { ImageLayer, OciImage, Platform } from "@tsbuild/oci";
import { openStore, type Store } from "@tsbuild/store";
import { pack } from "tar-stream";
import { expect, onTestFinished } from "vitest";
import { RegistryError } from "./errors.js";

/** A store in a temp dir removed when the current test ends. */
export async function scratchStore(): Promise<Store> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "tsbuild-registry-store-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return openStore(dir);
}

/** Files in the store's tmp dir: a failed pull must leave none. */
export async function leftovers(store: Store): Promise<string[]> {
  return readdir(store.paths.tmp);
}

async function tarOf(name: string, content: Buffer): Promise<Buffer> {
  const p = pack();
  p.entry({ name, size: content.length, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, content);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of p as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** An image with one layer holding `/file` = `content`, its blobs put into `store`. */
export async function makeImage(store: Store, content: Buffer | string, platform: Platform = { os: "linux", architecture: "amd64" }): Promise<OciImage> {
  const tar = await tarOf("file", Buffer.from(content));
  const blob = gzipSync(tar);
  await store.putBlobBytes(blob);
  const layer: ImageLayer = {
    descriptor: { mediaType: MediaTypes.ociLayerGzip, digest: sha256Digest(blob), size: blob.length },
    diffID: sha256Digest(tar),
  };
  const image = assembleImage(
    { ...platform, rootfs: { type: "layers", diff_ids: [layer.diffID] }, config: { Cmd: ["/file"] } },
    [layer],
  );
  await store.putBlobBytes(image.configBytes);
  return image;
}

/** The RegistryError a promise rejects with (fails the test when it resolves or throws something else). */
export async function rejection(p: Promise<unknown>): Promise<RegistryError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RegistryError);
  return e as RegistryError;
}
