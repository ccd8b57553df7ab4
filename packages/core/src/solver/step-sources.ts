// What a step reads besides its parent: the build context, a named context, or
// another stage's or an image's layers. For cache keys only identities are
// needed (a stage's key, an image's digest, the context files' digests), so
// a cached step never makes another stage run; a step that runs opens a read
// view of the layers.
import { readlink } from "node:fs/promises";
import path from "node:path";
import { resolveInRoot } from "@tsbuild/executor";
import { onlyLayerOf } from "@tsbuild/layers";
import type { PlannedStep } from "../plan/types.js";
import { BuildContextIndex } from "./build-context.js";
import { cacheKey, keyBasis, rememberCacheKey, type StepInputs } from "./cache-key.js";
import { cleanSourcePath, CopyError, type CopySourceRoot } from "./copy.js";
import { hasWildcard } from "./glob.js";
import type { ImageSource } from "./image-source.js";
import type { MountSource } from "./run-mounts.js";
import { baseImage, type StageRunner } from "./stage-runner.js";

export interface SourceHandle {
  root: CopySourceRoot;
  /** Present for the build context and named directory contexts (filtered, digestible). */
  index?: BuildContextIndex;
  release(): Promise<void>;
}

const noop = async (): Promise<void> => undefined;

/** The filtered index of the build context or of a named directory context, when `from` names one. */
export async function contextIndexOf(runner: StageRunner, from: string | undefined): Promise<SourceHandle | undefined> {
  if (from === undefined) {
    const index = await runner.mainContext();
    return { root: { dir: index.root, index, preserveOwner: false, label: "build context" }, index, release: noop };
  }
  const named = runner.named.get(from);
  if (named?.kind !== "dir") return undefined;
  const index = BuildContextIndex.scan(named.dir, []);
  return { root: { dir: named.dir, index, preserveOwner: false, label: `build context ${from}` }, index, release: noop };
}

/** What a cache key records of a stage or image source: its key or digest (no layers are touched). */
export async function sourceIdentity(runner: StageRunner, step: PlannedStep, from: string): Promise<string> {
  const stage = step.stageRefs?.[from];
  if (stage !== undefined) return `stage:${(await runner.keysOf(stage)).key}`;
  return `image:${(await runner.image(from)).configDigest}`;
}

/**
 * What `from` names, readable as a directory tree: a context as it is, or a stage's or image's
 * merged layers as a read view (a snapshot that is removed, never committed). For a stage this
 * waits for the stage's result: reading its files needs its layers. `paths`: the only paths that
 * will be read, when known; if one layer alone makes up all of them, its dir is the view.
 */
export async function openFrom(runner: StageRunner, step: PlannedStep, from: string | undefined, paths?: readonly string[]): Promise<SourceHandle> {
  const context = await contextIndexOf(runner, from);
  if (context) return context;
  let diffIDs: string[];
  let label: string;
  const stage = step.stageRefs?.[from!];
  if (stage !== undefined) {
    diffIDs = (await runner.resultOf(stage)).diffIDs;
    label = `stage ${from}`;
  } else {
    const source = await runner.image(from!);
    await source.materialize();
    diffIDs = source.layers.map((l) => l.diffID);
    label = `image ${from}`;
  }
  await ensureLayers(runner, diffIDs);
  const lowers = [...diffIDs].reverse().map((d) => runner.store.layerDir(d));
  // Source paths that one layer alone makes up are read from its dir, without mounting a view.
  const layers = paths && paths.length > 0 && !paths.some(hasWildcard) ? new Set(paths.map((p) => onlyLayerOf(lowers, p))) : undefined;
  const [only] = layers?.size === 1 ? layers : [];
  if (only !== undefined) return { root: { dir: lowers[only]!, preserveOwner: true, label, layerDir: true }, release: noop };
  const view = await runner.snapshotter.prepare(lowers, runner.store.paths.snapshots);
  return { root: { dir: view.rootfs, preserveOwner: true, label }, release: () => view.remove() };
}

/** A RUN --mount source for the cache key: context file digests, or the stage's/image's identity. */
export async function mountIdentity(runner: StageRunner, step: PlannedStep, from: string | undefined, sourcePath: string): Promise<{ identity?: string; files?: Record<string, string> }> {
  const context = await contextIndexOf(runner, from);
  if (!context) return { identity: `${await sourceIdentity(runner, step, from!)}:${sourcePath}` };
  const rel = cleanSourcePath(sourcePath, context.root.label);
  return { files: await contextDigests(context.index!, [rel]) };
}

/** A RUN --mount source to mount: a path inside what `from` names. */
export async function openMountSource(runner: StageRunner, step: PlannedStep, from: string | undefined, sourcePath: string): Promise<MountSource> {
  const handle = await openFrom(runner, step, from);
  try {
    const rel = cleanSourcePath(sourcePath, handle.root.label);
    const dir = await resolveInRoot(handle.root.dir, rel);
    const inside = path.relative(handle.root.dir, dir);
    if (inside.startsWith("..")) throw new CopyError(`${sourcePath}: forbidden path outside the ${handle.root.label}`);
    if (handle.index && !handle.index.entries.has(inside.split(path.sep).join("/"))) {
      throw new CopyError(`${sourcePath}: not found in the ${handle.root.label}`);
    }
    return { dir, release: handle.release };
  } catch (error) {
    await handle.release();
    throw error;
  }
}

/**
 * The inputs of a step that reads `roots` of a context, and how to list those files (to explain a
 * miss). Their key comes from the files' digests; a build records it against a stamp of the
 * files' stats, and a later build whose stamp is the same takes the key without listing or
 * looking up a file (decision 0016).
 */
export async function contextStepInputs(
  index: BuildContextIndex,
  roots: readonly string[],
  basis: Pick<StepInputs, "parent" | "instruction">,
): Promise<{ inputs: StepInputs; listFiles: () => Promise<Record<string, string>> }> {
  let listed: Promise<Record<string, string>> | undefined;
  const listFiles = () => (listed ??= contextDigests(index, roots));
  const stamp = index.selectionStamp(roots, keyBasis(basis));
  const known = stamp && index.knownForSelection(stamp);
  if (known) {
    const inputs: StepInputs = { ...basis };
    rememberCacheKey(inputs, known);
    return { inputs, listFiles };
  }
  const inputs: StepInputs = { ...basis, files: await listFiles() };
  if (stamp) index.recordForSelection(stamp, cacheKey(inputs));
  return { inputs, listFiles };
}

/** Content digests of the context files a step reads (whole trees for directories). */
export async function contextDigests(index: BuildContextIndex, roots: readonly string[]): Promise<Record<string, string>> {
  const wanted = new Set<string>();
  for (const root of roots) {
    wanted.add(root);
    const prefix = root === "" ? "" : `${root}/`;
    for (const rel of index.entries.keys()) if (rel.startsWith(prefix)) wanted.add(rel);
  }
  const out: Record<string, string> = {};
  const reads: string[] = [];
  for (const rel of [...wanted].sort()) {
    const entry = index.entries.get(rel);
    if (!entry) continue;
    if (entry.type === "dir") out[rel] = `dir:${modeBits(entry.stat.mode)}`;
    else if (entry.type === "symlink") reads.push(rel);
    else if (entry.type === "file") {
      const known = index.knownDigest(rel);
      if (known) out[rel] = `file:${modeBits(entry.stat.mode)}:${known}`;
      else reads.push(rel);
    }
  }
  // Files the stat cache knows cost nothing; the others are read and hashed, 16 at once: one loop
  // each over the list, not a queued promise and closure per file (20,000 of those held ~5 MiB
  // through a cold build's hashing).
  let next = 0;
  const reader = async () => {
    while (next < reads.length) {
      const rel = reads[next++]!;
      const entry = index.entries.get(rel)!;
      out[rel] = entry.type === "symlink" ? `symlink:${await readlink(path.join(index.root, rel))}` : `file:${modeBits(entry.stat.mode)}:${await index.fileDigest(rel)}`;
    }
  };
  await Promise.all(Array.from({ length: 16 }, reader));
  return out;
}

const modeBits = (mode: number) => (mode & 0o7777).toString(8);

/** Makes sure the base image layers among `diffIDs` are unpacked (base images are lazy). */
export async function ensureLayers(runner: StageRunner, diffIDs: readonly string[]): Promise<void> {
  for (const [ref, promise] of baseImages(runner)) {
    if (runner.materialized.has(ref)) continue;
    const source = await promise;
    if (source.layers.some((l) => diffIDs.includes(l.diffID))) {
      await source.materialize();
      runner.materialized.add(ref);
    }
  }
}

function* baseImages(runner: StageRunner): Iterable<[string, Promise<ImageSource>]> {
  for (const stage of runner.plan.stages) {
    const imageBased = stage.base.kind === "image" || (stage.base.kind === "context" && runner.named.get(stage.base.name)?.kind === "image");
    if (imageBased) yield [`${stage.index}`, baseImage(runner, stage)];
  }
}
