import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { compressGzipMember } from "./gzip-member.js";

describe("compressGzipMember", () => {
  it("makes one gzip member that zlib reads back, for empty, small and incompressible input", async () => {
    for (const input of [Buffer.alloc(0), Buffer.from("hello, layer\n".repeat(1000)), randomBytes(300_000)]) {
      const member = await compressGzipMember(input, 1);
      expect(member.subarray(0, 3).equals(Buffer.from([0x1f, 0x8b, 8]))).toBe(true);
      expect(gunzipSync(member).equals(input)).toBe(true);
      // ISIZE, the last 4 bytes: the input's length (mod 2^32).
      expect(member.readUInt32LE(member.length - 4)).toBe(input.length);
    }
  });

  it("reads a view in place: a subarray gives the member of those bytes only", async () => {
    const whole = Buffer.from("0123456789".repeat(10_000));
    const view = whole.subarray(5_000, 25_000);
    expect(gunzipSync(await compressGzipMember(view, 6)).equals(view)).toBe(true);
  });

  it("gives the same bytes for the same input, also when many run at once on the pool", async () => {
    const input = Buffer.from(Array.from({ length: 50_000 }, (_, i) => `line ${i % 977}\n`).join(""));
    const [first, ...rest] = await Promise.all(Array.from({ length: 16 }, () => compressGzipMember(input, 1)));
    for (const member of rest) expect(member.equals(first!)).toBe(true);
  });

  it("rejects what is not a Buffer and levels libdeflate does not have, synchronously", () => {
    expect(() => compressGzipMember("text" as unknown as Buffer, 1)).toThrow(TypeError);
    expect(() => compressGzipMember(Buffer.alloc(1), 13)).toThrow(/from 0 to 12/);
    expect(() => compressGzipMember(Buffer.alloc(1), -1)).toThrow(RangeError);
  });
});
