// Any text either expands or fails with a ShellExpansionError that points inside the input.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expandWord, expandWords, ShellExpansionError, type ShellLexOptions } from "./index.js";

// Shell-significant fragments make the interesting paths (operators, patterns, quotes) likely.
const fragment = fc.oneof(
  fc.constantFrom(
    "$", "${", "}", ":", "-", "+", "?", "#", "%", "/", "\\", "`", "'", '"', "<<", "*", "[", " ", "\n",
    "X", "UNSET", "0", "@", "=", "안", "👽", "\u00a0", "\uFEFF", "\\}", "\\*", "##", "%%", "//",
  ),
  fc.string({ maxLength: 4 }),
);
const text = fc.array(fragment, { maxLength: 16 }).map((parts) => parts.join(""));
const env = fc
  .record({ X: fc.string({ maxLength: 6 }), EMPTY: fc.constant("") }, { requiredKeys: [] })
  .map((vars) => new Map(Object.entries(vars)));
const options: fc.Arbitrary<ShellLexOptions> = fc.record({
  escapeToken: fc.constantFrom("\\" as const, "`" as const),
  rawQuotes: fc.boolean(),
  rawEscapes: fc.boolean(),
  skipUnsetEnv: fc.boolean(),
});

function expectReturnsOrShellError(input: string, expand: () => unknown): void {
  try {
    expand();
  } catch (err) {
    expect(err).toBeInstanceOf(ShellExpansionError);
    const { offset } = err as ShellExpansionError;
    expect(Number.isInteger(offset) && offset >= 0 && offset <= input.length).toBe(true);
  }
}

describe("expansion of arbitrary text", () => {
  it("expandWord returns or throws ShellExpansionError with an offset inside the input", () => {
    fc.assert(
      fc.property(text, env, options, (input, vars, opts) => {
        expectReturnsOrShellError(input, () => expandWord(input, vars, opts));
      }),
      { numRuns: 1000 },
    );
  });

  it("expandWords returns or throws ShellExpansionError with an offset inside the input", () => {
    fc.assert(
      fc.property(text, env, options, (input, vars, opts) => {
        expectReturnsOrShellError(input, () => expandWords(input, vars, opts));
      }),
      { numRuns: 1000 },
    );
  });

  it("expandWord and expandWords agree on which inputs fail", () => {
    fc.assert(
      fc.property(text, env, options, (input, vars, opts) => {
        const fails = (expand: () => unknown) => {
          try {
            expand();
            return false;
          } catch {
            return true;
          }
        };
        expect(fails(() => expandWords(input, vars, opts))).toBe(fails(() => expandWord(input, vars, opts)));
      }),
      { numRuns: 1000 },
    );
  });
});
