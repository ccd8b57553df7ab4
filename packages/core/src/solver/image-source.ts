// Base images (FROM, COPY --from=IMAGE): the local image store, an OCI image
// layout (`oci-layout://PATH[:TAG|@DIGEST]`), or a registry. Only the manifest
// and config are read up front; a layer is fetched and unpacked when a step or
// an output needs it, and never twice (the store is content addressed).
import { readFile } from "node:fs/promises";
import path from "node:path";
import pLimit from "p-limit";
import { isDigest, parseImage, readOciLayout, type ImageConfig, type ImageLayer, type OciImage, type Platform } from "@tsbuild/oci";
import { parseReference, type RegistryClient } from "@tsbuild/registry";
import { normalizeImageName, type Store } from "@tsbuild/store";
import { importLayer, type LayerBlobReader } from "./layer-io.js";

export interface ImageSource {
  /** How the user named it. */
  ref: string;
  image: OciImage;
  config: ImageConfig;
  configDigest: string;
  layers: ImageLayer[];
  /** Fetches and unpacks every layer the store lacks (once). */
  materialize(): Promise<void>;
}

/** What `--build-context NAME=VALUE` names: a directory or an image. */
export type NamedContext = { kind: "dir"; dir: string } | { kind: "image"; ref: string };

export function parseNamedContext(value: string, cwd: string): NamedContext {
  if (value.startsWith("oci-layout://") || value.startsWith("docker-image://")) {
    return { kind: "image", ref: value.startsWith("docker-image://") ? value.slice("docker-image://".length) : value };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new Error(`unsupported build context ${JSON.stringify(value)}: use a directory, oci-layout://PATH[:TAG] or docker-image://REF`);
  }
  return { kind: "dir", dir: path.resolve(cwd, value) };
}

export class ImageNotFoundError extends Error {
  override readonly name = "ImageNotFoundError";
}

/**
 * An image by reference: `oci-layout://…`, else a name (or name@digest) the local store has for the
 * platform, else (given a client) the registry the name points at (docker.io by default). A base
 * pulled here is kept in the store under its name once its layers are in (as `docker build` and
 * `buildah bud` keep theirs), so later builds use it without asking the registry; `pull` asks the
 * registry even then (`build --pull`).
 */
export async function resolveImage(store: Store, ref: string, platform: Platform, registry?: RegistryClient, options: { pull?: boolean } = {}): Promise<ImageSource> {
  if (ref.startsWith("oci-layout://")) {
    const { dir, tag } = splitLayoutRef(ref.slice("oci-layout://".length));
    const { image, blobs } = await readOciLayout(dir, tag, { platform: { os: platform.os, architecture: platform.architecture, variant: platform.variant } });
    checkPlatform(ref, image, platform);
    return source(store, ref, image, async (d, sink) => sink(await blobs.openBlob(d.digest)));
  }
  const local = registry && options.pull ? undefined : await localImage(store, ref);
  // Another platform's image under the name: the registry may have this platform's.
  if (local && (!registry || platformMismatch(local, platform) === undefined)) {
    checkPlatform(ref, local, platform);
    return source(store, ref, local, async (d) => {
      throw new Error(`layer blob ${d.digest} of ${ref} is missing from the local store ${store.root}: pull or build the image again`);
    });
  }
  if (!registry) {
    throw new ImageNotFoundError(`image ${JSON.stringify(ref)} is not in the local image store (${store.root}); 'tsbuild images' lists what is there, 'tsbuild pull' fetches it`);
  }
  return remoteImage(store, ref, platform, registry);
}

/**
 * An image from the registry its name points at; layers are fetched by materialize(), which then
 * keeps the image in the store: tagged by its name, or by its digest for a `name@sha256:…` ref.
 */
export async function remoteImage(store: Store, ref: string, platform: Platform, registry: RegistryClient): Promise<ImageSource> {
  const reference = parseReference(ref);
  const { image } = await registry.resolveImage(reference, { platform: { os: platform.os, architecture: platform.architecture, variant: platform.variant } });
  checkPlatform(ref, image, platform);
  return source(store, ref, image, (d, sink) => registry.fetchBlob(reference, d, sink), async () => {
    await store.putImageBlobs(image);
    if (reference.digest === undefined) await store.tagImage(normalizeImageName(ref), image.manifestDigest);
  });
}

/** An image the local store has under `ref` (a tag, or a manifest digest after `@`), or undefined. */
export async function localImage(store: Store, ref: string): Promise<OciImage | undefined> {
  const at = ref.indexOf("@");
  let manifestDigest: string | undefined;
  if (at >= 0) {
    manifestDigest = ref.slice(at + 1);
    if (!isDigest(manifestDigest) || !(await store.hasBlob(manifestDigest))) return undefined;
    // Any blob may have that digest: only something of a manifest's size is read.
    if ((await store.blobSize(manifestDigest)) > MAX_MANIFEST_BYTES) return undefined;
  } else {
    let name: string;
    try {
      name = normalizeImageName(ref);
    } catch {
      return undefined;
    }
    manifestDigest = await store.resolveTag(name);
    if (!manifestDigest) return undefined;
  }
  const manifestBytes = await readFile(store.blobPath(manifestDigest));
  let manifest: { config?: { digest?: unknown } } | null;
  try {
    manifest = JSON.parse(manifestBytes.toString("utf8")) as typeof manifest;
  } catch {
    return undefined;
  }
  // A digest may name an image index (kept by no one here), a config or a layer, not a manifest.
  if (typeof manifest?.config?.digest !== "string") return undefined;
  return parseImage(manifestBytes, await readFile(store.blobPath(manifest.config.digest)), `image ${ref}`);
}

const LAYER_FETCHES = 4;
/** The distribution spec's limit for manifests registries must accept. */
const MAX_MANIFEST_BYTES = 4 << 20;

/** Why `image` is not for `platform` ("wanted …, actual …"), or undefined when it is. */
function platformMismatch(image: OciImage, platform: Platform): string | undefined {
  const { os, architecture, variant } = image.config;
  if (os === platform.os && architecture === platform.architecture && (!variant || !platform.variant || variant === platform.variant)) return undefined;
  const actual = [os, architecture, variant].filter(Boolean).join("/");
  const wanted = [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
  return `wanted ${wanted}, actual ${actual}`;
}

/** An image found for a reference must be for the platform asked for (as BuildKit checks). */
function checkPlatform(ref: string, image: OciImage, platform: Platform): void {
  const mismatch = platformMismatch(image, platform);
  if (mismatch) throw new ImageNotFoundError(`image ${JSON.stringify(ref)} was found but does not match the platform: ${mismatch}`);
}

/** `keep` runs once the layers are in the store (a registry image is then kept locally). */
function source(store: Store, ref: string, image: OciImage, readBlob: LayerBlobReader, keep?: () => Promise<void>): ImageSource {
  let materialized: Promise<void> | undefined;
  return {
    ref,
    image,
    config: image.config,
    configDigest: image.configDigest,
    layers: image.layers,
    materialize() {
      const limit = pLimit(LAYER_FETCHES);
      materialized ??= Promise.all(
        image.layers.map((layer) =>
          limit(() => importLayer(store, layer, readBlob)),
        ),
      ).then(() => keep?.());
      return materialized;
    },
  };
}

/** `PATH:TAG` or `PATH@sha256:…`; a colon inside the path's directories is part of the path. */
function splitLayoutRef(spec: string): { dir: string; tag?: string } {
  const at = spec.lastIndexOf("@");
  if (at > 0 && spec.slice(at + 1).startsWith("sha256:")) return { dir: spec.slice(0, at), tag: spec.slice(at + 1) };
  const slash = spec.lastIndexOf("/");
  const colon = spec.lastIndexOf(":");
  if (colon > slash) return { dir: spec.slice(0, colon), tag: spec.slice(colon + 1) };
  return { dir: spec };
}
