// ARG and ENV scoping as BuildKit applies it while it walks a stage: which
// names are visible to expansion, which reach RUN's environment, and how each
// instruction's words are expanded.
import { DockerfileError } from "../errors.js";
import type { InstructionNode } from "../parser/ast.js";
import { expandWord, expandWords, ShellExpansionError, type ShellEnv } from "../shell/index.js";
import type { ArgDeclaration, ArgInstruction, CopyInstruction, Instruction } from "./types.js";

export interface ScopeOptions {
  escapeToken: "\\" | "`";
  /** `--build-arg` values. */
  buildArgs: ReadonlyMap<string, string>;
  /** Values that ARGs may pick up without a default: global ARGs (for a stage) or the platform ARGs. */
  inherited: ReadonlyMap<string, string | undefined>;
  /** Platform ARGs: defined automatically once declared (and in the global scope without declaration). */
  automatic: ReadonlyMap<string, string>;
  /** The base image's environment, `KEY=VALUE`. */
  baseEnv?: readonly string[];
  lines: readonly string[];
}

/** A variable a word referenced that had no value (for the UndefinedVar check). */
export interface UndefinedReference {
  name: string;
  node: InstructionNode;
}

export class StageScope {
  /** ENV in effect, in definition order (the base image's first). */
  readonly env = new Map<string, string>();
  /** ARGs declared in this scope, with their values (undefined: declared without a value). */
  readonly args = new Map<string, string | undefined>();
  /** Build args some ARG in this scope consumed. */
  readonly consumedBuildArgs = new Set<string>();
  readonly undefinedReferences: UndefinedReference[] = [];

  constructor(private readonly options: ScopeOptions) {
    for (const entry of options.baseEnv ?? []) {
      const eq = entry.indexOf("=");
      if (eq > 0) this.env.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
  }

  /** Names visible to `$VAR` expansion: ARGs with values, shadowed by ENV. */
  expansionEnv(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [k, v] of this.args) if (v !== undefined) out.set(k, v);
    for (const [k, v] of this.env) out.set(k, v);
    return out;
  }

  /** ARGs with values that RUN sees as environment (ENV wins for a shared name). */
  runArgs(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [k, v] of this.args) if (v !== undefined && !this.env.has(k)) out.set(k, v);
    return out;
  }

  expandWord(word: string, node: InstructionNode, env: ShellEnv = this.expansionEnv(), raw = false): string {
    try {
      const { result, unmatched } = expandWord(word, env, {
        escapeToken: this.options.escapeToken,
        rawQuotes: raw,
        rawEscapes: raw,
      });
      this.noteUndefined(unmatched, node);
      return result;
    } catch (error) {
      throw this.positioned(error, node);
    }
  }

  expandWords(word: string, node: InstructionNode): string[] {
    try {
      const { words, unmatched } = expandWords(word, this.expansionEnv(), { escapeToken: this.options.escapeToken });
      this.noteUndefined(unmatched, node);
      return words;
    } catch (error) {
      throw this.positioned(error, node);
    }
  }

  declareArgs(instruction: ArgInstruction): ArgDeclaration[] {
    const resolved: ArgDeclaration[] = [];
    for (const decl of instruction.args) {
      const name = this.expandWord(decl.name, instruction.source);
      const fromBuildArg = this.options.buildArgs.get(name);
      let value: string | undefined;
      if (fromBuildArg !== undefined) {
        value = fromBuildArg;
        this.consumedBuildArgs.add(name);
      } else if (decl.defaultValue !== undefined) {
        value = this.expandWord(decl.defaultValue, instruction.source);
      } else if (this.options.automatic.has(name)) {
        value = this.options.automatic.get(name);
      } else {
        value = this.options.inherited.get(name);
      }
      this.args.set(name, value);
      resolved.push(value === undefined ? { name } : { name, defaultValue: value });
    }
    return resolved;
  }

  /**
   * Expands the words Docker expands in `instruction` (with the scope as it is
   * before the instruction), then applies ENV/ARG to the scope.
   */
  apply(instruction: Instruction): Instruction {
    const node = instruction.source;
    switch (instruction.kind) {
      case "env":
      case "label": {
        const env = this.expansionEnv();
        const pairs = instruction.pairs.map(({ key, value }) => ({
          key: this.expandWord(key, node, env),
          value: this.expandWord(value, node, env),
        }));
        if (instruction.kind === "env") for (const { key, value } of pairs) this.env.set(key, value);
        return { ...instruction, pairs };
      }
      case "arg":
        return { ...instruction, args: this.declareArgs(instruction) };
      case "copy":
      case "add":
        return this.expandCopy(instruction);
      case "run":
        return {
          ...instruction,
          mounts: instruction.mounts.map((m) => this.expandWord(m, node)),
          network: instruction.network === undefined ? undefined : this.expandWord(instruction.network, node),
          security: instruction.security === undefined ? undefined : this.expandWord(instruction.security, node),
        };
      case "user":
      case "workdir":
      case "stopsignal":
        return { ...instruction, value: this.expandWord(instruction.value, node) };
      case "expose":
        return { ...instruction, values: instruction.values.flatMap((v) => this.expandWords(v, node)) };
      case "volume":
        return { ...instruction, values: instruction.values.map((v) => this.expandWord(v, node)) };
      default:
        // RUN/CMD/ENTRYPOINT commands are expanded by the container's shell, not by the builder;
        // SHELL, HEALTHCHECK, MAINTAINER and ONBUILD are not expanded either.
        return instruction;
    }
  }

  private expandCopy(instruction: CopyInstruction): CopyInstruction {
    const node = instruction.source;
    const optional = (value: string | undefined) => (value === undefined ? undefined : this.expandWord(value, node));
    const heredocNames = new Set(instruction.heredocs.map((h) => h.name));
    const env = this.expansionEnv();
    return {
      ...instruction,
      // Heredoc markers stay as written; their bodies are expanded when the content is made.
      sources: instruction.sources.map((s) => (isHeredocMarker(s, heredocNames) ? s : this.expandWord(s, node, env))),
      destination: this.expandWord(instruction.destination, node, env),
      from: optional(instruction.from),
      chown: optional(instruction.chown),
      chmod: optional(instruction.chmod),
      checksum: optional(instruction.checksum),
      exclude: instruction.exclude.map((e) => this.expandWord(e, node, env)),
      // Heredoc bodies keep their quotes and backslashes: only variables are expanded.
      heredocs: instruction.heredocs.map((h) => (h.expand ? { ...h, content: this.expandWord(h.content, node, env, true) } : h)),
    };
  }

  private noteUndefined(unmatched: Set<string>, node: InstructionNode): void {
    for (const name of unmatched) this.undefinedReferences.push({ name, node });
  }

  private positioned(error: unknown, node: InstructionNode): unknown {
    if (!(error instanceof ShellExpansionError)) return error;
    return new DockerfileError(error.message, node.range, this.options.lines[node.range.start.line - 1]);
  }
}

function isHeredocMarker(source: string, names: Set<string>): boolean {
  const match = /^\d*<<-?(["']?)([^"']+)\1$/.exec(source);
  return match !== null && names.has(match[2]!);
}
