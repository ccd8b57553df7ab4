// Typed instructions: what each Dockerfile instruction means, before variable
// expansion. Every value keeps its InstructionNode for positions in messages.
import type { Heredoc, InstructionNode } from "../parser/ast.js";

/** Exec form (`["a","b"]`) or shell form (one string, run by the stage's SHELL). */
export type CommandLine = { form: "exec"; args: string[] } | { form: "shell"; script: string };

export interface KeyValue {
  key: string;
  value: string;
}

export interface ArgDeclaration {
  name: string;
  /** The default as written (unexpanded); undefined when the ARG has none. */
  defaultValue?: string;
}

interface Base {
  source: InstructionNode;
}

export interface FromInstruction extends Base {
  kind: "from";
  image: string;
  /** The stage name as written (`AS Name`); stages are referenced case-insensitively. */
  stageName?: string;
  platform?: string;
}

export interface RunInstruction extends Base {
  kind: "run";
  command: CommandLine;
  heredocs: Heredoc[];
  mounts: string[];
  network?: string;
  security?: string;
}

export interface CommandInstruction extends Base {
  kind: "cmd" | "entrypoint";
  command: CommandLine;
}

export interface ShellInstruction extends Base {
  kind: "shell";
  shell: string[];
}

export interface KeyValueInstruction extends Base {
  kind: "env" | "label";
  pairs: KeyValue[];
  /** `ENV key value` (no `=`), which BuildKit flags as LegacyKeyValueFormat. */
  legacyFormat: boolean;
}

export interface ArgInstruction extends Base {
  kind: "arg";
  args: ArgDeclaration[];
}

export interface CopyInstruction extends Base {
  kind: "copy" | "add";
  /** Sources as written; a source naming a heredoc (`<<EOF`) is resolved through `heredocs`. */
  sources: string[];
  destination: string;
  heredocs: Heredoc[];
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  checksum?: string;
  keepGitDir: boolean;
  unpack?: boolean;
}

export interface SingleValueInstruction extends Base {
  kind: "user" | "workdir" | "stopsignal" | "maintainer";
  value: string;
}

export interface ListInstruction extends Base {
  kind: "expose" | "volume";
  values: string[];
}

export interface OnbuildInstruction extends Base {
  kind: "onbuild";
  /** The trigger's text as written, stored in the image config's OnBuild list. */
  trigger: string;
  inner: Instruction;
}

export interface Healthcheck {
  /** `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", script]`, as the image config stores it. */
  test: string[];
  /** Durations in nanoseconds; 0 means "inherit the default". */
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}

export interface HealthcheckInstruction extends Base {
  kind: "healthcheck";
  healthcheck: Healthcheck;
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CommandInstruction
  | ShellInstruction
  | KeyValueInstruction
  | ArgInstruction
  | CopyInstruction
  | SingleValueInstruction
  | ListInstruction
  | OnbuildInstruction
  | HealthcheckInstruction;

export interface StageSyntax {
  /** 0-based position among the Dockerfile's stages. */
  index: number;
  from: FromInstruction;
  /** Lowercased stage name, when the stage has one. */
  name?: string;
  instructions: Exclude<Instruction, FromInstruction>[];
}

export interface DockerfileProgram {
  /** ARGs before the first FROM. */
  globalArgs: ArgInstruction[];
  stages: StageSyntax[];
}
