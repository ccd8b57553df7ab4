// Splits one logical instruction line into keyword, leading `--flags` and the
// argument text, as BuildKit's splitCommand/extractBuilderFlags do.
import { Utf8View, asciiBlankRun, goTrimLeftSpace, goTrimSpace, isGoSpace } from "./text.js";

export interface SplitCommand {
  keyword: string;
  flags: string[];
  /** The argument text, trimmed. */
  args: string;
  /** Offset of `args` in the input line (UTF-16 units). */
  argsOffset: number;
}

export function splitCommand(line: string, escapeToken: string): SplitCommand {
  const leading = line.length - goTrimLeftSpace(line).length;
  const trimmed = goTrimSpace(line);
  const blank = asciiBlankRun.exec(trimmed);
  if (!blank) {
    return { keyword: trimmed, flags: [], args: "", argsOffset: leading + trimmed.length };
  }
  const afterKeyword = leading + blank.index + blank[0].length;
  const { flags, rest, restOffset } = extractFlags(trimmed.slice(blank.index + blank[0].length), escapeToken);
  const args = goTrimSpace(rest);
  return {
    keyword: trimmed.slice(0, blank.index),
    flags,
    args,
    argsOffset: afterKeyword + restOffset + (rest.length - goTrimLeftSpace(rest).length),
  };
}

const DASH = 0x2d;
const SINGLE_QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;

/**
 * Takes the `--flag` words off the front of `text`. BuildKit walks this text
 * byte by byte and writes each byte as a character, so a non-ASCII byte becomes
 * its Latin-1 character in the flag (`é` turns into `Ã©`), and the bytes 0x85
 * and 0xA0 count as spaces. We reproduce that on the UTF-8 bytes.
 * Quotes are removed from flag words, and the escape token keeps the next byte.
 * A bare `--` ends the flags and is dropped.
 */
function extractFlags(text: string, escapeToken: string): { flags: string[]; rest: string; restOffset: number } {
  const view = new Utf8View(text);
  const bytes = view.bytes;
  const escape = escapeToken.charCodeAt(0);
  const flags: string[] = [];
  const restAt = (pos: number) => ({ flags, rest: view.slice(pos), restOffset: view.unitOffset(pos) });

  let phase: "spaces" | "word" | "quote" = "spaces";
  let word = "";
  let quote = 0;
  let blankOK = false;
  for (let pos = 0; pos <= bytes.length; pos++) {
    const atEnd = pos === bytes.length;
    let ch = atEnd ? -1 : bytes[pos];
    if (phase === "spaces") {
      if (atEnd) break;
      if (isGoSpace(ch)) continue;
      if (ch !== DASH || pos + 1 === bytes.length || bytes[pos + 1] !== DASH) return restAt(pos);
      phase = "word";
    }
    if (atEnd) {
      if (word !== "--" && (blankOK || word.length > 0)) flags.push(word);
      break;
    }
    if (phase === "word") {
      if (isGoSpace(ch)) {
        phase = "spaces";
        if (word === "--") return restAt(pos);
        if (blankOK || word.length > 0) flags.push(word);
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === SINGLE_QUOTE || ch === DOUBLE_QUOTE) {
        quote = ch;
        blankOK = true;
        phase = "quote";
        continue;
      }
      if (ch === escape) {
        if (pos + 1 === bytes.length) continue; // an escape token at the end is dropped
        ch = bytes[++pos];
      }
      word += String.fromCharCode(ch);
      continue;
    }
    // phase === "quote"
    if (ch === quote) {
      phase = "word";
      continue;
    }
    if (ch === escape) {
      if (pos + 1 === bytes.length) {
        phase = "word";
        continue;
      }
      ch = bytes[++pos];
    }
    word += String.fromCharCode(ch);
  }
  return { flags, rest: "", restOffset: text.length };
}
