import { spawn } from "node:child_process";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { compressGzipMember } from "./gzip-member.js";
import { GZIP_PIECE_SIZE, ParallelGzipStream, type ParallelGzipOptions } from "./parallel-gzip.js";

const PIECE = GZIP_PIECE_SIZE;

/** Compressible but not trivial bytes: xorshift noise over a small alphabet, a fixed seed. */
function sample(size: number, seed = 0x2545f491): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = 97 + ((x >>> 0) % 16);
  }
  return bytes;
}

/** `data` in chunks of `chunkSize` bytes (the stream must not care where the chunks end). */
function chunked(data: Buffer, chunkSize: number): Readable {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += chunkSize) chunks.push(data.subarray(offset, offset + chunkSize));
  return Readable.from(chunks);
}

async function compress(source: Readable, options: ParallelGzipOptions = {}): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(source, new ParallelGzipStream(options), new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }));
  return Buffer.concat(out);
}

/** What GNU gzip makes of `gz` (`gzip -dc`). */
function systemGunzip(gz: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn("gzip", ["-dc"], { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`gzip -dc exited ${code}: ${stderr}`))));
    child.stdin.end(gz);
  });
}

/** Each piece of `data` compressed alone at `level`: what the stream must emit, in order. */
async function members(data: Buffer, level: number): Promise<Buffer> {
  return Buffer.concat(await Promise.all(pieces(data).map((p) => compressGzipMember(p, level))));
}

/** The input cut at every GZIP_PIECE_SIZE bytes, as the stream must cut it. */
function pieces(data: Buffer): Buffer[] {
  if (data.length === 0) return [data];
  const result: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += PIECE) result.push(data.subarray(offset, offset + PIECE));
  return result;
}

describe("ParallelGzipStream", () => {
  const sizes: [string, number][] = [
    ["0 bytes", 0],
    ["1 byte", 1],
    ["exactly one piece", PIECE],
    ["many pieces and a tail", 5 * PIECE + 12_345],
  ];
  it.each(sizes)("round-trips %s through zlib and gzip -dc, one gzip member per piece", async (_label, size) => {
    const data = sample(size);
    const gz = await compress(chunked(data, 100_003));
    expect(gunzipSync(gz).equals(data)).toBe(true);
    expect((await systemGunzip(gz)).equals(data)).toBe(true);
    expect(gz.equals(await members(data, 1))).toBe(true);
  });

  it("writes headers without a timestamp and with a constant OS byte", async () => {
    const gz = await compress(chunked(sample(10), 10));
    // ID1 ID2 CM FLG, MTIME (4 bytes), XFL (4: fastest, for level 1), OS (255: unknown, libdeflate's).
    expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255]);
  });

  it("gives the same bytes whatever the parallelism or the chunking", async () => {
    const data = sample(3 * PIECE + 777);
    const first = await compress(chunked(data, 65_536), { parallelism: 2 });
    const again = await compress(chunked(data, 65_536), { parallelism: 2 });
    const wide = await compress(chunked(data, 1_000_001), { parallelism: 7 });
    // Whole pieces handed to libdeflate uncopied, alone and between copied ones.
    const piecewise = await compress(chunked(data, PIECE), { parallelism: 2 });
    const straddling = await compress(chunked(data, 2 * PIECE + 5), { parallelism: 2 });
    expect(again.equals(first)).toBe(true);
    expect(wide.equals(first)).toBe(true);
    expect(piecewise.equals(first)).toBe(true);
    expect(straddling.equals(first)).toBe(true);
  });

  it("passes the level through: each member is libdeflate's at that level, and all round-trip", async () => {
    const data = sample(2 * PIECE + 999);
    const sizes = new Map<number, number>();
    for (const level of [0, 1, 6, 12]) {
      const gz = await compress(chunked(data, 65_536), { level });
      expect(gz.equals(await members(data, level))).toBe(true);
      expect(gunzipSync(gz).equals(data)).toBe(true);
      sizes.set(level, gz.length);
    }
    // 0 stores (a few bytes more than the input); higher levels compress harder.
    expect(sizes.get(0)).toBeGreaterThan(data.length);
    expect(sizes.get(6)).toBeLessThan(sizes.get(1)!);
    expect(sizes.get(12)).toBeLessThan(sizes.get(6)!);
  });

  it.each([-1, 13, 1.5, Number.NaN])("refuses level %s, which libdeflate does not have, when it is made", (level) => {
    expect(() => new ParallelGzipStream({ level })).toThrow(RangeError);
    expect(() => new ParallelGzipStream({ level })).toThrow(/libdeflate's levels, 0 to 12/);
  });

  it("takes no more input than the pieces in flight while nobody reads its output", async () => {
    const total = 32 * PIECE;
    const block = sample(65_536);
    let pulled = 0;
    const source = Readable.from(
      (function* () {
        for (; pulled < total; pulled += block.length) yield Buffer.from(block);
      })(),
    );
    const gzip = new ParallelGzipStream({ parallelism: 2 });
    source.pipe(gzip);
    // Wait until the stream stops pulling (every piece it took is compressed and waits to be read).
    let seen = -1;
    while (seen !== pulled) {
      seen = pulled;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // 2 pieces in flight + the one being filled, plus the stream buffers' few 64 KiB chunks.
    expect(pulled).toBeLessThanOrEqual(4 * PIECE);
    const out: Buffer[] = [];
    for await (const chunk of gzip) out.push(chunk as Buffer);
    expect(gunzipSync(Buffer.concat(out)).length).toBe(total);
  });

  it("stops cleanly when destroyed with pieces in flight", async () => {
    const gzip = new ParallelGzipStream({ parallelism: 2 });
    let emitted = 0;
    gzip.on("data", () => emitted++);
    const closed = new Promise((resolve) => gzip.once("close", resolve));
    gzip.write(sample(2 * PIECE + 10));
    gzip.destroy();
    await closed;
    // The pieces libdeflate already had finish on the thread pool; their members must not be pushed.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(emitted).toBe(0);
    expect(gzip.destroyed).toBe(true);
  });
});
