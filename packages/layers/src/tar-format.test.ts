import { execFileSync } from "node:child_process";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { encodeTarHeader, tarEnd, tarPadding, TarFormatError, TarParser, type TarEntryHeader } from "./tar-format.js";
import { readWithTarStream, Scratch } from "./test-support.js";

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const base: TarEntryHeader = { name: "f", type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1, linkname: "", devmajor: 0, devminor: 0, xattrs: new Map() };

function archive(entries: { header: TarEntryHeader; content?: Buffer }[]): Buffer {
  return Buffer.concat([
    ...entries.flatMap(({ header, content = Buffer.alloc(0) }) => [encodeTarHeader({ ...header, size: content.length }), content, tarPadding(content.length)]),
    tarEnd(),
  ]);
}

/** Parses bytes handed over in chunks of the given sizes (cycled); content joined per entry. */
function parse(bytes: Buffer, chunkSizes: readonly number[] = [bytes.length]) {
  const out: { header: TarEntryHeader; content: Buffer }[] = [];
  const parser = new TarParser();
  let contentPieces: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = Math.max(1, chunkSizes[i % chunkSizes.length]!);
    // A copy, so a view kept past its chunk would show up as wrong content.
    parser.write(Buffer.from(bytes.subarray(at, at + size)));
    at += size;
    for (let piece = parser.next(); piece !== null; piece = parser.next()) {
      if (piece.kind === "header") out.push({ header: piece.header, content: Buffer.alloc(0) });
      else {
        contentPieces.push(Buffer.from(piece.bytes));
        if (piece.last) {
          out[out.length - 1]!.content = Buffer.concat(contentPieces);
          contentPieces = [];
        }
      }
    }
  }
  parser.end();
  return out;
}

function readBack(bytes: Buffer) {
  return parse(bytes).map(({ header, content }) => ({ header, content: content.toString() }));
}

describe("tar codec", () => {
  it("writes PAX for what ustar cannot hold, readable by tar-stream and by our reader", async () => {
    const long = `${"d".repeat(120)}/ü-${"n".repeat(120)}`;
    const binary = Buffer.from([0x01, 0x80, 0xff, 0x00, 0x0a]);
    const bytes = archive([
      { header: { ...base, name: long, uid: 3_000_000, gid: 4_000_000, xattrs: new Map([["user.bin", binary]]) }, content: Buffer.from("data") },
      { header: { ...base, name: "l", type: "symlink", linkname: "t".repeat(150) } },
    ]);
    const seen = await readWithTarStream(bytes);
    expect(seen.map((e) => [e.name, e.content])).toEqual([
      [long, "data"],
      ["l", ""],
    ]);
    // tar-stream leaves PAX ids to the caller; they are there as records.
    expect(seen[0]!.pax).toMatchObject({ uid: "3000000", gid: "4000000" });
    expect(seen[1]!.linkname).toBe("t".repeat(150));
    const ours = readBack(bytes);
    expect(ours[0]!.header).toMatchObject({ name: long, uid: 3_000_000, gid: 4_000_000, size: 4 });
    expect(ours[0]!.header.xattrs.get("user.bin")!.equals(binary)).toBe(true);
    expect(ours[0]!.content).toBe("data");
    expect(ours[1]!.header.linkname).toBe("t".repeat(150));
  });

  it("skips content the consumer does not read, and rejects corrupt or truncated input", async () => {
    const bytes = archive([
      { header: { ...base, name: "a" }, content: Buffer.alloc(1000, 1) },
      { header: { ...base, name: "b" }, content: Buffer.from("b") },
    ]);
    const parser = new TarParser();
    parser.write(bytes);
    const names: string[] = [];
    for (let piece = parser.next(); piece !== null; piece = parser.next()) if (piece.kind === "header") names.push(piece.header.name);
    parser.end();
    expect(names).toEqual(["a", "b"]);

    const corrupt = Buffer.from(bytes);
    corrupt[10] ^= 0xff;
    expect(() => readBack(corrupt)).toThrow(TarFormatError);
    expect(() => readBack(bytes.subarray(0, 700))).toThrow(/ends inside the content of a/);
    expect(() => readBack(bytes.subarray(0, 1536 + 100))).toThrow(/ends inside a header block/);
    // An archive that simply stops after an entry (no end blocks) is accepted.
    expect(readBack(bytes.subarray(0, 1536 + 512 + 512)).map((e) => e.header.name)).toEqual(["a", "b"]);
  });

  it("gives the same entries however the input is split, with content as one view when it arrived in one chunk", async () => {
    const dir = await scratch.dir();
    const tree = path.join(dir, "tree");
    await mkdir(path.join(tree, "d".repeat(90), "e".repeat(90)), { recursive: true });
    await writeFile(path.join(tree, "d".repeat(90), "e".repeat(90), "long-name-file"), "x".repeat(3000));
    await writeFile(path.join(tree, "small"), "hello");
    await writeFile(path.join(tree, "empty"), "");
    await writeFile(path.join(tree, "big"), Buffer.alloc(20_000, 7));
    await symlink("t".repeat(120), path.join(tree, "long-link"));
    execFileSync("ln", [path.join(tree, "small"), path.join(tree, "hard")]);
    execFileSync("setfattr", ["-n", "user.k", "-v", "0x00ff0a", path.join(tree, "small")]);
    const archives = {
      pax: execFileSync("tar", ["--format=pax", "--xattrs", "--sort=name", "-cf", "-", "-C", tree, "."], { maxBuffer: 1 << 24 }),
      gnu: execFileSync("tar", ["--format=gnu", "--sort=name", "-cf", "-", "-C", tree, "."], { maxBuffer: 1 << 24 }),
    };
    for (const [format, bytes] of Object.entries(archives)) {
      const whole = parse(bytes);
      const summary = whole.map(({ header, content }) => [header.name, header.type, header.size, content.length, header.linkname]);
      expect(summary, format).toEqual(
        expect.arrayContaining([
          ["", "directory", 0, 0, ""],
          [`${"d".repeat(90)}/${"e".repeat(90)}/long-name-file`, "file", 3000, 3000, ""],
          ["big", "file", 20_000, 20_000, ""],
          ["empty", "file", 0, 0, ""],
          ["long-link", "symlink", 0, 0, "t".repeat(120)],
        ]),
      );
      expect(whole.filter((e) => e.header.type === "link").map((e) => [e.header.name, e.header.linkname]), format).toEqual([["small", "./hard"]]);
      if (format === "pax") expect(whole.find((e) => e.header.name === "hard")!.header.xattrs.get("user.k")).toEqual(Buffer.from([0, 0xff, 0x0a]));
      for (const sizes of [[1], [7], [511, 513], [512], [1000, 3, 4096], [16_384]]) {
        expect(parse(bytes, sizes), `${format} in chunks of ${sizes.join(",")}`).toEqual(whole);
      }
    }
    // Whole content in one chunk comes as one piece, not copied.
    const parser = new TarParser();
    parser.write(archives.pax);
    const pieces: Buffer[] = [];
    for (let piece = parser.next(); piece !== null; piece = parser.next()) if (piece.kind === "content") pieces.push(piece.bytes);
    expect(pieces.some((p) => p.length === 20_000 && p.buffer === archives.pax.buffer)).toBe(true);
  });

  it("reads base-256 numbers and ignores what follows the end blocks", () => {
    const header = encodeTarHeader({ ...base, name: "n", size: 3 });
    // uid 0x12345678 as GNU base-256; the checksum is recomputed for the edited block.
    header.fill(0, 108, 116);
    header[108] = 0x80;
    header.writeUInt32BE(0x12345678, 112);
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    const bytes = Buffer.concat([header, Buffer.from("abc"), tarPadding(3), tarEnd(), Buffer.from("trailing junk")]);
    expect(readBack(bytes)).toEqual([{ header: expect.objectContaining({ name: "n", uid: 0x12345678 }), content: "abc" }]);
  });
});
