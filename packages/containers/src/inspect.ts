// `tsbuild inspect` and `tsbuild history`: images and containers in the shapes `docker inspect`
// and `docker history` use, with storage paths as Docker's GraphDriver data names them.
import { resolveImage } from "@tsbuild/core";
import type { ContainerConfig, HistoryEntry, Platform } from "@tsbuild/oci";
import { normalizeImageName, type Store } from "@tsbuild/store";
import { containerStorage, getContainer, ContainerNotFoundError } from "./records.js";
import { mountStatus } from "./rootfs.js";
import { LayerSizes } from "./sizes.js";
import { volumeData } from "./volumes.js";

export const STORAGE_DRIVER_NAME = "overlay";

export interface GraphDriver {
  Name: string;
  Data: Record<string, string>;
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  Created?: string;
  Author?: string;
  Architecture: string;
  Os: string;
  Variant?: string;
  Config: ContainerConfig;
  RootFS: { Type: "layers"; Layers: string[] };
  GraphDriver?: GraphDriver;
}

export interface ContainerInspect {
  Id: string;
  Name: string;
  Created: string;
  Image: string;
  ImageName: string;
  Config: ContainerConfig;
  RootFS: { Type: "layers"; Layers: string[] };
  State: { Mounted: boolean; UserMounted: boolean; Users: number[] };
  Mounts: { Type: "volume"; Name: string; Source: string; Destination: string; RW: boolean }[];
  GraphDriver: GraphDriver;
}

async function imageTags(store: Store, ref: string): Promise<string[]> {
  if (ref.startsWith("oci-layout://")) return [];
  const digest = await store.resolveTag(normalizeImageName(ref));
  return (await store.listImages()).filter((i) => i.manifestDigest === digest).map((i) => i.name).sort();
}

export async function inspectImage(store: Store, ref: string, platform: Platform): Promise<ImageInspect> {
  const image = await resolveImage(store, ref, platform);
  const diffIDs = image.config.rootfs.diff_ids;
  const out: ImageInspect = {
    Id: image.configDigest,
    RepoTags: await imageTags(store, ref),
    ...(image.config.created ? { Created: image.config.created } : {}),
    ...(image.config.author ? { Author: image.config.author } : {}),
    Architecture: image.config.architecture,
    Os: image.config.os,
    ...(image.config.variant ? { Variant: image.config.variant } : {}),
    Config: image.config.config ?? {},
    RootFS: { Type: "layers", Layers: [...diffIDs] },
  };
  // Only an image whose layers are unpacked in the store has storage paths.
  const unpacked = await Promise.all(diffIDs.map((d) => store.hasLayer(d)));
  if (diffIDs.length > 0 && unpacked.every(Boolean)) {
    const dirs = [...diffIDs].reverse().map((d) => store.layerDir(d));
    out.GraphDriver = { Name: STORAGE_DRIVER_NAME, Data: { ...(dirs.length > 1 ? { LowerDir: dirs.slice(1).join(":") } : {}), UpperDir: dirs[0]! } };
  }
  return out;
}

export async function inspectContainer(store: Store, ref: string): Promise<ContainerInspect> {
  const record = await getContainer(store, ref);
  const storage = containerStorage(store, record);
  const status = await mountStatus(store, record);
  return {
    Id: record.id,
    Name: record.name,
    Created: record.createdAt,
    Image: record.imageId,
    ImageName: record.image,
    Config: record.config.config ?? {},
    RootFS: { Type: "layers", Layers: [...record.config.rootfs.diff_ids] },
    State: { Mounted: status.mounted, UserMounted: status.userMounted, Users: status.holders },
    Mounts: record.volumes.map((v) => ({ Type: "volume", Name: v.name, Source: volumeData(store, v.name), Destination: v.destination, RW: !v.readonly })),
    GraphDriver: {
      Name: STORAGE_DRIVER_NAME,
      Data: {
        ...(storage.lowers.length > 0 ? { LowerDir: storage.lowers.join(":") } : {}),
        UpperDir: storage.upper,
        MergedDir: storage.merged,
        WorkDir: storage.work,
      },
    },
  };
}

/** A container when the name or ID matches one, else an image (as `docker inspect` looks both up). */
export async function inspectAny(store: Store, ref: string, platform: Platform): Promise<ContainerInspect | ImageInspect> {
  try {
    return await inspectContainer(store, ref);
  } catch (error) {
    if (!(error instanceof ContainerNotFoundError)) throw error;
  }
  return inspectImage(store, ref, platform);
}

export interface HistoryRow {
  /** The image ID on the newest row, undefined ("<missing>") on the others, as Docker shows. */
  id?: string;
  created?: string;
  createdBy: string;
  /** Bytes of the row's layer (0 for a metadata-only entry); undefined when the layer is not unpacked here. */
  size: number | undefined;
  comment: string;
}

/** One row per history entry, newest first; each non-empty entry is paired with the next layer. */
export async function imageHistory(store: Store, ref: string, platform: Platform): Promise<HistoryRow[]> {
  const image = await resolveImage(store, ref, platform);
  const diffIDs = image.config.rootfs.diff_ids;
  const sizes = new LayerSizes(store);
  const history: HistoryEntry[] = image.config.history ?? diffIDs.map(() => ({}));
  const rows: HistoryRow[] = [];
  let layer = 0;
  for (const entry of history) {
    let size: number | undefined = 0;
    if (!entry.empty_layer) {
      const diffID = diffIDs[layer++];
      size = diffID !== undefined && (await store.hasLayer(diffID)) ? await sizes.of(diffID) : undefined;
    }
    rows.push({ created: entry.created, createdBy: entry.created_by ?? "", size, comment: entry.comment ?? "" });
  }
  rows.reverse();
  if (rows.length > 0) rows[0]!.id = image.configDigest;
  return rows;
}
