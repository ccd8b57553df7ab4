// Parser behaviour the conformance vectors do not pin down: directives,
// positions, warnings, errors and BuildKit's byte-level quirks.
import { describe, expect, it } from "vitest";
import { DockerfileError } from "../errors.js";
import { dumpAst } from "./dump.js";
import { parseDockerfile } from "./parse.js";

function parseError(text: string, file?: string): DockerfileError {
  try {
    parseDockerfile(text, { file });
  } catch (error) {
    if (error instanceof DockerfileError) return error;
    throw error;
  }
  throw new Error("expected a DockerfileError");
}

const dump = (text: string) => dumpAst(parseDockerfile(text));

describe("parser directives", () => {
  it("reads syntax, escape and check from the top, with case-insensitive keys and their lines", () => {
    const ast = parseDockerfile("# Syntax = docker/dockerfile:1  \n#ESCAPE=`\n#  check=skip=all\nFROM a\n");
    expect(ast.directives).toEqual({
      syntax: "docker/dockerfile:1",
      escape: "`",
      check: "skip=all",
      ranges: {
        syntax: { start: { line: 1, column: 1 }, end: { line: 1, column: 33 } },
        escape: { start: { line: 2, column: 1 }, end: { line: 2, column: 10 } },
        check: { start: { line: 3, column: 1 }, end: { line: 3, column: 18 } },
      },
    });
  });

  it("stops at the first line that is not a directive (blank line, comment, unknown key)", () => {
    expect(parseDockerfile("\n# escape=`\nFROM a\n").directives.escape).toBe("\\");
    expect(parseDockerfile("# hello\n# escape=`\nFROM a\n").directives.escape).toBe("\\");
    expect(parseDockerfile("# foo=bar\n# escape=`\nFROM a\n").directives.escape).toBe("\\");
  });

  it("rejects an invalid escape value and a repeated directive, at their line", () => {
    const invalid = parseError("# escape=x\nFROM a\n");
    expect(invalid.message).toBe("invalid escape token 'x' does not match ` or \\");
    expect(invalid.range?.start).toEqual({ line: 1, column: 1 });
    const repeated = parseError("# syntax=a\n  # syntax=b\nFROM a\n");
    expect(repeated.message).toBe("only one syntax parser directive can be used");
    expect(repeated.range?.start).toEqual({ line: 2, column: 3 });
  });

  it("makes the backtick the continuation and escape token after # escape=`", () => {
    expect(dump("# escape=`\nRUN a `\n  b\\\nCOPY --x=`\"y a b\n")).toBe('(run "a   b\\\\")\n(copy ["--x=\\"y"] "a" "b")\n');
  });

  it("drops a byte order mark before a directive", () => {
    expect(parseDockerfile("\ufeff# escape=`\nFROM a\n").directives.escape).toBe("`");
  });
});

describe("lines and continuations", () => {
  it("joins continuation lines with no separator, skipping comments and blank lines", () => {
    const ast = parseDockerfile("RUN a \\\n# note\n\n  b \\\n \t\n c\nFROM x\n");
    expect(ast.instructions[0].args).toEqual(["a   b  c"]);
    expect(ast.instructions[0].range).toEqual({ start: { line: 1, column: 1 }, end: { line: 6, column: 3 } });
    expect(ast.warnings).toEqual([
      expect.objectContaining({ rule: "NoEmptyContinuation", range: { start: { line: 3, column: 1 }, end: { line: 3, column: 1 } } }),
    ]);
    expect(ast.warnings[0].message).toContain("Empty continuation line found in: RUN a   b  c");
  });

  it("does not warn for comment lines inside a continuation", () => {
    expect(parseDockerfile("RUN a \\\n  # note\n  b\n").warnings).toEqual([]);
  });

  it("ends an instruction at end of file in the middle of a continuation", () => {
    expect(dump("FROM a\nRUN b \\")).toBe('(from "a")\n(run "b")\n');
  });

  it("keeps CR inside a line but strips trailing CRs", () => {
    expect(dump("FROM a\r\nRUN x\ry\r\r\n")).toBe('(from "a")\n(run "x\\ry")\n');
  });

  it("accepts a line of 65535 UTF-8 bytes and rejects 65536", () => {
    expect(parseDockerfile(`LABEL a=${"é".repeat(32763)}x\n`).instructions).toHaveLength(1);
    const error = parseError(`FROM a\nLABEL a=${"é".repeat(32763)}xy\nRUN b\n`);
    expect(error.message).toBe("dockerfile line greater than max allowed size of 65535");
    expect(error.range?.start).toEqual({ line: 2, column: 1 });
  });

  it("rejects a file with no instructions", () => {
    expect(parseError("").range?.start).toEqual({ line: 1, column: 1 });
    expect(parseError("# only\n\n   # comments\n").range?.start).toEqual({ line: 3, column: 1 });
  });
});

describe("instruction nodes", () => {
  it("records keyword as written, original text, flags and argument positions", () => {
    const ast = parseDockerfile("FROM a\n  Copy --from=b \\\n   --chown=1 x y\n");
    const copy = ast.instructions[1];
    expect(copy).toMatchObject({
      keyword: "copy",
      keywordAsWritten: "Copy",
      original: "Copy --from=b    --chown=1 x y",
      flags: ["--from=b", "--chown=1"],
      args: ["x", "y"],
      json: false,
      range: { start: { line: 2, column: 3 }, end: { line: 3, column: 17 } },
      argsStart: { line: 3, column: 14 },
    });
    expect(ast.range).toEqual({ start: { line: 1, column: 1 }, end: { line: 3, column: 17 } });
  });

  it("nests ONBUILD's instruction with its own position", () => {
    const node = parseDockerfile("ONBUILD  RUN [\"a\"]\n").instructions[0];
    expect(node.args).toEqual([]);
    expect(node.inner).toMatchObject({ keyword: "run", args: ["a"], json: true, range: { start: { line: 1, column: 10 } } });
    expect(dump("ONBUILD  RUN [\"a\"]\n")).toBe('(onbuild (run "a"))\n');
  });

  it("keeps unknown instructions with BuildKit's single empty argument", () => {
    expect(dump("FROM a\nFOO --x bar baz\n")).toBe('(from "a")\n(foo ["--x"] "")\n');
  });

  it("reads flags as BuildKit does: quotes and escapes removed, `--` ends them, bytes for non-ASCII", () => {
    expect(dump("COPY --a=\"b c\" --d=e\\ f -- --g h\n")).toBe('(copy ["--a=b c" "--d=e f"] "--g" "h")\n');
    expect(dump('CMD --doit ["a","b"]\n')).toBe('(cmd ["--doit"] "a" "b")\n');
    // BuildKit writes each byte of a UTF-8 character as a character of its own.
    expect(dump("COPY --chown=josé a b\n")).toBe('(copy ["--chown=josÃ©"] "a" "b")\n');
  });

  it("shapes HEALTHCHECK as a type word then the RUN rule", () => {
    expect(dump("HEALTHCHECK\nHEALTHCHECK CMD\nHEALTHCHECK --interval=5s CMD [\"a\", \"b\"]\nHEALTHCHECK NONE x y\n")).toBe(
      '(healthcheck)\n(healthcheck "CMD")\n(healthcheck ["--interval=5s"] "CMD" "a" "b")\n(healthcheck "NONE" "x y")\n',
    );
  });

  it("falls back to the shell form where Go's JSON decoder fails, even on a valid-looking array", () => {
    expect(dump('RUN ["a", 1e999]\n')).toBe('(run "[\\"a\\", 1e999]")\n');
    expect(dump('RUN ["\\ud800"]\n')).toBe('(run "\\ufffd")\n'.replace("\\ufffd", "\ufffd"));
  });
});

describe("errors", () => {
  it("rejects ENV with a name only, at its arguments, with a hint", () => {
    const error = parseError("FROM a\nENV   PATH\n", "build/Dockerfile");
    expect(error.message).toMatch(/^ENV must have two arguments/);
    expect(error.range?.start).toEqual({ line: 2, column: 7 });
    expect(error.format()).toBe(
      `build/Dockerfile:2:7: ${error.message}\n 2 | ENV   PATH\n   |       ^`,
    );
  });

  it("rejects a new-form ENV/LABEL word without =", () => {
    expect(parseError("LABEL a=b c\n").message).toBe(
      "Syntax error - can't find = in \"c\". Must be of the form: name=value",
    );
  });

  it("rejects a JSON array holding a non-string, also inside ONBUILD", () => {
    expect(parseError('FROM a\nCMD ["a", ["b"]]\n').range?.start).toEqual({ line: 2, column: 5 });
    expect(parseError('ONBUILD COPY [1] \n').range?.start).toEqual({ line: 1, column: 14 });
  });
});
