// From syntax nodes to typed instructions: argument counts, forms and flags are
// checked here, so every later stage can trust the shape of what it gets.
import { DockerfileError } from "../errors.js";
import type { DockerfileAst, InstructionNode } from "../parser/ast.js";
import { parseGoDuration } from "./duration.js";
import { instructionFlags, parseFlags, type ParsedFlags } from "./flags.js";
import type {
  CommandLine,
  CopyInstruction,
  DockerfileProgram,
  FromInstruction,
  Healthcheck,
  Instruction,
  KeyValue,
  StageSyntax,
} from "./types.js";

export const knownInstructions = [
  "from", "run", "cmd", "label", "maintainer", "expose", "env", "add", "copy", "entrypoint",
  "volume", "user", "workdir", "arg", "onbuild", "stopsignal", "healthcheck", "shell",
] as const;

/** BuildKit's rule for stage names (after lowercasing). */
const stageNamePattern = /^[a-z][a-z0-9\-_.]*$/;

export function parseInstructions(ast: DockerfileAst): DockerfileProgram {
  const program: DockerfileProgram = { globalArgs: [], stages: [] };
  let current: StageSyntax | undefined;
  for (const node of ast.instructions) {
    const instruction = parseInstruction(node, ast.lines);
    if (instruction.kind === "from") {
      current = {
        index: program.stages.length,
        from: instruction,
        name: instruction.stageName?.toLowerCase(),
        instructions: [],
      };
      program.stages.push(current);
    } else if (current) {
      current.instructions.push(instruction);
    } else if (instruction.kind === "arg") {
      program.globalArgs.push(instruction);
    } else {
      throw positioned(node, ast.lines, `${node.keyword.toUpperCase()} cannot come before the first FROM (only ARG can)`);
    }
  }
  if (program.stages.length === 0) {
    const last = ast.instructions[ast.instructions.length - 1];
    throw new DockerfileError("no build stage in the Dockerfile: it needs a FROM", last?.range);
  }
  return program;
}

function positioned(node: InstructionNode, lines: readonly string[], message: string): DockerfileError {
  return new DockerfileError(message, node.range, lines[node.range.start.line - 1]);
}

export function parseInstruction(node: InstructionNode, lines: readonly string[]): Instruction {
  const fail = (message: string) => positioned(node, lines, message);
  const name = node.keyword.toUpperCase();
  if (!(knownInstructions as readonly string[]).includes(node.keyword)) {
    throw fail(`unknown instruction: ${node.keywordAsWritten}${suggestInstruction(node.keyword)}`);
  }
  const flags = parseFlags(node, instructionFlags[node.keyword] ?? {}, lines);
  const base = { source: node };
  const args = node.args;
  const exactlyOne = (): string => {
    if (args.length !== 1 || args[0] === "") throw fail(`${name} requires exactly one argument`);
    return args[0]!;
  };
  const atLeastOne = (): void => {
    if (args.length === 0) throw fail(`${name} requires at least one argument`);
  };

  switch (node.keyword) {
    case "from":
      return parseFrom(node, flags, fail);
    case "run":
      if (args.length === 0 || (!node.json && args[0]!.trim() === "")) throw fail("RUN requires at least one argument");
      return {
        ...base,
        kind: "run",
        command: commandLine(node),
        heredocs: node.heredocs,
        mounts: flags.lists.get("mount") ?? [],
        network: flags.strings.get("network"),
        security: flags.strings.get("security"),
      };
    case "cmd":
    case "entrypoint":
      return { ...base, kind: node.keyword, command: commandLine(node) };
    case "shell":
      if (!node.json) throw fail("SHELL requires the arguments to be in JSON form");
      if (args.length === 0) throw fail("SHELL requires at least one argument");
      return { ...base, kind: "shell", shell: [...args] };
    case "env":
    case "label": {
      atLeastOne();
      const pairs: KeyValue[] = [];
      let legacyFormat = false;
      for (let i = 0; i < args.length; i += 3) {
        const key = args[i]!;
        if (key === "") throw fail(`${name} names must not be empty`);
        pairs.push({ key, value: args[i + 1] ?? "" });
        if (args[i + 2] === "") legacyFormat = true;
      }
      return { ...base, kind: node.keyword, pairs, legacyFormat };
    }
    case "arg":
      atLeastOne();
      return {
        ...base,
        kind: "arg",
        args: args.map((word) => {
          const eq = word.indexOf("=");
          const argName = eq === -1 ? word : word.slice(0, eq);
          if (argName === "") throw fail(`ARG names can not be blank: ${JSON.stringify(word)}`);
          return eq === -1 ? { name: argName } : { name: argName, defaultValue: word.slice(eq + 1) };
        }),
      };
    case "copy":
    case "add":
      return parseCopy(node, flags, fail);
    case "user":
    case "workdir":
    case "stopsignal":
    case "maintainer":
      return { ...base, kind: node.keyword, value: exactlyOne() };
    case "expose":
      atLeastOne();
      return { ...base, kind: "expose", values: [...args] };
    case "volume":
      atLeastOne();
      if (args.some((v) => v.trim() === "")) throw fail("VOLUME specified can not be an empty string");
      return { ...base, kind: "volume", values: [...args] };
    case "onbuild": {
      const innerNode = node.inner;
      if (!innerNode) throw fail("ONBUILD requires at least one argument");
      const innerName = innerNode.keyword.toUpperCase();
      if (innerName === "ONBUILD") throw fail("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (innerName === "FROM" || innerName === "MAINTAINER") throw fail(`${innerName} isn't allowed as an ONBUILD trigger`);
      const inner = parseInstruction(innerNode, lines);
      return { ...base, kind: "onbuild", trigger: triggerText(node), inner };
    }
    case "healthcheck":
      return { ...base, kind: "healthcheck", healthcheck: parseHealthcheck(node, flags, fail) };
    default:
      throw fail(`unknown instruction: ${node.keywordAsWritten}`);
  }
}

function commandLine(node: InstructionNode): CommandLine {
  if (node.json) return { form: "exec", args: [...node.args] };
  return { form: "shell", script: node.args[0] ?? "" };
}

/** The ONBUILD trigger as Docker stores it: the inner instruction's text, keyword uppercased. */
function triggerText(node: InstructionNode): string {
  const inner = node.inner!;
  const original = inner.original.trimStart();
  return `${inner.keyword.toUpperCase()}${original.slice(inner.keywordAsWritten.length)}`;
}

function parseFrom(node: InstructionNode, flags: ParsedFlags, fail: (m: string) => DockerfileError): FromInstruction {
  const args = node.args;
  if (args.length !== 1 && !(args.length === 3 && args[1]!.toLowerCase() === "as")) {
    throw fail("FROM requires either one or three arguments: FROM <image> [AS <name>]");
  }
  let stageName: string | undefined;
  if (args.length === 3) {
    stageName = args[2]!;
    if (!stageNamePattern.test(stageName.toLowerCase())) {
      throw fail(`invalid name for build stage: ${JSON.stringify(stageName)}, name can't start with a number or contain symbols`);
    }
  }
  return { source: node, kind: "from", image: args[0]!, stageName, platform: flags.strings.get("platform") };
}

function parseCopy(node: InstructionNode, flags: ParsedFlags, fail: (m: string) => DockerfileError): CopyInstruction {
  const name = node.keyword.toUpperCase();
  const args = node.args;
  if (args.length < 2) {
    throw fail(`${name} requires at least two arguments, but only ${args.length === 0 ? "none was" : "one was"} provided. Destination could not be determined`);
  }
  if (node.keyword === "add" && flags.strings.has("checksum") && args.length !== 2) {
    throw fail("checksum can't be specified for multiple sources");
  }
  const chmod = flags.strings.get("chmod");
  if (chmod !== undefined && !/^[0-7]{1,4}$/.test(chmod) && !/^[ugoa]*[+\-=][rwxXst]*(,[ugoa]*[+\-=][rwxXst]*)*$/.test(chmod)) {
    throw fail(`invalid --chmod value ${JSON.stringify(chmod)}: use an octal mode such as 0755`);
  }
  return {
    source: node,
    kind: node.keyword as "copy" | "add",
    sources: args.slice(0, -1),
    destination: args[args.length - 1]!,
    heredocs: node.heredocs,
    from: flags.strings.get("from"),
    chown: flags.strings.get("chown"),
    chmod,
    link: flags.bools.get("link") ?? false,
    parents: flags.bools.get("parents") ?? false,
    exclude: flags.lists.get("exclude") ?? [],
    checksum: flags.strings.get("checksum"),
    keepGitDir: flags.bools.get("keep-git-dir") ?? false,
    unpack: flags.bools.get("unpack"),
  };
}

function parseHealthcheck(node: InstructionNode, flags: ParsedFlags, fail: (m: string) => DockerfileError): Healthcheck {
  const args = node.args;
  if (args.length === 0) throw fail("HEALTHCHECK requires an argument: CMD <command> or NONE");
  const type = args[0]!.toUpperCase();
  const duration = (flag: string): number => {
    const text = flags.strings.get(flag);
    if (text === undefined) return 0;
    const ns = parseGoDuration(text);
    if (ns === undefined) throw fail(`invalid duration for --${flag}: ${JSON.stringify(text)} (examples: 30s, 1m30s)`);
    if (ns !== 0 && ns < 1e6) throw fail(`--${flag} cannot be less than 1ms: ${text}`);
    return ns;
  };
  if (type === "NONE") {
    if (args.length > 1) throw fail("HEALTHCHECK NONE takes no arguments");
    if (node.flags.length > 0) throw fail("HEALTHCHECK NONE takes no flags");
    return { test: ["NONE"], interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
  }
  if (type !== "CMD") throw fail(`unknown type ${JSON.stringify(args[0])} in HEALTHCHECK (try CMD)`);
  const command = args.slice(1);
  if (command.length === 0) throw fail("missing command after HEALTHCHECK CMD");
  const test = node.json ? ["CMD", ...command] : ["CMD-SHELL", command[0]!];
  const retriesText = flags.strings.get("retries");
  let retries = 0;
  if (retriesText !== undefined) {
    retries = Number(retriesText);
    if (!/^-?\d+$/.test(retriesText) || retries < 0) throw fail(`--retries must be a non-negative integer: ${retriesText}`);
  }
  return {
    test,
    interval: duration("interval"),
    timeout: duration("timeout"),
    startPeriod: duration("start-period"),
    startInterval: duration("start-interval"),
    retries,
  };
}

/** ` (did you mean COPY?)` for a keyword one or two edits from a known one. */
function suggestInstruction(keyword: string): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const known of knownInstructions) {
    const d = editDistance(keyword, known);
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best ? ` (did you mean ${best.toUpperCase()}?)` : "";
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const saved = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = saved;
    }
  }
  return row[b.length]!;
}

