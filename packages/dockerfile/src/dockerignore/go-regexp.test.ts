import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileGoRegexp, parseGoRegexp, type GoRegexpNode } from "./go-regexp.js";
import { PatternMatcher } from "./pattern-matcher.js";

/** The parsed tree as a JavaScript RegExp source (flag `u`): the backtracking reference for the automaton. */
function javaScriptSource(node: GoRegexpNode): string {
  switch (node.kind) {
    case "codePoint": {
      const point = (code: number) => `\\u{${code.toString(16)}}`;
      const ranges = node.set.ranges.map(([lo, hi]) => (lo === hi ? point(lo) : `${point(lo)}-${point(hi)}`));
      return `[${node.set.negated ? "^" : ""}${ranges.join("")}${node.set.properties.join("")}]`;
    }
    case "assertion":
      return { beginText: "^", endText: "$", wordBoundary: "\\b", notWordBoundary: "\\B" }[node.assertion];
    case "concat":
      return node.items.map((item) => `(?:${javaScriptSource(item)})`).join("");
    case "alternate":
      return `(?:${node.alternatives.map(javaScriptSource).join("|")})`;
    case "repeat":
      return `(?:${javaScriptSource(node.item)}){${node.min},${node.max < 0 ? "" : node.max}}`;
  }
}

function automatonMatches(source: string, text: string): boolean {
  const compiled = compileGoRegexp(source);
  if ("error" in compiled) throw new Error(`${source}: ${compiled.error}`);
  return compiled.program.test(text);
}

/**
 * Tried from each code point boundary in turn: an unanchored search with flag `u` in V8 also
 * starts between the two halves of a surrogate pair, where `\B` holds (`\B` on "a𝒜c" matched
 * there), while Go's positions are whole code points.
 */
function javaScriptMatches(source: string, text: string): boolean {
  const regexp = new RegExp(javaScriptSource(parseGoRegexp(source)), "uy");
  for (let at = 0; ; at += text.codePointAt(at)! > 0xffff ? 2 : 1) {
    regexp.lastIndex = at;
    if (regexp.test(text)) return true;
    if (at >= text.length) return false;
  }
}

const ATOMS = [
  "a", "b", "/", ".", "é", "𝒜", "{", "}", "[^/]", "[ab]", "[^a]", "[a-c]", "[\\D]", "[[:alpha:]]", "[^\\pL]", "\\d",
  "\\w", "\\pL", "\\p{Greek}", "\\PN", "\\b", "\\B", "\\A", "\\z", "^", "$", "\\Qa*\\E", "\\x{1d49c}", "\\.",
];
const QUANTIFIERS = ["*", "?", "*?", "{2}", "{1,3}", "{0,}", "{2,}", "{0,2}", "{1}"];
const TEXT_CHARACTERS = ["c", "1", "_", " ", "é", "α", "𝒜", "\n"];

/**
 * Go regexp sources built the way the grammar nests: alternatives of quantified atoms and
 * groups, often anchored as globs make them.
 */
const { expression } = fc.letrec((tie) => ({
  piece: fc
    .tuple(
      fc.oneof(
        { depthSize: "small", maxDepth: 2 },
        fc.constantFrom(...ATOMS),
        tie("expression").map((inner) => `(${inner})`),
      ),
      fc.oneof({ arbitrary: fc.constant(""), weight: 2 }, fc.constantFrom(...QUANTIFIERS)),
    )
    .map(([atom, quantifier]) => atom + quantifier),
  expression: fc
    .array(fc.array(tie("piece"), { maxLength: 3 }).map((pieces) => pieces.join("")), { minLength: 1, maxLength: 2 })
    .map((alternatives) => alternatives.join("|")),
}));
const goSources = fc
  .tuple(fc.constantFrom("^", ""), expression, fc.constantFrom("$", ""))
  .map((parts) => parts.join(""))
  .filter((source) => !("error" in compileGoRegexp(source)));

/** Texts mostly of the characters the patterns name, so that matches are not rare. */
const texts = fc
  .array(fc.oneof({ arbitrary: fc.constantFrom("a", "b", "/"), weight: 3 }, fc.constantFrom(...TEXT_CHARACTERS)), {
    maxLength: 12,
  })
  .map((chars) => chars.join(""));

describe("Go regexp automaton", () => {
  it("agrees with the JavaScript RegExp translation on random small patterns and texts", () => {
    fc.assert(
      fc.property(goSources, texts, (source, text) => {
        expect(automatonMatches(source, text)).toBe(javaScriptMatches(source, text));
      }),
      { numRuns: 3000 },
    );
  });

  it("keeps agreeing when its state cache outgrows its budget and is dropped in the middle of a text", () => {
    // After each code point the threads sit after every `a` of the last 300: a new, large state per step.
    const source = "^[ab]*a[^/]{0,300}$";
    const compiled = compileGoRegexp(source);
    if ("error" in compiled) throw new Error(compiled.error);
    const reference = new RegExp(javaScriptSource(parseGoRegexp(source)), "u");
    const random = fc.sample(fc.array(fc.constantFrom("a", "b"), { minLength: 3000, maxLength: 3000 }), {
      numRuns: 12,
      seed: 7,
    });
    const results = random.map((chars, index) => {
      const text = chars.join("") + (index % 2 === 0 ? "b".repeat(301) : "");
      return compiled.program.test(text) === reference.test(text) ? "agree" : text;
    });
    expect(results).toEqual(random.map(() => "agree"));
  });

  it.each([
    ["^a|b$", "xb", true], // alternation: the second branch is not anchored at the start
    ["^a|b$", "bx", false],
    ["a$", "a\n", false], // `$` is the end of the text only
    ["^.$", "\n", false], // `.` leaves out newline
    ["^.$", "𝒜", true], // one code point, two UTF-16 units
    ["^a{2,3}$", "aaaa", false],
    ["^a{2,3}$", "aaa", true],
    ["^a{2,}$", "a", false],
    ["^a{2,}$", "aaaaa", true],
    ["\\bx", "a x", true],
    ["\\bx", "ax", false],
    ["\\Bx", "ax", true],
    ["\\bé", "é", false], // Go's word characters are ASCII: no boundary between two non-word sides
    ["\\B", "a𝒜c", false], // every position between whole code points here is a boundary (none inside 𝒜)
    ["^(a*)*$", "aaab", false], // a loop whose body can match nothing
    ["", "anything", true],
    ["[^\\x00-\\x{10FFFF}]", "abc", false],
  ] as const)("%s on %j -> %s", (source, text, expected) => {
    expect(automatonMatches(source, text)).toBe(expected);
  });

  it("refuses a program larger than Go's size cap, as Go does", () => {
    // Each `[^/]{1000}` counts 1000; Go's cap is 3,355,443.
    expect(compileGoRegexp(`^${"[^/]{1000}".repeat(3356)}$`)).toEqual({ error: "expression too large" });
    expect(() => new PatternMatcher(["?{1000}".repeat(3356)]).matches("x")).toThrow(/expression too large/);
  });

  describe("inputs that would take a backtracking engine or a naive parser super-linear time", () => {
    const aaa = "a".repeat(5000);

    it("runs `a*a*a*a*a*a*a*a*b` over 5,000 characters", () => {
      const matcher = new PatternMatcher(["a*a*a*a*a*a*a*a*b"]);
      expect(matcher.matches(aaa)).toBe(false);
      expect(matcher.matches(`${aaa}b`)).toBe(true);
    });

    it("runs nested repetitions (`**/` is `(.*/)?`) over 5,000 characters and their parent directories", () => {
      const deep = `${"a/".repeat(2500)}c`;
      const matcher = new PatternMatcher(["**/**/**/**/**/**/**/**/b"]);
      expect(matcher.matches(deep)).toBe(false);
      expect(matcher.matches(`${deep}/b`)).toBe(true);
      expect(new PatternMatcher(["a/**/**/**/**/**/b"]).matches(deep)).toBe(false);
    });

    it("parses 60,000-character lines of `{`, `{1` and `[:a` (each a look-ahead from every position)", () => {
      expect(new PatternMatcher([`x*${"{".repeat(60000)}`]).matches("x{")).toBe(false);
      expect(new PatternMatcher([`x*${"{1".repeat(30000)}`]).matches("x")).toBe(false);
      expect(new PatternMatcher([`x*[${"[:a".repeat(20000)}]`]).matches("x:")).toBe(true);
    });
  });
});
