// Stages, step by step. Each stage has two memoized passes: keysOf computes
// every step's cache key and whether the cache holds it, without running or
// unpacking anything; resultOf runs the steps that missed. A stage runs only
// when the target needs its layers: as a base, or because a step that missed
// reads from it. So a COPY --from that hits the cache never makes its source
// stage run, and a stage the target does not need never runs at all.
import { DockerfileError, parsePlatform, type Platform } from "@tsbuild/dockerfile";
import type { Snapshotter } from "@tsbuild/layers";
import type { Store } from "@tsbuild/store";
import type { BuildPlan, PlannedStage, PlannedStep } from "../plan/types.js";
import type { BuildContextIndex } from "./build-context.js";
import { canonical, cacheKey, explainMiss, type StepInputs } from "./cache-key.js";
import type { CachedStep, RemoteCache } from "./cache-transfer.js";
import type { BuildEvent, StepRef } from "./events.js";
import { applyStepToConfig, historyCreatedBy, historyEntry, scratchConfig, stageStartConfig, type StageConfigState } from "./image-config.js";
import type { ImageSource, NamedContext } from "./image-source.js";
import type { LayerInfo } from "./layer-io.js";
import { prepareLayerStep, type LayerStep } from "./layer-steps.js";
import type { BuildOptions } from "./build.js";

/** A failed step: names the Dockerfile position, the instruction and the cause. */
export class BuildStepError extends Error {
  override readonly name = "BuildStepError";
  constructor(
    readonly file: string,
    readonly line: number,
    readonly instruction: string,
    override readonly cause: Error,
  ) {
    super(`${file}:${line}: ${instruction}: ${cause.message}`);
  }
}

export interface StageResult {
  state: StageConfigState;
  /** All layers, oldest first (base layers included). */
  diffIDs: string[];
  sizes: Map<string, number>;
  createdBy: Map<string, string>;
  baseLayerCount: number;
  /**
   * When the newest layer was made (from its cache record on a hit), so that a fully cached
   * rebuild gives the same config, history and image ID.
   */
  lastCreated: string;
  /** The cache key of the stage's last step (what depends on this stage is keyed on it). */
  key: string;
}

/** What keysOf learns of a stage without running it. */
export interface StageKeys {
  key: string;
  state: StageConfigState;
  /** Stages read by steps that missed the cache: they must run for this stage to run. */
  readsOnMiss: number[];
}

export interface StageRunner {
  /** Records imported with --cache-from. */
  remoteCache?: RemoteCache;
  /** Every layer step of this build by stage, hit or miss (for --cache-to). */
  steps: Map<number, CachedStep[]>;
  store: Store;
  snapshotter: Snapshotter;
  emit: (event: BuildEvent) => void;
  file: string;
  plan: BuildPlan;
  image: (ref: string, platform?: Platform) => Promise<ImageSource>;
  named: Map<string, NamedContext>;
  mainContext: () => Promise<BuildContextIndex>;
  created: Date;
  options: BuildOptions;
  noCacheStages: Set<string>;
  target: Platform;
  /** Base images whose layers are unpacked already. */
  materialized: Set<string>;
  keysOf(index: number): Promise<StageKeys>;
  resultOf(index: number): Promise<StageResult>;
  /** Prepared layer steps by stage, step and parent key: the key pass and the run share them. */
  prepared: Map<string, Promise<LayerStep>>;
}

export const CACHE_RECORD_VERSION = 1;

/** A cache record's payload: the step's layer (none for a step that changed nothing). */
interface StepRecord {
  diffID?: string;
  size?: number;
}

/** The inputs of the last run of an instruction, kept to explain the next miss in words. */
interface ExplainRecord {
  inputs: StepInputs;
}

/** Wires the memoized passes into a runner. */
export function withStagePasses(runner: Omit<StageRunner, "keysOf" | "resultOf" | "prepared">): StageRunner {
  const keys = new Map<number, Promise<StageKeys>>();
  const results = new Map<number, Promise<StageResult>>();
  const full = runner as StageRunner;
  full.prepared = new Map();
  full.keysOf = (index) => {
    let found = keys.get(index);
    if (!found) keys.set(index, (found = stageKeys(full, full.plan.allStages[index]!)));
    return found;
  };
  full.resultOf = (index) => {
    let found = results.get(index);
    if (!found) results.set(index, (found = runStage(full, full.plan.allStages[index]!)));
    return found;
  };
  return full;
}

/** The stages whose results the target needs: its base chain and what its missed steps read. */
export async function stagesToRun(runner: StageRunner, target: number): Promise<number[]> {
  const needed = new Set<number>();
  const queue = [target];
  while (queue.length > 0) {
    const index = queue.pop()!;
    if (needed.has(index)) continue;
    needed.add(index);
    const stage = runner.plan.allStages[index]!;
    if (stage.base.kind === "stage") queue.push(stage.base.index);
    queue.push(...(await runner.keysOf(index)).readsOnMiss);
  }
  return [...needed];
}

function isLayerStep(step: PlannedStep): boolean {
  const kind = step.instruction.kind;
  return kind === "run" || kind === "copy" || kind === "add" || kind === "workdir";
}

function metadataKey(parent: string, step: PlannedStep): string {
  return cacheKey({ parent, instruction: canonical({ ...step.instruction, source: undefined }) });
}

function noCacheFor(runner: StageRunner, stage: PlannedStage): boolean {
  return runner.options.noCache === true || (stage.name !== undefined && runner.noCacheStages.has(stage.name));
}

/** The step's record: from the local cache, else from --cache-from (its layer fetched), else none. */
async function cachedRecord(runner: StageRunner, key: string, noCache: boolean, fetch: boolean): Promise<{ record: StepRecord; createdAt: string } | undefined> {
  if (noCache) return undefined;
  const hit = await runner.store.getCacheRecord<StepRecord>(key);
  if (hit && hit.version === CACHE_RECORD_VERSION) return { record: hit.payload, createdAt: hit.createdAt };
  const remote = runner.remoteCache?.lookup(key);
  if (!remote) return undefined;
  const record: StepRecord = remote.diffID ? { diffID: remote.diffID, size: remote.size } : {};
  if (!fetch) return { record, createdAt: remote.createdAt };
  if (remote.diffID) await runner.remoteCache!.fetchLayer(remote.diffID);
  await runner.store.putCacheRecord(key, { version: CACHE_RECORD_VERSION, layers: remote.diffID ? [remote.diffID] : [], payload: record });
  return { record, createdAt: remote.createdAt };
}

async function baseKeys(runner: StageRunner, stage: PlannedStage): Promise<{ key: string; state: StageConfigState }> {
  const base = stage.base;
  const platform = stagePlatform(runner, stage);
  switch (base.kind) {
    case "scratch":
      return { key: `scratch:${platform.os}/${platform.architecture}`, state: stageStartConfig(scratchConfig(platform.architecture, platform.os, platform.variant)) };
    case "stage": {
      const parent = await runner.keysOf(base.index);
      return { key: parent.key, state: stageStartConfig(parent.state.config) };
    }
    case "context":
    case "image": {
      const source = await baseImage(runner, stage);
      return { key: `image:${source.configDigest}`, state: stageStartConfig(source.config) };
    }
  }
}

/** The platform a stage is built for: its FROM --platform, else the build's target. */
export function stagePlatform(runner: StageRunner, stage: PlannedStage): Platform {
  return stage.platform ? parsePlatform(stage.platform) : runner.target;
}

export async function baseImage(runner: StageRunner, stage: PlannedStage): Promise<ImageSource> {
  const base = stage.base;
  if (base.kind === "context") {
    if (runner.named.get(base.name)!.kind === "dir") {
      throw new Error(`build context ${base.name} is a directory: use it with COPY --from=${base.name}, not FROM`);
    }
    return runner.image(base.name, stagePlatform(runner, stage));
  }
  if (base.kind !== "image") throw new Error(`stage ${stage.index} has no base image`);
  return runner.image(base.ref, stagePlatform(runner, stage));
}

async function stageKeys(runner: StageRunner, stage: PlannedStage): Promise<StageKeys> {
  const syntax = runner.plan.program.stages[stage.index]!;
  let current: { key: string; state: StageConfigState };
  try {
    current = await baseKeys(runner, stage);
  } catch (error) {
    throw new BuildStepError(runner.file, syntax.from.source.range.start.line, syntax.from.source.original.trim(), error as Error);
  }
  const noCache = noCacheFor(runner, stage);
  const readsOnMiss = new Set<number>();
  for (const step of stage.steps) {
    const after = applyStepToConfig(current.state, step);
    if (!isLayerStep(step)) {
      current = { key: metadataKey(current.key, step), state: after };
      continue;
    }
    const prepared = await atInstruction(runner, step, () => preparedStep(runner, stage, step, current, after));
    const key = `sha256:${cacheKey(prepared.inputs)}`;
    if (!(await cachedRecord(runner, key, noCache, false))) for (const index of Object.values(step.stageRefs ?? {})) readsOnMiss.add(index);
    current = { key, state: after };
  }
  return { ...current, readsOnMiss: [...readsOnMiss] };
}

/** prepareLayerStep, once per stage, step and parent key (hashing a large COPY's files is not free). */
function preparedStep(runner: StageRunner, stage: PlannedStage, step: PlannedStep, before: { key: string; state: StageConfigState }, after: StageConfigState): Promise<LayerStep> {
  const id = `${stage.index}\0${stage.steps.indexOf(step)}\0${before.key}`;
  let found = runner.prepared.get(id);
  if (!found) {
    found = prepareLayerStep(runner, step, before, after);
    runner.prepared.set(id, found);
  }
  return found;
}

async function atInstruction<T>(runner: StageRunner, step: PlannedStep, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof DockerfileError || (error as Error).name === "AbortError") throw error;
    throw new BuildStepError(runner.file, step.instruction.source.range.start.line, step.instruction.source.original.trim(), error as Error);
  }
}

async function stageBase(runner: StageRunner, stage: PlannedStage): Promise<StageResult> {
  const { key, state } = await baseKeys(runner, stage);
  if (stage.base.kind === "stage") {
    const parent = await runner.resultOf(stage.base.index);
    return { ...parent, state, key, sizes: new Map(parent.sizes), createdBy: new Map(parent.createdBy), baseLayerCount: parent.diffIDs.length };
  }
  const result: StageResult = { state, key, diffIDs: [], sizes: new Map(), createdBy: new Map(), baseLayerCount: 0, lastCreated: runner.created.toISOString() };
  if (stage.base.kind === "scratch") return result;
  const source = await baseImage(runner, stage);
  if (runner.options.sourceDateEpoch === undefined && source.config.created) result.lastCreated = source.config.created;
  result.diffIDs = source.layers.map((l) => l.diffID);
  result.baseLayerCount = result.diffIDs.length;
  const history = (source.config.history ?? []).filter((h) => !h.empty_layer);
  source.layers.forEach((l, i) => {
    result.sizes.set(l.diffID, l.descriptor.size);
    result.createdBy.set(l.diffID, history[i]?.created_by ?? "");
  });
  return result;
}

async function runStage(runner: StageRunner, stage: PlannedStage): Promise<StageResult> {
  const label = stage.name ?? String(stage.index);
  const syntax = runner.plan.program.stages[stage.index]!;
  const total = stage.steps.length + 1;
  const ref = (step: number, instruction: string): StepRef => ({ stage: label, step, total, instruction });
  const fromRef = ref(1, syntax.from.source.original.trim());
  runner.emit({ type: "step-start", ...fromRef });
  let result: StageResult;
  try {
    result = await stageBase(runner, stage);
  } catch (error) {
    if (error instanceof BuildStepError) throw error;
    throw new BuildStepError(runner.file, syntax.from.source.range.start.line, fromRef.instruction, error as Error);
  }
  runner.emit({ type: "step-done", durationMs: 0, ...fromRef });
  const noCache = noCacheFor(runner, stage);
  let explained = false;
  for (const [i, step] of stage.steps.entries()) {
    const stepRef = ref(i + 2, step.instruction.source.original.trim());
    runner.options.signal?.throwIfAborted();
    const began = Date.now();
    runner.emit({ type: "step-start", ...stepRef });
    const outcome = await atInstruction(runner, step, () => runStep(runner, stage, step, result, stepRef, noCache, !explained));
    if (outcome.missed) explained = true;
    result = outcome.result;
    runner.emit({ type: outcome.cached ? "step-cached" : "step-done", durationMs: Date.now() - began, ...stepRef, ...(outcome.layer ? { layer: outcome.layer } : {}) });
  }
  return result;
}

interface StepOutcome {
  result: StageResult;
  cached: boolean;
  missed: boolean;
  layer?: LayerInfo;
}

async function runStep(runner: StageRunner, stage: PlannedStage, step: PlannedStep, current: StageResult, stepRef: StepRef, noCache: boolean, explainMisses: boolean): Promise<StepOutcome> {
  const state = applyStepToConfig(current.state, step);
  const createdBy = historyCreatedBy(step, current.state.config.config);
  if (!isLayerStep(step)) {
    state.config.history = [...(state.config.history ?? []), historyEntry(createdBy, current.lastCreated, true)];
    return { result: { ...current, state, key: metadataKey(current.key, step) }, cached: false, missed: false };
  }
  const prepared = await preparedStep(runner, stage, step, current, state);
  const { record, created, cached } = await recordOrRun(runner, stage, step, prepared, current, stepRef, noCache, explainMisses);
  const key = `sha256:${cacheKey(prepared.inputs)}`;
  const stepsOfStage = runner.steps.get(stage.index) ?? [];
  stepsOfStage.push({ key, ...(record.diffID ? { diffID: record.diffID, size: record.size } : {}), createdAt: created });
  runner.steps.set(stage.index, stepsOfStage);
  const result: StageResult = { ...current, state, key, sizes: new Map(current.sizes), createdBy: new Map(current.createdBy), lastCreated: created };
  const layer = record.diffID ? { diffID: record.diffID, size: record.size ?? 0 } : undefined;
  result.state.config.history = [...(state.config.history ?? []), historyEntry(createdBy, created, layer === undefined)];
  if (layer) {
    result.diffIDs = [...current.diffIDs, layer.diffID];
    result.sizes.set(layer.diffID, layer.size);
    result.createdBy.set(layer.diffID, createdBy);
  }
  return { result, cached, missed: !cached, layer };
}

/** The step's record from a cache, or made by running it (then recorded, with its inputs for explanations). */
async function recordOrRun(
  runner: StageRunner,
  stage: PlannedStage,
  step: PlannedStep,
  { inputs, listFiles, execute }: LayerStep,
  current: StageResult,
  stepRef: StepRef,
  noCache: boolean,
  explainMisses: boolean,
): Promise<{ record: StepRecord; created: string; cached: boolean }> {
  const key = `sha256:${cacheKey(inputs)}`;
  const epoch = runner.options.sourceDateEpoch !== undefined ? runner.created.toISOString() : undefined;
  const hit = await cachedRecord(runner, key, noCache, true);
  if (hit) return { record: hit.record, created: epoch ?? hit.createdAt, cached: true };
  const explainKey = `sha256:${cacheKey({ parent: "explain", instruction: canonical([runner.file, stage.name ?? stage.index, step.instruction.source.original]) })}`;
  // The inputs as an explanation needs them: with the files listed.
  const explained: StepInputs = listFiles && !inputs.files ? { ...inputs, files: await listFiles() } : inputs;
  if (explainMisses && !noCache) {
    const previous = await runner.store.getCacheRecord<ExplainRecord>(explainKey);
    runner.emit({ type: "cache-miss", reason: explainMiss(explained, previous?.payload.inputs), ...stepRef });
  }
  const layer = await execute(stepRef, current.diffIDs);
  const record: StepRecord = layer ? { diffID: layer.diffID, size: layer.size } : {};
  // Written at once: their fsyncs share the file system's journal commits.
  const [written] = await Promise.all([
    runner.store.putCacheRecord(key, { version: CACHE_RECORD_VERSION, layers: layer ? [layer.diffID] : [], payload: record }),
    runner.store.putCacheRecord<ExplainRecord>(explainKey, { version: CACHE_RECORD_VERSION, layers: [], payload: { inputs: explained } }),
  ]);
  // A rebuild takes the time from the record: the same for a hit as for this miss.
  return { record, created: epoch ?? written.createdAt, cached: false };
}
