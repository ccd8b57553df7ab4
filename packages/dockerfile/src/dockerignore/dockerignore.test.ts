import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ContextFilter,
  dockerignoreCandidates,
  DockerignoreError,
  filterContextPaths,
  parseDockerignore,
  PatternMatcher,
} from "./index.js";

const excluded = (patterns: string[], path: string) => new PatternMatcher(patterns).matches(path);

/** A listing from `dir/` (trailing slash = directory) and plain file paths. */
function listing(...paths: string[]) {
  return paths.map((path) => (path.endsWith("/") ? { path: path.slice(0, -1), isDir: true } : { path, isDir: false }));
}

describe("dockerignoreCandidates", () => {
  it("tries <Dockerfile>.dockerignore beside the Dockerfile, then the context's .dockerignore", () => {
    expect(dockerignoreCandidates("Dockerfile")).toEqual(["Dockerfile.dockerignore", ".dockerignore"]);
    expect(dockerignoreCandidates("build/Dockerfile2", "/src/app/")).toEqual([
      "build/Dockerfile2.dockerignore",
      "/src/app/.dockerignore",
    ]);
    expect(dockerignoreCandidates("/abs/prod.Dockerfile", "/")).toEqual([
      "/abs/prod.Dockerfile.dockerignore",
      "/.dockerignore",
    ]);
  });
});

describe("parseDockerignore", () => {
  it("applies ReadAll's line rules", () => {
    const text = "\uFEFF# comment\r\n  # not a comment\r\n\n\t/a//b/../c/\n!  /keep/./this\nnode_modules\n";
    expect(parseDockerignore(text)).toEqual(["# not a comment", "a/c", "!keep/this", "node_modules"]);
  });

  it("drops the BOM on the first line only, and keeps `/` and `!/` as written", () => {
    expect(parseDockerignore("a\n\uFEFFb\n/\n!/")).toEqual(["a", "\uFEFFb", "/", "!/"]);
  });

  it("gives no patterns for a missing or empty file", () => {
    expect(parseDockerignore(null)).toEqual([]);
    expect(parseDockerignore("")).toEqual([]);
  });

  it("rejects a line of 64 KiB or more, as Go's line scanner does", () => {
    expect(parseDockerignore(`${"a".repeat(65535)}\n`)).toHaveLength(1);
    expect(() => parseDockerignore(`x\n${"é".repeat(32768)}\n`)).toThrow(/line 2 is 65536 bytes or longer/);
  });
});

describe("PatternMatcher", () => {
  it("trims patterns before looking for `!` and drops empty ones", () => {
    const matcher = new PatternMatcher(["docs", "  !docs/README.md  ", "   ", ""]);
    expect(matcher.hasExclusions).toBe(true);
    expect(matcher.patterns.map((pattern) => pattern.text)).toEqual(["docs", "docs/README.md"]);
    expect(matcher.matches("docs/README.md")).toBe(false);
    expect(matcher.matches("docs/other.md")).toBe(true);
    expect(new PatternMatcher(["docs"]).hasExclusions).toBe(false);
  });

  it("never excludes the context root", () => {
    expect(excluded(["**"], ".")).toBe(false);
    expect(excluded(["**"], "")).toBe(false);
    expect(excluded(["**"], "./")).toBe(false);
  });

  it("names the bad pattern in the error", () => {
    expect(() => new PatternMatcher(["ok", "src/[a-"])).toThrow(/invalid pattern "src\/\[a-": unterminated/);
    expect(() => new PatternMatcher(["!"])).toThrow(DockerignoreError);
    expect(() => new PatternMatcher([" ! "])).toThrow(DockerignoreError);
    try {
      new PatternMatcher(["a\\"]);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(DockerignoreError);
      expect((error as DockerignoreError).pattern).toBe("a\\");
    }
  });

  describe("** edge cases", () => {
    it.each([
      [["**"], "a/b/c", true],
      [["**/x"], "x", true],
      [["**/x"], "ax", false],
      [["**x"], "a/bx", true], // a leading ** with no other wildcard is a plain suffix test
      [["**/x"], "a/x/y", true],
      [["x/**"], "x", false],
      [["x/**"], "x/y", true],
      [["x**"], "xy/z", true], // trailing ** after literal text is a plain prefix test
      [["a/**/b"], "a/b", true],
      [["a/**/b"], "a/x/y/b", true],
      [["a/**/b"], "a/xb", false],
      [["a/**/b"], "ab", false],
      [["**/*.go"], "main.go", true],
      [["**/*.go"], "cmd/tool/main.go", true],
      [["**/*.go"], "main.go.txt", false],
      [["a/**/**/b"], "a/b", true],
      [["**/a/**"], "x/a", false],
      [["**/a/**"], "x/a/y", true],
      [["./x/../y/"], "y", true],
    ] as const)("%j ~ %s -> %s", (patterns, path, expected) => {
      expect(excluded([...patterns], path)).toBe(expected);
    });
  });

  describe("Go regexp semantics of escapes and classes", () => {
    it.each([
      [["file\\d"], "file7", true], // `\d` reaches Go's regexp as a digit class
      [["file\\d"], "filed", false],
      [["[[:digit:]]x"], "1x", true], // POSIX class
      [["[[:digit:]]x"], ":x", false],
      [["\\pL*"], "élan", true], // one-letter Unicode category
      [["\\pL*"], "1abc", false],
      [["[\\pN]"], "٣", true],
      [["a\\x41"], "aA", true],
      // \Q…: the rest of the regexp is literal text, including the `[^/]*` made from `*` and the closing `$`
      [["a\\Qb*"], "ab[^/]*$", true],
      [["a\\Qb*"], "ab[^/]*$/more", true],
      [["a\\Qb*"], "abc", false],
      [["a^b"], "a^b", true], // no wildcard: compared as a string
      [["a^b*"], "a^bc", false], // in a regexp, `^` is Go's start-of-text anchor
      [["x[*]"], "x[]", true], // `[*]` becomes `[[^/]*]`: a class of `[`, `^`, `/`, repeated, then `]`
      [["x[*]"], "x[^/]", true],
      [["x[*]"], "x*", false],
      // upstream's escape table misses `{`, `|` and `}`, so they keep their regexp meaning
      [["*.js|*.ts"], "x.ts", true], // alternation: `^[^/]*\.js|[^/]*\.ts$`
      [["*.js|*.ts"], "dir/x.ts", true], // the second branch is not anchored at the start
      [["a?{2}"], "abc", true],
      [["a?{2}"], "ab", false],
      [["*{x"], "a{x", true], // not a valid repeat: `{` is literal
      [["\\p{Greek}*"], "αβγ", true],
      [["\\p{Greek}*"], "abc", false],
    ] as const)("%j ~ %s -> %s", (patterns, path, expected) => {
      expect(excluded([...patterns], path)).toBe(expected);
    });

    it("fails only when a pattern Go cannot compile is tried", () => {
      const matcher = new PatternMatcher(["foo", "[l-O]x", "bar\\q"]);
      // The second pattern is never tried for "foo": it is not an exception and "foo" is already excluded.
      expect(matcher.matches("foo")).toBe(true);
      expect(() => matcher.matches("baz")).toThrow(/invalid pattern "\[l-O\]x": invalid character class range/);
      expect(() => new PatternMatcher(["bar\\q"]).matches("x")).toThrow(/invalid escape sequence/);
      expect(() => new PatternMatcher(["[[:nope:]]"]).matches("x")).toThrow(/\[:nope:\]/);
      expect(() => new PatternMatcher(["a\\8"]).matches("x")).toThrow(DockerignoreError);
      expect(() => new PatternMatcher(["\\p{Klingon}"]).matches("x")).toThrow(/\\p\{Klingon\}/);
      expect(() => new PatternMatcher(["*{2}"]).matches("x")).toThrow(/nested repetition/);
      expect(() => new PatternMatcher(["?{1001}"]).matches("x")).toThrow(/repeat count/);
    });
  });
});

describe("ContextFilter", () => {
  it("walks into an excluded directory only when an exception could re-include something in it", () => {
    const plain = new ContextFilter(["build", "!build/keep.txt"]);
    expect(plain.visit("build", true)).toEqual({ action: "descend" });
    expect(plain.visit("build/drop.txt", false)).toEqual({ action: "skip" });
    expect(plain.visit("build/keep.txt", false)).toEqual({ action: "include", parents: ["build"] });

    // The exception names nothing under vendor, so vendor is not walked at all.
    expect(new ContextFilter(["vendor", "!docs/x"]).visit("vendor", true)).toEqual({ action: "skip" });
    // A wildcard exception could match anywhere, so every excluded directory is walked.
    expect(new ContextFilter(["vendor", "!**/*.md"]).visit("vendor", true)).toEqual({ action: "descend" });
  });

  it("sends a re-included entry's unsent parents once, outermost first", () => {
    const paths = filterContextPaths(
      listing("a/", "a/b/", "a/b/c/", "a/b/c/keep", "a/b/c/keep2", "a/b/drop", "z"),
      ["a", "!a/b/c/keep*"],
    );
    expect(paths).toEqual(["a", "a/b", "a/b/c", "a/b/c/keep", "a/b/c/keep2", "z"]);
  });

  it("re-includes at alternating levels", () => {
    const paths = filterContextPaths(listing("foo/", "foo/bar/", "foo/bar/baz/", "foo/bar/baz/x", "foo/bar/baz/y", "foo/bar/q"), [
      "foo",
      "!foo/bar",
      "foo/bar/baz",
      "!foo/bar/baz/x",
    ]);
    expect(paths).toEqual(["foo", "foo/bar", "foo/bar/baz", "foo/bar/baz/x", "foo/bar/q"]);
  });

  it("uses the parent's per-pattern hits during the walk, like fsutil (not MatchesOrParentMatches)", () => {
    // Per path, x/y is excluded (the third pattern hits its parent x), but in the walk the third
    // pattern was never tried on x (x was already excluded), so x/y inherits no hit for it.
    const patterns = ["x", "!x/y", "x"];
    expect(excluded(patterns, "x/y")).toBe(true);
    expect(filterContextPaths(listing("x/", "x/y"), patterns)).toEqual(["x", "x/y"]);
  });

  it("walks in byte order, not UTF-16 order", () => {
    const paths = filterContextPaths(listing("😀", "\uFFFD", "a", "B", "é"), []);
    expect(paths).toEqual(["B", "a", "é", "\uFFFD", "😀"]);
  });

  it("rejects a listing without a parent directory", () => {
    expect(() => filterContextPaths(listing("a/b"), [])).toThrow(/not its parent/);
  });

  // Expectations restated from fsutil filter_test.go (TestWalkerInclude, TestWalkerDoublestarInclude).
  describe("include patterns", () => {
    const small = listing("bar/", "bar/foo", "foo2");
    it.each([
      [["bar"], ["bar", "bar/foo"]],
      [["bar/foo"], ["bar", "bar/foo"]],
      [["b*"], ["bar", "bar/foo"]],
      [["bar/f*"], ["bar", "bar/foo"]],
      [["bar/g*"], []],
      [["f*"], ["foo2"]],
      [["b*/f*"], ["bar", "bar/foo"]],
      [["b*/"], ["bar", "bar/foo"]],
    ])("%j", (includePatterns, expected) => {
      expect(filterContextPaths(small, [], { includePatterns })).toEqual(expected);
    });

    const tree = listing(
      "a/", "a/b/", "a/b/baz/", "a/b/bar/", "a/b/bar/foo", "a/b/bar/fop", "bar/", "bar/foo",
      "baz/", "foo2", "foo/", "foo/bar/", "foo/bar/bee",
    );
    it.each([
      [["**/bar/foo"], ["a", "a/b", "a/b/bar", "a/b/bar/foo", "bar", "bar/foo"]],
      [["**/bar/g*"], []],
      [["**/foo/**"], ["foo", "foo/bar", "foo/bar/bee"]],
      [["**/baz"], ["a", "a/b", "a/b/baz", "baz"]],
      [["**/b*/foo"], ["a", "a/b", "a/b/bar", "a/b/bar/foo", "bar", "bar/foo"]],
    ])("%j", (includePatterns, expected) => {
      expect(filterContextPaths(tree, [], { includePatterns })).toEqual(expected);
    });

    it("applies excludes on top of includes, and allowsOpen checks both", () => {
      const options = { includePatterns: ["bar*"] };
      expect(filterContextPaths(listing("bar/", "bar/foo", "bar/skip", "bar2", "baz"), ["bar/skip"], options)).toEqual(
        ["bar", "bar/foo", "bar2"],
      );
      const filter = new ContextFilter(["bar/skip"], options);
      expect(filter.allowsOpen("baz")).toBe(false);
      expect(filter.allowsOpen("bar2")).toBe(true);
      expect(filter.allowsOpen("bar/foo")).toBe(true);
      expect(filter.allowsOpen("bar/skip")).toBe(false);
    });
  });
});

describe("properties", () => {
  const globChars = fc.constantFrom(..."*?[]^-!\\/.a b:{}$()+|xdpPQEL0187é😀".split(/(?:)/u));
  const pattern = fc.oneof(
    fc.string({ unit: globChars, maxLength: 12 }),
    fc.string({ unit: "grapheme", maxLength: 8 }),
  );
  const path = fc.array(fc.string({ unit: fc.constantFrom(..."ab*[]\\^.é😀 "), minLength: 1, maxLength: 4 }), {
    minLength: 1,
    maxLength: 4,
  }).map((parts) => parts.join("/"));

  it("building and matching either work or throw DockerignoreError, never anything else", () => {
    fc.assert(
      fc.property(fc.array(pattern, { maxLength: 4 }), fc.array(path, { maxLength: 4 }), (patterns, paths) => {
        try {
          const matcher = new PatternMatcher(patterns);
          const filter = new ContextFilter(patterns, { includePatterns: patterns });
          for (const p of paths) {
            expect(typeof matcher.matches(p)).toBe("boolean");
            filter.visit(p, true);
          }
        } catch (error) {
          if (!(error instanceof DockerignoreError)) throw error;
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("without exceptions, the walk sends exactly the entries that are not excluded", () => {
    const tree = listing("a/", "a/b", "a/c/", "a/c/d.txt", "b.txt", "c/", "c/a/", "c/a/b");
    const plain = pattern.filter((text) => !text.trimStart().startsWith("!"));
    fc.assert(
      fc.property(fc.array(plain, { maxLength: 3 }), (patterns) => {
        let sent: string[];
        let expected: string[];
        try {
          const matcher = new PatternMatcher(patterns);
          expected = tree.map((entry) => entry.path).filter((p) => !matcher.matches(p));
          sent = filterContextPaths(tree, patterns);
        } catch (error) {
          if (error instanceof DockerignoreError) return;
          throw error;
        }
        expect([...sent].sort()).toEqual([...expected].sort());
      }),
      { numRuns: 2000 },
    );
  });
});
