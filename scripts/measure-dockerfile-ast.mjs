// Measures how closely dockerfile-ast (the npm package chosen "for positions")
// parses Dockerfiles the way BuildKit does, on BuildKit's own parser vectors:
// the 33 positive cases must dump to their `result` file, the 4 negative cases
// must be rejected. Our parser is measured the same way for comparison.
//
// dockerfile-ast has no BuildKit-shaped output, so a thin mapping turns its
// API (keywords, flags, arguments, JSON strings, ENV/LABEL properties, ONBUILD
// triggers) into BuildKit's nodes; the mapping is as favourable as its API allows.
//
// Run: npm run build && node scripts/measure-dockerfile-ast.mjs [--verbose]
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const { DockerfileParser } = require("dockerfile-ast");
const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const { dumpAst, goQuote, parseDockerfile } = await import(
  new URL("packages/dockerfile/dist/parser/index.js", `file://${repoRoot}`).href
).catch(() => {
  console.error("packages/dockerfile/dist is missing or stale: run `npm run build` first");
  process.exit(2);
});

const conformanceDir = path.resolve(repoRoot, process.env.TSBUILD_CONFORMANCE_DIR ?? "../shared/conformance");
const parserDir = path.join(conformanceDir, "buildkit/frontend/dockerfile/parser");
const verbose = process.argv.includes("--verbose");

const jsonForms = new Set(["run", "cmd", "entrypoint", "shell", "add", "copy", "volume"]);
const singleString = new Set(["maintainer", "user", "workdir", "stopsignal"]);

/** The argument text after the flags, continuation lines joined by dockerfile-ast. */
function textAfterFlags(instruction) {
  let content = instruction.getArgumentsContent() ?? "";
  const flags = instruction.getFlags?.() ?? [];
  const last = flags.at(-1)?.toString();
  // Some instructions (HEALTHCHECK) already leave the flags out of their content.
  if (last && content.includes(last)) content = content.slice(content.indexOf(last) + last.length);
  return content.trim();
}

/** A JSON array of strings, or undefined: the decoding BuildKit does and dockerfile-ast leaves to its caller. */
function jsonStrings(text) {
  if (!text.startsWith("[")) return undefined;
  try {
    const value = JSON.parse(text);
    return Array.isArray(value) && value.every((v) => typeof v === "string") ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The raw text of a range, with continuation lines joined as BuildKit joins them. */
function sourceText(lines, range, escape) {
  if (!range) return "";
  const { start, end } = range;
  if (start.line === end.line) return lines[start.line].slice(start.character, end.character);
  const text = [lines[start.line].slice(start.character), ...lines.slice(start.line + 1, end.line), lines[end.line].slice(0, end.character)];
  const continuation = new RegExp(`${escape === "\\" ? "\\\\" : escape}[ \\t]*$`);
  return text.map((line, i) => (i < text.length - 1 ? line.replace(continuation, "") : line)).join("");
}

/** dockerfile-ast's view of one instruction, shaped as a BuildKit node. */
function toNode(instruction, lines, escape) {
  const keyword = instruction.getKeyword().toLowerCase();
  const flags = (instruction.getFlags?.() ?? []).map((flag) => flag.toString());
  const node = { keyword, flags, args: [], inner: undefined };
  if (jsonForms.has(keyword)) {
    const json = instruction.getJSONStrings?.() ?? [];
    if (json.length > 0 || (instruction.getOpeningBracket?.() && instruction.getClosingBracket?.())) {
      node.args = json.map((arg) => arg.getJSONValue());
    } else if (["add", "copy", "volume"].includes(keyword)) {
      node.args = instruction.getArguments().map((arg) => arg.getValue());
    } else {
      const text = textAfterFlags(instruction);
      node.args = text === "" ? [] : [text];
    }
  } else if (keyword === "from" || keyword === "expose" || keyword === "arg") {
    node.args = instruction.getArguments().map((arg) => arg.getValue());
  } else if (keyword === "env" || keyword === "label") {
    node.args = instruction
      .getProperties()
      .flatMap((p) => [p.getName(), sourceText(lines, p.getValueRange(), escape), p.getAssignmentOperator() ?? ""]);
  } else if (singleString.has(keyword)) {
    const text = instruction.getArgumentsContent();
    node.args = text ? [text] : [];
  } else if (keyword === "healthcheck") {
    const [type] = instruction.getArguments();
    if (type) {
      const rest = textAfterFlags(instruction).slice(type.getValue().length).trim();
      node.args = [type.getValue(), ...(jsonStrings(rest) ?? (rest === "" ? [] : [rest]))];
    }
  } else if (keyword === "onbuild") {
    const trigger = instruction.getTriggerInstruction();
    if (trigger) node.inner = toNode(trigger, lines, escape);
  } else {
    node.args = [""];
  }
  return node;
}

function dump(node) {
  let out = node.keyword;
  if (node.flags.length > 0) out += ` [${node.flags.map(goQuote).join(" ")}]`;
  if (node.inner) out += ` (${dump(node.inner)})`;
  for (const arg of node.args) out += ` ${goQuote(arg)}`;
  return out;
}

function dockerfileAstDump(text) {
  const lines = text.split(/\r?\n/);
  const dockerfile = DockerfileParser.parse(text);
  const escape = dockerfile.getEscapeCharacter();
  return dockerfile
    .getInstructions()
    .map((instruction) => `(${dump(toNode(instruction, lines, escape))})\n`)
    .join("");
}

const caseNames = (dir) =>
  readdirSync(path.join(parserDir, dir), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

function measure(name, dumpOf) {
  const failed = [];
  let positive = 0;
  for (const c of caseNames("testfiles")) {
    const text = readFileSync(path.join(parserDir, "testfiles", c, "Dockerfile"), "utf8");
    const expected = readFileSync(path.join(parserDir, "testfiles", c, "result"), "utf8");
    let actual;
    try {
      actual = dumpOf(text);
    } catch (error) {
      actual = `threw ${error}`;
    }
    if (actual === expected) positive++;
    else failed.push({ c, expected, actual });
  }
  let negative = 0;
  for (const c of caseNames("testfiles-negative")) {
    const text = readFileSync(path.join(parserDir, "testfiles-negative", c, "Dockerfile"), "utf8");
    try {
      dumpOf(text);
      failed.push({ c, expected: "an error", actual: "no error" });
    } catch {
      negative++;
    }
  }
  console.log(`${name}: ${positive}/33 positive cases equal to BuildKit's result, ${negative}/4 negative cases rejected`);
  if (verbose) {
    for (const f of failed) console.log(`  ${f.c}\n    expected: ${JSON.stringify(f.expected)}\n    actual:   ${JSON.stringify(f.actual)}`);
  } else if (failed.length > 0) {
    console.log(`  differs on: ${failed.map((f) => f.c).join(", ")}`);
  }
}

measure("dockerfile-ast 0.7.x", dockerfileAstDump);
measure("@tsbuild/dockerfile parser", (text) => dumpAst(parseDockerfile(text)));
