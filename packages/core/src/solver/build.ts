// The solver: Dockerfile + context + options -> plan -> executed steps -> image.
// Steps whose cache key has a record reuse its layer; the rest run on
// snapshots made by the layer engine. Independent stages run in parallel.
import { readFileSync } from "node:fs";
import { chmod, readFile, readlink, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { DockerfileError, ociArchitecture, parsePlatform, PatternMatcher, RunMountError, type Platform } from "@tsbuild/dockerfile";
import { mkdirInRoot, resolveInRoot, resolveUser, runInRootfs, RunFailedError, type ExecMount } from "@tsbuild/executor";
import { detectSnapshotter, type Snapshot, type Snapshotter } from "@tsbuild/layers";
import type { ImageConfig } from "@tsbuild/oci";
import { defaultStoreRoot, openStatCache, openStore, type Store } from "@tsbuild/store";
import { planBuild } from "../plan/plan.js";
import type { BuildPlan, PlannedStage, PlannedStep } from "../plan/types.js";
import { BuildContextIndex, readIgnorePatterns } from "./build-context.js";
import { canonical, cacheKey, explainMiss, type StepInputs } from "./cache-key.js";
import { cleanSourcePath, copyDestination, copyIntoRootfs, CopyError, readImageFile, resolveChown, selectSources, writeHeredocs, type CopySourceRoot } from "./copy.js";
import type { BuildEvent, BuildEventListener, LayerSummary, StepRef } from "./events.js";
import { exportImage, type OutputSpec } from "./export.js";
import {
  applyStepToConfig,
  commandArgs,
  historyCreatedBy,
  historyEntry,
  scratchConfig,
  stageStartConfig,
  type StageConfigState,
} from "./image-config.js";
import { parseNamedContext, resolveImage, type ImageSource, type NamedContext } from "./image-source.js";
import { commitSnapshot, type LayerInfo } from "./layer-io.js";
import { addFromSource } from "./add.js";
import { RegistryClient, type RegistryClientOptions } from "@tsbuild/registry";
import { exportCache, importCache, type CachedStep, type CacheSpec, type RemoteCache } from "./cache-transfer.js";
import { pushToRegistry } from "./distribution.js";
import { mountKey, prepareMounts, type MountSource, type RunMountOptions, type SecretSource } from "./run-mounts.js";

export interface BuildOptions {
  /** The build context directory. */
  context: string;
  /** The Dockerfile's path (default CONTEXT/Dockerfile), unless `dockerfileText` is given. */
  dockerfile?: string;
  /** The Dockerfile's text (e.g. from stdin). */
  dockerfileText?: string;
  buildArgs?: Record<string, string> | ReadonlyMap<string, string>;
  target?: string;
  /** `os/arch[/variant]`; default the host's. */
  platform?: string;
  /** Store root; default TSBUILD_ROOT, /var/lib/tsbuild as root, else $XDG_DATA_HOME/tsbuild. */
  root?: string;
  /** Names to tag the result with in the local image store. */
  tags?: string[];
  outputs?: OutputSpec[];
  noCache?: boolean;
  /** Stages (by name) that must not use the cache. */
  noCacheFilter?: string[];
  /** Labels added to the final image's config. */
  labels?: Record<string, string>;
  /** SOURCE_DATE_EPOCH: clamps timestamps in layers, config and history for byte-identical rebuilds. */
  sourceDateEpoch?: number;
  /** `--build-context NAME=DIR|oci-layout://PATH[:TAG]|docker-image://REF`. */
  buildContexts?: Record<string, string>;
  storageDriver?: "overlay" | "native";
  /** How to reach registries (CA files, insecure hosts, Docker config path). */
  registry?: RegistryClientOptions;
  /** `--secret id=…`: values RUN --mount=type=secret can read; never stored in a layer, config or history. */
  secrets?: Record<string, SecretSource>;
  /** `--ssh id=SOCKET`: agent sockets RUN --mount=type=ssh can use. */
  ssh?: Record<string, string>;
  /** Entitlements, e.g. `security.insecure` for RUN --security=insecure. */
  allow?: string[];
  /** Push the image to the registry under each of `tags`. */
  push?: boolean;
  /** Build cache to import before the build / export after it. */
  cacheFrom?: CacheSpec[];
  cacheTo?: CacheSpec[];
  signal?: AbortSignal;
  onEvent?: BuildEventListener;
}

export interface BuildResult {
  /** The image ID: the digest of its config, as Docker names images. */
  imageId: string;
  /** The digest of the manifest stored in the local image store. */
  manifestDigest: string;
  config: ImageConfig;
  layers: LayerSummary[];
  tags: string[];
  /** Bytes of the layers the image shares with its base image. */
  sharedWithBase: number;
}

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

interface StageResult {
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

const CACHE_RECORD_VERSION = 1;

interface StepRecord {
  diffID?: string;
  size?: number;
  inputs: StepInputs;
}

export async function build(options: BuildOptions): Promise<BuildResult> {
  const registry = new RegistryClient(options.registry ?? {});
  try {
    return await buildWith(options, registry);
  } finally {
    await registry.close();
  }
}

async function buildWith(options: BuildOptions, registry: RegistryClient): Promise<BuildResult> {
  const started = Date.now();
  const emit: BuildEventListener = options.onEvent ?? (() => undefined);
  const context = path.resolve(options.context);
  const dockerfilePath = options.dockerfileText === undefined ? path.resolve(options.dockerfile ?? path.join(context, "Dockerfile")) : options.dockerfile;
  const file = dockerfilePath ? path.relative(process.cwd(), dockerfilePath) || dockerfilePath : "Dockerfile";
  const text = options.dockerfileText ?? (await readDockerfile(dockerfilePath!));
  const host: Platform = { os: "linux", architecture: ociArchitecture(process.arch) };
  const target = options.platform ? parsePlatform(options.platform) : host;
  const named = new Map<string, NamedContext>(Object.entries(options.buildContexts ?? {}).map(([k, v]) => [k, parseNamedContext(v, process.cwd())]));
  const buildArgs = options.buildArgs instanceof Map ? options.buildArgs : new Map(Object.entries(options.buildArgs ?? {}));
  const planOptions = { file, buildArgs, target: options.target, targetPlatform: target, buildPlatform: host, namedContexts: new Set(named.keys()) };

  // Plan once to learn the base images, resolve them, then plan with their environments.
  const draft = planBuild(text, planOptions);
  const store = await openStore(options.root ?? defaultStoreRoot(process.env, process.getuid?.() ?? 0));
  const images = new Map<string, Promise<ImageSource>>();
  const image = (ref: string): Promise<ImageSource> => {
    const namedImage = named.get(ref);
    const actual = namedImage?.kind === "image" ? namedImage.ref : ref;
    let found = images.get(actual);
    if (!found) {
      found = resolveImage(store, actual, target, registry);
      images.set(actual, found);
    }
    return found;
  };
  const baseConfigs = new Map<string, ImageConfig>();
  for (const stage of draft.stages) {
    const ref = imageRefOf(stage, named);
    if (ref) baseConfigs.set(ref, (await atStep(file, stage, image(ref))).config);
  }
  const plan = planBuild(text, {
    ...planOptions,
    baseImageEnv: (ref) => baseConfigs.get(ref)?.config?.Env ?? (baseConfigs.has(ref) ? [] : undefined),
    baseImageOnBuild: (ref) => baseConfigs.get(ref)?.config?.OnBuild ?? undefined,
  });
  for (const finding of plan.findings) {
    emit({ type: "warning", message: `${finding.rule}: ${finding.message}`, file, line: finding.range?.start.line, rule: finding.rule });
  }
  const checkErrors = plan.findings.filter((f) => f.error);
  if (checkErrors.length > 0) {
    const first = checkErrors[0]!;
    throw new DockerfileError(`${first.rule}: ${first.message} (# check=error=true makes build check findings errors)`, first.range, plan.ast.lines[(first.range?.start.line ?? 1) - 1], file);
  }
  for (const name of plan.unusedBuildArgs) emit({ type: "warning", message: `build-arg ${name} was not consumed by any ARG in the stages built` });

  const { snapshotter, reason } = await detectSnapshotter(store.paths.snapshots, options.storageDriver);
  emit({ type: "build-start", target: plan.target.name ?? String(plan.target.index), stages: plan.stages.length, storeRoot: store.root, snapshotter: `${snapshotter.kind} (${reason})` });

  const statCache = await openStatCache(store, context);
  let contextIndex: Promise<BuildContextIndex> | undefined;
  const mainContext = (): Promise<BuildContextIndex> => {
    contextIndex ??= readIgnorePatterns(context, dockerfilePath).then((patterns) => BuildContextIndex.scan(context, patterns, statCache));
    return contextIndex;
  };
  const created = options.sourceDateEpoch !== undefined ? new Date(options.sourceDateEpoch * 1000) : new Date();
  const warn = (message: string) => emit({ type: "warning", message });
  const remoteCache = options.cacheFrom?.length ? await importCache(options.cacheFrom, store, registry, warn) : undefined;
  const runner: StageRunner = {
    remoteCache,
    steps: new Map(),
    store,
    snapshotter,
    emit,
    file,
    plan,
    image,
    named,
    mainContext,
    created,
    options,
    results: new Map(),
    noCacheStages: new Set((options.noCacheFilter ?? []).map((s) => s.toLowerCase())),
    target,
  };
  try {
    for (const stage of plan.stages) {
      runner.results.set(stage.index, runStage(runner, stage));
    }
    // Surface the first failure, but let every stage settle so no snapshot is left mounted.
    const settled = await Promise.allSettled(runner.results.values());
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
  } finally {
    await statCache.save();
  }

  const final = await runner.results.get(plan.target.index)!;
  // Outputs need every layer in the store, base layers no step unpacked included.
  await ensureLayers(runner, final.diffIDs, new Set());
  const config = finalConfig(final, options);
  const exported = await exportImage({
    store,
    config,
    diffIDs: final.diffIDs,
    tags: options.tags ?? [],
    outputs: options.outputs ?? [],
    emit,
  });
  const layers: LayerSummary[] = [];
  for (const [i, diffID] of final.diffIDs.entries()) {
    const size = (await store.getLayer(diffID))?.size ?? final.sizes.get(diffID) ?? 0;
    layers.push({ diffID, size, createdBy: final.createdBy.get(diffID) ?? "", fromBase: i < final.baseLayerCount });
  }
  const sharedWithBase = layers.filter((l) => l.fromBase).reduce((sum, l) => sum + l.size, 0);
  {
    for (const tag of [...(options.push ? exported.tags : []), ...exported.pushNames]) {
      const began = Date.now();
      emit({ type: "export-start", output: `registry:${tag}` });
      const digest = await pushToRegistry(store, registry, tag);
      emit({ type: "export-done", output: `registry:${tag}`, durationMs: Date.now() - began, detail: digest });
    }
  }
  for (const spec of options.cacheTo ?? []) {
    const began = Date.now();
    const label = spec.type === "registry" ? `cache:${spec.ref}` : `cache:${spec.dir}`;
    emit({ type: "export-start", output: label });
    const stages = spec.mode === "max" ? plan.stages.map((s) => s.index) : finalImageStages(plan, plan.target);
    const digest = await exportCache(spec, stages.flatMap((i) => runner.steps.get(i) ?? []), store, registry);
    emit({ type: "export-done", output: label, durationMs: Date.now() - began, detail: digest });
  }
  emit({ type: "build-done", imageId: exported.configDigest, manifestDigest: exported.manifestDigest, durationMs: Date.now() - started, layers, sharedWithBase });
  return { imageId: exported.configDigest, manifestDigest: exported.manifestDigest, config, layers, tags: exported.tags, sharedWithBase };
}

async function readDockerfile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`no Dockerfile at ${file}: give one with -f FILE (or -f - for standard input)`);
    throw error;
  }
}

/** The stages whose layers end up in the image: the target and the stages it is based on (cache mode=min). */
function finalImageStages(plan: BuildPlan, stage: PlannedStage): number[] {
  const chain = [stage.index];
  for (let s = stage; s.base.kind === "stage"; ) {
    const index: number = s.base.index;
    chain.push(index);
    s = plan.allStages[index]!;
  }
  return chain;
}

function imageRefOf(stage: PlannedStage, named: Map<string, NamedContext>): string | undefined {
  if (stage.base.kind === "image") return stage.base.ref;
  if (stage.base.kind === "context") {
    const ctx = named.get(stage.base.name);
    if (ctx?.kind === "image") return stage.base.name;
  }
  return undefined;
}

/** Attaches the FROM line to a base image failure. */
async function atStep<T>(file: string, stage: PlannedStage, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw new BuildStepError(file, 0, `FROM (stage ${stage.name ?? stage.index})`, error as Error);
  }
}

function finalConfig(final: StageResult, options: BuildOptions): ImageConfig {
  const config = structuredClone(final.state.config);
  if (options.labels && Object.keys(options.labels).length > 0) {
    config.config = { ...config.config, Labels: { ...config.config?.Labels, ...options.labels } };
  }
  config.created = final.lastCreated;
  config.rootfs = { type: "layers", diff_ids: [...final.diffIDs] };
  return config;
}

interface StageRunner {
  /** Records imported with --cache-from. */
  remoteCache?: RemoteCache;
  /** Every layer step of this build by stage, hit or miss (for --cache-to). */
  steps: Map<number, CachedStep[]>;
  store: Store;
  snapshotter: Snapshotter;
  emit: (event: BuildEvent) => void;
  file: string;
  plan: BuildPlan;
  image: (ref: string) => Promise<ImageSource>;
  named: Map<string, NamedContext>;
  mainContext: () => Promise<BuildContextIndex>;
  created: Date;
  options: BuildOptions;
  results: Map<number, Promise<StageResult>>;
  noCacheStages: Set<string>;
  target: Platform;
}

async function stageBase(runner: StageRunner, stage: PlannedStage): Promise<StageResult> {
  const base = stage.base;
  const platform = stage.platform ? parsePlatform(stage.platform) : runner.target;
  switch (base.kind) {
    case "scratch":
      return emptyResult(stageStartConfig(scratchConfig(platform.architecture, platform.os, platform.variant)), `scratch:${platform.os}/${platform.architecture}`, runner.created.toISOString());
    case "stage": {
      const parent = await runner.results.get(base.index)!;
      return { ...parent, state: stageStartConfig(parent.state.config), sizes: new Map(parent.sizes), createdBy: new Map(parent.createdBy), baseLayerCount: parent.diffIDs.length };
    }
    case "context": {
      const ctx = runner.named.get(base.name)!;
      if (ctx.kind === "dir") {
        throw new Error(`build context ${base.name} is a directory: use it with COPY --from=${base.name}, not FROM`);
      }
      return imageResult(runner, await runner.image(base.name));
    }
    case "image":
      return imageResult(runner, await runner.image(base.ref));
  }
}

function emptyResult(state: StageConfigState, key: string, lastCreated: string): StageResult {
  return { state, diffIDs: [], sizes: new Map(), createdBy: new Map(), baseLayerCount: 0, key, lastCreated };
}

function imageResult(runner: StageRunner, source: ImageSource): StageResult {
  const created = runner.options.sourceDateEpoch !== undefined ? runner.created.toISOString() : (source.config.created ?? runner.created.toISOString());
  const result = emptyResult(stageStartConfig(source.config), `image:${source.configDigest}`, created);
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
    throw new BuildStepError(runner.file, syntax.from.source.range.start.line, fromRef.instruction, error as Error);
  }
  runner.emit({ type: "step-done", durationMs: 0, ...fromRef });
  const noCache = runner.options.noCache === true || (stage.name !== undefined && runner.noCacheStages.has(stage.name));
  let explained = false;
  const materialized = new Set<string>();
  for (const [i, step] of stage.steps.entries()) {
    const stepRef = ref(i + 2, step.instruction.source.original.trim());
    runner.options.signal?.throwIfAborted();
    const began = Date.now();
    runner.emit({ type: "step-start", ...stepRef });
    try {
      const outcome = await runStep(runner, stage, step, result, stepRef, noCache, !explained, materialized);
      if (outcome.missed) explained = true;
      result = outcome.result;
      runner.emit({ type: outcome.cached ? "step-cached" : "step-done", durationMs: Date.now() - began, ...stepRef, ...(outcome.layer ? { layer: outcome.layer } : {}) });
    } catch (error) {
      if (error instanceof DockerfileError || (error as Error).name === "AbortError") throw error;
      throw new BuildStepError(runner.file, step.instruction.source.range.start.line, stepRef.instruction, error as Error);
    }
  }
  return result;
}

interface StepOutcome {
  result: StageResult;
  cached: boolean;
  missed: boolean;
  layer?: LayerInfo;
}

async function runStep(
  runner: StageRunner,
  stage: PlannedStage,
  step: PlannedStep,
  current: StageResult,
  stepRef: StepRef,
  noCache: boolean,
  explainMisses: boolean,
  materialized: Set<string>,
): Promise<StepOutcome> {
  const instruction = step.instruction;
  const configBefore = current.state.config.config;
  const state = applyStepToConfig(current.state, step);
  const createdBy = historyCreatedBy(step, configBefore);

  if (instruction.kind !== "run" && instruction.kind !== "copy" && instruction.kind !== "add" && instruction.kind !== "workdir") {
    const key = cacheKey({ parent: current.key, instruction: canonical({ ...instruction, source: undefined }) });
    state.config.history = [...(state.config.history ?? []), historyEntry(createdBy, current.lastCreated, true)];
    return { result: { ...current, state, key }, cached: false, missed: false };
  }

  const prepared = await prepareLayerStep(runner, stage, step, current, state, stepRef, materialized);
  try {
    return await cachedOrRun(runner, stage, step, current, state, stepRef, noCache, explainMisses, prepared, createdBy);
  } finally {
    await prepared.release();
  }
}

/** The step's record from the local cache, else from --cache-from, else by running it. */
async function cachedOrRun(
  runner: StageRunner,
  stage: PlannedStage,
  step: PlannedStep,
  current: StageResult,
  state: StageConfigState,
  stepRef: StepRef,
  noCache: boolean,
  explainMisses: boolean,
  { inputs, execute }: PreparedStep,
  createdBy: string,
): Promise<StepOutcome> {
  const instruction = step.instruction;
  const key = `sha256:${cacheKey(inputs)}`;
  const explainKey = `sha256:${cacheKey({ parent: "explain", instruction: canonical([runner.file, stage.name ?? stage.index, instruction.source.original]) })}`;
  let record: StepRecord | undefined;
  let created = runner.created.toISOString();
  let cached = false;
  let missed = false;
  if (!noCache) {
    const hit = await runner.store.getCacheRecord<StepRecord>(key);
    if (hit && hit.version === CACHE_RECORD_VERSION) {
      record = hit.payload;
      cached = true;
      if (runner.options.sourceDateEpoch === undefined) created = hit.createdAt;
    }
  }
  const remote = !record && !noCache ? runner.remoteCache?.lookup(key) : undefined;
  if (remote) {
    if (remote.diffID) await runner.remoteCache!.fetchLayer(remote.diffID);
    record = { ...(remote.diffID ? { diffID: remote.diffID, size: remote.size } : {}), inputs };
    await runner.store.putCacheRecord(key, { version: CACHE_RECORD_VERSION, layers: remote.diffID ? [remote.diffID] : [], payload: record });
    cached = true;
    if (runner.options.sourceDateEpoch === undefined) created = remote.createdAt;
  }
  if (!record) {
    missed = true;
    if (explainMisses && !noCache) {
      const previous = await runner.store.getCacheRecord<StepRecord>(explainKey);
      runner.emit({ type: "cache-miss", reason: explainMiss(inputs, previous?.payload.inputs), ...stepRef });
    }
    const layer = await execute();
    record = { ...(layer ? { diffID: layer.diffID, size: layer.size } : {}), inputs };
    const written = await runner.store.putCacheRecord(key, { version: CACHE_RECORD_VERSION, layers: layer ? [layer.diffID] : [], payload: record });
    // A rebuild takes the time from the record: the same for a hit as for this miss.
    if (runner.options.sourceDateEpoch === undefined) created = written.createdAt;
    await runner.store.putCacheRecord(explainKey, { version: CACHE_RECORD_VERSION, layers: [], payload: { inputs } });
  }
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
  return { result, cached, missed, layer };
}

interface PreparedStep {
  inputs: StepInputs;
  /** Runs the step; returns its layer, or undefined when it changes nothing that needs a layer. */
  execute(): Promise<LayerInfo | undefined>;
  /** Gives back what computing the inputs opened (a read view of another stage), hit or miss. */
  release(): Promise<void>;
}

const nothingToRelease = async (): Promise<void> => undefined;

async function prepareLayerStep(
  runner: StageRunner,
  stage: PlannedStage,
  step: PlannedStep,
  current: StageResult,
  after: StageConfigState,
  stepRef: StepRef,
  materialized: Set<string>,
): Promise<PreparedStep> {
  const instruction = step.instruction;
  const config = current.state.config.config ?? {};
  const withSnapshot = async (lowers: readonly string[], work: (snapshot: Snapshot) => Promise<boolean>): Promise<LayerInfo | undefined> => {
    await ensureLayers(runner, current.diffIDs, materialized);
    const snapshot = await runner.snapshotter.prepare(lowers, runner.store.paths.snapshots);
    let keep: boolean;
    try {
      keep = await work(snapshot);
    } catch (error) {
      await snapshot.remove();
      throw error;
    }
    if (!keep) {
      await snapshot.remove();
      return undefined;
    }
    return commitSnapshot(runner.store, snapshot, runner.options.sourceDateEpoch);
  };
  const lowers = () => [...current.diffIDs].reverse().map((d) => runner.store.layerDir(d));

  switch (instruction.kind) {
    case "workdir": {
      const dir = after.config.config?.WorkingDir ?? "/";
      const user = config.User ?? "";
      return {
        inputs: { parent: current.key, instruction: canonical({ kind: "workdir", dir, user }) },
        release: nothingToRelease,
        execute: () =>
          withSnapshot(lowers(), async (snapshot) => {
            const owner = await userIds(snapshot.rootfs, user);
            await mkdirInRoot(snapshot.rootfs, dir, owner.uid, owner.gid);
            return true;
          }),
      };
    }
    case "run": {
      const argv = runArgv(instruction, config.Shell);
      const env = runEnv(config.Env ?? [], step.args);
      const user = config.User ?? "";
      const cwd = config.WorkingDir || "/";
      const network = instruction.network === "none" ? "none" : "host";
      if (instruction.network !== undefined && !["none", "host", "default"].includes(instruction.network)) {
        throw new Error(`unsupported RUN --network=${instruction.network}: use default, none or host`);
      }
      const insecure = instruction.security === "insecure";
      if (instruction.security !== undefined && instruction.security !== "sandbox" && !insecure) {
        throw new Error(`RUN --security=${instruction.security}: expected sandbox or insecure`);
      }
      if (insecure && !(runner.options.allow ?? []).includes("security.insecure")) {
        throw new Error("RUN --security=insecure needs the build to be started with --allow security.insecure");
      }
      const mountOptions: RunMountOptions = {
        store: runner.store,
        workdir: cwd,
        secrets: new Map(Object.entries(runner.options.secrets ?? {})),
        ssh: new Map(Object.entries(runner.options.ssh ?? {})),
        openSource: (from, sourcePath) => openMountSource(runner, step, from, sourcePath, materialized),
      };
      const mounts = await wrapMountError(() => mountKey(instruction.mounts, cwd, mountOptions));
      const heredocScript = standaloneHeredoc(instruction);
      return {
        release: nothingToRelease,
        inputs: {
          parent: current.key,
          instruction: canonical({ kind: "run", argv, env, user, cwd, network, insecure, mounts: mounts.specs, heredocs: instruction.heredocs.map((h) => ({ ...h })) }),
          ...(Object.keys(mounts.files).length > 0 ? { files: mounts.files } : {}),
        },
        execute: () =>
          withSnapshot(lowers(), async (snapshot) => {
            const owner = await userIds(snapshot.rootfs, user, true);
            const prepared = await wrapMountError(() => prepareMounts(instruction.mounts, mountOptions));
            const mounts: ExecMount[] = [...prepared.mounts];
            let scriptDir: string | undefined;
            let args = argv;
            if (heredocScript?.shebang) {
              scriptDir = await runner.store.tempDir("heredoc");
              const scriptPath = path.join(scriptDir, "script");
              await writeFile(scriptPath, heredocScript.content);
              await chmod(scriptPath, 0o755);
              mounts.push({ type: "bind", source: scriptPath, destination: `/dev/pipes/${heredocScript.name}`, options: ["rbind", "ro"] });
              args = [`/dev/pipes/${heredocScript.name}`];
            }
            try {
              await prepared.use(() => runInRootfs(
                snapshot.rootfs,
                { args, env: [...env, ...prepared.env], cwd, user: owner, network, mounts, ...(insecure ? { capabilities: privilegedCapabilities() } : {}) },
                {
                  bundleRoot: runner.store.paths.tmp,
                  signal: runner.options.signal,
                  onOutput: (stream, chunk) => runner.emit({ type: "step-output", stream, text: chunk.toString("utf8"), ...stepRef }),
                },
              ));
            } catch (error) {
              if (error instanceof RunFailedError) {
                const tail = error.lastLines.length ? `\n${error.lastLines.map((l) => `  ${l}`).join("\n")}` : "";
                throw new Error(`process "${argv.join(" ")}" did not complete successfully: exit code ${error.exitCode}${tail}`);
              }
              throw error;
            } finally {
              if (scriptDir) await rm(scriptDir, { recursive: true, force: true });
            }
            return true;
          }),
      };
    }
    case "copy":
    case "add": {
      const source = await openFrom(runner, step, instruction.from, materialized);
      // The source stays open (a read view of a stage) until the step is done, hit or miss.
      try {
        const { dest, isDir } = copyDestination(instruction, config.WorkingDir);
        const heredocNames = new Set(instruction.heredocs.map((h) => h.name));
        const fileSources = instruction.sources.filter((s) => !isHeredocMarker(s, heredocNames));
        const urls = instruction.kind === "add" ? fileSources.filter(isUrl) : [];
        const paths = fileSources.filter((s) => !isUrl(s));
        const selected = paths.length > 0 ? await selectSources(source.root, paths, instruction.parents) : [];
        const files = source.index ? await contextDigests(source.index, selected.map((s) => s.rel)) : undefined;
        const link = instruction.link;
        const inputs: StepInputs = {
          parent: link ? "link" : current.key,
          instruction: canonical({
            kind: instruction.kind,
            sources: instruction.sources,
            dest,
            isDir,
            chown: instruction.chown,
            chmod: instruction.chmod,
            parents: instruction.parents,
            exclude: instruction.exclude,
            checksum: instruction.checksum,
            unpack: instruction.unpack,
            heredocs: instruction.heredocs.map((h) => ({ name: h.name, content: h.content })),
            from: source.identity,
            // --chown names resolve through the image's /etc/passwd.
            user: instruction.chown !== undefined && !link ? current.key : undefined,
          }),
          files,
        };
        const mode = instruction.chmod !== undefined ? parseChmod(instruction.chmod) : undefined;
        const exclude = instruction.exclude.length > 0 ? new PatternMatcher(instruction.exclude) : undefined;
        return {
          inputs,
          release: () => source.release(),
          execute: () =>
            withSnapshot(link ? [] : lowers(), async (snapshot) => {
              const owner = instruction.chown !== undefined ? await resolveChown(instruction.chown, snapshot.rootfs) : undefined;
              const copyOptions = { owner, mode, exclude, now: runner.options.sourceDateEpoch !== undefined ? runner.created : undefined };
              if (instruction.heredocs.length > 0) await writeHeredocs(instruction.heredocs, snapshot.rootfs, { dest, isDir }, copyOptions);
              if (instruction.kind === "add") {
                await addFromSource(source.root, selected, urls, snapshot.rootfs, { dest, isDir }, copyOptions, instruction);
              } else {
                await copyIntoRootfs(source.root, selected, snapshot.rootfs, { dest, isDir }, copyOptions);
              }
              return true;
            }),
        };
      } catch (error) {
        await source.release();
        throw error;
      }
    }
  }
  throw new Error(`unexpected layer step ${instruction.kind}`);
}

/** Makes sure the base image layers a step stands on are unpacked (lazy base images). */
async function ensureLayers(runner: StageRunner, diffIDs: readonly string[], materialized: Set<string>): Promise<void> {
  for (const [ref, promise] of runnerImages(runner)) {
    if (materialized.has(ref)) continue;
    const source = await promise;
    if (source.layers.some((l) => diffIDs.includes(l.diffID))) {
      await source.materialize();
      materialized.add(ref);
    }
  }
}

function* runnerImages(runner: StageRunner): Iterable<[string, Promise<ImageSource>]> {
  for (const stage of runner.plan.stages) {
    if (stage.base.kind === "image") yield [stage.base.ref, runner.image(stage.base.ref)];
    if (stage.base.kind === "context" && runner.named.get(stage.base.name)?.kind === "image") yield [stage.base.name, runner.image(stage.base.name)];
  }
}

interface CopySourceHandle {
  root: CopySourceRoot;
  index?: BuildContextIndex;
  /** What the cache key records about the source: the stage's key or the image's digest. */
  identity?: string;
  release(): Promise<void>;
}

/**
 * What `from` names, readable as a directory tree: the build context (no `from`), a named
 * directory context (both filtered by an index), or a stage's or image's merged layers (a
 * snapshot used as a read view: removed, never committed).
 */
async function openFrom(runner: StageRunner, step: PlannedStep, from: string | undefined, materialized: Set<string>): Promise<CopySourceHandle> {
  const noop = async () => undefined;
  if (from === undefined) {
    const index = await runner.mainContext();
    return { root: { dir: index.root, index, preserveOwner: false, label: "build context" }, index, release: noop };
  }
  const namedCtx = runner.named.get(from);
  if (namedCtx?.kind === "dir") {
    const index = BuildContextIndex.scan(namedCtx.dir, []);
    return { root: { dir: namedCtx.dir, index, preserveOwner: false, label: `build context ${from}` }, index, release: noop };
  }
  let diffIDs: string[];
  let identity: string;
  let label: string;
  const fromStage = step.stageRefs?.[from];
  if (fromStage !== undefined) {
    const result = await runner.results.get(fromStage)!;
    diffIDs = result.diffIDs;
    identity = `stage:${result.key}`;
    label = `stage ${from}`;
  } else {
    const source = await runner.image(from);
    await source.materialize();
    diffIDs = source.layers.map((l) => l.diffID);
    identity = `image:${source.configDigest}`;
    label = `image ${from}`;
  }
  await ensureLayers(runner, diffIDs, materialized);
  const view = await runner.snapshotter.prepare([...diffIDs].reverse().map((d) => runner.store.layerDir(d)), runner.store.paths.snapshots);
  return { root: { dir: view.rootfs, preserveOwner: true, label }, identity, release: () => view.remove() };
}

/** A RUN --mount source: a path inside what `from` names, and what identifies its content. */
async function openMountSource(runner: StageRunner, step: PlannedStep, from: string | undefined, sourcePath: string, materialized: Set<string>): Promise<MountSource> {
  const handle = await openFrom(runner, step, from, materialized);
  try {
    const rel = cleanSourcePath(sourcePath, handle.root.label);
    const dir = await resolveInRoot(handle.root.dir, rel);
    if (path.relative(handle.root.dir, dir).startsWith("..")) throw new CopyError(`${sourcePath}: forbidden path outside the ${handle.root.label}`);
    if (handle.index && !handle.index.entries.has(path.relative(handle.root.dir, dir).split(path.sep).join("/"))) {
      throw new CopyError(`${sourcePath}: not found in the ${handle.root.label}`);
    }
    if (handle.index) return { dir, files: await contextDigests(handle.index, [rel]), release: handle.release };
    return { dir, identity: handle.identity, release: handle.release };
  } catch (error) {
    await handle.release();
    throw error;
  }
}

/** Content digests of the context files a COPY reads (whole trees for directories). */
async function contextDigests(index: BuildContextIndex, roots: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const add = async (rel: string) => {
    const entry = index.entries.get(rel);
    if (!entry) return;
    const mode = (Number(entry.stat.mode) & 0o7777).toString(8);
    if (entry.type === "file") out[rel] = `file:${mode}:${await index.fileDigest(rel)}`;
    else if (entry.type === "symlink") out[rel] = `symlink:${await readlink(path.join(index.root, rel))}`;
    else if (entry.type === "dir") out[rel] = `dir:${mode}`;
  };
  for (const root of roots) {
    await add(root);
    const prefix = root === "" ? "" : `${root}/`;
    for (const rel of index.entries.keys()) if (rel !== root && rel.startsWith(prefix)) await add(rel);
  }
  return out;
}

async function userIds(rootfs: string, user: string, withGroups = false): Promise<{ uid: number; gid: number; additionalGids: number[] }> {
  const passwd = await readImageFile(rootfs, "/etc/passwd");
  const group = await readImageFile(rootfs, "/etc/group");
  const resolved = resolveUser(user, passwd, group);
  return withGroups ? resolved : { ...resolved, additionalGids: [] };
}

function runEnv(env: readonly string[], args: ReadonlyMap<string, string>): string[] {
  const out = [...env];
  for (const [k, v] of args) if (!out.some((e) => e.startsWith(`${k}=`))) out.push(`${k}=${v}`);
  return out;
}

/** RUN's argv; heredocs are handed to the shell after the command, as a shell script would have them. */
function runArgv(instruction: Extract<PlannedStep["instruction"], { kind: "run" }>, shell: readonly string[] | undefined): string[] {
  if (instruction.command.form === "exec" || instruction.heredocs.length === 0) return commandArgs(instruction.command, shell);
  const standalone = standaloneHeredoc(instruction);
  if (standalone && !standalone.shebang) return commandArgs({ form: "shell", script: standalone.content }, shell);
  const bodies = instruction.heredocs.map((h) => `${h.content}${h.content.endsWith("\n") || h.content === "" ? "" : "\n"}${h.name}`).join("\n");
  return commandArgs({ form: "shell", script: `${instruction.command.script}\n${bodies}` }, shell);
}

/** `RUN <<EOF` alone: the heredoc is the script (run by its shebang, or by the shell). */
function standaloneHeredoc(instruction: Extract<PlannedStep["instruction"], { kind: "run" }>): { name: string; content: string; shebang: boolean } | undefined {
  if (instruction.command.form !== "shell" || instruction.heredocs.length !== 1) return undefined;
  const heredoc = instruction.heredocs[0]!;
  if (!/^\s*\d*<<-?(["']?)[^"'\s]+\1\s*$/.test(instruction.command.script)) return undefined;
  return { name: heredoc.name, content: heredoc.content, shebang: heredoc.content.startsWith("#!") };
}

/** A bad --mount value is the user's mistake: report it as such, at the step. */
async function wrapMountError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof RunMountError) throw new Error(error.message);
    throw error;
  }
}

/** Every capability this process may hand on, for RUN --security=insecure (as Docker's privileged mode). */
function privilegedCapabilities(): string[] {
  const bounding = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0";
  const mask = BigInt(`0x${bounding}`);
  return CAPABILITIES_BY_NUMBER.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** Linux capabilities in the order of their numbers (CAP_CHOWN is 0). */
const CAPABILITIES_BY_NUMBER = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
  "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
  "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
  "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

function isHeredocMarker(source: string, names: Set<string>): boolean {
  const match = /^\d*<<-?(["']?)([^"']+)\1$/.exec(source);
  return match !== null && names.has(match[2]!);
}

function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

function parseChmod(value: string): number {
  if (!/^[0-7]{1,4}$/.test(value)) throw new CopyError(`--chmod=${value}: only octal modes are supported`);
  return parseInt(value, 8);
}
