// Moving layers between the layer engine and the store: a finished snapshot
// becomes a stored layer; an image's layer blob becomes an unpacked layer;
// a stored layer gives its tar back (from its blob, or from its directory).
import { lstat, lutimes, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { applyChangeset, changesetTar, type Snapshot } from "@tsbuild/layers";
import { uncompressedLayerStream, type Descriptor, type ImageLayer, type LayerTarSource } from "@tsbuild/oci";
import type { Store } from "@tsbuild/store";

export interface LayerInfo {
  diffID: string;
  /** Bytes of the uncompressed tar. */
  size: number;
}

/**
 * Commits a snapshot's changes as a layer: the upper dir is hashed as a changeset tar (one pass,
 * not compressed: only outputs that need a blob compress), unless the step `hashed` it as it wrote
 * it, and renamed into the store. A step that changed nothing gives no layer (BuildKit drops empty
 * layers the same way).
 */
export async function commitSnapshot(store: Store, snapshot: Snapshot, sourceDateEpoch: number | undefined, hashed?: LayerInfo): Promise<LayerInfo | undefined> {
  let upper: string | undefined;
  try {
    upper = await snapshot.commit();
    if ((await readdir(upper)).length === 0) {
      await snapshot.remove();
      return undefined;
    }
    // Clamping in the directory itself keeps the layer's tar reproducible from the directory alone.
    if (sourceDateEpoch !== undefined) await clampTimes(upper, sourceDateEpoch);
    const ingested = hashed ?? (await store.ingestLayerTar(changesetTar(upper), { compress: false }));
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

/** Hands a layer blob's bytes to `sink` as a stream (a registry download, a file of a layout). */
export type LayerBlobReader = <T>(descriptor: Descriptor, sink: (blob: NodeJS.ReadableStream) => Promise<T>) => Promise<T>;

/**
 * Puts an image layer into the store, once (content addressed). A blob the store has is unpacked
 * from there; one it lacks is unpacked as `read` delivers it while the same bytes are stored as the
 * blob (kept for exports and pushes): a pull reads the network once and unpacks during the
 * download. The blob must hash to its digest, or nothing is kept, and the tar to the layer's diffID,
 * or no layer is (the blob, the image's own content, then waits for `prune` like any unused one).
 */
export async function importLayer(store: Store, layer: ImageLayer, read: LayerBlobReader): Promise<void> {
  if (await store.hasLayer(layer.diffID)) return;
  const d = layer.descriptor;
  if (await store.hasBlob(d.digest)) return unpackLayer(store, layer, await store.openBlob(d.digest), false);
  await read(d, (blob) => unpackLayer(store, layer, blob, true));
}

async function unpackLayer(store: Store, layer: ImageLayer, blob: NodeJS.ReadableStream, storeBlob: boolean): Promise<void> {
  const d = layer.descriptor;
  const dir = await store.tempDir("import");
  const [forUnpack, forStore] = fanOut(blob, storeBlob ? 2 : 1);
  const tar = uncompressedLayerStream(forUnpack!, d);
  const [forApply, forHash] = fanOut(tar, 2);
  const applied = applyChangeset(forApply!, dir, { mode: "overlay" });
  const ingested = store.ingestLayerTar(forHash!, { compress: false, expectedDiffID: layer.diffID });
  const stored = forStore && store.putBlob(forStore, { expectedDigest: d.digest });
  // The first failure stops every stream, so that no branch waits on one nobody reads any more.
  const streams = [blob, forUnpack, forStore, tar, forApply, forHash].filter((s) => s !== undefined) as Readable[];
  const stop = (error: unknown): never => {
    for (const stream of streams) stream.destroy(error as Error);
    throw error;
  };
  const results = await Promise.allSettled([applied, ingested, stored].map((task) => task?.catch(stop)));
  try {
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    const { size } = await ingested;
    await store.commitLayerDir(dir, { diffID: layer.diffID, size, blobs: [{ digest: d.digest, size: d.size, mediaType: d.mediaType }] });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** `count` streams that each get every byte of `source` (the slowest sets the pace); errors reach all. */
function fanOut(source: NodeJS.ReadableStream, count: number): PassThrough[] {
  const branches = Array.from({ length: count }, () => {
    // A branch's reader reports its error, but may start reading only after an await: a branch
    // that fails before then must not be an unhandled 'error'.
    const branch = new PassThrough({ highWaterMark: 1 << 20 });
    branch.on("error", () => {});
    return branch;
  });
  source.on("error", (e: Error) => {
    for (const branch of branches) branch.destroy(e);
  });
  for (const branch of branches) source.pipe(branch);
  return branches;
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
