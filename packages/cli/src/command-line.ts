// The command layer of the CLI: commands are declared as tables (positionals, options,
// subcommands) and parsed with node:util's parseArgs. It replaced yargs, whose loading alone took
// half of the CLI's start-up (docs/decisions/0006-cli-parser.md), so it loads nothing else.
import { parseArgs } from "node:util";

/** A mistake in how the program was called; exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface OptionSpec {
  readonly type: "string" | "boolean";
  /** A one-letter alias: `t` for `-t`. */
  readonly short?: string;
  /** Repeatable (`-t a -t b`): the value is every occurrence in order, [] when absent. */
  readonly multiple?: boolean;
  readonly default?: string;
  /** The values allowed (for each occurrence, when repeatable). */
  readonly choices?: readonly string[];
  readonly describe: string;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

export interface PositionalSpec {
  readonly name: string;
  /** Must be given (a variadic one at least once). */
  readonly required?: boolean;
  /** Takes the remaining positionals as a list; only the last positional may. */
  readonly variadic?: boolean;
  readonly default?: string;
  readonly describe?: string;
}

export interface CommandSpec {
  readonly name: string;
  readonly describe: string;
  readonly positionals?: readonly PositionalSpec[];
  /** The command's options; a command with subcommands passes its options on to them. */
  readonly options?: OptionTable;
  readonly subcommands?: readonly CommandSpec[];
  /** Runs when its parent is called without a subcommand name (`tsbuild -f Dockerfile .` builds). */
  readonly isDefault?: boolean;
  readonly examples?: readonly string[];
  /** Printed after the options by --help. */
  readonly epilog?: string;
  /** Does the work; returns the exit code (nothing: 0). A command without it needs a subcommand. */
  readonly run?: (args: never) => Promise<number | void>;
}

/** The top command: its options are global (every command takes them), and it has a version. */
export interface ProgramSpec extends CommandSpec {
  readonly version: string;
}

type Choice<O extends OptionSpec> = O extends { readonly choices: readonly (infer C extends string)[] } ? C : string;
type OptionValue<O extends OptionSpec> = O["type"] extends "boolean"
  ? boolean
  : O extends { readonly multiple: true }
    ? Choice<O>[]
    : O extends { readonly default: string }
      ? Choice<O>
      : Choice<O> | undefined;
type PositionalValue<P extends PositionalSpec> = P extends { readonly variadic: true }
  ? string[]
  : P extends { readonly required: true } | { readonly default: string }
    ? string
    : string | undefined;

/** The parsed values of a table of options, keyed by long name. */
export type OptionValues<O extends OptionTable> = { -readonly [K in keyof O]: OptionValue<O[K]> };
export type PositionalValues<P extends readonly PositionalSpec[]> = { [Q in P[number] as Q["name"]]: PositionalValue<Q> };

export interface CommandDefinition<O extends OptionTable, P extends readonly PositionalSpec[], G> extends Omit<CommandSpec, "options" | "positionals" | "run"> {
  readonly options?: O;
  readonly positionals?: P;
  readonly run?: (args: OptionValues<O> & PositionalValues<P> & G) => Promise<number | void>;
}

/**
 * The `defineCommand` of a program whose commands also get the values G of its global options:
 * it types each handler's arguments from its command's own table.
 */
export function commandDefiner<G>() {
  return <const O extends OptionTable = {}, const P extends readonly PositionalSpec[] = []>(definition: CommandDefinition<O, P, G>): CommandSpec =>
    definition as CommandSpec;
}

export type Invocation =
  | { readonly kind: "run"; readonly command: CommandSpec & Required<Pick<CommandSpec, "run">>; readonly args: Readonly<Record<string, unknown>> }
  /** --help or --version: print the text, exit 0. */
  | { readonly kind: "print"; readonly text: string };

const builtinOptions: OptionTable = {
  help: { type: "boolean", short: "h", describe: "Show this help" },
  version: { type: "boolean", describe: "Show the version number" },
};

/**
 * Finds the command `argv` names and parses its arguments. Options of the program (and of
 * command groups) may come before the command name; after it, options and positionals mix
 * freely, and everything after `--` is positional. Throws UsageError for an unknown option,
 * a missing or extra positional, a value that is not among the choices, or a missing value.
 */
export function parseCommandLine(program: ProgramSpec, argv: readonly string[], width = 100): Invocation {
  const rest = [...argv];
  const named: CommandSpec[] = [program]; // the commands argv names, outermost first
  let command: CommandSpec = program;
  let options: OptionTable = { ...builtinOptions, ...program.options };
  while (command.subcommands) {
    const at = commandNameIndex(rest, options);
    const sub = command.subcommands.find((c) => c.name === rest[at]) ?? command.subcommands.find((c) => c.isDefault);
    if (!sub) break;
    if (sub.name === rest[at]) {
      rest.splice(at, 1);
      named.push(sub);
    }
    command = sub;
    options = { ...options, ...sub.options };
  }

  const { tokens } = parseArgs({ args: rest, options: parseArgsConfig(options), strict: false, allowPositionals: true, tokens: true });
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(options)) values[name] = spec.type === "boolean" ? false : spec.multiple ? [] : spec.default;
  const positionals: string[] = [];
  let problem: string | undefined; // the first; --help wins over it
  for (const token of tokens) {
    if (token.kind === "positional") positionals.push(token.value);
    if (token.kind !== "option") continue;
    const spec = optionSpec(options, token.name);
    const value = spec ? optionValue(spec, token) : { problem: `unknown option ${token.rawName}` };
    if ("problem" in value) problem ??= value.problem;
    else if (spec?.multiple) (values[token.name] as unknown[]).push(value.value);
    else values[token.name] = value.value;
  }
  if (values.help) return { kind: "print", text: helpText(named, width) };
  if (values.version) return { kind: "print", text: `${program.version}\n` };
  if (problem) throw new UsageError(problem);

  const path = named.slice(1).map((c) => c.name).join(" ") || program.name;
  if (!command.run) {
    const names = (command.subcommands ?? []).map((c) => c.name);
    if (positionals.length > 0) throw new UsageError(`unknown command: ${path} ${positionals[0]} (${path}'s commands: ${names.join(", ")})`);
    throw new UsageError(`${path} needs a subcommand: ${names.length > 1 ? `${names.slice(0, -1).join(", ")} or ` : ""}${names.at(-1)}`);
  }
  const specs = command.positionals ?? [];
  specs.forEach((p, i) => {
    const given = p.variadic ? positionals.slice(i) : positionals[i];
    if (p.required && (given === undefined || given.length === 0)) {
      throw new UsageError(`${path} needs ${placeholder(p)}: ${usage(named, command)}`);
    }
    values[p.name] = given ?? p.default;
  });
  if (!specs.at(-1)?.variadic && positionals.length > specs.length) throw new UsageError(`unexpected argument: ${positionals[specs.length]}`);
  return { kind: "run", command: { ...command, run: command.run }, args: values };
}

type ArgsToken = ReturnType<typeof parseArgs>["tokens"] extends (infer T)[] | undefined ? T : never;
type OptionToken = Extract<ArgsToken, { kind: "option" }>;

function optionValue(spec: OptionSpec, token: OptionToken): { value: string | boolean } | { problem: string } {
  const { rawName, value } = token;
  if (spec.type === "boolean") {
    // `--push=false` as docker's flags take it; `--no-cache` is an option of its own, not a negation.
    if (value === undefined || value === "true" || value === "false") return { value: value !== "false" };
    return { problem: `${rawName} takes no value (or =true, =false), got ${JSON.stringify(value)}` };
  }
  // parseArgs takes the next argument whatever it is: `-t --push` would tag the image "--push".
  if (value === undefined || (!token.inlineValue && value.length > 1 && value.startsWith("-"))) {
    return { problem: `${rawName} needs a value${value === undefined ? "" : ` (for one that starts with "-", write --${token.name}=${value})`}` };
  }
  if (spec.choices && !spec.choices.includes(value)) {
    return { problem: `invalid value for ${rawName}: ${JSON.stringify(value)} (choose from ${spec.choices.join(", ")})` };
  }
  return { value };
}

/** The table's own entries only: `--constructor` is no option. */
const optionSpec = (options: OptionTable, name: string): OptionSpec | undefined => (Object.hasOwn(options, name) ? options[name] : undefined);

function parseArgsConfig(options: OptionTable): Record<string, { type: "string" | "boolean"; short?: string }> {
  return Object.fromEntries(Object.entries(options).map(([name, o]) => [name, o.short ? { type: o.type, short: o.short } : { type: o.type }]));
}

/** Where the next command name would be: past the options `options` knows (and their values). */
function commandNameIndex(args: readonly string[], options: OptionTable): number {
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("-") || arg === "-" || arg === "--") break;
    const name = arg.startsWith("--") ? arg.slice(2).split("=")[0]! : Object.keys(options).find((n) => options[n]!.short === arg.slice(1));
    const spec = name === undefined ? undefined : optionSpec(options, name);
    if (!spec) break; // an option of the default command
    if (spec.type === "string" && !arg.includes("=")) i++;
  }
  return i;
}

const placeholder = (p: PositionalSpec) => (p.required ? `<${p.name}${p.variadic ? "..." : ""}>` : `[${p.name}${p.variadic ? "..." : ""}]`);
const positionalsUsage = (c: CommandSpec) => (c.positionals ?? []).map((p) => ` ${placeholder(p)}`).join("");

/** `tsbuild volume create [options] [name]`: the named commands, then the one that runs. */
function usage(named: readonly CommandSpec[], command: CommandSpec): string {
  const names = named.map((c) => c.name);
  if (command !== named.at(-1)) names.push(command.name);
  return `${names.join(" ")} [options]${positionalsUsage(command)}`;
}

/** The help of the last named command: its usage, subcommands, arguments and options. */
function helpText(named: readonly CommandSpec[], width: number): string {
  const target = named.at(-1)!;
  const path = named.map((c) => c.name).join(" ");
  const fallback = target.subcommands?.find((c) => c.isDefault);
  const shown = fallback ?? target; // a group's help shows what runs without a subcommand
  const lines = target.subcommands
    ? [`Usage: ${path} <command> [options]`, ...(fallback ? [`       ${path} [options]${positionalsUsage(fallback)}`] : [])]
    : [`Usage: ${usage(named, target)}`];
  // The default command also runs without its name.
  if (target.isDefault) lines.push(`       ${named.slice(0, -1).map((c) => c.name).join(" ")} [options]${positionalsUsage(target)}`);
  const sections: string[][] = [lines, wrap(target.describe, width)];
  if (target.subcommands) {
    sections.push(["Commands:", ...columns(target.subcommands.map((c) => [`${path} ${c.name}${positionalsUsage(c)}`, c.describe + (c.isDefault ? " [default]" : "")]), width)]);
  }
  const positionals = shown.positionals ?? [];
  if (positionals.length > 0) {
    sections.push(["Arguments:", ...columns(positionals.map((p) => [p.name, `${p.describe ?? ""}${p.required ? " [required]" : ""}${p.default !== undefined ? ` [default: ${p.default}]` : ""}`]), width)]);
  }
  const inherited = named.filter((c) => c !== shown).map((c) => c.options);
  const options: OptionTable = Object.assign({}, shown.options, ...inherited, builtinOptions);
  sections.push(["Options:", ...columns(Object.entries(options).map(([name, o]) => [optionFlags(name, o), optionText(o)]), width)]);
  if (shown.examples) sections.push(["Examples:", ...shown.examples.map((e) => `  ${e}`)]);
  const epilog = target.epilog ?? shown.epilog;
  if (epilog) sections.push(epilog.split("\n").flatMap((line) => wrap(line, width)));
  return `${sections.map((s) => s.join("\n")).join("\n\n")}\n`;
}

function optionFlags(name: string, o: OptionSpec): string {
  const value = o.type === "boolean" ? "" : o.choices ? ` <${o.choices.join("|")}>` : " <value>";
  return `${o.short ? `-${o.short}, ` : "    "}--${name}${value}`;
}

function optionText(o: OptionSpec): string {
  return `${o.describe}${o.multiple ? " [repeatable]" : ""}${o.default !== undefined ? ` [default: ${o.default}]` : ""}`;
}

/** Two columns: names padded to the widest (up to a limit; longer ones get a line of their own), texts wrapped. */
function columns(rows: readonly (readonly [string, string])[], width: number): string[] {
  const left = Math.min(34, Math.max(...rows.map(([name]) => name.length)));
  const indent = " ".repeat(left + 4);
  return rows.flatMap(([name, text]) => {
    const [first = "", ...more] = wrap(text, Math.max(30, width - indent.length));
    const head = name.length > left ? [`  ${name}`, indent + first] : [`  ${name.padEnd(left)}  ${first}`];
    return [...head, ...more.map((line) => indent + line)].map((line) => line.trimEnd());
  });
}

/** Greedy word wrap at `width` columns. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}
