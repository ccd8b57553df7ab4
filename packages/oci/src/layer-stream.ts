import { createGunzip } from "node:zlib";
import { layerCompression } from "./media-types.js";

export class UnsupportedLayerError extends Error {
  override readonly name = "UnsupportedLayerError";
}

/** The uncompressed tar stream of a layer blob, given the blob's stream and media type. */
export function uncompressedLayerStream(blob: NodeJS.ReadableStream, mediaType: string): NodeJS.ReadableStream {
  switch (layerCompression(mediaType)) {
    case "none":
      return blob;
    case "gzip": {
      const gunzip = createGunzip();
      // pipe() does not forward errors; a failing source must fail the reader of the tar.
      blob.on("error", (e: Error) => gunzip.destroy(e));
      return blob.pipe(gunzip);
    }
    default:
      throw new UnsupportedLayerError(`layers of media type ${mediaType} cannot be decompressed (supported: uncompressed tar and gzip)`);
  }
}
