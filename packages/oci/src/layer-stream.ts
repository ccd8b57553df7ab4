import { PassThrough } from "node:stream";
import { createGunzip } from "node:zlib";
import { layerCompression } from "./media-types.js";

export class UnsupportedLayerError extends Error {
  override readonly name = "UnsupportedLayerError";
}

/**
 * zlib's default 16 KiB output chunk costs a trip through the thread pool per 16 KiB: a 98 MB
 * gzip layer (203 MB of tar) took 1.36 s to gunzip and hash with it, 0.42 s with 256 KiB.
 */
export const GUNZIP_OUTPUT_CHUNK = 256 << 10;

/** A layer blob that does not decompress: corrupt, or not what its media type says. */
export class CorruptLayerError extends Error {
  override readonly name = "CorruptLayerError";
}

/**
 * The uncompressed tar stream of a layer blob, given the blob's stream and descriptor. A blob that
 * fails to decompress fails the stream with a CorruptLayerError naming its digest: when a layer is
 * unpacked as it downloads, that comes before the digest of the whole blob can be checked.
 */
export function uncompressedLayerStream(blob: NodeJS.ReadableStream, layer: { mediaType: string; digest: string }): NodeJS.ReadableStream {
  switch (layerCompression(layer.mediaType)) {
    case "none":
      return blob;
    case "gzip": {
      const gunzip = createGunzip({ chunkSize: GUNZIP_OUTPUT_CHUNK });
      const tar = new PassThrough({ highWaterMark: GUNZIP_OUTPUT_CHUNK });
      // pipe() does not forward errors; a failing source must fail the reader of the tar.
      blob.on("error", (e: Error) => gunzip.destroy(e));
      gunzip.on("error", (e: NodeJS.ErrnoException) => {
        const corrupt = typeof e.code === "string" && e.code.startsWith("Z_");
        tar.destroy(corrupt ? new CorruptLayerError(`layer blob ${layer.digest} is not valid gzip (${e.message}): the source is corrupt or the wrong blob`, { cause: e }) : e);
      });
      return blob.pipe(gunzip).pipe(tar);
    }
    default:
      throw new UnsupportedLayerError(`layers of media type ${layer.mediaType} cannot be decompressed (supported: uncompressed tar and gzip)`);
  }
}
