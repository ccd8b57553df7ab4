// The `docker save` / `docker load` archive: manifest.json, the config as <config hex>.json and
// each layer as an UNCOMPRESSED tar <diffID hex>.tar (docker load expects plain layer tars).
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { VerifyingStream } from "./digest-stream.js";
import { digestHex } from "./digest.js";
import { uncompressedLayerStream } from "./layer-stream.js";
import { layerCompression } from "./media-types.js";
import { writeTar } from "./tar-writer.js";
import type { BlobSource, LayerTarSource, OciImage } from "./types.js";

export class DockerArchiveError extends Error {
  override readonly name = "DockerArchiveError";
}

export interface WriteDockerArchiveOptions {
  /** Names docker load tags the image with, e.g. ["app:latest"]. */
  repoTags: string[];
}

/**
 * Writes the image as a docker archive to a file path (atomically) or a writable stream. Each
 * layer's uncompressed tar comes from `layers` and is checked against its diffID on the way.
 */
export async function writeDockerArchive(
  image: OciImage,
  layers: LayerTarSource,
  dest: string | NodeJS.WritableStream,
  options: WriteDockerArchiveOptions,
): Promise<void> {
  const configName = `${digestHex(image.configDigest)}.json`;
  const layerNames = image.layers.map((l) => `${digestHex(l.diffID)}.tar`);
  const manifest = [{ Config: configName, RepoTags: options.repoTags, Layers: layerNames }];
  await writeTar(dest, async (tar) => {
    await tar.addBytes("manifest.json", Buffer.from(JSON.stringify(manifest)));
    await tar.addBytes(configName, image.configBytes);
    const written = new Set<string>();
    for (const { diffID } of image.layers) {
      if (written.has(diffID)) continue;
      written.add(diffID);
      const { size, stream } = await layers.openLayerTar(diffID);
      await tar.addStream(`${digestHex(diffID)}.tar`, size, stream, new VerifyingStream(diffID, `layer ${diffID}`, size));
    }
  });
}

/**
 * Uncompressed layer tars from an image's blobs. A gzip layer whose tar size nobody recorded is
 * read twice: once to count its uncompressed size (a tar header needs it first), once to copy.
 */
export function layerTarSourceFromBlobs(image: OciImage, blobs: BlobSource): LayerTarSource {
  return {
    async openLayerTar(diffID) {
      const layer = image.layers.find((l) => l.diffID === diffID);
      if (!layer) throw new DockerArchiveError(`layer ${diffID} is not part of image ${image.manifestDigest}`);
      const { digest, mediaType } = layer.descriptor;
      if (layerCompression(mediaType) === "none") {
        return { size: await blobs.blobSize(digest), stream: await blobs.openBlob(digest) };
      }
      let size = 0;
      const counter = new Writable({
        write(chunk: Buffer, _enc, callback) {
          size += chunk.length;
          callback();
        },
      });
      await pipeline(uncompressedLayerStream(await blobs.openBlob(digest), { mediaType, digest }), counter);
      return { size, stream: uncompressedLayerStream(await blobs.openBlob(digest), { mediaType, digest }) };
    },
  };
}
