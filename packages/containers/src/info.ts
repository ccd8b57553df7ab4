// `tsbuild info`: which storage driver this store gets and why, where the store is, and runc's version.
import { runcVersion } from "@tsbuild/executor";
import { detectSnapshotter } from "@tsbuild/layers";
import type { Store } from "@tsbuild/store";
import { listContainers } from "./records.js";
import { listVolumes } from "./volumes.js";

export interface StoreInfo {
  storageDriver: "overlay" | "native";
  storageDriverReason: string;
  root: string;
  runcVersion: string;
  images: number;
  containers: number;
  volumes: number;
}

export async function storeInfo(store: Store): Promise<StoreInfo> {
  const { snapshotter, reason } = await detectSnapshotter(store.paths.snapshots);
  let runc: string;
  try {
    runc = await runcVersion();
  } catch (error) {
    runc = `unavailable (${(error as Error).message}); install the Debian package runc`;
  }
  return {
    storageDriver: snapshotter.kind,
    storageDriverReason: reason,
    root: store.root,
    runcVersion: runc,
    images: (await store.listImages()).length,
    containers: (await listContainers(store)).length,
    volumes: (await listVolumes(store)).length,
  };
}
