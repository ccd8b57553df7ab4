// The container's merged rootfs: an overlay mounted while someone uses it. Each user (a run, a
// cp, `tsbuild mount`) is recorded in mounts.json under the container's lock, so two commands
// never mount it twice at once, and the last one out unmounts it, unless the user asked for it
// with `tsbuild mount`. Holders whose process died are dropped, so a crash cannot pin a mount.
import { readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import { mountOverlay, pruneCopiedUpDirs, unmountOverlay } from "@tsbuild/layers";
import { isProcessAlive, withLock, writeFileAtomic, type Store } from "@tsbuild/store";
import { listMountPoints } from "@tsbuild/syscalls";
import { containerDir, containerStorage, type ContainerRecord } from "./records.js";

interface MountState {
  /** `tsbuild mount` asked for it to stay mounted. */
  userMounted: boolean;
  /** One pid per use in progress. */
  holders: number[];
}

const STATE = "mounts.json";

export function containerLockName(id: string): string {
  return `container-${id}`;
}

/** Runs fn holding the container's lock (mounting, unmounting, committing, removing). */
export function withContainerLock<T>(store: Store, record: ContainerRecord, fn: () => Promise<T>): Promise<T> {
  return withLock(store.paths.locks, containerLockName(record.id), fn);
}

async function readState(store: Store, record: ContainerRecord): Promise<MountState> {
  try {
    const state = JSON.parse(await readFile(path.join(containerDir(store, record.id), STATE), "utf8")) as MountState;
    return { userMounted: state.userMounted, holders: state.holders.filter((pid) => isProcessAlive(pid)) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { userMounted: false, holders: [] };
    throw error;
  }
}

async function writeState(store: Store, record: ContainerRecord, state: MountState): Promise<void> {
  await writeFileAtomic(store.paths.tmp, path.join(containerDir(store, record.id), STATE), JSON.stringify(state));
}

function isMountpoint(dir: string): boolean {
  return listMountPoints().includes(path.resolve(dir));
}

async function ensureMounted(store: Store, record: ContainerRecord): Promise<string> {
  const storage = containerStorage(store, record);
  if (!isMountpoint(storage.merged)) await mountOverlay(storage.lowers, storage.dir);
  return storage.merged;
}

/** Unmounts, and drops dirs overlayfs copied up only because runc passed through them. */
async function unmountNow(store: Store, record: ContainerRecord): Promise<void> {
  const storage = containerStorage(store, record);
  if (isMountpoint(storage.merged)) await unmountOverlay(storage.merged);
  pruneCopiedUpDirs(storage.upper, storage.lowers);
}

/** Mounts the container (if it is not) for the duration of fn, and unmounts after if nobody else needs it. */
export async function withRootfs<T>(store: Store, record: ContainerRecord, fn: (rootfs: string) => Promise<T>): Promise<T> {
  const rootfs = await withContainerLock(store, record, async () => {
    const state = await readState(store, record);
    const merged = await ensureMounted(store, record);
    await writeState(store, record, { ...state, holders: [...state.holders, process.pid] });
    return merged;
  });
  try {
    return await fn(rootfs);
  } finally {
    await withContainerLock(store, record, async () => {
      const state = await readState(store, record);
      const mine = state.holders.indexOf(process.pid);
      if (mine !== -1) state.holders.splice(mine, 1);
      if (state.holders.length === 0 && !state.userMounted) await unmountNow(store, record);
      await writeState(store, record, state);
    });
  }
}

/** `tsbuild mount`: mounts and keeps it mounted until `tsbuild umount`; returns the merged path. */
export async function mountContainer(store: Store, record: ContainerRecord): Promise<string> {
  return withContainerLock(store, record, async () => {
    const state = await readState(store, record);
    const merged = await ensureMounted(store, record);
    await writeState(store, record, { ...state, userMounted: true });
    return merged;
  });
}

/** `tsbuild umount`: ends a `tsbuild mount`; the overlay stays while a run or cp still uses it. */
export async function unmountContainer(store: Store, record: ContainerRecord): Promise<void> {
  await withContainerLock(store, record, async () => {
    const state = await readState(store, record);
    if (state.holders.length === 0) await unmountNow(store, record);
    await writeState(store, record, { ...state, userMounted: false });
  });
}

/** Whether the container's rootfs is mounted now, and by whom. */
export async function mountStatus(store: Store, record: ContainerRecord): Promise<MountState & { mounted: boolean }> {
  const state = await readState(store, record);
  return { ...state, mounted: isMountpoint(containerStorage(store, record).merged) };
}

/** Deletes the container's dir (its writable layer); refuses while a run or cp uses it. */
export async function removeContainerDir(store: Store, record: ContainerRecord): Promise<void> {
  await withContainerLock(store, record, async () => {
    const state = await readState(store, record);
    if (state.holders.length > 0) {
      throw new Error(`cannot remove container ${record.name}: it is in use by process ${state.holders.join(", ")} (a run or cp); wait for it or stop it`);
    }
    const storage = containerStorage(store, record);
    if (isMountpoint(storage.merged)) await unmountOverlay(storage.merged);
    // Renamed away first, so a half-deleted container is never listed.
    const doomed = path.join(store.paths.tmp, `removed-${record.id}`);
    await rm(doomed, { recursive: true, force: true });
    await rename(storage.dir, doomed);
    await rm(doomed, { recursive: true, force: true });
  });
}
