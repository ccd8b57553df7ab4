// Upstream turns a glob into a Go regular expression (RE2 syntax, Perl flags) and compiles it
// lazily. The glob-to-regexp step passes `[`, `]`, `^`, `{`, `}`, `|` and every `\x` escape
// straight through, so Go's regexp grammar decides what those mean: `\d` is a digit class,
// `[[:alpha:]]` a POSIX class, `a|b` an alternation, `x{2}` a repetition, `[l-O]` an error.
// This module parses that Go syntax and writes an equivalent JavaScript RegExp (flag `u`), or
// says why Go would refuse it.
//
// The source always comes from `globToGoRegexp`, which escapes `(` and `)` and emits them only
// in `(.*/)?`, so flag groups such as `(?i)` cannot occur.

export type GoRegexpResult = { regexp: RegExp } | { error: string };

class GoSyntaxError extends Error {}

type Range = readonly [number, number];

const MAX_RUNE = 0x10ffff;
/** Go rejects a counted repetition above this. */
const MAX_REPEAT = 1000;

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

const C_ESCAPES: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };

export function compileGoRegexp(source: string): GoRegexpResult {
  try {
    return { regexp: new RegExp(new Translator(source).translate(), "u") };
  } catch (error) {
    if (error instanceof GoSyntaxError) return { error: error.message };
    throw error;
  }
}

class Translator {
  private readonly chars: string[];
  private pos = 0;

  constructor(source: string) {
    this.chars = Array.from(source);
  }

  translate(): string {
    // Per open group, its alternatives, each a list of JS fragments; a repetition wraps the last fragment.
    const groups: string[][][] = [[[]]];
    let afterRepeat = false;
    while (this.pos < this.chars.length) {
      const c = this.chars[this.pos];
      const alternatives = groups[groups.length - 1];
      const units = alternatives[alternatives.length - 1];
      const quantifier = c === "*" || c === "?" ? c : c === "{" ? this.countedRepeat() : undefined;
      if (quantifier !== undefined) {
        if (units.length === 0) throw new GoSyntaxError(`missing argument to repetition operator: ${quantifier}`);
        if (afterRepeat) throw new GoSyntaxError(`invalid nested repetition operator: ${quantifier}`);
        units[units.length - 1] = `(?:${units[units.length - 1]})${quantifier}`;
        if (c !== "{") this.pos++;
        if (this.chars[this.pos] === "?") this.pos++; // non-greedy: same set of matches
        afterRepeat = true;
        continue;
      }
      afterRepeat = false;
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
        outer[outer.length - 1].push(`(?:${inner.map((alternative) => alternative.join("")).join("|")})`);
        this.pos++;
      } else if (c === "^" || c === "$") {
        units.push(c);
        this.pos++;
      } else if (c === ".") {
        units.push("[^\\n]");
        this.pos++;
      } else if (c === "[") {
        units.push(this.characterClass());
      } else if (c === "\\") {
        units.push(...this.escapeOutsideClass());
      } else {
        units.push(literal(c.codePointAt(0)!));
        this.pos++;
      }
    }
    if (groups.length > 1) throw new GoSyntaxError("missing closing )");
    return groups[0].map((alternative) => alternative.join("")).join("|");
  }

  /**
   * At `{`: a well-formed `{n}`, `{n,}` or `{n,m}` is consumed and returned as a JS quantifier;
   * anything else leaves `{` a literal (undefined, nothing consumed), as in Go.
   */
  private countedRepeat(): string | undefined {
    const ahead = this.chars.slice(this.pos).join("");
    const match = /^\{(0|[1-9][0-9]*)(?:(,)(0|[1-9][0-9]*)?)?\}/.exec(ahead);
    if (match === null) return undefined;
    const text = match[0];
    const min = Number(match[1]);
    const max = match[2] === undefined ? min : match[3] === undefined ? -1 : Number(match[3]);
    if (min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && min > max)) {
      throw new GoSyntaxError(`invalid repeat count: ${text}`);
    }
    this.pos += text.length;
    return max === min ? `{${min}}` : `{${min},${max < 0 ? "" : max}}`;
  }

  /** `\…` outside a class; returns the JS fragments (several for `\Q…\E`). */
  private escapeOutsideClass(): string[] {
    const next = this.chars[this.pos + 1];
    switch (next) {
      case "A":
        this.pos += 2;
        return ["^"];
      case "z":
        this.pos += 2;
        return ["$"];
      case "b":
      case "B":
        this.pos += 2;
        return [`\\${next}`];
      case "C":
        throw new GoSyntaxError("invalid escape sequence: \\C");
      case "Q": {
        // Everything up to \E (or the end) is literal text.
        let end = this.pos + 2;
        while (end < this.chars.length && !(this.chars[end] === "\\" && this.chars[end + 1] === "E")) end++;
        const text = this.chars.slice(this.pos + 2, end);
        this.pos = Math.min(end + 2, this.chars.length);
        return text.map((ch) => literal(ch.codePointAt(0)!));
      }
    }
    const group = this.groupEscape();
    if (group !== undefined) return [`[${group}]`];
    return [literal(this.singleEscape())];
  }

  /** `\pX`, `\p{Name}`, `\P…`, `\d`, `\D`, `\s`, `\S`, `\w`, `\W` as JS class contents; undefined for other escapes. */
  private groupEscape(): string | undefined {
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
      const contents = unicodeClass(name, negated);
      if (contents === undefined) {
        throw new GoSyntaxError(`invalid character class range: ${this.chars.slice(this.pos, end).join("")}`);
      }
      this.pos = end;
      return contents;
    }
    if (next !== undefined && "dDsSwW".includes(next)) {
      this.pos += 2;
      const ranges = PERL_GROUPS[next.toLowerCase()];
      return classRanges(next === next.toUpperCase() ? complement(ranges) : ranges);
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

  /** `[…]` (Go's parseClass), as one JS class. */
  private characterClass(): string {
    const start = this.pos;
    this.pos++;
    let negated = false;
    if (this.chars[this.pos] === "^") {
      negated = true;
      this.pos++;
    }
    let body = "";
    let first = true; // `]` right after `[` or `[^` is a literal
    while (this.pos >= this.chars.length || this.chars[this.pos] !== "]" || first) {
      first = false;
      if (this.pos >= this.chars.length) {
        throw new GoSyntaxError(`missing closing ]: ${this.chars.slice(start).join("")}`);
      }
      const named = this.posixClass();
      if (named !== undefined) {
        body += named;
        continue;
      }
      if (this.chars[this.pos] === "\\") {
        const group = this.groupEscape();
        if (group !== undefined) {
          body += group;
          continue;
        }
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
      body += classRanges([[lo, hi]]);
    }
    this.pos++;
    return `[${negated ? "^" : ""}${body}]`;
  }

  /** `[:name:]` / `[:^name:]`; Go looks for the closing `:]` anywhere further on. */
  private posixClass(): string | undefined {
    if (this.chars[this.pos] !== "[" || this.chars[this.pos + 1] !== ":" || this.pos + 2 >= this.chars.length) {
      return undefined;
    }
    let close = this.pos + 2;
    while (close + 1 < this.chars.length && !(this.chars[close] === ":" && this.chars[close + 1] === "]")) close++;
    if (close + 1 >= this.chars.length) return undefined;
    const name = this.chars.slice(this.pos + 2, close).join("");
    const negated = name.startsWith("^");
    const key = negated ? name.slice(1) : name;
    if (!Object.hasOwn(POSIX_GROUPS, key)) throw new GoSyntaxError(`invalid character class range: [:${name}:]`);
    this.pos = close + 2;
    return classRanges(negated ? complement(POSIX_GROUPS[key]) : POSIX_GROUPS[key]);
  }

  private classChar(classStart: number): number {
    const c = this.chars[this.pos];
    if (c === undefined) throw new GoSyntaxError(`missing closing ]: ${this.chars.slice(classStart).join("")}`);
    if (c === "\\") return this.singleEscape();
    this.pos++;
    return c.codePointAt(0)!;
  }
}

/** A Go Unicode class name as JS class contents, or undefined when Go does not know the name. */
function unicodeClass(name: string, negated: boolean): string | undefined {
  // Go's `C` leaves out unassigned code points (Cn); JS's includes them.
  if (name === "C") return negated ? "\\P{C}\\p{Cn}" : "\\p{Cc}\\p{Cf}\\p{Co}\\p{Cs}";
  const sign = negated ? "P" : "p";
  if (name === "Any" || GO_CATEGORIES.has(name)) return `\\${sign}{${name}}`;
  if (GO_SCRIPTS.has(name)) return `\\${sign}{Script=${name}}`;
  return undefined;
}

function isOctal(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "7";
}

/** A code point as a JS regexp atom that means only itself, inside or outside a class. */
function literal(code: number): string {
  const c = String.fromCodePoint(code);
  return /[0-9A-Za-z]/.test(c) ? c : `\\u{${code.toString(16)}}`;
}

function classRanges(ranges: readonly Range[]): string {
  return ranges.map(([lo, hi]) => (lo === hi ? literal(lo) : `${literal(lo)}-${literal(hi)}`)).join("");
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
