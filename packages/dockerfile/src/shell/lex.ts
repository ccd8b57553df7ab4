// Shell-word expansion exactly as BuildKit's lexer does it on Unix (frontend/dockerfile/shell):
// quote removal, escapes, `$name`/`${name...}` expansion and, for expandWords, word splitting.
// It is not a shell: no command substitution, globbing or arithmetic, and the quirks below are
// BuildKit's, kept on purpose so Dockerfiles expand the same way in both builders.

import { replacePattern, ShellPatternError, trimPatternPrefix, trimPatternSuffix } from "./pattern.js";

export interface ShellLexOptions {
  /** The Dockerfile escape character (`# escape=`); default `\`. */
  escapeToken?: "\\" | "`";
  /** Keep quote characters in the output (BuildKit RawQuotes). */
  rawQuotes?: boolean;
  /** Keep escape tokens in the output (BuildKit RawEscapes). */
  rawEscapes?: boolean;
  /** Leave `$NAME` / `${NAME...}` of unset names as written (BuildKit SkipUnsetEnv). */
  skipUnsetEnv?: boolean;
}

/** Variables in scope. Names are case-sensitive, as on Unix. */
export type ShellEnv = ReadonlyMap<string, string>;

export interface WordExpansion {
  result: string;
  /** Names referenced that were set. */
  matched: Set<string>;
  /** Names referenced that were not set (for the undefined-variable check). */
  unmatched: Set<string>;
}

export interface WordsExpansion {
  words: string[];
  matched: Set<string>;
  unmatched: Set<string>;
}

/** The word cannot be expanded; `offset` is the index into the input word of the construct at fault. */
export class ShellExpansionError extends Error {
  override readonly name = "ShellExpansionError";
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** BuildKit ProcessWord: one string, quotes removed, variables expanded, spaces kept. */
export function expandWord(word: string, env: ShellEnv, options: ShellLexOptions = {}): WordExpansion {
  const expander = new WordExpander(word, env, options);
  const { result } = expander.expand();
  return { result, matched: expander.matched, unmatched: expander.unmatched };
}

/** BuildKit ProcessWords: expansion, then splitting on whitespace that is not quoted or escaped. */
export function expandWords(word: string, env: ShellEnv, options: ShellLexOptions = {}): WordsExpansion {
  const expander = new WordExpander(word, env, options);
  const { words } = expander.expand();
  return { words, matched: expander.matched, unmatched: expander.unmatched };
}

const EOF = -1;
/** Bounds recursion on `${a:-${b:-...}}` so absurd nesting is an error, not a stack overflow. */
const MAX_NESTING = 1000;

/** Internal failure; the top level adds the word to the message. */
class ExpansionFailure extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Go's unicode.IsSpace. */
function isSpace(ch: number): boolean {
  switch (ch) {
    case 0x09:
    case 0x0a:
    case 0x0b:
    case 0x0c:
    case 0x0d:
    case 0x20:
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000:
      return true;
    default:
      return ch >= 0x2000 && ch <= 0x200a;
  }
}

const LETTER = /^\p{L}$/u;
const DECIMAL_DIGIT = /^\p{Nd}$/u;

/** Go's unicode.IsLetter. */
function isLetter(ch: number): boolean {
  return ch >= 0 && LETTER.test(String.fromCodePoint(ch));
}

/** Go's unicode.IsDigit. */
function isDigit(ch: number): boolean {
  return ch >= 0 && DECIMAL_DIGIT.test(String.fromCodePoint(ch));
}

/** POSIX special parameters; never set in a Dockerfile. */
function isSpecialParameter(ch: number): boolean {
  return "@*#?-$!0".includes(String.fromCodePoint(ch));
}

/** Reads code points one at a time, like Go's text/scanner (which skips a leading BOM). */
class CodePointScanner {
  pos: number;
  constructor(private readonly text: string) {
    this.pos = text.startsWith("\uFEFF") ? 1 : 0;
  }
  peek(): number {
    return this.pos < this.text.length ? this.text.codePointAt(this.pos)! : EOF;
  }
  next(): number {
    const ch = this.peek();
    if (ch !== EOF) this.pos += ch > 0xffff ? 2 : 1;
    return ch;
  }
}

/**
 * Collects words for expandWords. Quoted and escaped text is added raw (it never splits), text
 * from `$` expansions splits on whitespace. BuildKit shares one word buffer across the nested
 * collectors of a `${name<op>word}` and empties it when a nested one starts, so text of the word
 * in progress before such an expansion is dropped (`ab${X:-y}` gives `y`); reproduced here.
 */
class WordCollector {
  private readonly words: string[] = [];
  private inWord = false;

  constructor(private readonly buffer: { text: string }) {
    buffer.text = "";
  }

  addChar(ch: number): void {
    if (isSpace(ch)) {
      if (this.inWord && this.buffer.text !== "") this.endWord();
    } else {
      this.addRaw(String.fromCodePoint(ch));
    }
  }

  addRaw(text: string): void {
    this.buffer.text += text;
    this.inWord = true;
  }

  addSplitting(text: string): void {
    for (const ch of text) this.addChar(ch.codePointAt(0)!);
  }

  finish(): string[] {
    if (this.buffer.text !== "") this.endWord();
    return this.words;
  }

  private endWord(): void {
    this.words.push(this.buffer.text);
    this.buffer.text = "";
    this.inWord = false;
  }
}

interface Processed {
  result: string;
  words: string[];
}

class WordExpander {
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly scanner: CodePointScanner;
  private readonly escapeToken: number;
  private readonly rawQuotes: boolean;
  private readonly skipUnsetEnv: boolean;
  /** Changes while parsing: pattern operands always keep their escapes. */
  private rawEscapes: boolean;
  private readonly wordBuffer = { text: "" };
  private nesting = 0;

  constructor(
    private readonly word: string,
    private readonly env: ShellEnv,
    options: ShellLexOptions,
  ) {
    this.scanner = new CodePointScanner(word);
    this.escapeToken = (options.escapeToken ?? "\\").codePointAt(0)!;
    this.rawQuotes = options.rawQuotes ?? false;
    this.rawEscapes = options.rawEscapes ?? false;
    this.skipUnsetEnv = options.skipUnsetEnv ?? false;
  }

  expand(): Processed {
    try {
      return this.processUntil(EOF, this.rawEscapes);
    } catch (err) {
      if (err instanceof ExpansionFailure) {
        throw new ShellExpansionError(`failed to process ${JSON.stringify(this.word)}: ${err.message}`, err.offset);
      }
      throw err;
    }
  }

  /** Expands up to (and consuming) `stop`, or to the end of the word when `stop` is EOF. */
  private processUntil(stop: number, rawEscapes: boolean): Processed {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      let result = "";
      const words = new WordCollector(this.wordBuffer);
      const { scanner } = this;
      while (scanner.peek() !== EOF) {
        let ch = scanner.peek();
        if (stop !== EOF && ch === stop) {
          scanner.next();
          return { result, words: words.finish() };
        }
        if (ch === 0x24 /* $ */) {
          const value = this.dollar();
          result += value;
          words.addSplitting(value);
        } else if (ch === 0x3c /* < */ || ch === 0x27 /* ' */ || ch === 0x22 /* " */) {
          const text = ch === 0x3c ? this.heredocMarker() : ch === 0x27 ? this.singleQuoted() : this.doubleQuoted();
          result += text;
          words.addRaw(text);
        } else {
          ch = scanner.next();
          if (ch === this.escapeToken) {
            if (this.rawEscapes) {
              words.addRaw(String.fromCodePoint(ch));
              result += String.fromCodePoint(ch);
            }
            // A trailing escape token is dropped.
            ch = scanner.next();
            if (ch === EOF) break;
            words.addRaw(String.fromCodePoint(ch));
          } else {
            words.addChar(ch);
          }
          result += String.fromCodePoint(ch);
        }
      }
      if (stop !== EOF) {
        throw new ExpansionFailure(
          `unexpected end of statement while looking for matching ${String.fromCodePoint(stop)}`,
          scanner.pos,
        );
      }
      return { result, words: words.finish() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  /** Everything up to the next `'` is literal; there is no way to escape `'`. */
  private singleQuoted(): string {
    const start = this.scanner.pos;
    let result = this.rawQuotes ? "'" : "";
    this.scanner.next();
    for (;;) {
      const ch = this.scanner.next();
      if (ch === EOF) {
        throw new ExpansionFailure("unexpected end of statement while looking for matching single-quote", start);
      }
      if (ch === 0x27) return this.rawQuotes ? `${result}'` : result;
      result += String.fromCodePoint(ch);
    }
  }

  /** `$` expands; the escape token escapes only `"`, `$` and itself, and is literal before anything else. */
  private doubleQuoted(): string {
    const start = this.scanner.pos;
    const { scanner } = this;
    let result = this.rawQuotes ? '"' : "";
    scanner.next();
    for (;;) {
      const peeked = scanner.peek();
      if (peeked === EOF) {
        throw new ExpansionFailure("unexpected end of statement while looking for matching double-quote", start);
      }
      if (peeked === 0x22) {
        scanner.next();
        return this.rawQuotes ? `${result}"` : result;
      }
      if (peeked === 0x24) {
        result += this.dollar();
        continue;
      }
      let ch = scanner.next();
      if (ch === this.escapeToken) {
        if (this.rawEscapes) result += String.fromCodePoint(ch);
        const escaped = scanner.peek();
        // At the end of the word the loop reports the missing quote.
        if (escaped === EOF) continue;
        if (escaped === 0x22 || escaped === 0x24 || escaped === this.escapeToken) ch = scanner.next();
      }
      // Note: with rawEscapes, an escape token before an ordinary character is written twice, as BuildKit does.
      result += String.fromCodePoint(ch);
    }
  }

  /** `<<` and the blanks after it stay glued to the heredoc word that follows, even in expandWords. */
  private heredocMarker(): string {
    const { scanner } = this;
    scanner.next();
    if (scanner.peek() !== 0x3c) return "<";
    scanner.next();
    let result = "<<";
    for (let ch = scanner.peek(); ch === 0x20 || ch === 0x09 || ch === 0x0d; ch = scanner.peek()) {
      result += String.fromCodePoint(scanner.next());
    }
    return result;
  }

  private dollar(): string {
    if (this.nesting >= MAX_NESTING) {
      throw new ExpansionFailure(`variable references nested more than ${MAX_NESTING} deep`, this.scanner.pos);
    }
    this.nesting++;
    try {
      return this.dollarUnbounded();
    } finally {
      this.nesting--;
    }
  }

  private dollarUnbounded(): string {
    const { scanner } = this;
    const start = scanner.pos;
    scanner.next();

    if (scanner.peek() !== 0x7b /* { */) {
      const name = this.readName();
      if (name === "") return "$";
      const value = this.lookup(name);
      if (value === undefined) return this.skipUnsetEnv ? `$${name}` : "";
      return value;
    }

    scanner.next();
    const first = scanner.peek();
    if (first === EOF) throw new ExpansionFailure("syntax error: missing '}'", start);
    if (first === 0x7b || first === 0x7d || first === 0x3a /* { } : */) {
      throw new ExpansionFailure("syntax error: bad substitution", start);
    }
    const name = this.readName();
    const operatorOffset = scanner.pos;
    const operator = scanner.next();
    if (operator === EOF) throw new ExpansionFailure("syntax error: missing '}'", start);
    let operatorText = String.fromCodePoint(operator);
    const unsupported = () =>
      new ExpansionFailure(`unsupported modifier (${operatorText}) in substitution`, operatorOffset);

    switch (operator) {
      case 0x7d /* } */: {
        const value = this.lookup(name);
        if (value === undefined) return this.skipUnsetEnv ? `\${${name}}` : "";
        return value;
      }
      case 0x3a /* : */:
      case 0x2b /* + */:
      case 0x2d /* - */:
      case 0x3f /* ? */:
      case 0x23 /* # */:
      case 0x25 /* % */: {
        // `:` makes an empty value count as unset; the operator is the character after it.
        const nullIsUnset = operator === 0x3a;
        let op: number = operator;
        if (nullIsUnset) {
          op = scanner.next();
          if (op !== EOF) operatorText += String.fromCodePoint(op);
        }
        const isPattern = op === 0x23 || op === 0x25;
        if (nullIsUnset && isPattern) throw unsupported();
        // Patterns keep their escapes so `\*` stays a literal star for the matcher.
        const operand = this.operand(0x7d, isPattern, start, "syntax error: missing '}'");
        const value = this.lookup(name);
        // BuildKit checks for an unset name before it validates the operator, so `${X:=y}` is
        // kept as written when X is unset and skipUnsetEnv is on.
        if (value === undefined && this.skipUnsetEnv) return `\${${name}${operatorText}${operand}}`;
        const absent = value === undefined || (nullIsUnset && value === "");
        switch (op) {
          case 0x2d /* - */:
            return absent ? operand : value!;
          case 0x2b /* + */:
            return absent ? "" : operand;
          case 0x3f /* ? */: {
            if (!absent) return value!;
            const fallback = value === undefined ? "is not allowed to be unset" : "is not allowed to be empty";
            throw new ExpansionFailure(`${name}: ${operand === "" ? fallback : operand}`, start);
          }
          case 0x23 /* # */:
          case 0x25 /* % */: {
            // A doubled operator (`##`, `%%`) asks for the longest match.
            const greedy = operand.codePointAt(0) === op;
            const pattern = greedy ? operand.slice(1) : operand;
            const trim = op === 0x25 ? trimPatternSuffix : trimPatternPrefix;
            return this.withPattern(pattern, operatorOffset + 1, () => trim(pattern, value ?? "", greedy));
          }
          default:
            throw unsupported();
        }
      }
      case 0x2f /* / */: {
        const replaceAll = scanner.peek() === 0x2f;
        if (replaceAll) scanner.next();
        const patternOffset = scanner.pos;
        const pattern = this.operand(0x2f, true, start, "syntax error: missing '/' in ${}");
        const replacement = this.operand(0x7d, true, start, "syntax error: missing '}'");
        const value = this.lookup(name);
        // BuildKit writes a kept `${X//p/r}` back with a single `/`.
        if (value === undefined && this.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
        return this.withPattern(pattern, patternOffset, () =>
          replacePattern(pattern, value ?? "", replacement, replaceAll),
        );
      }
      default:
        throw unsupported();
    }
  }

  /** The word after an operator, up to `stop`. Running off the end reports `missingMessage` at `start`. */
  private operand(stop: number, rawEscapes: boolean, start: number, missingMessage: string): string {
    try {
      return this.processUntil(stop, rawEscapes).result;
    } catch (err) {
      if (err instanceof ExpansionFailure && this.scanner.peek() === EOF) {
        throw new ExpansionFailure(missingMessage, start);
      }
      throw err;
    }
  }

  private withPattern(pattern: string, offset: number, apply: () => string): string {
    try {
      return apply();
    } catch (err) {
      if (err instanceof ShellPatternError) {
        throw new ExpansionFailure(`invalid pattern (${pattern}) in substitution: ${err.message}`, offset);
      }
      throw err;
    }
  }

  /**
   * A name is letters, digits and `_`. A leading digit starts a positional parameter (all the
   * digits that follow), and a single special character is a special parameter.
   */
  private readName(): string {
    const { scanner } = this;
    let name = "";
    for (let ch = scanner.peek(); ch !== EOF; ch = scanner.peek()) {
      if (name === "" && isDigit(ch)) {
        while (isDigit(scanner.peek())) name += String.fromCodePoint(scanner.next());
        return name;
      }
      if (name === "" && isSpecialParameter(ch)) return String.fromCodePoint(scanner.next());
      if (!isLetter(ch) && !isDigit(ch) && ch !== 0x5f) break;
      name += String.fromCodePoint(scanner.next());
    }
    return name;
  }

  private lookup(name: string): string | undefined {
    const value = this.env.get(name);
    (value === undefined ? this.unmatched : this.matched).add(name);
    return value;
  }
}
