import { describe, expect, it } from "vitest";
import { goQuote } from "./quote.js";

describe("goQuote (Go's strconv.Quote)", () => {
  it("escapes quote and backslash, and names BEL BS FF LF CR TAB VT", () => {
    expect(goQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(goQuote("\x07\b\f\n\r\t\v")).toBe('"\\a\\b\\f\\n\\r\\t\\v"');
  });

  it("writes other control characters and DEL as lowercase \\xHH, not \\u00HH", () => {
    expect(goQuote("\x00")).toBe('"\\x00"');
    expect(goQuote("\x1b\x1f\x7f")).toBe('"\\x1b\\x1f\\x7f"');
  });

  it("keeps printable non-ASCII raw and escapes non-ASCII spaces and format characters", () => {
    expect(goQuote("♥ ☃ é 日本")).toBe('"♥ ☃ é 日本"');
    expect(goQuote("\u00a0")).toBe('"\\u00a0"');
    expect(goQuote("\u0085\u2028\u3000")).toBe('"\\u0085\\u2028\\u3000"');
    expect(goQuote("\u00ad\u200b\ufeff")).toBe('"\\u00ad\\u200b\\ufeff"');
  });

  it("keeps printable astral characters raw and escapes non-printable ones as \\UHHHHHHHH", () => {
    expect(goQuote("😀𝔸")).toBe('"😀𝔸"');
    expect(goQuote("\u{e0001}")).toBe('"\\U000e0001"');
    expect(goQuote("\u{f0000}")).toBe('"\\U000f0000"');
  });

  it("writes a lone surrogate as the \\xHH bytes of its WTF-8 form", () => {
    expect(goQuote("\ud800")).toBe('"\\xed\\xa0\\x80"');
    expect(goQuote("a\udfffb")).toBe('"a\\xed\\xbf\\xbfb"');
    // A low surrogate before a high one is two lone surrogates.
    expect(goQuote("\udc00\ud800")).toBe('"\\xed\\xb0\\x80\\xed\\xa0\\x80"');
  });
});
