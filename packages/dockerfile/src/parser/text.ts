// Character helpers with Go's semantics. BuildKit's parser is written against
// Go's `unicode` and `strings` packages, whose notion of "space", "letter" and
// "lower case" differs from JavaScript's (`\s` includes U+FEFF but not U+0085,
// `toLowerCase` is context-sensitive), so the parser uses these instead.

/** Go's `unicode.IsSpace`: ASCII \t \n \v \f \r and space, U+0085, U+00A0 and the Unicode White_Space set. */
export function isGoSpace(cp: number): boolean {
  if (cp <= 0xff) {
    return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d) || cp === 0x85 || cp === 0xa0;
  }
  return (
    cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x202f ||
    cp === 0x205f ||
    cp === 0x3000
  );
}

/** ASCII whitespace as BuildKit's `[\t\v\f\r ]+` separator regexp sees it. */
export const asciiBlankRun = /[\t\v\f\r ]+/;

/** Go's `strings.TrimLeftFunc(s, unicode.IsSpace)`. */
export function goTrimLeftSpace(s: string): string {
  let i = 0;
  while (i < s.length) {
    const cp = s.codePointAt(i)!;
    if (!isGoSpace(cp)) break;
    i += cp > 0xffff ? 2 : 1;
  }
  return s.slice(i);
}

/** Go's `strings.TrimRightFunc(s, unicode.IsSpace)`. */
export function goTrimRightSpace(s: string): string {
  let end = s.length;
  // Every Go space is in the BMP, so one code unit at a time is enough.
  while (end > 0 && isGoSpace(s.charCodeAt(end - 1))) end--;
  return s.slice(0, end);
}

/** Go's `strings.TrimSpace`. */
export function goTrimSpace(s: string): string {
  return goTrimRightSpace(goTrimLeftSpace(s));
}

/** Go's `strings.ToLower`: per code point, without JavaScript's context rules (final sigma) or expansions (U+0130). */
export function goToLower(s: string): string {
  // Fast path: the keywords BuildKit knows are ASCII.
  if (/^[\x00-\x7f]*$/.test(s)) return s.toLowerCase();
  let out = "";
  for (const ch of s) {
    const lower = ch.toLowerCase();
    // Only U+0130 expands (to "i̇"); Go maps it to a plain "i".
    out += lower.length > ch.length ? String.fromCodePoint(lower.codePointAt(0)!) : lower;
  }
  return out;
}

/** Number of bytes `s` takes in UTF-8 (a lone surrogate counts as U+FFFD, 3 bytes, as TextEncoder writes it). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

const encoder = new TextEncoder();
// ignoreBOM: a U+FEFF at the start of a slice is text here, not a byte order mark to drop.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * A string seen as the UTF-8 bytes Go works on. A few BuildKit routines walk a
 * line byte by byte (`rune(line[pos])`); this view lets us do the same and map
 * byte offsets back to string offsets.
 */
export class Utf8View {
  readonly bytes: Uint8Array;
  /** String offset of each byte offset that starts a character (and of the end), -1 inside a character. */
  private readonly unitAt: Int32Array;

  constructor(readonly text: string) {
    this.bytes = encoder.encode(text);
    this.unitAt = new Int32Array(this.bytes.length + 1).fill(-1);
    let b = 0;
    for (let u = 0; u < text.length; u++) {
      this.unitAt[b] = u;
      const c = text.charCodeAt(u);
      if (c < 0x80) b += 1;
      else if (c < 0x800) b += 2;
      else if (c >= 0xd800 && c <= 0xdbff && u + 1 < text.length && isLowSurrogate(text.charCodeAt(u + 1))) {
        b += 4;
        u++;
      } else b += 3;
    }
    this.unitAt[b] = text.length;
  }

  /** The string offset of a byte offset; inside a character, the start of the next one. */
  unitOffset(byteOffset: number): number {
    let b = byteOffset;
    while (this.unitAt[b] === -1) b++;
    return this.unitAt[b];
  }

  /** The bytes [from, to) as a string; a cut inside a character decodes to U+FFFD as Go would print `\xHH`. */
  slice(from: number, to = this.bytes.length): string {
    const u1 = this.unitAt[from];
    const u2 = this.unitAt[to];
    if (u1 !== -1 && u2 !== -1) return this.text.slice(u1, u2);
    return decoder.decode(this.bytes.subarray(from, to));
  }
}
