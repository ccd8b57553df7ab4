// Sizes as `docker ps -s` and `docker system df -v` explain them: SIZE is the data in a
// container's writable layer; VIRTUAL SIZE adds the read-only image layers it uses (shared with
// every other container of the image, so virtual sizes do not add up). Both count file bytes
// the way Docker's directory.Size does: non-directories, each inode once.
import type { Store } from "@tsbuild/store";
import { containerStorage, listContainers, type ContainerRecord } from "./records.js";
import { mountStatus } from "./rootfs.js";
import { treeSize } from "./tree-size.js";
import { listVolumes, volumeData } from "./volumes.js";

export interface ContainerSize {
  /** The writable layer. */
  size: number;
  /** The writable layer plus the image's layers. */
  virtualSize: number;
}

/** Sizes of unpacked layers, each measured once per instance (several containers share them). */
export class LayerSizes {
  private readonly sizes = new Map<string, Promise<number>>();
  constructor(private readonly store: Store) {}

  of(diffID: string): Promise<number> {
    let size = this.sizes.get(diffID);
    if (!size) this.sizes.set(diffID, (size = treeSize(this.store.layerDir(diffID))));
    return size;
  }
}

export async function containerSize(store: Store, record: ContainerRecord, layers = new LayerSizes(store)): Promise<ContainerSize> {
  const size = await treeSize(containerStorage(store, record).upper);
  let image = 0;
  for (const diffID of record.config.rootfs.diff_ids) image += await layers.of(diffID);
  return { size, virtualSize: size + image };
}

export interface ContainerUsage extends ContainerSize {
  id: string;
  name: string;
  image: string;
  createdAt: string;
  mounted: boolean;
}

export interface VolumeUsage {
  name: string;
  /** Bytes of the volume's data. */
  size: number;
  /** How many containers have it attached (docker's LINKS). */
  links: number;
  anonymous: boolean;
}

/**
 * Container and volume usage for `tsbuild df -v`: every container with its SIZE and VIRTUAL
 * SIZE, every volume with its size and how many containers use it.
 */
export async function containerDiskUsage(store: Store): Promise<{ containers: ContainerUsage[]; volumes: VolumeUsage[] }> {
  const records = await listContainers(store);
  const layers = new LayerSizes(store);
  const containers: ContainerUsage[] = [];
  for (const record of records) {
    const sizes = await containerSize(store, record, layers);
    const { mounted } = await mountStatus(store, record);
    containers.push({ id: record.id, name: record.name, image: record.image, createdAt: record.createdAt, mounted, ...sizes });
  }
  const volumes: VolumeUsage[] = [];
  for (const volume of await listVolumes(store)) {
    volumes.push({
      name: volume.Name,
      size: await treeSize(volumeData(store, volume.Name)),
      links: records.filter((c) => c.volumes.some((v) => v.name === volume.Name)).length,
      anonymous: volume.Anonymous,
    });
  }
  return { containers, volumes };
}
