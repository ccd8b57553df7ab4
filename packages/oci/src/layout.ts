// The OCI image layout (image-spec image-layout.md): a directory, or the same as one tar, with
// `oci-layout`, `index.json` and `blobs/sha256/<hex>`.
import { createReadStream } from "node:fs";
import { mkdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { indexBytes } from "./canonical-json.js";
import { VerifyingStream } from "./digest-stream.js";
import { digestHex, isDigest, sha256Digest } from "./digest.js";
import { writeFileAtomic } from "./files.js";
import {
  InvalidImageError,
  buildIndex,
  descriptorOf,
  parseImage,
  parseIndex,
  parseManifest,
  platformOf,
} from "./image.js";
import { MediaTypes, REF_NAME_ANNOTATION, isIndexMediaType, isManifestMediaType } from "./media-types.js";
import { DEFAULT_PLATFORM, formatPlatform, selectPlatformManifest } from "./platform.js";
import { writeTar } from "./tar-writer.js";
import type { BlobSource, Descriptor, ImageIndex, OciImage, Platform } from "./types.js";

const OCI_LAYOUT_FILE = JSON.stringify({ imageLayoutVersion: "1.0.0" });
/** Manifests and indexes larger than this are refused rather than read into memory. */
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

export class OciLayoutError extends Error {
  override readonly name = "OciLayoutError";
}

export interface WriteOciLayoutOptions {
  /** true: one tar file (or stream); false: a directory. */
  tar: boolean;
  /** Written as the org.opencontainers.image.ref.name annotation in index.json (e.g. "latest"). */
  refName?: string;
}

function blobEntryName(digest: string): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

function indexDescriptor(image: OciImage, refName: string | undefined): Descriptor {
  const d: Descriptor = {
    ...descriptorOf(image.manifestBytes, image.manifest.mediaType ?? MediaTypes.ociManifest),
    platform: platformOf(image.config),
  };
  if (refName !== undefined) d.annotations = { [REF_NAME_ANNOTATION]: refName };
  return d;
}

/** Layer descriptors without repeats (an image may hold the same layer twice). */
function uniqueLayers(image: OciImage): Descriptor[] {
  const seen = new Set<string>();
  return image.layers.map((l) => l.descriptor).filter((d) => !seen.has(d.digest) && seen.add(d.digest));
}

/**
 * Writes the image as an OCI image layout. Layer blobs are streamed from `blobs` and verified
 * against their digests on the way. A directory that already is a layout gets the image added:
 * an index.json entry with the same ref name is replaced, existing blobs are kept. A tar goes to
 * a file path (written atomically) or to a writable stream.
 */
export async function writeOciLayout(
  image: OciImage,
  blobs: BlobSource,
  dest: string | NodeJS.WritableStream,
  options: WriteOciLayoutOptions,
): Promise<void> {
  const entry = indexDescriptor(image, options.refName);
  if (options.tar) {
    await writeTar(dest, async (tar) => {
      await tar.addBytes("oci-layout", Buffer.from(OCI_LAYOUT_FILE));
      await tar.addBytes("index.json", indexBytes(buildIndex([entry])));
      for (const layer of uniqueLayers(image)) {
        const stream = await blobs.openBlob(layer.digest);
        await tar.addStream(blobEntryName(layer.digest), layer.size, stream, verifier(layer));
      }
      await tar.addBytes(blobEntryName(image.configDigest), image.configBytes);
      await tar.addBytes(blobEntryName(image.manifestDigest), image.manifestBytes);
    });
    return;
  }
  if (typeof dest !== "string") throw new OciLayoutError("an OCI layout directory needs a path, not a stream");
  await mkdir(path.join(dest, "blobs", "sha256"), { recursive: true });
  await writeFileAtomic(path.join(dest, "oci-layout"), Buffer.from(OCI_LAYOUT_FILE));
  for (const layer of uniqueLayers(image)) {
    const target = path.join(dest, blobEntryName(layer.digest));
    if (await hasFileOfSize(target, layer.size)) continue;
    await writeFileAtomic(target, await blobs.openBlob(layer.digest), verifier(layer));
  }
  for (const bytes of [image.configBytes, image.manifestBytes]) {
    const target = path.join(dest, blobEntryName(sha256Digest(bytes)));
    if (!(await hasFileOfSize(target, bytes.byteLength))) await writeFileAtomic(target, bytes);
  }
  const existing = await readIndexIfAny(dest);
  const kept = (existing?.manifests ?? []).filter((d) => {
    const ref = d.annotations?.[REF_NAME_ANNOTATION];
    return options.refName === undefined ? !(ref === undefined && d.digest === entry.digest) : ref !== options.refName;
  });
  await writeFileAtomic(path.join(dest, "index.json"), indexBytes(buildIndex([...kept, entry], existing?.annotations)));
}

function verifier(d: Descriptor): VerifyingStream {
  return new VerifyingStream(d.digest, `blob ${d.digest}`, d.size);
}

async function hasFileOfSize(p: string, size: number): Promise<boolean> {
  try {
    return (await stat(p)).size === size;
  } catch {
    return false;
  }
}

async function readIndexIfAny(dir: string): Promise<ImageIndex | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path.join(dir, "index.json"));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  return parseIndex(bytes, `${dir}/index.json`);
}

/** A BlobSource over the blobs/ directory of an OCI layout. */
export function ociLayoutBlobSource(dir: string): BlobSource {
  const blobPath = (digest: string) => {
    if (!isDigest(digest)) throw new OciLayoutError(`unsupported or invalid digest ${JSON.stringify(digest)} in layout ${dir}`);
    return path.join(dir, blobEntryName(digest));
  };
  const missing = (digest: string) =>
    new OciLayoutError(`blob ${digest} is missing from the OCI layout ${dir} (blobs/sha256/${digestHex(digest)})`);
  return {
    async openBlob(digest) {
      const p = blobPath(digest);
      try {
        await stat(p);
      } catch {
        throw missing(digest);
      }
      return createReadStream(p);
    },
    async blobSize(digest) {
      try {
        return (await stat(blobPath(digest))).size;
      } catch {
        throw missing(digest);
      }
    },
  };
}

async function readDocument(dir: string, d: Descriptor): Promise<Buffer> {
  if (d.size > MAX_DOCUMENT_BYTES) throw new OciLayoutError(`${d.digest} in ${dir} is ${d.size} bytes, too large for a manifest`);
  const p = path.join(dir, blobEntryName(d.digest));
  let bytes: Buffer;
  try {
    bytes = await readFile(p);
  } catch {
    throw new OciLayoutError(`blob ${d.digest} is missing from the OCI layout ${dir}`);
  }
  const actual = sha256Digest(bytes);
  if (actual !== d.digest) throw new OciLayoutError(`blob ${d.digest} in ${dir} is corrupt: its content hashes to ${actual}`);
  return bytes;
}

export interface ReadOciLayoutOptions {
  /** Which manifest to take from an index (default linux/amd64). */
  platform?: Platform;
}

export interface OciLayoutImage {
  image: OciImage;
  blobs: BlobSource;
}

/**
 * Reads one image from an OCI layout directory. `ref` is a ref name (the
 * org.opencontainers.image.ref.name annotation) or a manifest digest; without it the layout
 * must hold exactly one entry. Entries that are indexes are followed down to the manifest for
 * the platform.
 */
export async function readOciLayout(dir: string, ref?: string, options: ReadOciLayoutOptions = {}): Promise<OciLayoutImage> {
  let layoutFile: string;
  try {
    layoutFile = await readFile(path.join(dir, "oci-layout"), "utf8");
  } catch {
    throw new OciLayoutError(`${dir} is not an OCI image layout: it has no oci-layout file`);
  }
  let version: unknown;
  try {
    version = (JSON.parse(layoutFile) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    version = undefined;
  }
  if (typeof version !== "string" || !version.startsWith("1.")) {
    throw new OciLayoutError(`${dir}/oci-layout does not declare imageLayoutVersion 1.x`);
  }
  const index = await readIndexIfAny(dir);
  if (!index) throw new OciLayoutError(`${dir} is not an OCI image layout: it has no index.json`);

  const refs = () =>
    index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION] ?? d.digest).join(", ") || "none";
  let chosen: Descriptor | undefined;
  if (ref === undefined) {
    if (index.manifests.length !== 1) {
      throw new OciLayoutError(`${dir} holds ${index.manifests.length} images; name one with :REF (available: ${refs()})`);
    }
    chosen = index.manifests[0];
  } else {
    chosen = index.manifests.find((d) => (isDigest(ref) ? d.digest === ref : d.annotations?.[REF_NAME_ANNOTATION] === ref));
    if (!chosen) throw new OciLayoutError(`${dir} has no image named ${JSON.stringify(ref)} (available: ${refs()})`);
  }
  const platform = options.platform ?? DEFAULT_PLATFORM;
  for (let depth = 0; ; depth++) {
    if (depth > 8) throw new OciLayoutError(`${dir}: indexes nested too deep below ${ref ?? "index.json"}`);
    const bytes = await readDocument(dir, chosen);
    if (isIndexMediaType(chosen.mediaType)) {
      const nested = parseIndex(bytes, `index ${chosen.digest} in ${dir}`);
      const next = selectPlatformManifest(nested.manifests, platform);
      if (!next) {
        const have = nested.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : "unknown")).join(", ");
        throw new OciLayoutError(`${dir}: no image for ${formatPlatform(platform)} in index ${chosen.digest} (has: ${have})`);
      }
      chosen = next;
      continue;
    }
    if (!isManifestMediaType(chosen.mediaType)) {
      throw new OciLayoutError(`${dir}: ${chosen.digest} has media type ${chosen.mediaType}, not an image manifest or index`);
    }
    const manifest = parseManifest(bytes, `manifest ${chosen.digest} in ${dir}`);
    const configBytes = await readDocument(dir, manifest.config);
    try {
      return { image: parseImage(bytes, configBytes, `image ${chosen.digest} in ${dir}`), blobs: ociLayoutBlobSource(dir) };
    } catch (e) {
      if (e instanceof InvalidImageError) throw new OciLayoutError(e.message);
      throw e;
    }
  }
}
