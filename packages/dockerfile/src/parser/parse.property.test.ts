// Whatever the input, the parser either returns an AST or throws a
// DockerfileError that points inside the text; never any other exception.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DockerfileError } from "../errors.js";
import { dumpAst } from "./dump.js";
import { parseDockerfile } from "./parse.js";

const fragments = fc.constantFrom(
  "FROM ",
  "RUN ",
  "Copy ",
  "ADD ",
  "ENV ",
  "LABEL ",
  "ARG ",
  "ONBUILD ",
  "HEALTHCHECK ",
  "CMD ",
  "SHELL ",
  "VOLUME ",
  "EXPOSE ",
  "USER ",
  "FOO ",
  "\\",
  "`",
  "'",
  '"',
  "[",
  "]",
  '["a", "b"]',
  "[1]",
  ",",
  "=",
  "<<EOF",
  "<<-'E'",
  "3<<X",
  "EOF",
  "\tEOF",
  "\n",
  "\r\n",
  "#",
  "# escape=`\n",
  "# escape=x\n",
  "# syntax=a\n",
  "--",
  "--mount=type=cache",
  "--x=\"y z\"",
  " ",
  "\t",
  "\u00a0",
  "é",
  "😀",
  "\ufeff",
  "$",
  "${",
  "}",
  "a",
  "PATH",
);

const dockerfileish = fc.array(fragments, { maxLength: 40 }).map((parts) => parts.join(""));
const anyText = fc.string({ unit: "binary", maxLength: 200 });

function parsesOrFailsInside(text: string): void {
  let ast;
  try {
    ast = parseDockerfile(text);
  } catch (error) {
    expect(error).toBeInstanceOf(DockerfileError);
    const { range } = error as DockerfileError;
    expect(range).toBeDefined();
    const lines = text.replace(/^\ufeff/, "").split("\n");
    const { line, column } = range!.start;
    expect(line).toBeGreaterThanOrEqual(1);
    expect(line).toBeLessThanOrEqual(lines.length);
    expect(column).toBeGreaterThanOrEqual(1);
    expect(column).toBeLessThanOrEqual(lines[line - 1].length + 1);
    return;
  }
  expect(ast.instructions.length).toBeGreaterThan(0);
  expect(typeof dumpAst(ast)).toBe("string");
}

describe("parseDockerfile on any input", () => {
  it("parses or throws a positioned DockerfileError for arbitrary strings", () => {
    fc.assert(fc.property(anyText, parsesOrFailsInside), { numRuns: 500 });
  });

  it("parses or throws a positioned DockerfileError for Dockerfile-like strings", () => {
    fc.assert(fc.property(dockerfileish, parsesOrFailsInside), { numRuns: 1000 });
  });
});
