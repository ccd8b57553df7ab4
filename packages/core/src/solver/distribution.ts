// Images to and from registries outside a build: `tsbuild pull`, `tsbuild push`,
// and the push at the end of `build --push`.
import { parseReference, type RegistryClient } from "@tsbuild/registry";
import { normalizeImageName, type Store } from "@tsbuild/store";
import type { Platform } from "@tsbuild/oci";
import { compressedImage } from "./export.js";
import { localImage, remoteImage } from "./image-source.js";
import { layerTars } from "./layer-io.js";

/**
 * Pulls an image (every layer the store lacks, in parallel) and keeps it in the local store, tagged
 * with its name (a `name@sha256:…` ref is kept by digest; `name` is then the ref).
 */
export async function pullImage(store: Store, registry: RegistryClient, ref: string, platform: Platform): Promise<{ name: string; manifestDigest: string; configDigest: string }> {
  const source = await remoteImage(store, ref, platform, registry);
  await source.materialize();
  const name = ref.includes("@") ? ref : normalizeImageName(ref);
  return { name, manifestDigest: source.image.manifestDigest, configDigest: source.configDigest };
}

/** Pushes a locally stored image (gzip layers, made once) to `target` (default: its own name). */
export async function pushToRegistry(store: Store, registry: RegistryClient, localName: string, target = localName): Promise<string> {
  const image = await localImage(store, localName);
  if (!image) throw new Error(`image ${JSON.stringify(localName)} is not in the local image store (${store.root})`);
  const compressed = await compressedImage(store, image, layerTars(store).openTar);
  const { digest } = await registry.pushImage(parseReference(target), compressed, store);
  return digest;
}
