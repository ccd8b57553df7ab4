// Container operations that are one step over the records and the mount: diff and rm.
import type { Store } from "@tsbuild/store";
import { containerChanges, type Change } from "./changes.js";
import { containerStorage, gcRootName, getContainer, type ContainerRecord } from "./records.js";
import { removeContainerDir } from "./rootfs.js";

/** `tsbuild diff`: read from the upper dir; nothing is mounted. */
export async function diffContainer(store: Store, containerRef: string): Promise<Change[]> {
  const storage = containerStorage(store, await getContainer(store, containerRef));
  return containerChanges(storage.upper, storage.lowers);
}

/**
 * `tsbuild rm`: deletes the writable layer and the record, then the GC root that kept the
 * image's layers; the image (if still tagged) and volumes stay.
 */
export async function removeContainer(store: Store, containerRef: string): Promise<ContainerRecord> {
  const record = await getContainer(store, containerRef);
  await removeContainerDir(store, record);
  await store.removeGcRoot(gcRootName(record.id));
  return record;
}
