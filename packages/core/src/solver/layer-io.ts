// Moving layers between the layer engine and the store: a finished snapshot
// becomes a stored layer; an image's layer blob becomes an unpacked layer;
// a stored layer gives its tar back (from its blob, or from its directory).
import { lstat, lutimes, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { applyChangeset, changesetTar, type Snapshot } from "@tsbuild/layers";
import { uncompressedLayerStream, type ImageLayer, type LayerTarSource } from "@tsbuild/oci";
import type { Store } from "@tsbuild/store";

export interface LayerInfo {
  diffID: string;
  /** Bytes of the uncompressed tar. */
  size: number;
}

/**
 * Commits a snapshot's changes as a layer: the upper dir is hashed as a changeset tar (one pass,
 * not compressed: only outputs that need a blob compress) and renamed into the store. A step
 * that changed nothing gives no layer (BuildKit drops empty layers the same way).
 */
export async function commitSnapshot(store: Store, snapshot: Snapshot, sourceDateEpoch: number | undefined): Promise<LayerInfo | undefined> {
  let upper: string | undefined;
  try {
    upper = await snapshot.commit();
    if ((await readdir(upper)).length === 0) {
      await snapshot.remove();
      return undefined;
    }
    // Clamping in the directory itself keeps the layer's tar reproducible from the directory alone.
    if (sourceDateEpoch !== undefined) await clampTimes(upper, sourceDateEpoch);
    const ingested = await store.ingestLayerTar(changesetTar(upper), { compress: false });
    const layer = await store.commitLayerDir(upper, { diffID: ingested.diffID, size: ingested.size });
    await snapshot.remove();
    return { diffID: layer.diffID, size: layer.size };
  } catch (error) {
    await snapshot.remove();
    if (upper) await rm(upper, { recursive: true, force: true });
    throw error;
  }
}

async function clampTimes(dir: string, epoch: number): Promise<void> {
  const limit = new Date(epoch * 1000);
  const visit = async (p: string): Promise<void> => {
    const st = await lstat(p);
    if (st.isDirectory()) for (const name of await readdir(p)) await visit(path.join(p, name));
    if (st.mtimeMs > limit.getTime()) await lutimes(p, limit, limit);
  };
  await visit(dir);
}

/**
 * Unpacks an image layer whose blob is in the store (once: content addressed); the blob is kept
 * for later exports and pushes. The tar must hash to the layer's diffID.
 */
export async function importLayer(store: Store, layer: ImageLayer): Promise<void> {
  if (await store.hasLayer(layer.diffID)) return;
  const d = layer.descriptor;
  const dir = await store.tempDir("import");
  try {
    const tar = uncompressedLayerStream(await store.openBlob(d.digest), d.mediaType);
    const forApply = new PassThrough({ highWaterMark: 1 << 20 });
    const forHash = new PassThrough({ highWaterMark: 1 << 20 });
    tar.on("error", (e) => {
      forApply.destroy(e);
      forHash.destroy(e);
    });
    tar.pipe(forApply);
    tar.pipe(forHash);
    const [, ingested] = await Promise.all([
      applyChangeset(forApply, dir, { mode: "overlay" }),
      store.ingestLayerTar(forHash, { compress: false, expectedDiffID: layer.diffID }),
    ]);
    await store.commitLayerDir(dir, { diffID: layer.diffID, size: ingested.size, blobs: [{ digest: d.digest, size: d.size, mediaType: d.mediaType }] });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Uncompressed layer tars: from a recorded blob when there is one, else regenerated from the layer dir. */
export function layerTars(store: Store): LayerTarSource & { openTar(diffID: string): Promise<NodeJS.ReadableStream> } {
  const source = {
    async openLayerTar(diffID: string) {
      const layer = await store.getLayer(diffID);
      if (!layer) throw new Error(`layer ${diffID} is not in the store at ${store.root}`);
      if (layer.blobs.length > 0) return store.openLayerTar(diffID);
      return { size: layer.size, stream: changesetTar(layer.diffDir) };
    },
    async openTar(diffID: string) {
      return (await source.openLayerTar(diffID)).stream;
    },
  };
  return source;
}
