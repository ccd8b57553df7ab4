// Finding heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) in a RUN,
// COPY or ADD line, the way BuildKit does: the whole line is split into shell
// words (quotes and escapes kept raw, `$VAR` left as written), and each word
// that matches `^(\d*)<<(-?)\s*([^<]*)$` names a heredoc. The delimiter word
// is lexed twice, with and without its quotes: if they differ, part of it was
// quoted and the body is not expanded.
//
// The lexer below is the subset of BuildKit's shell lexer this needs (empty
// environment, unset variables kept as written, escape token always `\`, even
// under `# escape=``). It is kept here rather than shared with the word
// expander because it must reproduce the lexer's quirks bit for bit, including
// one the expander must not have: a nested `${…}` expansion clears the word
// being collected (BuildKit shares one buffer between nested calls).
import type { Heredoc } from "./ast.js";
import { ParseFailure } from "./failure.js";
import { goQuote } from "./quote.js";
import { isGoSpace } from "./text.js";

const EOF = -1;
const ESCAPE = 0x5c; // `\`
const DOLLAR = 0x24;
const LESS = 0x3c;
const SINGLE_QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const COLON = 0x3a;
const SLASH = 0x2f;

const letter = /^\p{L}$/u;
const digit = /^\p{Nd}$/u;

function char(cp: number): string {
  // Go's string(rune(-1)) is U+FFFD.
  return cp === EOF ? "\ufffd" : String.fromCodePoint(cp);
}

function isDigit(cp: number): boolean {
  return cp >= 0 && digit.test(char(cp));
}

function isSpecialParameter(cp: number): boolean {
  return cp !== EOF && "@*#?-$!0".includes(char(cp));
}

class ShellWordLexer {
  private readonly chars: number[];
  private pos = 0;
  /** The word being collected; shared by nested calls, as in BuildKit. */
  private buffer = "";
  private rawEscapes: boolean;

  constructor(
    source: string,
    private readonly rawQuotes: boolean,
    rawEscapes: boolean,
  ) {
    this.chars = Array.from(source, (c) => c.codePointAt(0)!);
    // Go's text/scanner skips a byte order mark at the start.
    if (this.chars[0] === 0xfeff) this.pos = 1;
    this.rawEscapes = rawEscapes;
  }

  words(): string[] {
    return this.processStopOn(EOF, this.rawEscapes).words;
  }

  private peek(): number {
    return this.pos < this.chars.length ? this.chars[this.pos] : EOF;
  }

  private next(): number {
    return this.pos < this.chars.length ? this.chars[this.pos++] : EOF;
  }

  private processStopOn(stop: number, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.collect(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private collect(stop: number): { result: string; words: string[] } {
    let result = "";
    this.buffer = "";
    const words: string[] = [];
    let inWord = false;
    const flush = () => {
      words.push(this.buffer);
      this.buffer = "";
      inWord = false;
    };
    const addRaw = (s: string) => {
      this.buffer += s;
      inWord = true;
    };
    const addChar = (cp: number) => {
      if (!isGoSpace(cp)) addRaw(char(cp));
      else if (inWord && this.buffer.length > 0) flush();
    };
    const finish = () => {
      if (this.buffer.length > 0) flush();
      return { result, words };
    };

    while (this.peek() !== EOF) {
      let ch = this.peek();
      if (stop !== EOF && ch === stop) {
        this.next();
        return finish();
      }
      if (ch === DOLLAR) {
        const text = this.processDollar();
        result += text;
        for (const c of text) addChar(c.codePointAt(0)!);
      } else if (ch === LESS || ch === SINGLE_QUOTE || ch === DOUBLE_QUOTE) {
        const text =
          ch === LESS ? this.processPossibleHeredoc() : ch === SINGLE_QUOTE ? this.processSingleQuote() : this.processDoubleQuote();
        result += text;
        addRaw(text);
      } else {
        ch = this.next();
        if (ch === ESCAPE) {
          if (this.rawEscapes) {
            addRaw(char(ch));
            result += char(ch);
          }
          ch = this.next();
          if (ch === EOF) break;
          addRaw(char(ch));
        } else {
          addChar(ch);
        }
        result += char(ch);
      }
    }
    if (stop !== EOF) {
      throw new ParseFailure(`unexpected end of statement while looking for matching ${char(stop)}`);
    }
    return finish();
  }

  private processSingleQuote(): string {
    this.next();
    let result = this.rawQuotes ? "'" : "";
    for (;;) {
      const ch = this.next();
      if (ch === EOF) throw new ParseFailure("unexpected end of statement while looking for matching single-quote");
      if (ch === SINGLE_QUOTE) return this.rawQuotes ? result + "'" : result;
      result += char(ch);
    }
  }

  private processDoubleQuote(): string {
    this.next();
    let result = this.rawQuotes ? '"' : "";
    for (;;) {
      const peeked = this.peek();
      if (peeked === EOF) throw new ParseFailure("unexpected end of statement while looking for matching double-quote");
      if (peeked === DOUBLE_QUOTE) {
        this.next();
        return this.rawQuotes ? result + '"' : result;
      }
      if (peeked === DOLLAR) {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === ESCAPE) {
        if (this.rawEscapes) result += char(ch);
        const after = this.peek();
        if (after === EOF) continue;
        if (after === DOUBLE_QUOTE || after === DOLLAR || after === ESCAPE) ch = this.next();
      }
      result += char(ch);
    }
  }

  /** With no variables set, every reference is kept as written (the text is rebuilt, as BuildKit does). */
  private processDollar(): string {
    this.next();
    if (this.peek() !== LBRACE) {
      const name = this.processName();
      return "$" + name;
    }
    this.next();
    const first = this.peek();
    if (first === EOF) throw new ParseFailure("syntax error: missing '}'");
    if (first === LBRACE || first === RBRACE || first === COLON) throw new ParseFailure("syntax error: bad substitution");
    const name = this.processName();
    let ch = this.next();
    let modifier = char(ch);
    if (ch === RBRACE) return "${" + name + "}";
    if (ch === SLASH) {
      if (this.peek() === SLASH) this.next();
      const pattern = this.stopOnOrMissing(SLASH, true, "syntax error: missing '/' in ${}");
      const replacement = this.stopOnOrMissing(RBRACE, true, "syntax error: missing '}'");
      return `\${${name}/${pattern}/${replacement}}`;
    }
    let nullIsUnset = false;
    if (ch === COLON) {
      nullIsUnset = true;
      ch = this.next();
      modifier += char(ch);
    } else if (!"+-?#%".includes(char(ch))) {
      throw new ParseFailure(`unsupported modifier (${modifier}) in substitution`);
    }
    const rawEscapes = ch === 0x23 || ch === 0x25; // # or %
    if (nullIsUnset && rawEscapes) throw new ParseFailure(`unsupported modifier (${modifier}) in substitution`);
    const word = this.stopOnOrMissing(RBRACE, rawEscapes, "syntax error: missing '}'");
    return "${" + name + modifier + word + "}";
  }

  private stopOnOrMissing(stop: number, rawEscapes: boolean, missing: string): string {
    try {
      return this.processStopOn(stop, rawEscapes).result;
    } catch (error) {
      if (error instanceof ParseFailure && this.peek() === EOF) throw new ParseFailure(missing);
      throw error;
    }
  }

  private processName(): string {
    let name = "";
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name === "" && isDigit(ch)) {
        while (isDigit(this.peek())) name += char(this.next());
        return name;
      }
      if (name === "" && isSpecialParameter(ch)) return char(this.next());
      if (!letter.test(char(ch)) && !isDigit(ch) && ch !== 0x5f) break;
      name += char(this.next());
    }
    return name;
  }

  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== LESS) return "<";
    this.next();
    let space = "";
    while (this.peek() === 0x20 || this.peek() === 0x09 || this.peek() === 0x0d) space += char(this.next());
    return "<<" + space;
  }
}

function shellWords(source: string, rawQuotes: boolean, rawEscapes: boolean): string[] {
  try {
    return new ShellWordLexer(source, rawQuotes, rawEscapes).words();
  } catch (error) {
    if (error instanceof ParseFailure) throw new ParseFailure(`failed to process ${goQuote(source)}: ${error.message}`);
    throw error;
  }
}

/** A heredoc as announced on the instruction line; its body is read later. */
export type HeredocMarker = Omit<Heredoc, "content">;

const maxUint64 = 2n ** 64n - 1n;

// Go's RE2 \d and \s are ASCII.
const heredocWord = /^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

/** Reads one shell word as a heredoc marker; null when it is not one. Throws ParseFailure for a malformed delimiter. */
export function parseHeredocWord(word: string): HeredocMarker | null {
  const match = heredocWord.exec(word);
  if (!match) return null;
  const [, fd, dash, rest] = match;
  if (rest === "") return null;
  const words = shellWords(rest, false, false);
  if (words.length !== 1) return null;
  const rawWords = shellWords(rest, true, false);
  if (rawWords.length !== words.length) {
    throw new ParseFailure(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const quotes = (s: string) => s.split(/['"]/).length - 1;
  const marker: HeredocMarker = { name: words[0], expand: quotes(words[0]) === quotes(rawWords[0]), chomp: dash === "-" };
  // Go parses the digits as a uint64 and, ignoring the range error, keeps the maximum.
  if (fd !== "") {
    const value = BigInt(fd);
    marker.fileDescriptor = Number(value > maxUint64 ? maxUint64 : value);
  }
  return marker;
}

/** The heredoc markers of an instruction line, in order. A line the shell lexer cannot split has none (as in BuildKit). */
export function heredocMarkers(line: string): HeredocMarker[] {
  let words: string[];
  try {
    words = shellWords(line, true, true);
  } catch (error) {
    if (error instanceof ParseFailure) return [];
    throw error;
  }
  const markers: HeredocMarker[] = [];
  for (const word of words) {
    const marker = parseHeredocWord(word);
    if (marker) markers.push(marker);
  }
  return markers;
}

/** `<<-`: leading tabs are removed from every body line. */
export function chompHeredocContent(content: string): string {
  return content
    .split("\n")
    .map((line) => line.replace(/^\t+/, ""))
    .join("\n");
}
