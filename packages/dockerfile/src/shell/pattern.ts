// Shell patterns of `${v#p}`, `${v%p}`, `${v/p/r}` and friends, with BuildKit's semantics:
// `*` is any run of characters, `?` is one character (neither crosses a newline, as in Go's
// regexp `.`), `\*`, `\?` and `\\` are literals, `\}` and `\/` are `}` and `/`, and any other
// escape is an error. Everything else, `[` and `]` included, is literal: BuildKit has no
// bracket expressions. Matching is leftmost-first, like Go's regexp package.

/** A pattern BuildKit refuses to compile; the message says why. */
export class ShellPatternError extends Error {
  override readonly name = "ShellPatternError";
}

const ANY_CHAR = "[^\\n]";

/** Splits text into code points the way Go's text/scanner reads it: a leading BOM is skipped. */
function scanCodePoints(text: string): string[] {
  const points = Array.from(text);
  return points[0] === "\uFEFF" ? points.slice(1) : points;
}

function literal(ch: string): string {
  return /^[A-Za-z0-9]$/.test(ch) ? ch : `\\u{${ch.codePointAt(0)!.toString(16)}}`;
}

function patternSource(pattern: string, greedy: boolean): string {
  const points = scanCodePoints(pattern);
  let out = "";
  for (let i = 0; i < points.length; i++) {
    const ch = points[i];
    if (ch === "*") {
      out += greedy ? `${ANY_CHAR}*` : `${ANY_CHAR}*?`;
    } else if (ch === "?") {
      out += ANY_CHAR;
    } else if (ch === "\\") {
      const escaped = points[i + 1];
      // `\}` and `\/` only keep `}` and `/` from closing the `${...}`; the `\` is not part of the pattern.
      if (escaped === "}" || escaped === "/") continue;
      if (escaped !== "*" && escaped !== "?" && escaped !== "\\") {
        throw new ShellPatternError(
          escaped === undefined
            ? "invalid escape: the pattern ends with '\\'"
            : `invalid escape '\\${escaped}' (only \\*, \\?, \\\\, \\} and \\/ are escapes)`,
        );
      }
      out += literal(escaped);
      i++;
    } else {
      out += literal(ch);
    }
  }
  return out;
}

function compile(pattern: string, greedy: boolean, anchored: boolean, global: boolean): RegExp {
  return new RegExp((anchored ? "^" : "") + patternSource(pattern, greedy), global ? "gu" : "u");
}

/** `${v#p}` (shortest) and `${v##p}` (longest, `greedy`): drops the matching prefix. */
export function trimPatternPrefix(pattern: string, value: string, greedy: boolean): string {
  const match = compile(pattern, greedy, true, false).exec(value);
  return match ? value.slice(match[0].length) : value;
}

function reverseCodePoints(text: string): string {
  return Array.from(text).reverse().join("");
}

/** Reverses a pattern but keeps each `\x` escape in front of its character (`a\*c` -> `c\*a`). */
function reversePattern(pattern: string): string {
  const points = Array.from(pattern);
  const out: string[] = [];
  for (let i = 0; i < points.length; ) {
    if (points[i] === "\\" && i !== points.length - 1) {
      out.push(points[i + 1], "\\");
      i += 2;
    } else {
      out.push(points[i]);
      i++;
    }
  }
  return out.reverse().join("");
}

/**
 * `${v%p}` (shortest) and `${v%%p}` (longest): drops the matching suffix. Like BuildKit, it
 * reverses value and pattern and trims a prefix, since a leftmost-first matcher cannot find the
 * shortest rightmost match directly.
 */
export function trimPatternSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverseCodePoints(trimPatternPrefix(reversePattern(pattern), reverseCodePoints(value), greedy));
}

/**
 * Go's regexp replacement template (`Regexp.Expand`) for a pattern without groups: `$$` is `$`,
 * `$0`/`${0}` is the whole match, any other well-formed `$name`/`${name}` is empty, and a `$`
 * that starts no name stays as it is. BuildKit passes `${v//p/r}` replacements through it.
 */
function expandReplacementTemplate(template: string, match: string): string {
  let out = "";
  let rest = template;
  for (let dollar = rest.indexOf("$"); dollar !== -1; dollar = rest.indexOf("$")) {
    out += rest.slice(0, dollar);
    rest = rest.slice(dollar + 1);
    if (rest.startsWith("$")) {
      out += "$";
      rest = rest.slice(1);
      continue;
    }
    const reference = /^(?:\{([\p{L}\p{Nd}_]+)\}|([\p{L}\p{Nd}_]+))/u.exec(rest);
    if (!reference) {
      out += "$";
      continue;
    }
    if ((reference[1] ?? reference[2]) === "0") out += match;
    rest = rest.slice(reference[0].length);
  }
  return out + rest;
}

function codePointLength(text: string, index: number): number {
  if (index >= text.length) return 0;
  return text.codePointAt(index)! > 0xffff ? 2 : 1;
}

/**
 * `${v/p/r}` replaces the first match (literally) and `${v//p/r}` every match (through Go's
 * template expansion), with Go's rules for empty matches: always advance one character, and no
 * replacement for an empty match right after another match.
 */
export function replacePattern(pattern: string, value: string, replacement: string, all: boolean): string {
  const re = compile(pattern, true, false, true);
  if (!all) {
    const match = re.exec(value);
    if (!match) return value;
    return value.slice(0, match.index) + replacement + value.slice(match.index + match[0].length);
  }
  let out = "";
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= value.length) {
    re.lastIndex = searchPos;
    const match = re.exec(value);
    if (!match) break;
    const start = match.index;
    const end = start + match[0].length;
    out += value.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += expandReplacementTemplate(replacement, match[0]);
    lastMatchEnd = end;
    const width = codePointLength(value, searchPos);
    if (searchPos + width > end) searchPos += width;
    else if (searchPos + 1 > end) searchPos++;
    else searchPos = end;
  }
  return out + value.slice(lastMatchEnd);
}
