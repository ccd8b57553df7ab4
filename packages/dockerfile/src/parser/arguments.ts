// Shapes an instruction's argument text the way BuildKit's line parsers do.
// Nothing is expanded or unquoted here, except JSON arrays, which are decoded.
import { ParseFailure } from "./failure.js";
import { goQuote } from "./quote.js";
import { Utf8View, asciiBlankRun, goTrimLeftSpace, isGoSpace } from "./text.js";

export interface ShapedArguments {
  args: string[];
  /** True when the arguments came from a JSON array (exec form). */
  json: boolean;
}

type Shaper = (rest: string, escapeToken: string) => ShapedArguments;

const none: ShapedArguments = { args: [], json: false };

/** Unknown instructions keep their keyword but drop their arguments, leaving BuildKit's single empty node. */
const ignoredArguments: ShapedArguments = { args: [""], json: false };

const shapers: Record<string, Shaper> = {
  add: maybeJsonToList,
  arg: (rest, escape) => ({ args: shellWords(rest, escape), json: false }),
  cmd: maybeJson,
  copy: maybeJsonToList,
  entrypoint: maybeJson,
  env: (rest, escape) => nameValuePairs(rest, "ENV", escape),
  expose: whitespaceDelimited,
  from: whitespaceDelimited,
  healthcheck: healthcheck,
  label: (rest, escape) => nameValuePairs(rest, "LABEL", escape),
  maintainer: wholeString,
  run: maybeJson,
  shell: maybeJson,
  stopsignal: wholeString,
  user: wholeString,
  volume: maybeJsonToList,
  workdir: wholeString,
};

/**
 * Shapes `rest` (trimmed argument text) for the lowercased `keyword`.
 * ONBUILD is not handled here: its argument is a whole instruction.
 * Throws ParseFailure for the few shapes BuildKit rejects.
 */
export function shapeArguments(keyword: string, rest: string, escapeToken: string): ShapedArguments {
  const shaper = Object.hasOwn(shapers, keyword) ? shapers[keyword] : undefined;
  return shaper ? shaper(rest, escapeToken) : ignoredArguments;
}

/**
 * Splits on Unicode whitespace outside quotes. Quotes stay in the word; the
 * escape token and the character after it are both kept (not inside single
 * quotes, where the token means nothing); an escape token at the very end is dropped.
 */
export function shellWords(rest: string, escapeToken: string): string[] {
  const chars = Array.from(rest);
  const words: string[] = [];
  let phase: "spaces" | "word" | "quote" = "spaces";
  let quote = "";
  let blankOK = false;
  let word = "";
  for (let i = 0; i <= chars.length; i++) {
    const atEnd = i === chars.length;
    let ch = atEnd ? "" : chars[i];
    if (phase === "spaces") {
      if (atEnd) break;
      if (isGoSpace(ch.codePointAt(0)!)) continue;
      phase = "word";
    }
    if (atEnd) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === "word") {
      if (isGoSpace(ch.codePointAt(0)!)) {
        phase = "spaces";
        if (blankOK || word.length > 0) words.push(word);
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = "quote";
      }
      if (ch === escapeToken) {
        if (i + 1 === chars.length) continue;
        word += ch;
        ch = chars[++i];
      }
      word += ch;
      continue;
    }
    // phase === "quote"
    if (ch === quote) phase = "word";
    if (ch === escapeToken && quote !== "'") {
      if (i + 1 === chars.length) {
        phase = "word";
        continue;
      }
      word += ch;
      ch = chars[++i];
    }
    word += ch;
  }
  return words;
}

/** ENV and LABEL: `key value…` (old form, one pair) or `k=v k2=v2…` as flat key/value/separator triplets. */
function nameValuePairs(rest: string, instruction: string, escapeToken: string): ShapedArguments {
  const words = shellWords(rest, escapeToken);
  if (words.length === 0) return none;
  if (!words[0].includes("=")) {
    const blank = asciiBlankRun.exec(rest);
    if (!blank) {
      throw new ParseFailure(
        `${instruction} must have two arguments: write ${instruction} ${rest}=value (or ${instruction} ${rest} value)`,
      );
    }
    return { args: [rest.slice(0, blank.index), rest.slice(blank.index + blank[0].length), ""], json: false };
  }
  const args: string[] = [];
  for (const word of words) {
    const eq = word.indexOf("=");
    if (eq < 0) {
      throw new ParseFailure(`Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`);
    }
    args.push(word.slice(0, eq), word.slice(eq + 1), "=");
  }
  return { args, json: false };
}

function whitespaceDelimited(rest: string): ShapedArguments {
  return rest === "" ? none : { args: rest.split(new RegExp(asciiBlankRun, "g")), json: false };
}

function wholeString(rest: string): ShapedArguments {
  return rest === "" ? none : { args: [rest], json: false };
}

/** RUN, CMD, ENTRYPOINT, SHELL: a JSON array of strings, or else the whole text as one argument. */
function maybeJson(rest: string): ShapedArguments {
  if (rest === "") return none;
  return jsonArray(rest) ?? { args: [rest], json: false };
}

/** ADD, COPY, VOLUME: a JSON array of strings, or else whitespace-separated words. */
function maybeJsonToList(rest: string): ShapedArguments {
  return jsonArray(rest) ?? whitespaceDelimited(rest);
}

/**
 * HEALTHCHECK: the first word (the type, not checked here), then the RUN rule.
 * BuildKit finds the word's end byte by byte, so bytes 0x85 and 0xA0 inside a
 * UTF-8 character end it too; the Utf8View reproduces that.
 */
function healthcheck(rest: string): ShapedArguments {
  const view = new Utf8View(rest);
  const bytes = view.bytes;
  let sep = 0;
  while (sep < bytes.length && !isGoSpace(bytes[sep])) sep++;
  if (sep === 0) return none;
  let next = sep;
  while (next < bytes.length && isGoSpace(bytes[next])) next++;
  const command = maybeJson(view.slice(next));
  return { args: [view.slice(0, sep), ...command.args], json: command.json };
}

/** encoding/json's limit: deeper nesting is a syntax error in Go. */
const goMaxJsonDepth = 10000;

/**
 * Decodes `rest` as Go's encoding/json would decode it into `[]any`. Returns
 * undefined when it is not a JSON array at all (then the caller falls back to
 * the shell form), and throws when it is an array holding something other than strings.
 */
function jsonArray(rest: string): ShapedArguments | undefined {
  const text = goTrimLeftSpace(rest);
  if (!text.startsWith("[")) return undefined;
  let outOfRange = false;
  let value: unknown;
  try {
    value = JSON.parse(text, (_key, v: unknown) => {
      // Go fails on numbers beyond float64 range (JS gives Infinity); it still returns an error, so no exec form.
      if (typeof v === "number" && !Number.isFinite(v)) outOfRange = true;
      return v;
    });
  } catch {
    return undefined;
  }
  if (outOfRange || jsonDepth(text) > goMaxJsonDepth || !Array.isArray(value)) return undefined;
  const args: string[] = [];
  for (const element of value) {
    if (typeof element !== "string") {
      throw new ParseFailure("when using JSON array syntax, arrays must be comprised of strings only");
    }
    // Go decodes a lone surrogate escape (\ud800) to U+FFFD.
    args.push(element.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd"));
  }
  return { args, json: true };
}

/** Deepest bracket nesting of valid JSON text. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "[" || c === "{") max = Math.max(max, ++depth);
    else if (c === "]" || c === "}") depth--;
  }
  return max;
}
