// How each instruction changes the image config, and the history entry it
// leaves, as Docker and BuildKit write them. Pure: values in, values out.
import path from "node:path/posix";
import type { ContainerConfig, HistoryEntry, ImageConfig } from "@tsbuild/oci";
import { proxyArgNames } from "@tsbuild/dockerfile";
import type { PlannedStep } from "../plan/types.js";

export const defaultShell = ["/bin/sh", "-c"];
export const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Config state carried through a stage, beyond the image config itself. */
export interface StageConfigState {
  config: ImageConfig;
  /** Whether CMD was set in this stage (ENTRYPOINT resets an inherited CMD only). */
  cmdSetInStage: boolean;
}

export function scratchConfig(architecture: string, os: string, variant?: string): ImageConfig {
  return {
    architecture,
    os,
    ...(variant ? { variant } : {}),
    config: { Env: [`PATH=${defaultPath}`] },
    rootfs: { type: "layers", diff_ids: [] },
    history: [],
  };
}

/** A stage's starting config from its base: OnBuild triggers are consumed, the rest inherited. */
export function stageStartConfig(base: ImageConfig): StageConfigState {
  const config = structuredClone(base);
  config.config = { ...config.config };
  delete config.config.OnBuild;
  config.history = [...(config.history ?? [])];
  if (!config.config.Env?.some((e) => e.startsWith("PATH="))) {
    config.config.Env = [`PATH=${defaultPath}`, ...(config.config.Env ?? [])];
  }
  return { config, cmdSetInStage: false };
}

export function getEnv(config: ContainerConfig | undefined, name: string): string | undefined {
  const prefix = `${name}=`;
  return config?.Env?.find((e) => e.startsWith(prefix))?.slice(prefix.length);
}

function setEnv(env: string[], key: string, value: string): string[] {
  const prefix = `${key}=`;
  const index = env.findIndex((e) => e.startsWith(prefix));
  const copy = [...env];
  if (index === -1) copy.push(`${prefix}${value}`);
  else copy[index] = `${prefix}${value}`;
  return copy;
}

/** The argv a RUN/CMD/ENTRYPOINT runs: exec form as is, shell form through the stage's SHELL. */
export function commandArgs(command: { form: "exec"; args: string[] } | { form: "shell"; script: string }, shell: readonly string[] | undefined): string[] {
  return command.form === "exec" ? [...command.args] : [...(shell ?? defaultShell), command.script];
}

/** `WORKDIR` relative paths resolve against the current one. */
export function resolveWorkdir(current: string | undefined, value: string): string {
  return path.resolve(current || "/", value);
}

/** EXPOSE values to config keys: `80` -> `80/tcp`, ranges expanded. */
export function exposedPorts(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const value of values) {
    const match = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(value);
    if (!match) throw new Error(`invalid EXPOSE value ${JSON.stringify(value)}: expected PORT[-PORT][/tcp|udp|sctp]`);
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first || last > 65535) throw new Error(`invalid port range in EXPOSE ${JSON.stringify(value)}`);
    const proto = (match[3] ?? "tcp").toLowerCase();
    for (let p = first; p <= last; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

/** Applies a metadata step (or the metadata part of one) to the config. */
export function applyStepToConfig(state: StageConfigState, step: PlannedStep): StageConfigState {
  const instruction = step.instruction;
  const config = { ...state.config, config: { ...state.config.config } };
  const c = config.config;
  let cmdSetInStage = state.cmdSetInStage;
  switch (instruction.kind) {
    case "env":
      for (const { key, value } of instruction.pairs) c.Env = setEnv(c.Env ?? [], key, value);
      break;
    case "label":
      c.Labels = { ...c.Labels };
      for (const { key, value } of instruction.pairs) c.Labels[key] = value;
      break;
    case "expose":
      c.ExposedPorts = { ...c.ExposedPorts };
      for (const port of exposedPorts(instruction.values)) c.ExposedPorts[port] = {};
      break;
    case "volume":
      c.Volumes = { ...c.Volumes };
      for (const v of instruction.values) c.Volumes[v] = {};
      break;
    case "user":
      c.User = instruction.value;
      break;
    case "workdir":
      c.WorkingDir = resolveWorkdir(c.WorkingDir, instruction.value);
      break;
    case "stopsignal":
      c.StopSignal = instruction.value;
      break;
    case "maintainer":
      config.author = instruction.value;
      break;
    case "shell":
      c.Shell = [...instruction.shell];
      break;
    case "cmd":
      c.Cmd = commandArgs(instruction.command, c.Shell);
      cmdSetInStage = true;
      break;
    case "entrypoint":
      c.Entrypoint = commandArgs(instruction.command, c.Shell);
      if (!cmdSetInStage) c.Cmd = null;
      break;
    case "healthcheck": {
      const h = instruction.healthcheck;
      c.Healthcheck = {
        Test: h.test,
        ...(h.interval ? { Interval: h.interval } : {}),
        ...(h.timeout ? { Timeout: h.timeout } : {}),
        ...(h.startPeriod ? { StartPeriod: h.startPeriod } : {}),
        ...(h.startInterval ? { StartInterval: h.startInterval } : {}),
        ...(h.retries ? { Retries: h.retries } : {}),
      };
      break;
    }
    case "onbuild":
      c.OnBuild = [...(c.OnBuild ?? []), instruction.trigger];
      break;
    default:
      break;
  }
  return { config, cmdSetInStage };
}

/** The `created_by` text BuildKit writes for a step. */
export function historyCreatedBy(step: PlannedStep, config: ContainerConfig | undefined): string {
  const instruction = step.instruction;
  switch (instruction.kind) {
    case "run": {
      const args = [...step.args].filter(([k]) => !proxyArgNames.has(k));
      const prefix = args.length ? `|${args.length} ${args.map(([k, v]) => `${k}=${v}`).join(" ")} ` : "";
      return `RUN ${prefix}${commandArgs(instruction.command, config?.Shell).join(" ")} # buildkit`;
    }
    case "copy":
    case "add": {
      const flags = [
        instruction.from !== undefined ? `--from=${instruction.from}` : "",
        instruction.chown !== undefined ? `--chown=${instruction.chown}` : "",
        instruction.chmod !== undefined ? `--chmod=${instruction.chmod}` : "",
        instruction.link ? "--link" : "",
      ].filter(Boolean);
      return `${instruction.kind.toUpperCase()} ${[...flags, ...instruction.sources, instruction.destination].join(" ")} # buildkit`;
    }
    case "env":
    case "label":
      return `${instruction.kind.toUpperCase()} ${instruction.pairs.map(({ key, value }) => `${key}=${value}`).join(" ")}`;
    case "arg":
      return `ARG ${instruction.args.map((a) => (a.defaultValue === undefined ? a.name : `${a.name}=${a.defaultValue}`)).join(" ")}`;
    case "cmd":
    case "entrypoint":
      return `${instruction.kind.toUpperCase()} ${JSON.stringify(commandArgs(instruction.command, config?.Shell))}`;
    case "shell":
      return `SHELL ${JSON.stringify(instruction.shell)}`;
    case "healthcheck":
      return `HEALTHCHECK ${JSON.stringify(instruction.healthcheck.test)}`;
    case "expose":
      return `EXPOSE ${exposedPorts(instruction.values).join(" ")}`;
    case "volume":
      return `VOLUME ${JSON.stringify(instruction.values)}`;
    case "onbuild":
      return `ONBUILD ${instruction.trigger}`;
    default:
      return `${instruction.kind.toUpperCase()} ${instruction.value}`;
  }
}

export function historyEntry(createdBy: string, created: string, emptyLayer: boolean): HistoryEntry {
  return { created, created_by: createdBy, comment: "buildkit.dockerfile.v0", ...(emptyLayer ? { empty_layer: true } : {}) };
}
