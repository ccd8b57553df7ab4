// Base images (FROM, COPY --from=IMAGE): the local image store, an OCI image
// layout (`oci-layout://PATH[:TAG|@DIGEST]`), or a named build context. Layers
// are unpacked into the store only when a step or an output needs them.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseImage, readOciLayout, type BlobSource, type ImageConfig, type ImageLayer, type Platform } from "@tsbuild/oci";
import { normalizeImageName, type Store } from "@tsbuild/store";
import { importLayer } from "./layer-io.js";

export interface ImageSource {
  /** How the user named it. */
  ref: string;
  config: ImageConfig;
  configDigest: string;
  layers: ImageLayer[];
  /** Unpacks every layer the store lacks (once). */
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

export async function resolveImage(store: Store, ref: string, platform: Platform): Promise<ImageSource> {
  if (ref.startsWith("oci-layout://")) {
    const { dir, tag } = splitLayoutRef(ref.slice("oci-layout://".length));
    const { image, blobs } = await readOciLayout(dir, tag, { platform: { os: platform.os, architecture: platform.architecture, variant: platform.variant } });
    return source(store, ref, image.config, image.configDigest, image.layers, blobs);
  }
  const name = normalizeImageName(ref);
  const manifestDigest = await store.resolveTag(name);
  if (!manifestDigest) {
    throw new ImageNotFoundError(
      `image ${JSON.stringify(ref)} is not in the local image store (${store.root}); 'tsbuild images' lists what is there. ` +
        "Pulling from registries is not implemented yet: build it with -t, or use FROM oci-layout://PATH[:TAG] or --build-context NAME=oci-layout://PATH",
    );
  }
  const manifestBytes = await readBlobBytes(store, manifestDigest);
  const manifest = JSON.parse(manifestBytes.toString("utf8")) as { config: { digest: string } };
  const image = parseImage(manifestBytes, await readBlobBytes(store, manifest.config.digest), `image ${name}`);
  return source(store, ref, image.config, image.configDigest, image.layers, store);
}

function source(store: Store, ref: string, config: ImageConfig, configDigest: string, layers: ImageLayer[], blobs: BlobSource): ImageSource {
  let materialized: Promise<void> | undefined;
  return {
    ref,
    config,
    configDigest,
    layers,
    materialize() {
      materialized ??= (async () => {
        for (const layer of layers) await importLayer(store, blobs, layer);
      })();
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

async function readBlobBytes(store: Store, digest: string): Promise<Buffer> {
  return readFile(store.blobPath(digest));
}
