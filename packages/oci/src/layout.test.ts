import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile, chmod } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { pack as tarPack } from "tar-stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { indexBytes, manifestBytes } from "./canonical-json.js";
import { DigestMismatchError } from "./digest-stream.js";
import { digestHex, sha256Digest } from "./digest.js";
import { layerTarSourceFromBlobs, writeDockerArchive } from "./docker-archive.js";
import { assembleImage, buildIndex, descriptorOf } from "./image.js";
import { ociLayoutBlobSource, readOciLayout, writeOciLayout } from "./layout.js";
import { MediaTypes, REF_NAME_ANNOTATION } from "./media-types.js";
import type { ImageConfig, ImageLayer, OciImage } from "./types.js";

const run = promisify(execFile);

async function layerTar(files: Record<string, string>): Promise<Buffer> {
  const pack = tarPack();
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let scratch: string;
beforeEach(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), "tsbuild-oci-"));
});
afterEach(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** An image of two gzip layers whose blobs sit in a layout directory `src` (the blob source). */
async function sampleImage(): Promise<{ image: OciImage; src: string; tars: Buffer[] }> {
  const src = path.join(scratch, "src");
  await mkdir(path.join(src, "blobs", "sha256"), { recursive: true });
  const tars = [await layerTar({ "etc/hello": "hello\n" }), await layerTar({ "etc/world": "world\n".repeat(1000) })];
  const layers: ImageLayer[] = [];
  for (const tar of tars) {
    const blob = gzipSync(tar);
    const descriptor = descriptorOf(blob, MediaTypes.ociLayerGzip);
    await writeFile(path.join(src, "blobs", "sha256", digestHex(descriptor.digest)), blob);
    layers.push({ descriptor, diffID: sha256Digest(tar) });
  }
  const config: ImageConfig = {
    created: "2024-01-01T00:00:00Z",
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/bin"], Cmd: ["/bin/sh"], Healthcheck: { Test: ["CMD", "true"], Interval: 30e9 } },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffID) },
    history: [{ created_by: "COPY a /" }, { created_by: "COPY b /" }],
  };
  return { image: assembleImage(config, layers), src, tars };
}

describe("OCI image layout", () => {
  it("writes a directory that reads back and that skopeo accepts", async () => {
    const { image, src } = await sampleImage();
    const dest = path.join(scratch, "out");
    await writeOciLayout(image, ociLayoutBlobSource(src), dest, { tar: false, refName: "v1" });
    const back = await readOciLayout(dest, "v1");
    expect(back.image.manifestDigest).toBe(image.manifestDigest);
    expect(back.image.layers).toEqual(image.layers);
    expect(await back.blobs.blobSize(image.layers[1].descriptor.digest)).toBe(image.layers[1].descriptor.size);

    const { stdout } = await run("skopeo", ["inspect", `oci:${dest}:v1`]);
    const inspected = JSON.parse(stdout) as { Digest: string; Layers: string[]; Architecture: string };
    expect(inspected.Digest).toBe(image.manifestDigest);
    expect(inspected.Layers).toEqual(image.layers.map((l) => l.descriptor.digest));

    // A second ref goes beside the first; rewriting a ref replaces its entry.
    await writeOciLayout(image, ociLayoutBlobSource(src), dest, { tar: false, refName: "v2" });
    await writeOciLayout(image, ociLayoutBlobSource(src), dest, { tar: false, refName: "v2" });
    const index = JSON.parse(await readFile(path.join(dest, "index.json"), "utf8")) as { manifests: unknown[] };
    expect(index.manifests).toHaveLength(2);
    await expect(readOciLayout(dest)).rejects.toThrow(/holds 2 images; name one with :REF \(available: v1, v2\)/);
    await expect(readOciLayout(dest, "nope")).rejects.toThrow(/no image named "nope"/);
    expect((await readdir(dest)).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });

  it("writes the same layout as one tar that skopeo accepts as oci-archive", async () => {
    const { image, src } = await sampleImage();
    const file = path.join(scratch, "image.tar");
    await writeOciLayout(image, ociLayoutBlobSource(src), file, { tar: true, refName: "latest" });
    const { stdout } = await run("skopeo", ["inspect", `oci-archive:${file}:latest`]);
    expect((JSON.parse(stdout) as { Digest: string }).Digest).toBe(image.manifestDigest);
    const unpacked = path.join(scratch, "unpacked");
    await mkdir(unpacked);
    await run("tar", ["-xf", file, "-C", unpacked]);
    expect((await readOciLayout(unpacked, "latest")).image.configDigest).toBe(image.configDigest);
  });

  it("refuses a corrupt layer blob and leaves no file behind", async () => {
    const { image, src } = await sampleImage();
    const layerFile = path.join(src, "blobs", "sha256", digestHex(image.layers[0].descriptor.digest));
    const bytes = await readFile(layerFile);
    bytes[bytes.length - 1] ^= 0xff;
    await chmod(layerFile, 0o644);
    await writeFile(layerFile, bytes);
    const file = path.join(scratch, "image.tar");
    await expect(writeOciLayout(image, ociLayoutBlobSource(src), file, { tar: true })).rejects.toBeInstanceOf(
      DigestMismatchError,
    );
    expect(await readdir(scratch)).toEqual(["src"]);
  });

  it("follows an index that points at an index, choosing the platform", async () => {
    const { image, src } = await sampleImage();
    const armConfig = { ...image.config, architecture: "arm64" };
    const arm = assembleImage(armConfig, image.layers);
    const put = async (bytes: Buffer) =>
      writeFile(path.join(src, "blobs", "sha256", digestHex(sha256Digest(bytes))), bytes);
    await put(image.configBytes);
    await put(image.manifestBytes);
    await put(arm.configBytes);
    await put(arm.manifestBytes);
    const inner = indexBytes(
      buildIndex([
        { ...descriptorOf(arm.manifestBytes, MediaTypes.ociManifest), platform: { os: "linux", architecture: "arm64" } },
        { ...descriptorOf(image.manifestBytes, MediaTypes.ociManifest), platform: { os: "linux", architecture: "amd64" } },
      ]),
    );
    await put(inner);
    const outer = buildIndex([
      { ...descriptorOf(inner, MediaTypes.ociIndex), annotations: { [REF_NAME_ANNOTATION]: "multi" } },
    ]);
    await writeFile(path.join(src, "index.json"), indexBytes(outer));
    await writeFile(path.join(src, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');

    expect((await readOciLayout(src, "multi")).image.manifestDigest).toBe(image.manifestDigest);
    const armRead = await readOciLayout(src, undefined, { platform: { os: "linux", architecture: "arm64", variant: "v8" } });
    expect(armRead.image.manifestDigest).toBe(arm.manifestDigest);
    await expect(readOciLayout(src, "multi", { platform: { os: "linux", architecture: "s390x" } })).rejects.toThrow(
      /no image for linux\/s390x .*has: linux\/arm64, linux\/amd64/,
    );
    expect(manifestBytes(armRead.image.manifest).equals(arm.manifestBytes)).toBe(true);
  });
});

describe("docker archive", () => {
  it("writes uncompressed layers that match their diffIDs, and skopeo accepts it", async () => {
    const { image, src, tars } = await sampleImage();
    const file = path.join(scratch, "docker.tar");
    const blobs = ociLayoutBlobSource(src);
    await writeDockerArchive(image, layerTarSourceFromBlobs(image, blobs), file, { repoTags: ["app:latest"] });

    const { stdout } = await run("skopeo", ["inspect", `docker-archive:${file}`]);
    const inspected = JSON.parse(stdout) as { RepoTags: string[]; Layers: string[] };
    expect(inspected.Layers).toEqual(image.layers.map((l) => l.diffID));

    const unpacked = path.join(scratch, "unpacked");
    await mkdir(unpacked);
    await run("tar", ["-xf", file, "-C", unpacked]);
    const manifest = JSON.parse(await readFile(path.join(unpacked, "manifest.json"), "utf8")) as {
      Config: string;
      RepoTags: string[];
      Layers: string[];
    }[];
    expect(manifest[0].RepoTags).toEqual(["app:latest"]);
    expect(manifest[0].Config).toBe(`${digestHex(image.configDigest)}.json`);
    for (const [i, name] of manifest[0].Layers.entries()) {
      expect((await readFile(path.join(unpacked, name))).equals(tars[i])).toBe(true);
    }
  });
});
