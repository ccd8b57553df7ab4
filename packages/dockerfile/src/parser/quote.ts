// Go's strconv.Quote, which BuildKit's AST dump uses for every string. It is
// not JSON.stringify: control characters become \xHH, printable non-ASCII stays
// raw, and non-printable or non-ASCII spaces become \uHHHH / \UHHHHHHHH.

/** Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space. */
const goPrintable = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

const namedEscapes: Record<number, string> = {
  0x07: "\\a",
  0x08: "\\b",
  0x0c: "\\f",
  0x0a: "\\n",
  0x0d: "\\r",
  0x09: "\\t",
  0x0b: "\\v",
};

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/**
 * Quotes `s` exactly as Go's `strconv.Quote` quotes the UTF-8 encoding of `s`.
 * A lone surrogate has no UTF-8 encoding; it is written as the three `\xHH`
 * bytes of its WTF-8 form, the way Go shows bytes that are not valid UTF-8.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    let cp = s.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < s.length) {
      const low = s.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (cp >= 0xd800 && cp <= 0xdfff) {
      out += `\\x${hex(0xe0 | (cp >> 12), 2)}\\x${hex(0x80 | ((cp >> 6) & 0x3f), 2)}\\x${hex(0x80 | (cp & 0x3f), 2)}`;
      continue;
    }
    if (cp === 0x22 || cp === 0x5c) {
      out += "\\" + String.fromCharCode(cp);
      continue;
    }
    const ch = String.fromCodePoint(cp);
    if (goPrintable.test(ch)) {
      out += ch;
      continue;
    }
    const named = namedEscapes[cp];
    if (named) out += named;
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x10000) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return out + '"';
}
