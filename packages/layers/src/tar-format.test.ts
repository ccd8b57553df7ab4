import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { encodeTarHeader, readTarEntries, tarEnd, tarPadding, TarFormatError, type TarEntryHeader } from "./tar-format.js";
import { readWithTarStream } from "./test-support.js";

const base: TarEntryHeader = { name: "f", type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1, linkname: "", devmajor: 0, devminor: 0, xattrs: new Map() };

function archive(entries: { header: TarEntryHeader; content?: Buffer }[]): Buffer {
  return Buffer.concat([
    ...entries.flatMap(({ header, content = Buffer.alloc(0) }) => [encodeTarHeader({ ...header, size: content.length }), content, tarPadding(content.length)]),
    tarEnd(),
  ]);
}

async function readBack(bytes: Buffer) {
  const out: { header: TarEntryHeader; content: string }[] = [];
  for await (const { header, body } of readTarEntries(Readable.from([bytes]))) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk);
    out.push({ header, content: Buffer.concat(chunks).toString() });
  }
  return out;
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
    const ours = await readBack(bytes);
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
    const names: string[] = [];
    for await (const { header } of readTarEntries(Readable.from([bytes]))) names.push(header.name);
    expect(names).toEqual(["a", "b"]);

    const corrupt = Buffer.from(bytes);
    corrupt[10] ^= 0xff;
    await expect(readBack(corrupt)).rejects.toThrow(TarFormatError);
    await expect(readBack(bytes.subarray(0, 700))).rejects.toThrow(/ends inside the content of a/);
  });
});
