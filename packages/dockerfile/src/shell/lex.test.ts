// Behaviour the BuildKit vector files do not cover. Expected values follow BuildKit's lexer
// (several come from the cases in its lex_test.go, which exist only as Go code upstream).
import { describe, expect, it } from "vitest";
import { expandWord, expandWords, ShellExpansionError, type ShellLexOptions } from "./index.js";

function env(vars: Record<string, string> = {}): Map<string, string> {
  return new Map(Object.entries(vars));
}

function word(input: string, vars: Record<string, string> = {}, options?: ShellLexOptions): string {
  return expandWord(input, env(vars), options).result;
}

function failure(input: string, vars: Record<string, string> = {}, options?: ShellLexOptions): ShellExpansionError {
  try {
    expandWord(input, env(vars), options);
  } catch (err) {
    if (err instanceof ShellExpansionError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(input)} to fail`);
}

describe("prefix removal: # and ##", () => {
  const vars = { FOO: "aXbXc" };
  it("# removes the shortest matching prefix, ## the longest", () => {
    expect(word("${FOO#*X}", vars)).toBe("bXc");
    expect(word("${FOO##*X}", vars)).toBe("c");
    expect(word("${FOO#a}", vars)).toBe("XbXc");
    expect(word("${FOO#b}", vars)).toBe("aXbXc"); // anchored at the start
  });
  it("? matches exactly one character, counted in code points", () => {
    expect(word("${FOO#??}", vars)).toBe("bXc");
    expect(word("${K#?}", { K: "안녕하세요" })).toBe("녕하세요");
    expect(word("${E#?}", { E: "👽🚀🖖" })).toBe("🚀🖖");
  });
  it("agrees with the cases of BuildKit's Go tests", () => {
    expect(word("${FOO#*x*y}", { FOO: "xxyy" })).toBe("y");
    expect(word("${FOO#*}", { FOO: "xxyy" })).toBe("xxyy");
    expect(word("${FOO##*x}", { FOO: "xxyy" })).toBe("yy");
    expect(word("${FOO#?\\?}", { FOO: "???y" })).toBe("?y");
    expect(word("${FOO#$BAR}", { FOO: "xxyy", BAR: "x" })).toBe("xyy");
  });
  it("an empty pattern removes nothing", () => {
    expect(word("${FOO#}", vars)).toBe("aXbXc");
    expect(word("${FOO##}", vars)).toBe("aXbXc");
    expect(word("${FOO#$EMPTY}", { ...vars, EMPTY: "" })).toBe("aXbXc");
  });
  it("an unset variable gives the empty string", () => {
    expect(word("[${NOPE#*}]")).toBe("[]");
  });
});

describe("suffix removal: % and %%", () => {
  const vars = { FOO: "aXbXc" };
  it("% removes the shortest matching suffix, %% the longest", () => {
    expect(word("${FOO%X*}", vars)).toBe("aXb");
    expect(word("${FOO%%X*}", vars)).toBe("a");
    expect(word("${FOO%c}", vars)).toBe("aXbX");
    expect(word("${FOO%b}", vars)).toBe("aXbXc"); // anchored at the end
  });
  it("keeps escapes attached to their character when matching from the end", () => {
    expect(word("${FOO%%\\**}", { FOO: "xx**" })).toBe("xx");
    expect(word("${FOO%%\\**\\*}", { FOO: "a***yy*" })).toBe("a");
    expect(word("${FOO%x}", { FOO: "xxyy" })).toBe("xxyy");
  });
  it("counts ? in code points", () => {
    expect(word("${E%?}", { E: "👽🚀🖖" })).toBe("👽🚀");
    expect(word("${K%??}", { K: "안녕하세요" })).toBe("안녕하");
  });
  it("an empty pattern removes nothing", () => {
    expect(word("${FOO%}", vars)).toBe("aXbXc");
    expect(word("${FOO%%$EMPTY}", { ...vars, EMPTY: "" })).toBe("aXbXc");
  });
});

describe("pattern characters", () => {
  it("has no bracket expressions: [ and ] are literal, as in BuildKit", () => {
    expect(word("${V#[ab]}", { V: "[ab]c" })).toBe("c");
    expect(word("${V#[ab]}", { V: "ac" })).toBe("ac");
  });
  it("treats regular-expression characters as literals", () => {
    expect(word("${FOO#()[]{\\}^$.\\*\\?|\\\\}", { FOO: "()[]{}^$.*?|\\x" })).toBe("x");
    expect(word("${V#a.c}", { V: "abc" })).toBe("abc");
    expect(word("${V#a+}", { V: "a+b" })).toBe("b");
  });
  it("escapes *, ?, \\, } and /", () => {
    expect(word("${V#\\*}", { V: "*x" })).toBe("x");
    expect(word("${V#\\?}", { V: "?x" })).toBe("x");
    expect(word("${V#\\\\}", { V: "\\x" })).toBe("x");
    expect(word("${V#\\}}", { V: "}x" })).toBe("x");
    expect(word("${V//\\//-}", { V: "a/b/c" })).toBe("a-b-c");
  });
  it("* and ? do not cross a newline (Go's regexp `.`)", () => {
    expect(word("${V#*b}", { V: "a\nb" })).toBe("a\nb");
    expect(word("${V#a?b}", { V: "a\nb" })).toBe("a\nb");
    expect(word("${V#*b}", { V: "a\rb" })).toBe("");
  });
  it("takes the pattern from quoted text and variables", () => {
    expect(word('${V#"a"}', { V: "abc" })).toBe("bc");
    expect(word("${V#$P}", { V: "abc", P: "?b" })).toBe("c");
    // A `#` at the start of the expanded pattern still makes it greedy, as in BuildKit.
    expect(word("${V#$P}", { V: "abc", P: "#*" })).toBe("");
  });
});

describe("replacement: / and //", () => {
  it("replaces the first or every match", () => {
    const vars = { FOO: "/tmp/tmp/bar.txt", NEEDLE: "/tmp" };
    expect(word("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", vars)).toBe("/tmp/bar.txt - /bar.txt");
    expect(word("${FOO/$NEEDLE/$REPLACEMENT}", { FOO: "http://google.de", NEEDLE: "http://", REPLACEMENT: "https://" })).toBe(
      "https://google.de",
    );
  });
  it("matches globs greedily and leftmost", () => {
    const vars = { FOO: "/foo*/*/*.txt", NEEDLE: "\\*/" };
    expect(word("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", vars)).toBe("/foo.*/*.txt - /foo..*.txt");
    expect(word("${FOO/$NEEDLE/$R} - ${FOO//$NEEDLE/$R}", { FOO: "/a/foo/b/c.txt", NEEDLE: "/?/", R: "/" })).toBe(
      "/foo/b/c.txt - /foo/c.txt",
    );
    expect(word("${V//x*/z}", { V: "axbxc" })).toBe("az");
    expect(word("${V//*/z}", { V: "abc" })).toBe("z");
  });
  it("handles empty patterns the way Go's regexp does", () => {
    expect(word("${FOO/$BAR/ww}", { FOO: "xxyy", BAR: "" })).toBe("wwxxyy");
    expect(word("${FOO//$BAR/-}", { FOO: "xxyy", BAR: "" })).toBe("-x-x-y-y-");
    expect(word("${FOO///}", { FOO: "xxyy" })).toBe("xxyy");
    expect(word("${FOO///}")).toBe("");
  });
  it("keeps escapes in the replacement", () => {
    expect(word("${FOO//\\//\\/}", { FOO: "/tmp/foo.txt" })).toBe("\\/tmp\\/foo.txt");
  });
  it("expands variables in the replacement before replacing", () => {
    expect(word("${V//o/$R}", { V: "foo", R: "0" })).toBe("f00");
    expect(word("${V/o/${R:-_}}", { V: "foo" })).toBe("f_o");
  });
  it("passes // replacements through Go's template expansion but / ones literally", () => {
    expect(word("${V//o/'[$0]'}", { V: "foo" })).toBe("f[o][o]");
    expect(word("${V//o/'${0}'}", { V: "foo" })).toBe("foo");
    expect(word("${V/o/'[$0]'}", { V: "foo" })).toBe("f[$0]o");
    expect(word("${V//o/'$$'}", { V: "foo" })).toBe("f$$");
    expect(word("${V//o/'$x'}", { V: "foo" })).toBe("f");
    expect(word("${V//o/'a$'}", { V: "foo" })).toBe("fa$a$");
    expect(word("${V//o/'${x'}", { V: "foo" })).toBe("f${x${x");
  });
  it("fails without the second /", () => {
    expect(failure("${FOO//ww}", { FOO: "xxyy" }).message).toContain("missing '/'");
    expect(() => word("${FOO//}", { FOO: "xxyy" })).toThrow(ShellExpansionError);
  });
});

describe("other operators", () => {
  it(":? and ? fail with the variable name and the user's message", () => {
    const noEmpty = "${VAR:?message here$ARG}";
    const noUnset = "${VAR?message here$ARG}";
    expect(word(noEmpty, { VAR: "plain", ARG: "x" })).toBe("plain");
    expect(failure(noEmpty, { VAR: "", ARG: "x" }).message).toContain("VAR: message herex");
    expect(failure(noEmpty, { ARG: "x" }).message).toContain("VAR: message herex");
    expect(word(noUnset, { VAR: "plain", ARG: "x" })).toBe("plain");
    expect(word(noUnset, { VAR: "", ARG: "x" })).toBe("");
    expect(failure(noUnset, { ARG: "x" }).message).toContain("VAR: message herex");
    expect(failure("${VAR?}").message).toContain("VAR: is not allowed to be unset");
    expect(failure("${VAR:?}", { VAR: "" }).message).toContain("VAR: is not allowed to be empty");
  });
  it("rejects = and :=, :# and :%, and unknown operators", () => {
    for (const input of ["${FOO=aaa}", "${FOO=:aaa}", "${FOO=}", "${FOO:=x}", "${FOO:#}", "${FOO:##}", "${FOO:%}", "${FOO:%%}", "${#FOO}"]) {
      expect(failure(input, { FOO: "xxx" }).message).toContain("unsupported modifier");
    }
  });
  it("expands the platform file name pattern of BuildKit's releases", () => {
    const release = "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    const base = { VERSION: "v1.2.3", TARGETOS: "linux" };
    expect(word(release, { ...base, TARGETARCH: "arm", TARGETVARIANT: "v7" })).toBe("something-v1.2.3.linux-arm-v7.tar.gz");
    expect(word(release, { ...base, TARGETARCH: "arm64", TARGETVARIANT: "" })).toBe("something-v1.2.3.linux-arm64.tar.gz");
    expect(word(release, { ...base, TARGETARCH: "arm64" })).toBe("something-v1.2.3.linux-arm64.tar.gz");
  });
  it("is case-sensitive, as on Unix", () => {
    expect(word("$pwd|$PWD", { PWD: "/home" })).toBe("|/home");
  });
});

describe("escape token", () => {
  const backtick: ShellLexOptions = { escapeToken: "`" };
  it("with ` the backtick escapes and the backslash is ordinary", () => {
    expect(word("a`$b`\\c", {}, backtick)).toBe("a$b\\c");
    expect(word("C:\\path\\$X", { X: "x" }, backtick)).toBe("C:\\path\\x");
    expect(word("abc`", {}, backtick)).toBe("abc");
  });
  it("with ` inside double quotes it escapes \", $ and itself only", () => {
    expect(word('"a`"b`$c``d`e"', {}, backtick)).toBe('a"b$c`d`e');
    expect(word('"a\\"', {}, backtick)).toBe("a\\");
  });
  it("with ` it escapes spaces for word splitting", () => {
    expect(expandWords("a` b c", env(), backtick).words).toEqual(["a b", "c"]);
  });
});

describe("modes", () => {
  it("rawQuotes keeps the quotes", () => {
    expect(word(`he'll'o "x$A"`, { A: "a" }, { rawQuotes: true })).toBe(`he'll'o "xa"`);
    expect(expandWords(`'a b' "c d"`, env(), { rawQuotes: true }).words).toEqual(["'a b'", '"c d"']);
  });
  it("rawEscapes keeps the escape tokens", () => {
    expect(word("a\\ b\\$X", { X: "x" }, { rawEscapes: true })).toBe("a\\ b\\$X");
    expect(expandWords("a\\ b c", env(), { rawEscapes: true }).words).toEqual(["a\\ b", "c"]);
    expect(word('"\\$X"', { X: "x" }, { rawEscapes: true })).toBe("\\$X");
    // BuildKit writes an escape before an ordinary character twice inside double quotes.
    expect(word('"a\\tb"', {}, { rawEscapes: true })).toBe("a\\\\tb");
  });
  it("rawEscapes does not apply to the word of ${v:-word}", () => {
    expect(word("${X:-a\\b}", {}, { rawEscapes: true })).toBe("ab");
  });
  it("skipUnsetEnv leaves references to unset names as written", () => {
    const options: ShellLexOptions = { skipUnsetEnv: true };
    expect(word("$A $X ${X} ${X:-d} ${X+p} ${X?m} ${X#p} ${X%%p} ${X/a/b}", { A: "a" }, options)).toBe(
      "a $X ${X} ${X:-d} ${X+p} ${X?m} ${X#p} ${X%%p} ${X/a/b}",
    );
    expect(word("${A:-d} ${A:+p}", { A: "a" }, options)).toBe("a p");
    expect(word("$@ $1", {}, options)).toBe("$@ $1");
  });
  it("skipUnsetEnv writes the kept operand expanded, // as /, and lets := of unset names through", () => {
    const options: ShellLexOptions = { skipUnsetEnv: true };
    expect(word('${X:-"$A b"}', { A: "a" }, options)).toBe("${X:-a b}");
    expect(word("${X//a/b}", {}, options)).toBe("${X/a/b}");
    expect(word("${X:=y}", {}, options)).toBe("${X:=y}");
    expect(() => word("${X:=y}", { X: "x" }, options)).toThrow(ShellExpansionError);
    expect(() => word("${X=y}", {}, options)).toThrow(ShellExpansionError);
  });
});

describe("expandWords", () => {
  it("splits unquoted expansions on whitespace, including Unicode spaces", () => {
    expect(expandWords("a${V}b", env({ V: " x\u00a0y\u3000" })).words).toEqual(["a", "x", "y", "b"]);
    expect(expandWords('"${V}"', env({ V: " x " })).words).toEqual([" x "]);
  });
  it("produces no empty words", () => {
    expect(expandWords(`"" '' a  ""`, env()).words).toEqual(["a"]);
    expect(expandWords("   ", env()).words).toEqual([]);
  });
  it("keeps << and the blanks after it glued to the heredoc word", () => {
    expect(expandWords("cat <<  EOF", env()).words).toEqual(["cat", "<<  EOF"]);
    expect(expandWords("a<b < c", env()).words).toEqual(["a<b", "<", "c"]);
  });
  it("drops the word in progress before a ${name<op>word} expansion, as BuildKit does", () => {
    // BuildKit shares one buffer between nested word collectors; expandWord is not affected.
    expect(expandWords("ab${X:-y}cd e", env()).words).toEqual(["ycd", "e"]);
    expect(expandWords('ab"${X:-y}"', env()).words).toEqual(["y"]);
    expect(expandWord("ab${X:-y}cd e", env()).result).toBe("abycd e");
    expect(expandWords("ab${X}cd", env({ X: "y" })).words).toEqual(["abycd"]);
  });
});

describe("matched and unmatched names", () => {
  function names(input: string, vars: Record<string, string>) {
    const { result, matched, unmatched } = expandWord(input, env(vars));
    return { result, matched: [...matched].sort(), unmatched: [...unmatched].sort() };
  }
  it("records every name looked up", () => {
    expect(names("x", { DUMMY: "dummy" })).toEqual({ result: "x", matched: [], unmatched: [] });
    expect(names("x ${UNUSED}", { DUMMY: "d" })).toEqual({ result: "x ", matched: [], unmatched: ["UNUSED"] });
    const vars = { FOO: "xxx", BAR: "" };
    expect(names("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", vars)).toEqual({
      result: "xxx  ccc",
      matched: ["BAR", "FOO"],
      unmatched: ["BAZ"],
    });
    expect(names("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", vars)).toEqual({
      result: "xxx bbb ccc",
      matched: ["BAR", "FOO"],
      unmatched: ["BAZ"],
    });
    expect(names("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", vars)).toEqual({
      result: "aaa bbb ",
      matched: ["BAR", "FOO"],
      unmatched: ["BAZ"],
    });
    expect(names("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", vars)).toEqual({
      result: "aaa  ",
      matched: ["BAR", "FOO"],
      unmatched: ["BAZ"],
    });
  });
  it("records names in operands, patterns and replacements, and positional ones", () => {
    expect(names("${ABC:-.}${FOO%x}${ABC:-.}", { FOO: "xxyy" })).toEqual({
      result: ".xxyy.",
      matched: ["FOO"],
      unmatched: ["ABC"],
    });
    expect(names("${FOO/$N/$R} $1 $@", { FOO: "ab", N: "a", R: "c" })).toEqual({
      result: "cb  ",
      matched: ["FOO", "N", "R"],
      unmatched: ["1", "@"],
    });
    // A default that is not needed is still expanded, so its names count.
    expect(names("${FOO:-$BAR}", { FOO: "x" })).toEqual({ result: "x", matched: ["FOO"], unmatched: ["BAR"] });
  });
  it("is also returned by expandWords", () => {
    const { words, matched, unmatched } = expandWords("$A $B", env({ A: "a b" }));
    expect(words).toEqual(["a", "b"]);
    expect([...matched]).toEqual(["A"]);
    expect([...unmatched]).toEqual(["B"]);
  });
});

describe("errors", () => {
  it("points at the construct at fault", () => {
    const cases: [string, number, string][] = [
      ["he${PWD", 2, "missing '}'"],
      ["ab'cd", 2, "single-quote"],
      ['x"y', 1, "double-quote"],
      ["a${}", 1, "bad substitution"],
      ["${:-x}", 0, "bad substitution"],
      ["${", 0, "missing '}'"],
      ["a${X:Y}", 4, "unsupported modifier (:Y)"],
      ["a${X=Y}", 4, "unsupported modifier (=)"],
      ["a ${X?oops}", 2, "X: oops"],
      ["${X#a\\b}", 4, "invalid pattern (a\\b)"],
      ["${X/a\\q/b}", 4, "invalid escape '\\q'"],
      ["${X#a\\}", 0, "missing '}'"],
      ['${X:-"abc}', 0, "missing '}'"],
      ["${A:-${B:-x}", 0, "missing '}'"],
      ["${A:-${B?no}}z", 5, "B: no"],
      ["${X/a}", 0, "missing '/'"],
    ];
    for (const [input, offset, message] of cases) {
      const err = failure(input);
      expect({ input, offset: err.offset }).toEqual({ input, offset });
      expect(err.message).toContain(message);
      expect(err.message).toContain(JSON.stringify(input));
    }
  });
  it("counts offsets in UTF-16 code units of the input", () => {
    expect(failure("👽${X?}").offset).toBe(2);
  });
  it("turns absurd nesting into an error instead of a stack overflow", () => {
    const deep = "${A:-".repeat(5000) + "x" + "}".repeat(5000);
    expect(failure(deep).message).toContain("nested more than");
    const shallow = "${A:-".repeat(200) + "x" + "}".repeat(200);
    expect(word(shallow)).toBe("x");
  });
});

describe("scanning", () => {
  it("skips a byte-order mark at the start of the word, as Go's text/scanner does", () => {
    expect(word("\uFEFFabc")).toBe("abc");
    expect(word("a\uFEFFb")).toBe("a\uFEFFb");
  });
  it("reads Unicode letters and decimal digits in names", () => {
    expect(word("$이름x", { 이름x: "v" })).toBe("v");
    expect(word("$٣٤x")).toBe("x"); // Arabic-Indic digits: a positional parameter
  });
});
