// A small POSIX (ustar + PAX) tar codec. Our own rather than tar-stream's because layer xattrs
// such as security.capability are binary, and PAX values must round-trip byte for byte; the
// writer is also where determinism is decided (no uname/gname, fixed PAX header names).

export type TarEntryType = "file" | "link" | "symlink" | "char" | "block" | "directory" | "fifo";

export interface TarEntryHeader {
  /** Path inside the archive, no leading "./" and no trailing "/". */
  name: string;
  type: TarEntryType;
  /** Permission bits incl. setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Content bytes (only "file" entries carry content). */
  size: number;
  /** Whole seconds since the epoch. */
  mtime: number;
  /** Symlink target, or the archive path a hardlink points at. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes (PAX SCHILY.xattr.*), in the order they are written. */
  xattrs: ReadonlyMap<string, Buffer>;
}

export const TAR_BLOCK = 512;

const TYPE_FLAGS: Record<TarEntryType, string> = {
  file: "0",
  link: "1",
  symlink: "2",
  char: "3",
  block: "4",
  directory: "5",
  fifo: "6",
};
const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;
/** PAX and GNU long-name records are held in memory; a bigger one is not a real layer. */
const MAX_META_RECORD = 1 << 20;

/** Zero bytes that pad `size` content bytes up to a whole block. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK);
}

/** The two zero blocks that end an archive. */
export function tarEnd(): Buffer {
  return Buffer.alloc(2 * TAR_BLOCK);
}

function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from("\n")]);
  // The length prefix counts itself.
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

function writeString(block: Buffer, offset: number, width: number, value: string | Buffer): void {
  const bytes = typeof value === "string" ? Buffer.from(value) : value;
  bytes.copy(block, offset, 0, Math.min(width, bytes.length));
}

function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  writeString(block, offset, width, value.toString(8).padStart(width - 1, "0") + "\0");
}

function ustarBlock(h: {
  name: Buffer;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: Buffer;
  devmajor: number;
  devminor: number;
}): Buffer {
  const block = Buffer.alloc(TAR_BLOCK);
  writeString(block, 0, 100, h.name);
  writeOctal(block, 100, 8, h.mode);
  writeOctal(block, 108, 8, h.uid);
  writeOctal(block, 116, 8, h.gid);
  writeOctal(block, 124, 12, h.size);
  writeOctal(block, 136, 12, h.mtime);
  block.fill(0x20, 148, 156);
  writeString(block, 156, 1, h.typeflag);
  writeString(block, 157, 100, h.linkname);
  writeString(block, 257, 8, "ustar\x0000");
  writeOctal(block, 329, 8, h.devmajor);
  writeOctal(block, 337, 8, h.devminor);
  let sum = 0;
  for (const byte of block) sum += byte;
  writeString(block, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return block;
}

/**
 * The header block(s) of one entry: a PAX extended header first when a field does not fit
 * ustar (long or non-ASCII names, big ids or sizes) or the entry has xattrs.
 */
export function encodeTarHeader(entry: TarEntryHeader): Buffer {
  const name = entry.type === "directory" ? `${entry.name}/` : entry.name;
  const nameBytes = Buffer.from(name);
  const linkBytes = Buffer.from(entry.linkname);
  const mtime = Math.max(0, Math.floor(entry.mtime));
  const records: Buffer[] = [];
  if (nameBytes.length > 100 || !isAscii(name)) records.push(paxRecord("path", nameBytes));
  if (linkBytes.length > 100 || !isAscii(entry.linkname)) records.push(paxRecord("linkpath", linkBytes));
  if (entry.uid > MAX_OCTAL_7) records.push(paxRecord("uid", Buffer.from(String(entry.uid))));
  if (entry.gid > MAX_OCTAL_7) records.push(paxRecord("gid", Buffer.from(String(entry.gid))));
  if (entry.size > MAX_OCTAL_11) records.push(paxRecord("size", Buffer.from(String(entry.size))));
  if (mtime > MAX_OCTAL_11) records.push(paxRecord("mtime", Buffer.from(String(mtime))));
  for (const [key, value] of entry.xattrs) records.push(paxRecord(`SCHILY.xattr.${key}`, value));

  const main = ustarBlock({
    name: nameBytes.subarray(0, 100),
    typeflag: TYPE_FLAGS[entry.type],
    mode: entry.mode & 0o7777,
    uid: entry.uid > MAX_OCTAL_7 ? 0 : entry.uid,
    gid: entry.gid > MAX_OCTAL_7 ? 0 : entry.gid,
    size: entry.size > MAX_OCTAL_11 ? 0 : entry.size,
    mtime: mtime > MAX_OCTAL_11 ? 0 : mtime,
    linkname: linkBytes.subarray(0, 100),
    devmajor: entry.devmajor,
    devminor: entry.devminor,
  });
  if (records.length === 0) return main;
  const pax = Buffer.concat(records);
  const paxHeader = ustarBlock({
    name: Buffer.from("PaxHeader"),
    typeflag: "x",
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: pax.length,
    mtime: mtime > MAX_OCTAL_11 ? 0 : mtime,
    linkname: Buffer.alloc(0),
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, pax, tarPadding(pax.length), main]);
}

export class TarFormatError extends Error {
  override readonly name = "TarFormatError";
}

/** Reads exact byte counts from an async byte stream. */
class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  constructor(private readonly source: AsyncIterator<Buffer | string>) {}

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.ended) {
      const next = await this.source.next();
      if (next.done) this.ended = true;
      else {
        const chunk = typeof next.value === "string" ? Buffer.from(next.value) : next.value;
        this.chunks.push(chunk);
        this.buffered += chunk.length;
      }
    }
  }

  /** Up to `max` bytes that are already here or arrive next; empty at end of stream. */
  async some(max: number): Promise<Buffer> {
    await this.fill(1);
    const first = this.chunks[0];
    if (!first) return Buffer.alloc(0);
    const piece = first.subarray(0, max);
    if (piece.length === first.length) this.chunks.shift();
    else this.chunks[0] = first.subarray(max);
    this.buffered -= piece.length;
    return piece;
  }

  /** Exactly n bytes; null at a clean end of stream; throws if the stream ends inside them. */
  async exact(n: number, what: string): Promise<Buffer | null> {
    await this.fill(n);
    if (this.buffered === 0 && this.ended) return null;
    if (this.buffered < n) throw new TarFormatError(`tar stream ends inside ${what}`);
    const all = Buffer.concat(this.chunks);
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    this.buffered -= n;
    return all.subarray(0, n);
  }

  async skip(n: number, what: string): Promise<void> {
    while (n > 0) {
      const piece = await this.some(n);
      if (piece.length === 0) throw new TarFormatError(`tar stream ends inside ${what}`);
      n -= piece.length;
    }
  }

  async drain(): Promise<void> {
    while ((await this.some(1 << 16)).length > 0);
  }
}

function readString(block: Buffer, offset: number, width: number): Buffer {
  const field = block.subarray(offset, offset + width);
  const nul = field.indexOf(0);
  return nul === -1 ? field : field.subarray(0, nul);
}

function readNumber(block: Buffer, offset: number, width: number, field: string): number {
  const bytes = block.subarray(offset, offset + width);
  if (bytes[0]! & 0x80) {
    // GNU base-256: big-endian, top bit of the first byte is the marker.
    if (bytes[0]! & 0x40) throw new TarFormatError(`negative ${field} in tar header`);
    let value = bytes[0]! & 0x3f;
    for (const byte of bytes.subarray(1)) value = value * 256 + byte;
    return value;
  }
  const text = bytes.toString("latin1").replace(/[\0 ]+$/, "").replace(/^ +/, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`bad ${field} field in tar header: ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

function parsePax(data: Buffer, into: Map<string, Buffer>): void {
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = space === -1 ? NaN : parseInt(data.subarray(at, space).toString("latin1"), 10);
    if (!(length > 0) || at + length > data.length || data[at + length - 1] !== 0x0a) {
      throw new TarFormatError("malformed PAX extended header record");
    }
    const record = data.subarray(space + 1, at + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq === -1) throw new TarFormatError("malformed PAX extended header record (no '=')");
    into.set(record.subarray(0, eq).toString("utf8"), Buffer.from(record.subarray(eq + 1)));
    at += length;
  }
}

function typeOf(flag: string): TarEntryType | undefined {
  switch (flag) {
    case "0":
    case "\0":
    case "7":
      return "file";
    case "1":
      return "link";
    case "2":
      return "symlink";
    case "3":
      return "char";
    case "4":
      return "block";
    case "5":
      return "directory";
    case "6":
      return "fifo";
    default:
      return undefined;
  }
}

/** Strips "./" and trailing "/"; keeps everything else for the caller to judge. */
function cleanName(name: string): string {
  let out = name;
  while (out.startsWith("./")) out = out.slice(2);
  while (out.length > 1 && out.endsWith("/")) out = out.slice(0, -1);
  return out === "." ? "" : out;
}

export interface TarEntry {
  header: TarEntryHeader;
  /** The entry's content; what the consumer leaves unread is skipped. */
  body: AsyncIterable<Buffer>;
}

/**
 * Parses a tar stream (ustar, PAX incl. binary SCHILY.xattr values, GNU long names, base-256
 * numbers) entry by entry, streaming content. Checksums are verified.
 */
export async function* readTarEntries(stream: AsyncIterable<Buffer | string>): AsyncGenerator<TarEntry> {
  const source = stream[Symbol.asyncIterator]();
  try {
    yield* parseEntries(new ByteReader(source));
  } finally {
    // Stops (and for a Node stream, destroys) the input when the consumer gives up early.
    await source.return?.();
  }
}

async function* parseEntries(reader: ByteReader): AsyncGenerator<TarEntry> {
  const globalPax = new Map<string, Buffer>();
  let pax: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const block = await reader.exact(TAR_BLOCK, "a header block");
    if (block === null) return; // tolerated: archives that end without the zero blocks
    if (block.every((b) => b === 0)) {
      await reader.drain();
      return;
    }
    let sum = 0;
    for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
    if (sum !== readNumber(block, 148, 8, "checksum")) throw new TarFormatError("tar header checksum mismatch (not a tar stream, or corrupted)");
    const flag = String.fromCharCode(block[156]!);
    let size = readNumber(block, 124, 12, "size");
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      if (size > MAX_META_RECORD) throw new TarFormatError(`tar extended header of ${size} bytes is too large`);
      const data = (await reader.exact(size, "an extended header")) ?? Buffer.alloc(0);
      await reader.skip(tarPadding(size).length, "an extended header");
      if (flag === "x") parsePax(data, (pax ??= new Map()));
      else if (flag === "g") parsePax(data, globalPax);
      else if (flag === "L") longName = readString(data, 0, data.length).toString("utf8");
      else longLink = readString(data, 0, data.length).toString("utf8");
      continue;
    }
    const type = typeOf(flag);
    if (!type) throw new TarFormatError(`unsupported tar entry type '${flag}'`);
    const records = new Map([...globalPax, ...(pax ?? [])]);
    const ustar = block.subarray(257, 263).toString("latin1") === "ustar\0";
    const prefix = ustar ? readString(block, 345, 155).toString("utf8") : "";
    const plainName = readString(block, 0, 100).toString("utf8");
    const rawName = records.get("path")?.toString("utf8") ?? longName ?? (prefix ? `${prefix}/${plainName}` : plainName);
    const numberRecord = (key: string, fallback: number): number => {
      const value = records.get(key);
      if (value === undefined) return fallback;
      const n = Number(value.toString("latin1"));
      if (!Number.isFinite(n) || n < 0) throw new TarFormatError(`bad PAX ${key} value for ${rawName}`);
      return Math.floor(n);
    };
    size = numberRecord("size", size);
    const xattrs = new Map<string, Buffer>();
    for (const [key, value] of records) {
      if (key.startsWith("SCHILY.xattr.")) xattrs.set(key.slice("SCHILY.xattr.".length), value);
    }
    const header: TarEntryHeader = {
      name: cleanName(rawName),
      type,
      mode: readNumber(block, 100, 8, "mode") & 0o7777,
      uid: numberRecord("uid", readNumber(block, 108, 8, "uid")),
      gid: numberRecord("gid", readNumber(block, 116, 8, "gid")),
      size,
      mtime: numberRecord("mtime", readNumber(block, 136, 12, "mtime")),
      linkname: records.get("linkpath")?.toString("utf8") ?? longLink ?? readString(block, 157, 100).toString("utf8"),
      devmajor: type === "char" || type === "block" ? readNumber(block, 329, 8, "devmajor") : 0,
      devminor: type === "char" || type === "block" ? readNumber(block, 337, 8, "devminor") : 0,
      xattrs,
    };
    pax = undefined;
    longName = undefined;
    longLink = undefined;

    let remaining = size;
    async function* body(): AsyncGenerator<Buffer> {
      while (remaining > 0) {
        const piece = await reader.some(Math.min(remaining, 1 << 16));
        if (piece.length === 0) throw new TarFormatError(`tar stream ends inside the content of ${header.name}`);
        remaining -= piece.length;
        yield piece;
      }
    }
    yield { header, body: body() };
    await reader.skip(remaining + tarPadding(size).length, `the content of ${header.name}`);
  }
}
