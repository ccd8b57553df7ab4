// Outputs of a build: the local image store (always; tagged with -t), an OCI
// layout (dir or tar, gzip layers), a docker archive (docker load), and the
// merged rootfs as a plain directory. `tsbuild save` writes the same archives
// of an image already in the store.
import { readdir } from "node:fs/promises";
import { mergeLayers } from "@tsbuild/layers";
import { assembleImage, MediaTypes, writeDockerArchive, writeOciLayout, type ImageConfig, type ImageLayer, type OciImage, type WriteOciLayoutOptions } from "@tsbuild/oci";
import { normalizeImageName, type Store } from "@tsbuild/store";
import type { BuildEventListener } from "./events.js";
import { ImageNotFoundError, localImage } from "./image-source.js";
import { layerTars } from "./layer-io.js";

export type OutputSpec =
  | { type: "oci"; dest: string; tar: boolean; name?: string }
  | { type: "docker"; dest: string; name?: string }
  | { type: "local"; dest: string }
  /** Pushed by the build after export; the image is also tagged locally under `name`. */
  | { type: "registry"; name: string };

export class OutputSpecError extends Error {
  override readonly name = "OutputSpecError";
}

/** `type=oci,dest=out.tar[,tar=false][,name=app:1]`, as buildx writes --output; a bare path means type=local. */
export function parseOutputSpec(text: string): OutputSpec {
  if (!text.includes("=")) return { type: "local", dest: text };
  const fields = new Map<string, string>();
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new OutputSpecError(`invalid --output field ${JSON.stringify(part)}: expected key=value`);
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const type = fields.get("type");
  const dest = fields.get("dest");
  const known = new Set(["type", "dest", "tar", "name", "push"]);
  for (const key of fields.keys()) if (!known.has(key)) throw new OutputSpecError(`unknown --output field ${JSON.stringify(key)} (known: type, dest, tar, name, push)`);
  if (!type) throw new OutputSpecError(`--output ${JSON.stringify(text)} needs type=oci|docker|local|registry`);
  if (type === "registry") {
    const name = fields.get("name");
    if (!name) throw new OutputSpecError("--output type=registry needs name=REGISTRY/REPOSITORY[:TAG]");
    return { type: "registry", name };
  }
  if (!dest) throw new OutputSpecError(`--output type=${type} needs dest=PATH`);
  const name = fields.get("name");
  switch (type) {
    case "oci": {
      const tar = fields.get("tar") ?? "true";
      if (tar !== "true" && tar !== "false") throw new OutputSpecError(`--output tar=${tar}: expected true or false`);
      return { type: "oci", dest, tar: tar === "true", ...(name ? { name } : {}) };
    }
    case "docker":
      return { type: "docker", dest, ...(name ? { name } : {}) };
    case "local":
      return { type: "local", dest };
    default:
      throw new OutputSpecError(`unsupported --output type=${type} (supported: oci, docker, local, registry)`);
  }
}

export interface ExportInput {
  store: Store;
  config: ImageConfig;
  diffIDs: readonly string[];
  tags: readonly string[];
  outputs: readonly OutputSpec[];
  emit: BuildEventListener;
}

export interface ExportResult {
  configDigest: string;
  manifestDigest: string;
  tags: string[];
  /** Names from `--output type=registry`, tagged locally, to push. */
  pushNames: string[];
}

export async function exportImage(input: ExportInput): Promise<ExportResult> {
  const { store, config, diffIDs, emit } = input;
  // The local store keeps layers unpacked; its manifest names them by diffID, uncompressed.
  const local: ImageLayer[] = [];
  for (const diffID of diffIDs) {
    const layer = await store.getLayer(diffID);
    if (!layer) throw new Error(`layer ${diffID} is missing from the store at ${store.root}`);
    local.push({ diffID, descriptor: { mediaType: MediaTypes.ociLayer, digest: diffID, size: layer.size } });
  }
  const stored = assembleImage(config, local);
  await store.putImageBlobs(stored);
  const tags: string[] = [];
  for (const tag of input.tags) tags.push(await store.tagImage(tag, stored.manifestDigest));
  const pushNames: string[] = [];

  for (const output of input.outputs) {
    const began = Date.now();
    if (output.type === "registry") {
      pushNames.push(await store.tagImage(output.name, stored.manifestDigest));
      continue;
    }
    const label = `${output.type}:${output.dest}`;
    emit({ type: "export-start", output: label });
    switch (output.type) {
      case "oci": {
        const refName = output.name ? tagOf(output.name) : tags[0] ? tagOf(tags[0]) : "latest";
        const image = await writeOciOutput(store, stored, output.dest, { tar: output.tar, refName });
        emit({ type: "export-done", output: label, durationMs: Date.now() - began, detail: image.manifestDigest });
        break;
      }
      case "docker": {
        const names = output.name ? [normalizeImageName(output.name)] : tags;
        await writeDockerArchive(stored, layerTars(store), output.dest, { repoTags: names });
        emit({ type: "export-done", output: label, durationMs: Date.now() - began });
        break;
      }
      case "local": {
        await ensureEmptyDir(output.dest);
        await mergeLayers([...diffIDs].reverse().map((d) => store.layerDir(d)), output.dest);
        emit({ type: "export-done", output: label, durationMs: Date.now() - began });
        break;
      }
    }
  }
  return { configDigest: stored.configDigest, manifestDigest: stored.manifestDigest, tags, pushNames };
}

/** An OCI layout (tar or dir) of a stored image, with gzip layers; returns the image as written. */
async function writeOciOutput(store: Store, image: OciImage, dest: string | NodeJS.WritableStream, options: WriteOciLayoutOptions): Promise<OciImage> {
  const compressed = await compressedImage(store, image, layerTars(store).openTar);
  await writeOciLayout(compressed, store, dest, options);
  return compressed;
}

/** What `tsbuild save` writes, in podman's names: a docker archive (docker load), an OCI layout as a tar or as a directory. */
export type SaveFormat = "docker-archive" | "oci-archive" | "oci-dir";

/**
 * Writes an image of the local store to `dest` (a path, or a stream for the archives) without
 * building anything, as `docker save` does. A name keeps its tag in the archive (RepoTags, or the
 * OCI ref name); a `name@sha256:…` ref has none. Returns the image as written.
 */
export async function saveImage(store: Store, ref: string, format: SaveFormat, dest: string | NodeJS.WritableStream): Promise<OciImage> {
  const image = await localImage(store, ref);
  if (!image) throw new ImageNotFoundError(`image ${JSON.stringify(ref)} is not in the local image store (${store.root}); 'tsbuild images' lists what is there`);
  const name = ref.includes("@") ? undefined : normalizeImageName(ref);
  if (format === "docker-archive") {
    await writeDockerArchive(image, layerTars(store), dest, { repoTags: name ? [name] : [] });
    return image;
  }
  return writeOciOutput(store, image, dest, { tar: format === "oci-archive", ...(name ? { refName: tagOf(name) } : {}) });
}

/** The image with gzip layers: each layer compressed once (in parallel) and its blob kept in the store. */
export async function compressedImage(store: Store, image: OciImage, openTar: (diffID: string) => Promise<NodeJS.ReadableStream>): Promise<OciImage> {
  const blobs = await store.compressLayers(image.layers.map((l) => ({ diffID: l.diffID, openTar: () => openTar(l.diffID) })));
  const layers = image.layers.map((l, i) => ({ diffID: l.diffID, descriptor: { mediaType: blobs[i]!.mediaType, digest: blobs[i]!.digest, size: blobs[i]!.size } }));
  const compressed = assembleImage(image.config, layers);
  await store.putImageBlobs(compressed);
  return compressed;
}

function tagOf(name: string): string {
  const normalized = normalizeImageName(name);
  return normalized.slice(normalized.lastIndexOf(":") + 1);
}

async function ensureEmptyDir(dest: string): Promise<void> {
  try {
    if ((await readdir(dest)).length > 0) throw new OutputSpecError(`--output type=local,dest=${dest}: the directory is not empty`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}
