// The solver: Dockerfile + context + options -> plan -> executed steps -> image.
// Steps whose cache key has a record reuse its layer; the rest run on
// snapshots made by the layer engine (stage-runner.ts). Independent stages run
// in parallel; the outputs, pushes and cache exports follow.
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { DockerfileError, formatPlatform, ociArchitecture, parsePlatform, type Platform } from "@tsbuild/dockerfile";
import { detectSnapshotter } from "@tsbuild/layers";
import type { ImageConfig } from "@tsbuild/oci";
import { RegistryClient, type RegistryClientOptions } from "@tsbuild/registry";
import { defaultStoreRoot, openStatCache, openStore, type StatCache } from "@tsbuild/store";
import { planBuild } from "../plan/plan.js";
import type { BuildPlan, PlannedStage } from "../plan/types.js";
import { BuildContextIndex, readIgnorePatterns } from "./build-context.js";
import { exportCache, importCache, type CacheSpec } from "./cache-transfer.js";
import { pushToRegistry } from "./distribution.js";
import type { BuildEventListener, LayerSummary } from "./events.js";
import { exportImage, type OutputSpec } from "./export.js";
import { parseNamedContext, resolveImage, type ImageSource, type NamedContext } from "./image-source.js";
import type { SecretSource } from "./run-mounts.js";
import { BuildStepError, stagesToRun, withStagePasses, type StageResult } from "./stage-runner.js";
import { ensureLayers } from "./step-sources.js";

export { BuildStepError };

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
  /** Ask the registry for every base image, even one the local store has (`docker build --pull`). */
  pull?: boolean;
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
  if (!(await stat(context).catch(() => undefined))?.isDirectory()) throw new Error(`build context ${context} is not a directory`);
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
  // FROM --platform picks another platform's image from the same reference.
  const image = (ref: string, platform: Platform = target): Promise<ImageSource> => {
    const namedImage = named.get(ref);
    const actual = namedImage?.kind === "image" ? namedImage.ref : ref;
    const key = `${actual}\0${formatPlatform(platform)}`;
    let found = images.get(key);
    if (!found) {
      found = resolveImage(store, actual, platform, registry, { pull: options.pull });
      images.set(key, found);
    }
    return found;
  };
  const baseConfigs = new Map<string, ImageConfig>();
  for (const stage of draft.stages) {
    const ref = imageRefOf(stage, named);
    if (ref) baseConfigs.set(ref, (await atFrom(file, draft, stage, image(ref, stage.platform ? parsePlatform(stage.platform) : target))).config);
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

  const { snapshotter, reason } = await detectSnapshotter(store.paths.snapshots, options.storageDriver, path.join(store.root, "snapshotter-probe.json"));
  emit({ type: "build-start", target: plan.target.name ?? String(plan.target.index), stages: plan.stages.length, storeRoot: store.root, snapshotter: `${snapshotter.kind} (${reason})` });

  // Both are let go once the steps have run: for a context of 20,000 files they hold tens of MiB,
  // and the export after the steps is the build's peak of memory.
  let statCache: StatCache | undefined = await openStatCache(store, context);
  let contextIndex: Promise<BuildContextIndex> | undefined;
  const mainContext = (): Promise<BuildContextIndex> => {
    const cache = statCache;
    if (!cache) throw new Error("the build context can be read only while the steps run");
    contextIndex ??= readIgnorePatterns(context, dockerfilePath).then((patterns) => BuildContextIndex.scan(context, patterns, cache));
    return contextIndex;
  };
  const created = options.sourceDateEpoch !== undefined ? new Date(options.sourceDateEpoch * 1000) : new Date();
  const warn = (message: string) => emit({ type: "warning", message });
  const remoteCache = options.cacheFrom?.length ? await importCache(options.cacheFrom, store, registry, warn) : undefined;
  const runner = withStagePasses({
    remoteCache,
    steps: new Map(),
    materialized: new Set(),
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
    noCacheStages: new Set((options.noCacheFilter ?? []).map((s) => s.toLowerCase())),
    target,
  });
  try {
    // The stages the target needs run at once, each waiting only for what it reads.
    const running = (await stagesToRun(runner, plan.target.index)).map((index) => runner.resultOf(index));
    // Surface the first failure, but let every stage settle so no snapshot is left mounted.
    const settled = await Promise.allSettled(running);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
  } finally {
    await statCache.save();
    statCache = undefined;
    contextIndex = undefined;
    // Prepared steps keep their sources (the context index among them) for a run that is over.
    runner.prepared.clear();
  }

  const final = await runner.resultOf(plan.target.index);
  // Outputs need every layer in the store, base layers no step unpacked included.
  await ensureLayers(runner, final.diffIDs);
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

/** Attaches the stage's FROM line to a failure to resolve its base image. */
async function atFrom<T>(file: string, plan: BuildPlan, stage: PlannedStage, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    const from = plan.program.stages[stage.index]!.from.source;
    throw new BuildStepError(file, from.range.start.line, from.original.trim(), error as Error);
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

