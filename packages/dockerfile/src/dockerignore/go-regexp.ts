// Upstream turns a glob into a Go regular expression (RE2 syntax, Perl flags) and compiles it
// lazily. The glob-to-regexp step passes `[`, `]`, `^`, `{`, `}`, `|` and every `\x` escape
// straight through, so Go's regexp grammar decides what those mean: `\d` is a digit class,
// `[[:alpha:]]` a POSIX class, `a|b` an alternation, `x{2}` a repetition, `[l-O]` an error.
// This module parses that Go syntax into a small tree, or says why Go would refuse it; the
// tree runs on the linear-time matcher in go-regexp-automaton.ts, as Go's RE2 engine would (a
// backtracking JavaScript RegExp takes exponential time on patterns like `a*a*a*a*a*b`).
//
// The source always comes from `globToGoRegexp`, which escapes `(` and `)` and emits them only
// in `(.*/)?`, so flag groups such as `(?i)` cannot occur.
import { GoRegexpProgram } from "./go-regexp-automaton.js";

export type GoRegexpResult = { program: GoRegexpProgram } | { error: string };

/**
 * A set of code points: the union of `ranges` and of JavaScript Unicode property escapes
 * (`\p{L}`, `\P{Script=Greek}`; JavaScript is where the Unicode tables are), complemented when
 * `negated`.
 */
export interface CodePointSet {
  readonly negated: boolean;
  readonly ranges: readonly Range[];
  readonly properties: readonly string[];
}

/** Go's empty-width assertions without the multi-line flag; word boundaries use ASCII word characters. */
export type Assertion = "beginText" | "endText" | "wordBoundary" | "notWordBoundary";

/** A parsed Go regexp. Groups are only grouping here (a match is a yes or no), so they leave no node. */
export type GoRegexpNode =
  | { readonly kind: "codePoint"; readonly set: CodePointSet }
  | { readonly kind: "assertion"; readonly assertion: Assertion }
  | { readonly kind: "concat"; readonly items: readonly GoRegexpNode[] }
  | { readonly kind: "alternate"; readonly alternatives: readonly GoRegexpNode[] }
  /** `max` is -1 for no upper bound. */
  | { readonly kind: "repeat"; readonly item: GoRegexpNode; readonly min: number; readonly max: number };

class GoSyntaxError extends Error {}

/** Inclusive code point range. */
export type Range = readonly [number, number];

const MAX_RUNE = 0x10ffff;
/** Go rejects a counted repetition above this. */
const MAX_REPEAT = 1000;
/** Go's cap on `programSize`: 128 MiB of 40-byte instructions. */
const MAX_PROGRAM_SIZE = Math.floor((128 << 20) / 40);

const PERL_GROUPS: Record<string, Range[]> = {
  d: [[0x30, 0x39]],
  s: [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]],
  w: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
};

const POSIX_GROUPS: Record<string, Range[]> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};

/** Go's `unicode.Categories` names. */
const GO_CATEGORIES = new Set(
  "C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs".split(" "),
);

/** Go's `unicode.Scripts` names (Unicode 15, as in the Go releases BuildKit is built with). */
const GO_SCRIPTS = new Set(
  `Adlam Ahom Anatolian_Hieroglyphs Arabic Armenian Avestan Balinese Bamum Bassa_Vah Batak Bengali Bhaiksuki
  Bopomofo Brahmi Braille Buginese Buhid Canadian_Aboriginal Carian Caucasian_Albanian Chakma Cham Cherokee
  Chorasmian Common Coptic Cuneiform Cypriot Cypro_Minoan Cyrillic Deseret Devanagari Dives_Akuru Dogra Duployan
  Egyptian_Hieroglyphs Elbasan Elymaic Ethiopic Georgian Glagolitic Gothic Grantha Greek Gujarati Gunjala_Gondi
  Gurmukhi Han Hangul Hanifi_Rohingya Hanunoo Hatran Hebrew Hiragana Imperial_Aramaic Inherited
  Inscriptional_Pahlavi Inscriptional_Parthian Javanese Kaithi Kannada Katakana Kawi Kayah_Li Kharoshthi
  Khitan_Small_Script Khmer Khojki Khudawadi Lao Latin Lepcha Limbu Linear_A Linear_B Lisu Lycian Lydian Mahajani
  Makasar Malayalam Mandaic Manichaean Marchen Masaram_Gondi Medefaidrin Meetei_Mayek Mende_Kikakui
  Meroitic_Cursive Meroitic_Hieroglyphs Miao Modi Mongolian Mro Multani Myanmar Nabataean Nag_Mundari Nandinagari
  New_Tai_Lue Newa Nko Nushu Nyiakeng_Puachue_Hmong Ogham Ol_Chiki Old_Hungarian Old_Italic Old_North_Arabian
  Old_Permic Old_Persian Old_Sogdian Old_South_Arabian Old_Turkic Old_Uyghur Oriya Osage Osmanya Pahawh_Hmong
  Palmyrene Pau_Cin_Hau Phags_Pa Phoenician Psalter_Pahlavi Rejang Runic Samaritan Saurashtra Sharada Shavian
  Siddham SignWriting Sinhala Sogdian Sora_Sompeng Soyombo Sundanese Syloti_Nagri Syriac Tagalog Tagbanwa Tai_Le
  Tai_Tham Tai_Viet Takri Tamil Tangsa Tangut Telugu Thaana Thai Tibetan Tifinagh Tirhuta Toto Ugaritic Vai
  Vithkuqi Wancho Warang_Citi Yezidi Yi Zanabazar_Square`.split(/\s+/),
);

const ESCAPED_ASSERTIONS: Partial<Record<string, Assertion>> = {
  A: "beginText",
  z: "endText",
  b: "wordBoundary",
  B: "notWordBoundary",
};

const C_ESCAPES: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };

export function compileGoRegexp(source: string): GoRegexpResult {
  try {
    return { program: new GoRegexpProgram(parseGoRegexp(source)) };
  } catch (error) {
    if (error instanceof GoSyntaxError) return { error: error.message };
    throw error;
  }
}

/** Parses Go regexp syntax; throws GoSyntaxError with Go's message when Go would refuse it. */
export function parseGoRegexp(source: string): GoRegexpNode {
  const root = new Parser(source).parse();
  if (programSize(root) > MAX_PROGRAM_SIZE) throw new GoSyntaxError("expression too large");
  return root;
}

/**
 * Go's estimate of a regexp's compiled size (parser.calcSize), which it caps since Go 1.19.2
 * so that counted repetitions such as `[^/]{1000}` written thousands of times cannot take all
 * memory. Go counts each `(…)` two more and factors common prefixes out of alternations; near
 * the cap that can change the verdict, nowhere else.
 */
function programSize(node: GoRegexpNode): number {
  let size: number;
  switch (node.kind) {
    case "codePoint":
    case "assertion":
      return 1;
    case "concat":
      size = node.items.reduce((sum, item) => sum + programSize(item), 0);
      break;
    case "alternate":
      size = node.alternatives.reduce((sum, item) => sum + programSize(item), node.alternatives.length - 1);
      break;
    case "repeat": {
      const item = programSize(node.item);
      if (node.max >= 0) size = node.max * item + (node.max - node.min);
      else size = node.min === 0 ? 2 + item : 1 + node.min * item;
      break;
    }
  }
  return Math.max(1, size);
}

class Parser {
  private readonly chars: string[];
  private pos = 0;
  private lastPosixClassEnd: { from: number; at: number } | undefined;

  constructor(source: string) {
    this.chars = Array.from(source);
  }

  parse(): GoRegexpNode {
    // Per open group, its alternatives, each a list of units; a repetition wraps the last unit.
    const groups: GoRegexpNode[][][] = [[[]]];
    // Where the repetition operator just before this token started, for Go's nested-repetition error.
    let lastRepeatStart = -1;
    while (this.pos < this.chars.length) {
      const c = this.chars[this.pos];
      const alternatives = groups[groups.length - 1];
      const units = alternatives[alternatives.length - 1];
      const operatorStart = this.pos;
      const bounds =
        c === "*" ? ([0, -1] as const) : c === "?" ? ([0, 1] as const) : c === "{" ? this.countedRepeat() : undefined;
      if (bounds !== undefined) {
        if (c !== "{") this.pos++;
        if (this.chars[this.pos] === "?") this.pos++; // non-greedy: same set of matches
        if (lastRepeatStart >= 0) {
          throw new GoSyntaxError(`invalid nested repetition operator: ${this.text(lastRepeatStart, this.pos)}`);
        }
        if (units.length === 0) {
          throw new GoSyntaxError(`missing argument to repetition operator: ${this.text(operatorStart, this.pos)}`);
        }
        const [min, max] = bounds;
        units[units.length - 1] = { kind: "repeat", item: units[units.length - 1], min, max };
        lastRepeatStart = operatorStart;
        continue;
      }
      lastRepeatStart = -1;
      if (c === "|") {
        alternatives.push([]);
        this.pos++;
      } else if (c === "(") {
        groups.push([[]]);
        this.pos++;
      } else if (c === ")") {
        if (groups.length === 1) throw new GoSyntaxError("unexpected )");
        const inner = groups.pop()!;
        const outer = groups[groups.length - 1];
        outer[outer.length - 1].push(alternation(inner));
        this.pos++;
      } else if (c === "^" || c === "$") {
        units.push({ kind: "assertion", assertion: c === "^" ? "beginText" : "endText" });
        this.pos++;
      } else if (c === ".") {
        units.push(codePoints({ negated: true, ranges: [[0x0a, 0x0a]], properties: [] }));
        this.pos++;
      } else if (c === "[") {
        units.push(codePoints(this.characterClass()));
      } else if (c === "\\") {
        units.push(...this.escapeOutsideClass());
      } else {
        units.push(literal(c.codePointAt(0)!));
        this.pos++;
      }
    }
    if (groups.length > 1) throw new GoSyntaxError("missing closing )");
    return alternation(groups[0]);
  }

  private text(start: number, end: number): string {
    return this.chars.slice(start, end).join("");
  }

  /**
   * At `{`: a well-formed `{n}`, `{n,}` or `{n,m}` is consumed and returned as [min, max]
   * (max -1: unbounded); anything else leaves `{` a literal (undefined, nothing consumed), as in Go.
   */
  private countedRepeat(): readonly [number, number] | undefined {
    // Only digits and a comma can come before the closing `}`: look no further, or a line of
    // `{`s would take quadratic time.
    let end = this.pos + 1;
    while (end < this.chars.length && /[0-9,]/.test(this.chars[end])) end++;
    const ahead = this.chars.slice(this.pos, end + 1).join("");
    const match = /^\{(0|[1-9][0-9]*)(?:(,)(0|[1-9][0-9]*)?)?\}/.exec(ahead);
    if (match === null) return undefined;
    const text = match[0];
    const min = Number(match[1]);
    const max = match[2] === undefined ? min : match[3] === undefined ? -1 : Number(match[3]);
    if (min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && min > max)) {
      throw new GoSyntaxError(`invalid repeat count: ${text}`);
    }
    this.pos += text.length;
    return [min, max];
  }

  /** `\…` outside a class; returns its units (several for `\Q…\E`). */
  private escapeOutsideClass(): GoRegexpNode[] {
    const next = this.chars[this.pos + 1];
    const assertion = next === undefined ? undefined : ESCAPED_ASSERTIONS[next];
    if (assertion !== undefined) {
      this.pos += 2;
      return [{ kind: "assertion", assertion }];
    }
    if (next === "C") throw new GoSyntaxError("invalid escape sequence: \\C");
    if (next === "Q") {
      // Everything up to \E (or the end) is literal text.
      let end = this.pos + 2;
      while (end < this.chars.length && !(this.chars[end] === "\\" && this.chars[end + 1] === "E")) end++;
      const text = this.chars.slice(this.pos + 2, end);
      this.pos = Math.min(end + 2, this.chars.length);
      return text.map((ch) => literal(ch.codePointAt(0)!));
    }
    const group = this.groupEscape();
    if (group !== undefined) return [codePoints({ negated: false, ...group })];
    return [literal(this.singleEscape())];
  }

  /** `\pX`, `\p{Name}`, `\P…`, `\d`, `\D`, `\s`, `\S`, `\w`, `\W` as class contents; undefined for other escapes. */
  private groupEscape(): ClassContents | undefined {
    const next = this.chars[this.pos + 1];
    if (next === "p" || next === "P") {
      let name: string;
      let end: number;
      if (this.chars[this.pos + 2] === "{") {
        end = this.chars.indexOf("}", this.pos + 3);
        if (end < 0) throw new GoSyntaxError(`invalid character class range: ${this.chars.slice(this.pos).join("")}`);
        name = this.chars.slice(this.pos + 3, end).join("");
        end++;
      } else {
        name = this.chars[this.pos + 2] ?? "";
        end = this.pos + 3;
      }
      let negated = next === "P";
      if (name.startsWith("^")) {
        negated = !negated;
        name = name.slice(1);
      }
      const properties = unicodeClass(name, negated);
      if (properties === undefined) {
        throw new GoSyntaxError(`invalid character class range: ${this.chars.slice(this.pos, end).join("")}`);
      }
      this.pos = end;
      return { ranges: [], properties };
    }
    if (next !== undefined && "dDsSwW".includes(next)) {
      this.pos += 2;
      const ranges = PERL_GROUPS[next.toLowerCase()];
      return { ranges: next === next.toUpperCase() ? complement(ranges) : ranges, properties: [] };
    }
    return undefined;
  }

  /** Go's parseEscape: a single escaped character (punctuation, octal, `\xHH`, `\x{…}`, C escapes). */
  private singleEscape(): number {
    const c = this.chars[this.pos + 1];
    if (c === undefined) throw new GoSyntaxError("trailing backslash at end of expression");
    this.pos += 2;
    const code = c.codePointAt(0)!;
    if (code < 0x80 && !/[0-9A-Za-z]/.test(c)) return code;
    if (c >= "1" && c <= "7" && !isOctal(this.chars[this.pos])) {
      throw new GoSyntaxError(`invalid escape sequence: \\${c} (backreferences are not supported)`);
    }
    if (c >= "0" && c <= "7") {
      let value = code - 0x30;
      for (let digits = 1; digits < 3 && isOctal(this.chars[this.pos]); digits++) {
        value = value * 8 + (this.chars[this.pos].codePointAt(0)! - 0x30);
        this.pos++;
      }
      return value;
    }
    if (c === "x") return this.hexEscape();
    const cEscape = C_ESCAPES[c];
    if (cEscape !== undefined) return cEscape;
    throw new GoSyntaxError(`invalid escape sequence: \\${c}`);
  }

  /** After `\x`: two hex digits, or any number of them in braces. */
  private hexEscape(): number {
    let hex: string;
    if (this.chars[this.pos] === "{") {
      const end = this.chars.indexOf("}", this.pos + 1);
      hex = end < 0 ? "" : this.chars.slice(this.pos + 1, end).join("");
      const value = /^[0-9A-Fa-f]+$/.test(hex) ? Number.parseInt(hex, 16) : -1;
      if (value >= 0 && value <= MAX_RUNE) {
        this.pos = end + 1;
        return value;
      }
    } else {
      hex = (this.chars[this.pos] ?? "") + (this.chars[this.pos + 1] ?? "");
      if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
        this.pos += 2;
        return Number.parseInt(hex, 16);
      }
    }
    throw new GoSyntaxError(`invalid escape sequence: \\x${hex}`);
  }

  /** `[…]` (Go's parseClass). */
  private characterClass(): CodePointSet {
    const start = this.pos;
    this.pos++;
    let negated = false;
    if (this.chars[this.pos] === "^") {
      negated = true;
      this.pos++;
    }
    const ranges: Range[] = [];
    const properties: string[] = [];
    let first = true; // `]` right after `[` or `[^` is a literal
    while (this.pos >= this.chars.length || this.chars[this.pos] !== "]" || first) {
      first = false;
      if (this.pos >= this.chars.length) {
        throw new GoSyntaxError(`missing closing ]: ${this.chars.slice(start).join("")}`);
      }
      const named = this.posixClass() ?? (this.chars[this.pos] === "\\" ? this.groupEscape() : undefined);
      if (named !== undefined) {
        ranges.push(...named.ranges);
        properties.push(...named.properties);
        continue;
      }
      const rangeStart = this.pos;
      const lo = this.classChar(start);
      let hi = lo;
      if (this.chars[this.pos] === "-" && this.pos + 1 < this.chars.length && this.chars[this.pos + 1] !== "]") {
        this.pos++;
        hi = this.classChar(start);
        if (hi < lo) {
          throw new GoSyntaxError(
            `invalid character class range: ${this.chars.slice(rangeStart, this.pos).join("")}`,
          );
        }
      }
      ranges.push([lo, hi]);
    }
    this.pos++;
    return { negated, ranges, properties };
  }

  /** `[:name:]` / `[:^name:]`; Go looks for the closing `:]` anywhere further on. */
  private posixClass(): ClassContents | undefined {
    if (this.chars[this.pos] !== "[" || this.chars[this.pos + 1] !== ":" || this.pos + 2 >= this.chars.length) {
      return undefined;
    }
    const close = this.posixClassEnd(this.pos + 2);
    if (close < 0) return undefined;
    const name = this.chars.slice(this.pos + 2, close).join("");
    const negated = name.startsWith("^");
    const key = negated ? name.slice(1) : name;
    if (!Object.hasOwn(POSIX_GROUPS, key)) throw new GoSyntaxError(`invalid character class range: [:${name}:]`);
    this.pos = close + 2;
    return { ranges: negated ? complement(POSIX_GROUPS[key]) : POSIX_GROUPS[key], properties: [] };
  }

  /**
   * Where the first `:]` at or after `from` is, or -1. The last answer is kept: a later search
   * that starts before it finds it again, so a line of `[:`s costs linear, not quadratic, time.
   */
  private posixClassEnd(from: number): number {
    const last = this.lastPosixClassEnd;
    if (last !== undefined && last.from <= from && (last.at < 0 || last.at >= from)) return last.at;
    let at = from;
    while (at + 1 < this.chars.length && !(this.chars[at] === ":" && this.chars[at + 1] === "]")) at++;
    this.lastPosixClassEnd = { from, at: at + 1 < this.chars.length ? at : -1 };
    return this.lastPosixClassEnd.at;
  }

  private classChar(classStart: number): number {
    const c = this.chars[this.pos];
    if (c === undefined) throw new GoSyntaxError(`missing closing ]: ${this.chars.slice(classStart).join("")}`);
    if (c === "\\") return this.singleEscape();
    this.pos++;
    return c.codePointAt(0)!;
  }
}

/** Part of a class: code point ranges and JavaScript property escapes. */
interface ClassContents {
  readonly ranges: readonly Range[];
  readonly properties: readonly string[];
}

function codePoints(set: CodePointSet): GoRegexpNode {
  return { kind: "codePoint", set };
}

function literal(code: number): GoRegexpNode {
  return codePoints({ negated: false, ranges: [[code, code]], properties: [] });
}

function alternation(alternatives: GoRegexpNode[][]): GoRegexpNode {
  const nodes = alternatives.map((items): GoRegexpNode => (items.length === 1 ? items[0] : { kind: "concat", items }));
  return nodes.length === 1 ? nodes[0] : { kind: "alternate", alternatives: nodes };
}

/** A Go Unicode class name as JavaScript property escapes, or undefined when Go does not know the name. */
function unicodeClass(name: string, negated: boolean): string[] | undefined {
  // Go's `C` leaves out unassigned code points (Cn); JS's includes them.
  if (name === "C") return negated ? ["\\P{C}", "\\p{Cn}"] : ["\\p{Cc}", "\\p{Cf}", "\\p{Co}", "\\p{Cs}"];
  const sign = negated ? "P" : "p";
  if (name === "Any" || GO_CATEGORIES.has(name)) return [`\\${sign}{${name}}`];
  if (GO_SCRIPTS.has(name)) return [`\\${sign}{Script=${name}}`];
  return undefined;
}

function isOctal(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "7";
}

/** The code points outside sorted, disjoint `ranges`. */
function complement(ranges: readonly Range[]): Range[] {
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of ranges) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_RUNE) out.push([next, MAX_RUNE]);
  return out;
}
