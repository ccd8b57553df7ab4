// GC roots besides the tags. Anything that keeps using stored layers or blobs without a tag
// (a working container stands on its image's layers, whether or not the image is still
// tagged) writes one file, roots/<name>.json:
//
//   { "layers": ["sha256:<diffID>", …], "blobs": ["sha256:<digest>", …] }
//
// prune and diskUsage treat the layers (with the blobs their records own) and the blobs it
// names as in use until the file is removed. The store knows nothing of who wrote it: the name
// is the writer's (e.g. `container-<id>`), and the writer removes it when it is done. Files
// are written and removed under the images lock that prune holds, so a prune sees a root
// entirely or not at all, and a root is never added for a layer a prune has just removed.
import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { isDigest } from "@tsbuild/oci";
import { fsyncDir, writeFileAtomic } from "./atomic.js";
import { LayerNotFoundError } from "./errors.js";
import { hasLayer } from "./layers.js";
import { withLock, type LockOptions } from "./lock.js";
import type { StorePaths } from "./paths.js";
import { IMAGES_LOCK } from "./tags.js";

export interface GcRoot {
  /** diffIDs of layers to keep (their unpacked dirs and the blobs their records list). */
  layers: string[];
  /** Digests of other blobs to keep (e.g. a manifest and its config). */
  blobs: string[];
}

export interface NamedGcRoot extends GcRoot {
  name: string;
}

const ROOT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,199}$/;
const SUFFIX = ".json";

function rootFile(paths: StorePaths, name: string): string {
  if (!ROOT_NAME.test(name)) {
    throw new Error(`invalid GC root name ${JSON.stringify(name)}: use letters, digits and _ . - (starting with a letter or digit, at most 200)`);
  }
  return path.join(paths.roots, `${name}${SUFFIX}`);
}

function checkDigests(what: string, where: string, digests: unknown): string[] {
  if (!Array.isArray(digests) || !digests.every((d) => typeof d === "string" && isDigest(d))) {
    throw new Error(`${where}: "${what}" must be a list of sha256 digests ("sha256:" and 64 hex digits)`);
  }
  return digests as string[];
}

/**
 * Writes (or replaces) the root `name`. Every layer must be in the store: checked under the
 * lock, so a concurrent prune cannot remove one in between and leave the caller on nothing.
 */
export async function addGcRoot(paths: StorePaths, name: string, root: GcRoot, lock: LockOptions = {}): Promise<void> {
  const file = rootFile(paths, name);
  const where = `GC root ${name}`;
  const content: GcRoot = { layers: checkDigests("layers", where, root.layers), blobs: checkDigests("blobs", where, root.blobs) };
  await withLock(
    paths.locks,
    IMAGES_LOCK,
    async () => {
      for (const diffID of content.layers) {
        if (!(await hasLayer(paths, diffID))) throw new LayerNotFoundError(diffID, paths.root, `; cannot make GC root ${name} keep it (was it pruned? pull or build its image again)`);
      }
      await writeFileAtomic(paths.tmp, file, JSON.stringify(content, null, 1));
    },
    lock,
  );
}

/** Removes the root `name`; false if there was none. What it kept is reclaimable by the next prune. */
export async function removeGcRoot(paths: StorePaths, name: string, lock: LockOptions = {}): Promise<boolean> {
  const file = rootFile(paths, name);
  return withLock(
    paths.locks,
    IMAGES_LOCK,
    async () => {
      try {
        await rm(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
        throw e;
      }
      await fsyncDir(paths.roots);
      return true;
    },
    lock,
  );
}

/**
 * Every root, sorted by name. A root file that cannot be read is an error, not an empty root:
 * ignoring it would let prune delete what it protects.
 */
export async function listGcRoots(paths: StorePaths): Promise<NamedGcRoot[]> {
  let names: string[];
  try {
    names = await readdir(paths.roots);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const roots: NamedGcRoot[] = [];
  for (const entry of names.filter((n) => n.endsWith(SUFFIX)).sort()) {
    const file = path.join(paths.roots, entry);
    let doc: { layers?: unknown; blobs?: unknown };
    try {
      doc = JSON.parse(await readFile(file, "utf8")) as typeof doc;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue; // removed meanwhile
      throw new Error(`GC root ${file} is not valid JSON (${(e as Error).message}); repair it or delete it if nothing uses what it names`);
    }
    const where = `GC root ${file}`;
    roots.push({ name: entry.slice(0, -SUFFIX.length), layers: checkDigests("layers", where, doc?.layers), blobs: checkDigests("blobs", where, doc?.blobs) });
  }
  return roots;
}
