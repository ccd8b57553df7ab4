// BuildKit's word-expansion vectors (shell/envVarTest and shell/wordsTest), read in place and
// parsed as described in the conformance README, sections 2 and 3.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { expandWord, expandWords, ShellExpansionError } from "../../packages/dockerfile/src/shell/index.js";
import { vectorPath } from "./location.js";

const shellDir = ["buildkit", "frontend", "dockerfile", "shell"];

interface EnvVarVector {
  line: number;
  input: string;
  /** undefined when the expansion must fail. */
  expected: string | undefined;
}

function readEnvVarVectors(): EnvVarVector[] {
  const lines = readFileSync(vectorPath(...shellDir, "envVarTest"), "utf8").split("\n");
  const vectors: EnvVarVector[] = [];
  lines.forEach((raw, index) => {
    if (raw.startsWith("#")) return;
    const text = raw.trim();
    if (text === "") return;
    const fields = text.split("|");
    if (fields.length !== 3) throw new Error(`envVarTest:${index + 1}: expected 3 fields, got ${fields.length}`);
    const [platform, input, expected] = fields.map((field) => field.trim());
    if (platform !== "A" && platform !== "U" && platform !== "W") {
      throw new Error(`envVarTest:${index + 1}: platform must be A, U or W, got ${JSON.stringify(platform)}`);
    }
    // We run on Unix: W lines are Windows-only.
    if (platform === "W") return;
    vectors.push({ line: index + 1, input, expected: expected === "error" ? undefined : expected });
  });
  return vectors;
}

interface WordsVector {
  line: number;
  input: string;
  env: Map<string, string>;
  /** undefined when the expansion must fail. */
  expected: string[] | undefined;
}

function readWordsVectors(): WordsVector[] {
  const text = readFileSync(vectorPath(...shellDir, "wordsTest"), "utf8");
  const lines = text.split("\n");
  // Go's line scanner yields no empty line after the final newline.
  if (text.endsWith("\n")) lines.pop();
  const env = new Map<string, string>();
  const vectors: WordsVector[] = [];
  lines.forEach((raw, index) => {
    if (raw.startsWith("#")) return;
    if (raw.startsWith("ENV ")) {
      const assignment = raw.slice(3).replace(/^ +/, "");
      const eq = assignment.indexOf("=");
      if (eq === -1) throw new Error(`wordsTest:${index + 1}: ENV line without '='`);
      env.set(assignment.slice(0, eq), assignment.slice(eq + 1));
      return;
    }
    const fields = raw.split("|");
    if (fields.length !== 2) throw new Error(`wordsTest:${index + 1}: expected exactly one '|'`);
    const expected = fields[1].replace(/^ +/, "").split(",");
    vectors.push({
      line: index + 1,
      input: fields[0].trim(),
      env: new Map(env),
      expected: expected.length === 1 && expected[0] === "error" ? undefined : expected,
    });
  });
  return vectors;
}

const envVarVectors = readEnvVarVectors();
const wordsVectors = readWordsVectors();

// The README's counts guard the parsing itself: a misread file must not pass with fewer cases.
if (envVarVectors.length !== 228 || wordsVectors.length !== 24) {
  throw new Error(
    `expected 228 envVarTest and 24 wordsTest vectors, parsed ${envVarVectors.length} and ${wordsVectors.length}`,
  );
}

describe("BuildKit shell/envVarTest (expandWord)", () => {
  const env = new Map([
    ["PWD", "/home"],
    ["SHELL", "bash"],
    ["KOREAN", "한국어"],
    ["NULL", ""],
  ]);
  for (const { line, input, expected } of envVarVectors) {
    it(`line ${line}: ${input}`, () => {
      if (expected === undefined) {
        expect(() => expandWord(input, env)).toThrow(ShellExpansionError);
      } else {
        expect(expandWord(input, env).result).toBe(expected);
      }
    });
  }
});

describe("BuildKit shell/wordsTest (expandWords)", () => {
  for (const { line, input, env, expected } of wordsVectors) {
    it(`line ${line}: ${input}`, () => {
      if (expected === undefined) {
        expect(() => expandWords(input, env)).toThrow(ShellExpansionError);
      } else {
        expect(expandWords(input, env).words).toEqual(expected);
      }
    });
  }
});
