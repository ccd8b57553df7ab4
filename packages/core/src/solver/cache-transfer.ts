// Build cache shared across machines: `--cache-to` writes the cache records of
// a build and their layers (gzip) as one OCI artifact, to a registry or to a
// local OCI layout; `--cache-from` reads one back, and a step whose key it
// holds is a hit on this machine too. The format is in docs/cache-format.md.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pLimit from "p-limit";
import { buildIndex, buildManifest, descriptorOf, digestHex, manifestBytes, MediaTypes, REF_NAME_ANNOTATION, type Descriptor, type ImageManifest } from "@tsbuild/oci";
import { parseReference, RegistryError, type ImageReference, type RegistryClient } from "@tsbuild/registry";
import type { Store } from "@tsbuild/store";
import { importLayer, layerTars, type LayerBlobReader } from "./layer-io.js";

export const CACHE_ARTIFACT_TYPE = "application/vnd.tsbuild.cache.v1";
export const CACHE_CONFIG_MEDIA_TYPE = "application/vnd.tsbuild.cache.config.v1+json";
const DIFF_ID_ANNOTATION = "vnd.tsbuild.diffID";
const LOCAL_REF = "cache";

export type CacheSpec =
  | { type: "registry"; ref: string; mode: "min" | "max" }
  | { type: "local"; dir: string; mode: "min" | "max" };

/** One step of a build as the cache remembers it: its key and the layer it made (none for empty steps). */
export interface CachedStep {
  key: string;
  diffID?: string;
  size?: number;
  createdAt: string;
}

interface CacheConfig {
  version: 1;
  steps: CachedStep[];
}

export class CacheSpecError extends Error {
  override readonly name = "CacheSpecError";
}

/** `type=registry,ref=R[,mode=max]`, `type=local,dest=DIR` (to) or `type=local,src=DIR` (from). */
export function parseCacheSpec(text: string, direction: "to" | "from"): CacheSpec {
  const fields = new Map<string, string>();
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new CacheSpecError(`invalid --cache-${direction} field ${JSON.stringify(part)}: expected key=value`);
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const mode = fields.get("mode") ?? "min";
  if (mode !== "min" && mode !== "max") throw new CacheSpecError(`--cache-${direction} mode=${mode}: expected min or max`);
  const dirKey = direction === "to" ? "dest" : "src";
  const allowed = new Set(["type", "mode", "ref", dirKey]);
  for (const key of fields.keys()) if (!allowed.has(key)) throw new CacheSpecError(`unknown --cache-${direction} field ${JSON.stringify(key)}`);
  switch (fields.get("type")) {
    case "registry": {
      const ref = fields.get("ref");
      if (!ref) throw new CacheSpecError(`--cache-${direction} type=registry needs ref=NAME[:TAG]`);
      return { type: "registry", ref, mode };
    }
    case "local": {
      const dir = fields.get(dirKey);
      if (!dir) throw new CacheSpecError(`--cache-${direction} type=local needs ${dirKey}=DIR`);
      return { type: "local", dir: path.resolve(dir), mode };
    }
    default:
      throw new CacheSpecError(`--cache-${direction} needs type=registry or type=local`);
  }
}

/** Cache records read from `--cache-from` sources; layers come over only for the keys that hit. */
export interface RemoteCache {
  lookup(key: string): CachedStep | undefined;
  /** Puts the layer `diffID` into the store (fetched and unpacked once). */
  fetchLayer(diffID: string): Promise<void>;
}

interface LoadedCache {
  steps: CachedStep[];
  layers: Map<string, Descriptor>;
  readBlob: LayerBlobReader;
}

export async function importCache(specs: readonly CacheSpec[], store: Store, registry: RegistryClient, warn: (message: string) => void): Promise<RemoteCache> {
  const steps = new Map<string, CachedStep>();
  const layers = new Map<string, { descriptor: Descriptor; source: LoadedCache }>();
  for (const spec of specs) {
    const loaded = await loadCache(spec, registry).catch((error: unknown) => {
      // A cache that is not there yet (a first build) is no reason to fail the build.
      if (error instanceof RegistryError && error.kind === "not-found") return undefined;
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    });
    if (!loaded) {
      warn(`cache source ${describe(spec)} has no cache yet`);
      continue;
    }
    for (const step of loaded.steps) if (!steps.has(step.key)) steps.set(step.key, step);
    for (const [diffID, descriptor] of loaded.layers) if (!layers.has(diffID)) layers.set(diffID, { descriptor, source: loaded });
  }
  const fetching = new Map<string, Promise<void>>();
  return {
    lookup: (key) => steps.get(key),
    fetchLayer(diffID) {
      let job = fetching.get(diffID);
      if (!job) {
        job = (async () => {
          if (await store.hasLayer(diffID)) return;
          const layer = layers.get(diffID);
          if (!layer) throw new Error(`the imported cache names layer ${diffID} but does not hold it`);
          await importLayer(store, { diffID, descriptor: layer.descriptor }, layer.source.readBlob);
        })();
        fetching.set(diffID, job);
      }
      return job;
    },
  };
}

async function loadCache(spec: CacheSpec, registry: RegistryClient): Promise<LoadedCache> {
  if (spec.type === "local") {
    const index = JSON.parse(await readFile(path.join(spec.dir, "index.json"), "utf8")) as { manifests: Descriptor[] };
    const entry = index.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === LOCAL_REF);
    if (!entry) throw Object.assign(new Error(`${spec.dir} holds no tsbuild cache`), { code: "ENOENT" });
    const blob = (digest: string) => path.join(spec.dir, "blobs", "sha256", digestHex(digest));
    const manifest = JSON.parse(await readFile(blob(entry.digest), "utf8")) as ImageManifest;
    const config = parseCacheConfig(await readFile(blob(manifest.config.digest)), spec);
    return {
      steps: config.steps,
      layers: layerMap(manifest),
      readBlob: (d, sink) => sink(createReadStream(blob(d.digest))),
    };
  }
  const reference = parseReference(spec.ref);
  const fetched = await registry.getManifest(reference);
  const manifest = JSON.parse(fetched.bytes.toString("utf8")) as ImageManifest;
  if (manifest.artifactType !== CACHE_ARTIFACT_TYPE && manifest.config?.mediaType !== CACHE_CONFIG_MEDIA_TYPE) {
    throw new Error(`${spec.ref} is not a tsbuild cache (artifact type ${manifest.artifactType ?? manifest.config?.mediaType})`);
  }
  const configBytes = await registry.fetchBlob(reference, manifest.config, async (stream) => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  });
  return {
    steps: parseCacheConfig(configBytes, spec).steps,
    layers: layerMap(manifest),
    readBlob: (d, sink) => registry.fetchBlob(reference, d, sink),
  };
}

function parseCacheConfig(bytes: Buffer, spec: CacheSpec): CacheConfig {
  const config = JSON.parse(bytes.toString("utf8")) as CacheConfig;
  if (config.version !== 1 || !Array.isArray(config.steps)) throw new Error(`${describe(spec)}: unsupported tsbuild cache version ${String(config.version)}`);
  return config;
}

function layerMap(manifest: ImageManifest): Map<string, Descriptor> {
  const out = new Map<string, Descriptor>();
  for (const layer of manifest.layers) {
    const diffID = layer.annotations?.[DIFF_ID_ANNOTATION];
    if (diffID) out.set(diffID, layer);
  }
  return out;
}

/** Writes the steps and their layers (gzip, made once and kept) to the cache destination. */
export async function exportCache(spec: CacheSpec, steps: readonly CachedStep[], store: Store, registry: RegistryClient): Promise<string> {
  const unique = [...new Map(steps.map((s) => [s.key, s])).values()].sort((a, b) => (a.key < b.key ? -1 : 1));
  const diffIDs = [...new Set(unique.flatMap((s) => (s.diffID ? [s.diffID] : [])))];
  const tars = layerTars(store);
  const blobs = await store.compressLayers(diffIDs.map((diffID) => ({ diffID, openTar: () => tars.openTar(diffID) })));
  const layers: Descriptor[] = blobs.map((b, i) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size, annotations: { [DIFF_ID_ANNOTATION]: diffIDs[i]! } }));
  const configBytes = Buffer.from(JSON.stringify({ version: 1, steps: unique } satisfies CacheConfig));
  const config = descriptorOf(configBytes, CACHE_CONFIG_MEDIA_TYPE);
  const manifest: ImageManifest = { ...buildManifest(config, layers), artifactType: CACHE_ARTIFACT_TYPE };
  const bytes = manifestBytes(manifest);
  if (spec.type === "local") {
    await writeLocalCache(spec.dir, store, configBytes, layers, bytes);
    return descriptorOf(bytes, MediaTypes.ociManifest).digest;
  }
  const reference: ImageReference = parseReference(spec.ref);
  const limit = pLimit(4);
  await Promise.all([
    ...layers.map((d) => limit(() => registry.pushBlob(reference, d, () => store.openBlob(d.digest)))),
    registry.pushBlob(reference, config, async () => Readable.from([configBytes])),
  ]);
  return registry.putManifest(reference, bytes, MediaTypes.ociManifest);
}

async function writeLocalCache(dir: string, store: Store, configBytes: Buffer, layers: readonly Descriptor[], bytes: Buffer): Promise<void> {
  const blobDir = path.join(dir, "blobs", "sha256");
  await mkdir(blobDir, { recursive: true });
  const writeAtomic = async (target: string, content: Buffer | NodeJS.ReadableStream) => {
    const temp = `${target}.tmp-${process.pid}`;
    if (Buffer.isBuffer(content)) await writeFile(temp, content);
    else await pipeline(content, createWriteStream(temp));
    await rename(temp, target);
  };
  for (const layer of layers) await writeAtomic(path.join(blobDir, digestHex(layer.digest)), await store.openBlob(layer.digest));
  const config = descriptorOf(configBytes, CACHE_CONFIG_MEDIA_TYPE);
  await writeAtomic(path.join(blobDir, digestHex(config.digest)), configBytes);
  const manifest = descriptorOf(bytes, MediaTypes.ociManifest);
  await writeAtomic(path.join(blobDir, digestHex(manifest.digest)), bytes);
  await writeAtomic(path.join(dir, "oci-layout"), Buffer.from(JSON.stringify({ imageLayoutVersion: "1.0.0" })));
  const index = buildIndex([{ ...manifest, artifactType: CACHE_ARTIFACT_TYPE, annotations: { [REF_NAME_ANNOTATION]: LOCAL_REF } }]);
  await writeAtomic(path.join(dir, "index.json"), Buffer.from(JSON.stringify(index)));
}

function describe(spec: CacheSpec): string {
  return spec.type === "registry" ? `type=registry,ref=${spec.ref}` : `type=local,${spec.dir}`;
}
