// BuildKit's parser vectors: every positive case must dump to its `result`
// byte for byte, every negative case must be a DockerfileError, and the
// line-number file must give BuildKit's instruction ranges.
import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DockerfileError } from "../../packages/dockerfile/src/errors.js";
import { dumpAst, parseDockerfile } from "../../packages/dockerfile/src/parser/index.js";
import { vectorPath } from "./location.js";

const parserDir = vectorPath("buildkit", "frontend", "dockerfile", "parser");
const caseNames = (dir: string) =>
  readdirSync(`${parserDir}/${dir}`, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

const positive = caseNames("testfiles");
const negative = caseNames("testfiles-negative");
// A partial copy of the vectors must fail loudly, not pass with fewer cases.
if (positive.length !== 33 || negative.length !== 4) {
  throw new Error(`expected 33 positive and 4 negative parser cases in ${parserDir}, found ${positive.length} and ${negative.length}`);
}

describe("parser testfiles (positive)", () => {
  for (const name of positive) {
    it(name, () => {
      const dockerfile = readFileSync(`${parserDir}/testfiles/${name}/Dockerfile`, "utf8");
      const expected = readFileSync(`${parserDir}/testfiles/${name}/result`, "utf8");
      expect(dumpAst(parseDockerfile(dockerfile))).toBe(expected);
    });
  }
});

describe("parser testfiles-negative", () => {
  for (const name of negative) {
    it(name, () => {
      const dockerfile = readFileSync(`${parserDir}/testfiles-negative/${name}/Dockerfile`, "utf8");
      expect(() => parseDockerfile(dockerfile)).toThrow(DockerfileError);
    });
  }
});

describe("parser testfile-line", () => {
  it("gives BuildKit's line ranges", () => {
    const ast = parseDockerfile(readFileSync(`${parserDir}/testfile-line/Dockerfile`, "utf8"));
    expect([ast.range.start.line, ast.range.end.line]).toEqual([5, 31]);
    expect(ast.instructions.map((node) => [node.range.start.line, node.range.end.line])).toEqual([
      [5, 5],
      [11, 12],
      [17, 31],
    ]);
  });
});
