// Building and parsing the documents of one image.
import { configBytes, manifestBytes } from "./canonical-json.js";
import { sha256Digest } from "./digest.js";
import { MediaTypes, isManifestMediaType } from "./media-types.js";
import type { Descriptor, ImageConfig, ImageIndex, ImageLayer, ImageManifest, OciImage, Platform } from "./types.js";

export class InvalidImageError extends Error {
  override readonly name = "InvalidImageError";
}

export function descriptorOf(bytes: Uint8Array, mediaType: string): Descriptor {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.byteLength };
}

export function buildManifest(
  configDescriptor: Descriptor,
  layerDescriptors: readonly Descriptor[],
  annotations?: Record<string, string>,
): ImageManifest {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: configDescriptor,
    layers: [...layerDescriptors],
  };
  if (annotations && Object.keys(annotations).length > 0) manifest.annotations = annotations;
  return manifest;
}

export function buildIndex(manifests: readonly Descriptor[], annotations?: Record<string, string>): ImageIndex {
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [...manifests] };
  if (annotations && Object.keys(annotations).length > 0) index.annotations = annotations;
  return index;
}

export function platformOf(config: Pick<ImageConfig, "architecture" | "os" | "variant">): Platform {
  const platform: Platform = { architecture: config.architecture, os: config.os };
  if (config.variant) platform.variant = config.variant;
  return platform;
}

/**
 * Serialises a config and a manifest over the given layers (in order, bottom first) into an
 * image. The config's rootfs.diff_ids must list the layers' diffIDs in the same order.
 */
export function assembleImage(
  config: ImageConfig,
  layers: readonly ImageLayer[],
  annotations?: Record<string, string>,
): OciImage {
  const diffIDs = layers.map((l) => l.diffID);
  if (config.rootfs.diff_ids.join() !== diffIDs.join()) {
    throw new InvalidImageError(
      `config rootfs.diff_ids (${config.rootfs.diff_ids.length}) do not match the image's layers (${diffIDs.length}); ` +
        "build the config from the same layer list",
    );
  }
  const cfgBytes = configBytes(config);
  const configDescriptor = descriptorOf(cfgBytes, MediaTypes.ociConfig);
  const manifest = buildManifest(configDescriptor, layers.map((l) => l.descriptor), annotations);
  const mfBytes = manifestBytes(manifest);
  return {
    manifest,
    manifestBytes: mfBytes,
    manifestDigest: sha256Digest(mfBytes),
    config,
    configBytes: cfgBytes,
    configDigest: configDescriptor.digest,
    layers: [...layers],
  };
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (e) {
    throw new InvalidImageError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

export function parseManifest(bytes: Uint8Array, where = "manifest"): ImageManifest {
  const m = parseJson(bytes, where) as Partial<ImageManifest> | null;
  if (!m || m.schemaVersion !== 2 || !m.config || !Array.isArray(m.layers)) {
    throw new InvalidImageError(`${where} is not an image manifest (schemaVersion 2 with config and layers)`);
  }
  if (m.mediaType !== undefined && !isManifestMediaType(m.mediaType)) {
    throw new InvalidImageError(`${where} has media type ${m.mediaType}, expected an image manifest`);
  }
  return m as ImageManifest;
}

export function parseIndex(bytes: Uint8Array, where = "index"): ImageIndex {
  const i = parseJson(bytes, where) as Partial<ImageIndex> | null;
  if (!i || i.schemaVersion !== 2 || !Array.isArray(i.manifests)) {
    throw new InvalidImageError(`${where} is not an image index (schemaVersion 2 with manifests)`);
  }
  return i as ImageIndex;
}

export function parseConfig(bytes: Uint8Array, where = "image config"): ImageConfig {
  const c = parseJson(bytes, where) as Partial<ImageConfig> | null;
  if (!c || typeof c.os !== "string" || typeof c.architecture !== "string" || !Array.isArray(c.rootfs?.diff_ids)) {
    throw new InvalidImageError(`${where} is not an image config (os, architecture and rootfs.diff_ids are required)`);
  }
  return c as ImageConfig;
}

/**
 * An image from its manifest and config bytes, checking that they belong together: the config
 * digest is the manifest's, and there is one diffID per layer.
 */
export function parseImage(manifestBytesIn: Uint8Array, configBytesIn: Uint8Array, where = "image"): OciImage {
  const manifest = parseManifest(manifestBytesIn, `${where} manifest`);
  const configDigest = sha256Digest(configBytesIn);
  if (manifest.config.digest !== configDigest) {
    throw new InvalidImageError(
      `${where}: config digest ${configDigest} does not match the manifest's ${manifest.config.digest}`,
    );
  }
  const config = parseConfig(configBytesIn, `${where} config`);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new InvalidImageError(
      `${where}: the manifest has ${manifest.layers.length} layers but the config lists ${config.rootfs.diff_ids.length} diff_ids`,
    );
  }
  return {
    manifest,
    manifestBytes: Buffer.from(manifestBytesIn),
    manifestDigest: sha256Digest(manifestBytesIn),
    config,
    configBytes: Buffer.from(configBytesIn),
    configDigest,
    layers: manifest.layers.map((descriptor, i) => ({ descriptor, diffID: config.rootfs.diff_ids[i] })),
  };
}
