export { configBytes, indexBytes, manifestBytes } from "./canonical-json.js";
export { InvalidDigestError, digestHex, isDigest, sha256Digest } from "./digest.js";
export { DigestMismatchError, DigestingStream, VerifyingStream } from "./digest-stream.js";
export { DockerArchiveError, layerTarSourceFromBlobs, writeDockerArchive } from "./docker-archive.js";
export type { WriteDockerArchiveOptions } from "./docker-archive.js";
export {
  InvalidImageError,
  assembleImage,
  buildIndex,
  buildManifest,
  descriptorOf,
  parseConfig,
  parseImage,
  parseIndex,
  parseManifest,
  platformOf,
} from "./image.js";
export { CorruptLayerError, GUNZIP_OUTPUT_CHUNK, UnsupportedLayerError, uncompressedLayerStream } from "./layer-stream.js";
export { OciLayoutError, ociLayoutBlobSource, readOciLayout, writeOciLayout } from "./layout.js";
export type { OciLayoutImage, ReadOciLayoutOptions, WriteOciLayoutOptions } from "./layout.js";
export {
  MediaTypes,
  REF_NAME_ANNOTATION,
  isIndexMediaType,
  isManifestMediaType,
  layerCompression,
} from "./media-types.js";
export type { MediaType } from "./media-types.js";
export { DEFAULT_PLATFORM, formatPlatform, platformMatches, selectPlatformManifest } from "./platform.js";
export type * from "./types.js";
export { fsyncPath } from "./files.js";
