// The steps that make layers (RUN, COPY/ADD, WORKDIR): what their cache key is
// made of, and how they run on a snapshot of their parent's layers. Computing
// the inputs never runs anything and never needs another stage's layers.
import { readFileSync } from "node:fs";
import { chmod, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { PatternMatcher, RunMountError } from "@tsbuild/dockerfile";
import { mkdirInRoot, resolveUser, runInRootfs, RunFailedError, type ExecMount } from "@tsbuild/executor";
import { ChangesetDigest, dirsAbove, prepareUpperSnapshot, type Snapshot } from "@tsbuild/layers";
import type { PlannedStep } from "../plan/types.js";
import { addFromSource } from "./add.js";
import { canonical, type StepInputs } from "./cache-key.js";
import { copyDestination, copyIntoRootfs, CopyError, readImageFile, resolveChown, selectSources, writeHeredocs, type SelectedSource } from "./copy.js";
import type { StepRef } from "./events.js";
import { commandArgs, type StageConfigState } from "./image-config.js";
import { commitSnapshot, type LayerInfo } from "./layer-io.js";
import { mountKey, prepareMounts, type RunMountOptions } from "./run-mounts.js";
import type { StageRunner } from "./stage-runner.js";
import { contextIndexOf, contextStepInputs, ensureLayers, mountIdentity, openFrom, openMountSource, sourceIdentity } from "./step-sources.js";

export interface LayerStep {
  inputs: StepInputs;
  /** The files a step that reads the context reads, where `inputs` does not list them (decision 0016). */
  listFiles?: () => Promise<Record<string, string>>;
  /** Runs the step on the parent layers `diffIDs`; returns its layer, or undefined when it changed nothing. */
  execute(stepRef: StepRef, diffIDs: readonly string[]): Promise<LayerInfo | undefined>;
}

type RunInstruction = Extract<PlannedStep["instruction"], { kind: "run" }>;
type CopyInstruction = Extract<PlannedStep["instruction"], { kind: "copy" | "add" }>;

/** `before`: the parent step's key and config; `after`: the config once this step applied. */
export async function prepareLayerStep(runner: StageRunner, step: PlannedStep, before: { key: string; state: StageConfigState }, after: StageConfigState): Promise<LayerStep> {
  const instruction = step.instruction;
  switch (instruction.kind) {
    case "workdir":
      return prepareWorkdir(runner, before, after);
    case "run":
      return prepareRun(runner, step, instruction, before);
    case "copy":
    case "add":
      return prepareCopy(runner, step, instruction, before);
    default:
      throw new Error(`${instruction.kind} makes no layer`);
  }
}

/**
 * Runs `work` on a snapshot of `diffIDs` and commits what it changed as a layer (none when `work`
 * says so). `addsOnlyUnder`: the step only creates files at or below this container path, and
 * `namesAdded` are the names it makes directly in it when known; when the layers lack the path,
 * or have it as a directory without those names (and reach it through plain directories), the
 * step writes the layer dir itself, unmounted (see @tsbuild/layers' upper-snapshot.ts), and is
 * handed a digest to tell what it writes, so that the commit need not read the layer back.
 */
async function onSnapshot(
  runner: StageRunner,
  diffIDs: readonly string[],
  work: (snapshot: Snapshot, digest: ChangesetDigest | undefined) => Promise<boolean>,
  addsOnlyUnder?: { path: string; namesAdded?: readonly string[] },
): Promise<LayerInfo | undefined> {
  await ensureLayers(runner, diffIDs);
  const lowers = [...diffIDs].reverse().map((d) => runner.store.layerDir(d));
  const dirs = addsOnlyUnder !== undefined ? dirsAbove(lowers, addsOnlyUnder.path, addsOnlyUnder.namesAdded) : undefined;
  const snapshot = dirs ? await prepareUpperSnapshot(runner.store.paths.snapshots, dirs) : await runner.snapshotter.prepare(lowers, runner.store.paths.snapshots);
  // SOURCE_DATE_EPOCH clamps the layer dir's times after the step: that layer is hashed from the dir.
  const sourceDateEpoch = runner.options.sourceDateEpoch;
  let keep: boolean;
  let hashed: LayerInfo | undefined;
  try {
    const digest = dirs && sourceDateEpoch === undefined ? ChangesetDigest.open(snapshot.upperDir) : undefined;
    keep = await work(snapshot, digest);
    hashed = keep ? digest?.finish() : undefined;
  } catch (error) {
    await snapshot.remove();
    throw error;
  }
  if (!keep) {
    await snapshot.remove();
    return undefined;
  }
  return commitSnapshot(runner.store, snapshot, sourceDateEpoch, hashed);
}

function prepareWorkdir(runner: StageRunner, before: { key: string; state: StageConfigState }, after: StageConfigState): LayerStep {
  const dir = after.config.config?.WorkingDir ?? "/";
  const user = before.state.config.config?.User ?? "";
  return {
    inputs: { parent: before.key, instruction: canonical({ kind: "workdir", dir, user }) },
    execute: (_ref, diffIDs) =>
      onSnapshot(runner, diffIDs, async (snapshot) => {
        const owner = await userIds(snapshot.rootfs, user);
        await mkdirInRoot(snapshot.rootfs, dir, owner.uid, owner.gid);
        return true;
      }),
  };
}

async function prepareRun(runner: StageRunner, step: PlannedStep, instruction: RunInstruction, before: { key: string; state: StageConfigState }): Promise<LayerStep> {
  const config = before.state.config.config ?? {};
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
  const mounts = await wrapMountError(() => mountKey(instruction.mounts, cwd, (from, sourcePath) => mountIdentity(runner, step, from, sourcePath)));
  const heredocScript = standaloneHeredoc(instruction);
  return {
    inputs: {
      parent: before.key,
      instruction: canonical({ kind: "run", argv, env, user, cwd, network, insecure, mounts: mounts.specs, heredocs: instruction.heredocs.map((h) => ({ ...h })) }),
      ...(Object.keys(mounts.files).length > 0 ? { files: mounts.files } : {}),
    },
    execute: (stepRef, diffIDs) =>
      onSnapshot(runner, diffIDs, async (snapshot) => {
        const owner = await userIds(snapshot.rootfs, user, true);
        const mountOptions: RunMountOptions = {
          store: runner.store,
          workdir: cwd,
          secrets: new Map(Object.entries(runner.options.secrets ?? {})),
          ssh: new Map(Object.entries(runner.options.ssh ?? {})),
          openSource: (from, sourcePath) => openMountSource(runner, step, from, sourcePath),
        };
        const prepared = await wrapMountError(() => prepareMounts(instruction.mounts, mountOptions));
        const execMounts: ExecMount[] = [...prepared.mounts];
        let scriptDir: string | undefined;
        let args = argv;
        if (heredocScript?.shebang) {
          // A heredoc with a shebang runs as a file, by its interpreter (as BuildKit runs it).
          scriptDir = await runner.store.tempDir("heredoc");
          const scriptPath = path.join(scriptDir, "script");
          await writeFile(scriptPath, heredocScript.content);
          await chmod(scriptPath, 0o755);
          execMounts.push({ type: "bind", source: scriptPath, destination: `/dev/pipes/${heredocScript.name}`, options: ["rbind", "ro"] });
          args = [`/dev/pipes/${heredocScript.name}`];
        }
        try {
          await prepared.use(() =>
            runInRootfs(
              snapshot.rootfs,
              { args, env: [...env, ...prepared.env], cwd, user: owner, network, mounts: execMounts, ...(insecure ? { capabilities: privilegedCapabilities() } : {}) },
              {
                bundleRoot: runner.store.paths.tmp,
                signal: runner.options.signal,
                onOutput: (stream, chunk) => runner.emit({ type: "step-output", stream, text: chunk.toString("utf8"), ...stepRef }),
              },
            ),
          );
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

async function prepareCopy(runner: StageRunner, step: PlannedStep, instruction: CopyInstruction, before: { key: string; state: StageConfigState }): Promise<LayerStep> {
  const { dest, isDir } = copyDestination(instruction, before.state.config.config?.WorkingDir);
  const heredocNames = new Set(instruction.heredocs.map((h) => h.name));
  const fileSources = instruction.sources.filter((s) => !isHeredocMarker(s, heredocNames));
  const urls = instruction.kind === "add" ? fileSources.filter(isUrl) : [];
  const paths = fileSources.filter((s) => !isUrl(s));
  // A context is digested file by file; a stage or image is identified by its key or digest.
  const context = await contextIndexOf(runner, instruction.from);
  const contextSelection = context && paths.length > 0 ? await selectSources(context.root, paths, instruction.parents) : undefined;
  const identity = context ? undefined : await sourceIdentity(runner, step, instruction.from!);
  const link = instruction.link;
  const basis = {
    parent: link ? "link" : before.key,
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
      from: identity,
      // --chown names resolve through the image's /etc/passwd.
      user: instruction.chown !== undefined && !link ? before.key : undefined,
    }),
  };
  const { inputs, listFiles } = context
    ? await contextStepInputs(context.index!, (contextSelection ?? []).map((s) => s.rel), basis)
    : { inputs: basis, listFiles: undefined };
  const mode = instruction.chmod !== undefined ? parseChmod(instruction.chmod) : undefined;
  const exclude = instruction.exclude.length > 0 ? new PatternMatcher(instruction.exclude) : undefined;
  // A plain COPY only adds files at or below its destination. ADD may fetch or unpack, heredocs
  // and --chown by name read the image: those keep the mounted view.
  const addsOnlyUnder = instruction.kind === "copy" && instruction.heredocs.length === 0 && (instruction.chown === undefined || NUMERIC_CHOWN.test(instruction.chown)) ? dest : undefined;
  // What a context COPY makes directly in its destination: a file source's name, a dir source's
  // entries. Where the destination is a directory already, that copy can still skip the mount
  // when none of these names is there (see dirsAbove). --parents and --exclude leave it mounted.
  const namesAdded =
    contextSelection && !instruction.parents && exclude === undefined
      ? contextSelection.flatMap((source) => (source.stat.type === "dir" ? (context!.index!.childNames(source.rel) ?? []) : [source.name]))
      : undefined;
  return {
    inputs,
    listFiles,
    execute: (_ref, diffIDs) =>
      onSnapshot(runner, link ? [] : diffIDs, async (snapshot, digest) => {
        // COPY reads only its source paths; ADD's archive and URL handling keeps the merged view.
        const source = context ?? (await openFrom(runner, step, instruction.from, instruction.kind === "copy" ? paths : undefined));
        try {
          const selected: SelectedSource[] = contextSelection ?? (paths.length > 0 ? await selectSources(source.root, paths, instruction.parents) : []);
          const owner = instruction.chown !== undefined ? await resolveChown(instruction.chown, snapshot.rootfs) : undefined;
          const copyOptions = { owner, mode, exclude, now: runner.options.sourceDateEpoch !== undefined ? runner.created : undefined, digest };
          if (instruction.heredocs.length > 0) await writeHeredocs(instruction.heredocs, snapshot.rootfs, { dest, isDir }, copyOptions);
          if (instruction.kind === "add") {
            await addFromSource(source.root, selected, urls, snapshot.rootfs, { dest, isDir }, copyOptions, instruction);
          } else {
            await copyIntoRootfs(source.root, selected, snapshot.rootfs, { dest, isDir }, copyOptions);
          }
        } finally {
          await source.release();
        }
        return true;
      }, addsOnlyUnder !== undefined ? { path: addsOnlyUnder, namesAdded } : undefined),
  };
}

/** --chown=UID or UID:GID: resolved without the image's /etc/passwd and /etc/group. */
const NUMERIC_CHOWN = /^\d+(:\d+)?$/;

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
function runArgv(instruction: RunInstruction, shell: readonly string[] | undefined): string[] {
  if (instruction.command.form === "exec" || instruction.heredocs.length === 0) return commandArgs(instruction.command, shell);
  const standalone = standaloneHeredoc(instruction);
  if (standalone && !standalone.shebang) return commandArgs({ form: "shell", script: standalone.content }, shell);
  const bodies = instruction.heredocs.map((h) => `${h.content}${h.content.endsWith("\n") || h.content === "" ? "" : "\n"}${h.name}`).join("\n");
  return commandArgs({ form: "shell", script: `${instruction.command.script}\n${bodies}` }, shell);
}

/** `RUN <<EOF` alone: the heredoc is the script (run by its shebang, or by the shell). */
function standaloneHeredoc(instruction: RunInstruction): { name: string; content: string; shebang: boolean } | undefined {
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
