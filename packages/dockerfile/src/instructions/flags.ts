// Flag validation as BuildKit's BFlags does it: every instruction declares its
// flags; an undeclared one, a duplicate, or a bad boolean is an error.
import { DockerfileError } from "../errors.js";
import type { InstructionNode } from "../parser/ast.js";

export type FlagKind = "bool" | "string" | "strings";

export type FlagSpec = Readonly<Record<string, FlagKind>>;

export interface ParsedFlags {
  bools: Map<string, boolean>;
  strings: Map<string, string>;
  lists: Map<string, string[]>;
}

export function parseFlags(node: InstructionNode, spec: FlagSpec, lines: readonly string[]): ParsedFlags {
  const parsed: ParsedFlags = { bools: new Map(), strings: new Map(), lists: new Map() };
  const fail = (message: string) =>
    new DockerfileError(message, node.range, lines[node.range.start.line - 1]);
  for (const word of node.flags) {
    if (!word.startsWith("--")) throw fail(`invalid flag ${JSON.stringify(word)}: flags start with --`);
    const body = word.slice(2);
    const eq = body.indexOf("=");
    const name = eq === -1 ? body : body.slice(0, eq);
    const value = eq === -1 ? undefined : body.slice(eq + 1);
    const kind = spec[name];
    if (kind === undefined) {
      const known = Object.keys(spec);
      const hint = known.length ? ` (${node.keyword.toUpperCase()} accepts ${known.map((k) => `--${k}`).join(", ")})` : "";
      throw fail(`unknown flag: --${name}${hint}`);
    }
    if (kind !== "strings" && (parsed.bools.has(name) || parsed.strings.has(name))) {
      throw fail(`duplicate flag specified: --${name}`);
    }
    if (kind === "bool") {
      if (value === undefined || value.toLowerCase() === "true") parsed.bools.set(name, true);
      else if (value.toLowerCase() === "false") parsed.bools.set(name, false);
      else throw fail(`expecting boolean value for flag --${name}, not: ${value}`);
    } else if (value === undefined) {
      throw fail(`missing a value on flag: --${name}`);
    } else if (kind === "string") {
      parsed.strings.set(name, value);
    } else {
      parsed.lists.set(name, [...(parsed.lists.get(name) ?? []), value]);
    }
  }
  return parsed;
}

/** The flags each instruction accepts, per the Dockerfile reference (stable syntax). */
export const instructionFlags: Readonly<Record<string, FlagSpec>> = {
  from: { platform: "string" },
  run: { mount: "strings", network: "string", security: "string" },
  copy: {
    from: "string",
    chown: "string",
    chmod: "string",
    link: "bool",
    parents: "bool",
    exclude: "strings",
  },
  add: {
    chown: "string",
    chmod: "string",
    link: "bool",
    checksum: "string",
    "keep-git-dir": "bool",
    exclude: "strings",
    unpack: "bool",
  },
  healthcheck: {
    interval: "string",
    timeout: "string",
    "start-period": "string",
    "start-interval": "string",
    retries: "string",
  },
};
