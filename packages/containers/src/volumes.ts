// Named volumes, laid out as Docker's local driver does: STORE/volumes/<name>/_data is what
// containers see, volume.json beside it records the volume. Volume data lives outside every
// layer: writes to it never reach a diff or a commit, and it outlives the containers using it.
import { randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, readFile, rename, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import { copyTree } from "@tsbuild/layers";
import { withLock, writeFileAtomic, type Store } from "@tsbuild/store";
import { isValidVolumeName } from "./mount-spec.js";
import { listContainers } from "./records.js";
import { treeSize } from "./tree-size.js";

export interface VolumeRecord {
  Name: string;
  CreatedAt: string;
  /** Made without a name (`tsbuild volume create` alone): `volume prune` removes these by default. */
  Anonymous: boolean;
}

/** What `tsbuild volume inspect` prints, in Docker's shape. */
export interface VolumeInspect extends Omit<VolumeRecord, "Anonymous"> {
  Driver: "local";
  Mountpoint: string;
  Labels: Record<string, string>;
  Scope: "local";
  Options: Record<string, string>;
}

export class VolumeNotFoundError extends Error {
  override readonly name = "VolumeNotFoundError";
  constructor(name: string, root: string) {
    super(`no such volume: ${name} (in the store at ${root}); 'tsbuild volume ls' lists them`);
  }
}

const RECORD = "volume.json";

function volumeRoot(store: Store, name: string): string {
  return path.join(store.paths.volumes, name);
}

/** The directory containers see (Docker's Mountpoint). */
export function volumeData(store: Store, name: string): string {
  return path.join(volumeRoot(store, name), "_data");
}

function volumeLock(name: string): string {
  return `volume-${name}`;
}

async function readRecord(store: Store, name: string): Promise<VolumeRecord | undefined> {
  if (!isValidVolumeName(name)) return undefined;
  try {
    return JSON.parse(await readFile(path.join(volumeRoot(store, name), RECORD), "utf8")) as VolumeRecord;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

function toInspect(store: Store, record: VolumeRecord): VolumeInspect {
  return { CreatedAt: record.CreatedAt, Driver: "local", Labels: {}, Mountpoint: volumeData(store, record.Name), Name: record.Name, Options: {}, Scope: "local" };
}

/** Creates the volume (a random 64-hex name when none is given); an existing one is returned as it is, as Docker does. */
export async function createVolume(store: Store, name?: string): Promise<VolumeInspect> {
  if (name !== undefined && !isValidVolumeName(name)) {
    throw new Error(`invalid volume name ${JSON.stringify(name)}: use [a-zA-Z0-9][a-zA-Z0-9_.-]+`);
  }
  const volumeName = name ?? randomBytes(32).toString("hex");
  await mkdir(store.paths.volumes, { recursive: true });
  return withLock(store.paths.locks, volumeLock(volumeName), async () => {
    const existing = await readRecord(store, volumeName);
    if (existing) return toInspect(store, existing);
    const record: VolumeRecord = { Name: volumeName, CreatedAt: new Date().toISOString(), Anonymous: name === undefined };
    const staging = await store.tempDir("volume");
    try {
      await mkdir(path.join(staging, "_data"), { mode: 0o755 });
      await writeFileAtomic(store.paths.tmp, path.join(staging, RECORD), JSON.stringify(record, null, 1));
      await rename(staging, volumeRoot(store, volumeName));
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
    return toInspect(store, record);
  });
}

export async function listVolumes(store: Store): Promise<VolumeRecord[]> {
  let names: string[];
  try {
    names = await readdir(store.paths.volumes);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const records: VolumeRecord[] = [];
  for (const name of names.sort()) {
    const record = await readRecord(store, name);
    if (record) records.push(record);
  }
  return records;
}

export async function inspectVolume(store: Store, name: string): Promise<VolumeInspect> {
  const record = await readRecord(store, name);
  if (!record) throw new VolumeNotFoundError(name, store.root);
  return toInspect(store, record);
}

/** Names of the containers that have the volume attached. */
export async function volumeUsers(store: Store, name: string): Promise<string[]> {
  return (await listContainers(store)).filter((c) => c.volumes.some((v) => v.name === name)).map((c) => c.name);
}

/** Removes a volume and its data; refuses while a container has it attached (docker volume rm does too). */
export async function removeVolume(store: Store, name: string): Promise<void> {
  await withLock(store.paths.locks, volumeLock(name), async () => {
    if (!(await readRecord(store, name))) throw new VolumeNotFoundError(name, store.root);
    const users = await volumeUsers(store, name);
    if (users.length > 0) throw new Error(`cannot remove volume ${name}: it is in use by container ${users.join(", ")}; remove the container first (tsbuild rm)`);
    const doomed = path.join(store.paths.tmp, `removed-volume-${name}`);
    await rm(doomed, { recursive: true, force: true });
    await rename(volumeRoot(store, name), doomed);
    await rm(doomed, { recursive: true, force: true });
  });
}

/** Removes volumes no container uses: anonymous ones, or with `all` named ones too (as docker volume prune -a). */
export async function pruneVolumes(store: Store, options: { all?: boolean } = {}): Promise<{ removed: string[]; reclaimedBytes: number }> {
  const inUse = new Set((await listContainers(store)).flatMap((c) => c.volumes.map((v) => v.name)));
  const removed: string[] = [];
  let reclaimedBytes = 0;
  for (const volume of await listVolumes(store)) {
    if (inUse.has(volume.Name) || (!volume.Anonymous && !options.all)) continue;
    const size = await treeSize(volumeData(store, volume.Name));
    try {
      await removeVolume(store, volume.Name);
    } catch (error) {
      if (error instanceof VolumeNotFoundError) continue; // removed meanwhile
      throw error;
    }
    removed.push(volume.Name);
    reclaimedBytes += size;
  }
  return { removed, reclaimedBytes };
}

/**
 * Mounting an empty volume over a non-empty image dir copies that dir (contents, owner, mode)
 * into the volume first, as Docker does; a volume with data is left alone.
 */
export async function seedVolume(store: Store, name: string, imageDir: string): Promise<void> {
  await withLock(store.paths.locks, volumeLock(name), async () => {
    const data = volumeData(store, name);
    if ((await readdir(data)).length > 0) return;
    const st = await lstat(imageDir).catch(() => undefined);
    if (!st?.isDirectory() || (await readdir(imageDir)).length === 0) return;
    await rmdir(data);
    try {
      await copyTree(imageDir, data);
    } catch (error) {
      await rm(data, { recursive: true, force: true });
      await mkdir(data, { mode: 0o755 });
      throw error;
    }
  });
}
