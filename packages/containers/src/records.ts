// Working containers: STORE/containers/<id>/ holds container.json (this record) and the
// overlay dirs upper/ (the container's own writable layer), work/, merged/ and l/ (lower links).
// The image's layers stay where the store keeps them and are shared by every container of it;
// the container's GC root (gcRootName) keeps them, its manifest and config from prune until the
// container is removed, even once the image is untagged.
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import { resolveImage } from "@tsbuild/core";
import type { ImageConfig, Platform } from "@tsbuild/oci";
import { withLock, writeFileAtomic, type Store } from "@tsbuild/store";

export interface VolumeAttachment {
  name: string;
  destination: string;
  readonly: boolean;
}

export interface ContainerRecord {
  id: string;
  name: string;
  /** The image as the user named it ("scratch" for none). */
  image: string;
  /** The image's config digest (its ID), "" for scratch. */
  imageId: string;
  /** The digest of the image's manifest, "" for scratch (what `rmi` compares with a tag). */
  imageDigest: string;
  /** The image's config: run defaults (Env, User, WorkingDir) and the base of a commit. */
  config: ImageConfig;
  createdAt: string;
  /** Volumes mounted by a run stay attached, as with `docker run -v`: later runs and cp see them. */
  volumes: VolumeAttachment[];
  /** What changed the writable layer (`run …`, `cp …`), for the history entry of a commit. */
  changes: string[];
}

export class ContainerNotFoundError extends Error {
  override readonly name = "ContainerNotFoundError";
  constructor(ref: string, root: string) {
    super(`no such container: ${ref} (in the store at ${root}); 'tsbuild ps' lists the containers there`);
  }
}

const RECORD = "container.json";
const NAMES_LOCK = "container-names";
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The store GC root that keeps a container's image layers, manifest and config. */
export function gcRootName(id: string): string {
  return `container-${id}`;
}

export function containerDir(store: Store, id: string): string {
  return path.join(store.paths.containers, id);
}

/** Where the container's overlay dirs are, as Docker's GraphDriver data names them. */
export function containerStorage(store: Store, record: ContainerRecord) {
  const dir = containerDir(store, record.id);
  return {
    dir,
    upper: path.join(dir, "upper"),
    work: path.join(dir, "work"),
    merged: path.join(dir, "merged"),
    /** The image's layer dirs, newest first (overlay's lowerdir order). */
    lowers: [...record.config.rootfs.diff_ids].reverse().map((diffID) => store.layerDir(diffID)),
  };
}

export async function listContainers(store: Store): Promise<ContainerRecord[]> {
  let ids: string[];
  try {
    ids = await readdir(store.paths.containers);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const records: ContainerRecord[] = [];
  for (const id of ids) {
    try {
      records.push(JSON.parse(await readFile(path.join(store.paths.containers, id, RECORD), "utf8")) as ContainerRecord);
    } catch (error) {
      // A container being created or removed right now has no record (yet, or any more).
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  return records.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
}

/** A container by name, full ID, or a unique ID prefix (as docker accepts them). */
export async function getContainer(store: Store, ref: string): Promise<ContainerRecord> {
  const all = await listContainers(store);
  const byName = all.find((c) => c.name === ref);
  if (byName) return byName;
  const byId = ref.length > 0 && /^[0-9a-f]+$/.test(ref) ? all.filter((c) => c.id.startsWith(ref)) : [];
  if (byId.length === 1) return byId[0]!;
  if (byId.length > 1) throw new Error(`container ID prefix ${ref} is ambiguous (${byId.map((c) => c.name).join(", ")}); give more of the ID or the name`);
  throw new ContainerNotFoundError(ref, store.root);
}

export async function saveContainer(store: Store, record: ContainerRecord): Promise<void> {
  await writeFileAtomic(store.paths.tmp, path.join(containerDir(store, record.id), RECORD), JSON.stringify(record, null, 1));
}

/** Buildah's default name: the image's last path component without tag, then -working-container. */
export function defaultContainerName(image: string): string {
  const base = image.replace(/@sha256:[0-9a-f]+$/, "").split("/").pop()!.replace(/:[^:]*$/, "");
  const clean = base.replace(/[^a-zA-Z0-9_.-]/g, "-").replace(/^[^a-zA-Z0-9]+/, "");
  return `${clean || "image"}-working-container`;
}

export interface CreateContainerOptions {
  name?: string;
  /** Which platform's image to take from a multi-platform oci-layout. */
  platform: Platform;
}

function scratchConfig(platform: Platform): ImageConfig {
  return { architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}), rootfs: { type: "layers", diff_ids: [] }, history: [] };
}

/**
 * `tsbuild from IMAGE`: unpacks the image's layers into the store (once; shared by every
 * container of the image) and makes a container with an empty writable layer over them.
 */
export async function createContainer(store: Store, image: string, options: CreateContainerOptions): Promise<ContainerRecord> {
  let config: ImageConfig;
  let imageId = "";
  let imageDigest = "";
  if (image === "scratch") config = scratchConfig(options.platform);
  else {
    const source = await resolveImage(store, image, options.platform);
    await source.materialize();
    config = source.config;
    imageId = source.configDigest;
    imageDigest = source.image.manifestDigest;
  }
  if (options.name !== undefined && !NAME.test(options.name)) {
    throw new Error(`invalid container name ${JSON.stringify(options.name)}: use letters, digits and _ . - (starting with a letter or digit)`);
  }
  const id = randomBytes(32).toString("hex");
  await mkdir(store.paths.containers, { recursive: true });
  return withLock(store.paths.locks, NAMES_LOCK, async () => {
    const taken = new Set((await listContainers(store)).map((c) => c.name));
    let name = options.name ?? defaultContainerName(image);
    if (options.name !== undefined && taken.has(name)) {
      throw new Error(`the container name ${JSON.stringify(name)} is already in use; choose another with --name or remove it with 'tsbuild rm ${name}'`);
    }
    // As buildah does: busybox-working-container, then busybox-working-container-1, -2, …
    for (let n = 1; taken.has(name); n++) name = `${defaultContainerName(image)}-${n}`;
    const record: ContainerRecord = { id, name, image, imageId, imageDigest, config, createdAt: new Date().toISOString(), volumes: [], changes: [] };
    // Made under tmp/ and renamed in, so a container is listed only once it is complete. The GC
    // root comes just before: a listed container's layers are always kept (a crash in between
    // leaves only a root file behind, not a container whose layers prune may take).
    const staging = await store.tempDir("container");
    try {
      await mkdir(path.join(staging, "upper"), { mode: 0o755 });
      await mkdir(path.join(staging, "work"));
      await mkdir(path.join(staging, "merged"));
      await writeFileAtomic(store.paths.tmp, path.join(staging, RECORD), JSON.stringify(record, null, 1));
      await store.addGcRoot(gcRootName(id), { layers: [...config.rootfs.diff_ids], blobs: [imageDigest, imageId].filter((d) => d !== "") });
      await rename(staging, containerDir(store, id));
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      // If this fails too, the first error says more; the root left behind only keeps layers.
      await store.removeGcRoot(gcRootName(id)).catch(() => false);
      throw error;
    }
    return record;
  });
}
