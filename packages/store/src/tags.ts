// Tags, the local image store: images.json maps a normalised name to a manifest (or index)
// digest. The manifest and config are plain blobs. Changes are read-modify-write of one file
// under the "images" lock (which prune also holds), written atomically.
import { readFileSync } from "node:fs";
import { isDigest } from "@tsbuild/oci";
import { writeFileAtomic } from "./atomic.js";
import { hasBlob } from "./blobs.js";
import { BlobNotFoundError } from "./errors.js";
import { normalizeImageName } from "./image-name.js";
import { withLock, type LockOptions } from "./lock.js";
import type { StorePaths } from "./paths.js";

export interface TaggedImage {
  name: string;
  manifestDigest: string;
  taggedAt: string;
}

interface ImagesFile {
  version: 1;
  images: Record<string, { manifestDigest: string; taggedAt: string }>;
}

export const IMAGES_LOCK = "images";

export async function readImagesFile(paths: StorePaths): Promise<ImagesFile> {
  try {
    // Synchronous, as the store's other metadata reads (docs/decisions/0009).
    return JSON.parse(readFileSync(paths.images, "utf8")) as ImagesFile;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, images: {} };
    throw e;
  }
}

async function updateImages(paths: StorePaths, lock: LockOptions, change: (file: ImagesFile) => Promise<boolean> | boolean): Promise<void> {
  await withLock(
    paths.locks,
    IMAGES_LOCK,
    async () => {
      const file = await readImagesFile(paths);
      if (await change(file)) await writeFileAtomic(paths.tmp, paths.images, JSON.stringify(file, null, 1));
    },
    lock,
  );
}

export async function tagImage(paths: StorePaths, name: string, manifestDigest: string, lock: LockOptions = {}): Promise<string> {
  const normalised = normalizeImageName(name);
  if (!isDigest(manifestDigest)) throw new Error(`cannot tag ${normalised}: ${JSON.stringify(manifestDigest)} is not a sha256 digest`);
  // A rebuild that made the same image: nothing to write (a concurrent untag may as well come after).
  if ((await readImagesFile(paths)).images[normalised]?.manifestDigest === manifestDigest) return normalised;
  await updateImages(paths, lock, async (file) => {
    // Checked under the lock, so a concurrent prune cannot remove the manifest in between.
    if (!(await hasBlob(paths, manifestDigest))) throw new BlobNotFoundError(manifestDigest, paths.root);
    file.images[normalised] = { manifestDigest, taggedAt: new Date().toISOString() };
    return true;
  });
  return normalised;
}

export async function untag(paths: StorePaths, name: string, lock: LockOptions = {}): Promise<boolean> {
  const normalised = normalizeImageName(name);
  let removed = false;
  await updateImages(paths, lock, (file) => {
    removed = normalised in file.images;
    delete file.images[normalised];
    return removed;
  });
  return removed;
}

export async function resolveTag(paths: StorePaths, name: string): Promise<string | undefined> {
  return (await readImagesFile(paths)).images[normalizeImageName(name)]?.manifestDigest;
}

export async function listImages(paths: StorePaths): Promise<TaggedImage[]> {
  const { images } = await readImagesFile(paths);
  return Object.entries(images)
    .map(([name, v]) => ({ name, ...v }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
