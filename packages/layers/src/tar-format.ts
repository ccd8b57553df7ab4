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

function paddingOf(size: number): number {
  return (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
}

/** Zero bytes that pad `size` content bytes up to a whole block. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc(paddingOf(size));
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

// Fields are written into the block in place: a layer of 20,000 small files has as many headers
// as files, and a string or Buffer made per field was most of a header's cost.
function writeBytes(block: Buffer, offset: number, width: number, bytes: Buffer): void {
  bytes.copy(block, offset, 0, Math.min(width, bytes.length));
}

/** An ASCII field (octal digits, magic, type flag). */
function writeAscii(block: Buffer, offset: number, width: number, value: string): void {
  block.write(value, offset, width, "latin1");
}

function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  // The field's last byte stays the NUL of the zero-filled block.
  writeAscii(block, offset, width - 1, value.toString(8).padStart(width - 1, "0"));
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
  writeBytes(block, 0, 100, h.name);
  writeOctal(block, 100, 8, h.mode);
  writeOctal(block, 108, 8, h.uid);
  writeOctal(block, 116, 8, h.gid);
  writeOctal(block, 124, 12, h.size);
  writeOctal(block, 136, 12, h.mtime);
  block.fill(0x20, 148, 156);
  writeAscii(block, 156, 1, h.typeflag);
  writeBytes(block, 157, 100, h.linkname);
  writeAscii(block, 257, 8, "ustar\x0000");
  writeOctal(block, 329, 8, h.devmajor);
  writeOctal(block, 337, 8, h.devminor);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += block[i]!;
  writeAscii(block, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
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

/** One step of parsing: an entry's header, or the next piece of the current entry's content. */
export type TarPiece =
  | { kind: "header"; header: TarEntryHeader }
  | {
      kind: "content";
      /** A view into the chunk it arrived in: valid until the next write(). */
      bytes: Buffer;
      /** Whether these are the entry's last content bytes. */
      last: boolean;
    };

const EMPTY = Buffer.alloc(0);
const NO_XATTRS: ReadonlyMap<string, Buffer> = new Map();
const XATTR_PREFIX = "SCHILY.xattr.";

function readString(block: Buffer, offset: number, width: number): Buffer {
  const field = block.subarray(offset, offset + width);
  const nul = field.indexOf(0);
  return nul === -1 ? field : field.subarray(0, nul);
}

function readNumber(block: Buffer, offset: number, width: number, field: string): number {
  const end = offset + width;
  if (block[offset]! & 0x80) {
    // GNU base-256: big-endian, top bit of the first byte is the marker.
    if (block[offset]! & 0x40) throw new TarFormatError(`negative ${field} in tar header`);
    let value = block[offset]! & 0x3f;
    for (let i = offset + 1; i < end; i++) value = value * 256 + block[i]!;
    return value;
  }
  // Octal digits, optionally led by spaces and ended by NULs or spaces.
  let i = offset;
  while (i < end && block[i] === 0x20) i++;
  let value = 0;
  for (; i < end && block[i]! >= 0x30 && block[i]! <= 0x37; i++) value = value * 8 + (block[i]! - 0x30);
  for (; i < end; i++) {
    if (block[i] !== 0 && block[i] !== 0x20) {
      const text = block.subarray(offset, end).toString("latin1").replace(/[\0 ]+$/, "");
      throw new TarFormatError(`bad ${field} field in tar header: ${JSON.stringify(text)}`);
    }
  }
  return value;
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

function typeOf(flag: number): TarEntryType | undefined {
  switch (flag) {
    case 0x30: // "0"
    case 0x00: // pre-POSIX regular file
    case 0x37: // "7", contiguous file
      return "file";
    case 0x31:
      return "link";
    case 0x32:
      return "symlink";
    case 0x33:
      return "char";
    case 0x34:
      return "block";
    case 0x35:
      return "directory";
    case 0x36:
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

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < TAR_BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * A push parser for tar streams (ustar, PAX incl. binary SCHILY.xattr values, GNU long names,
 * base-256 numbers); checksums are verified. It works on the chunks as they arrive, with no
 * promise per entry and no copying of content: write() a chunk, then call next() until it
 * returns null, then write() the next chunk; call end() when the input ends. Only a header or
 * extended header split across chunks is copied.
 */
export class TarParser {
  private chunk: Buffer = EMPTY;
  private at = 0;
  /** A header block or extended header being assembled across chunks. */
  private held: Buffer | undefined;
  private heldLength = 0;
  private state: "header" | "meta" | "content" | "padding" | "end" = "header";
  /** Bytes still to come of the current extended header, content or padding. */
  private left = 0;
  /** What the current bytes belong to, for "ends inside ..." errors. */
  private inside = "a header block";
  /** Zero bytes after the current entry's content. */
  private contentPadding = 0;
  private metaFlag = 0;
  private readonly globalPax = new Map<string, Buffer>();
  private pax: Map<string, Buffer> | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;

  /** Hands over the next chunk; the previous one must be used up (next() returned null). */
  write(chunk: Buffer): void {
    if (this.at < this.chunk.length) throw new Error("TarParser.write() before next() returned null");
    this.chunk = chunk;
    this.at = 0;
  }

  /** The next header or content piece from the bytes written so far; null when more are needed. */
  next(): TarPiece | null {
    for (;;) {
      switch (this.state) {
        case "header": {
          const block = this.take(TAR_BLOCK);
          if (block === null) return null;
          const header = this.parseHeader(block);
          if (header !== null) return { kind: "header", header };
          break;
        }
        case "meta": {
          const data = this.take(this.left);
          if (data === null) return null;
          this.takeMeta(data);
          this.toPadding(data.length);
          break;
        }
        case "content": {
          const n = Math.min(this.left, this.chunk.length - this.at);
          if (n === 0) return null;
          const bytes = this.chunk.subarray(this.at, this.at + n);
          this.at += n;
          this.left -= n;
          const last = this.left === 0;
          if (last) {
            this.state = "padding";
            this.left = this.contentPadding;
          }
          return { kind: "content", bytes, last };
        }
        case "padding": {
          const n = Math.min(this.left, this.chunk.length - this.at);
          this.at += n;
          this.left -= n;
          if (this.left > 0) return null;
          this.state = "header";
          this.inside = "a header block";
          break;
        }
        case "end":
          // Whatever follows the end-of-archive blocks is read and ignored.
          this.at = this.chunk.length;
          return null;
      }
    }
  }

  /** Declares the input complete; throws if it stopped inside an entry. */
  end(): void {
    const clean = this.state === "end" || (this.state === "header" && this.heldLength === 0 && this.at === this.chunk.length);
    if (!clean) throw new TarFormatError(`tar stream ends inside ${this.inside}`);
  }

  /** Exactly n bytes (a view when they are in one chunk, else assembled), or null for now. */
  private take(n: number): Buffer | null {
    const available = this.chunk.length - this.at;
    if (this.heldLength === 0 && available >= n) {
      const bytes = this.chunk.subarray(this.at, this.at + n);
      this.at += n;
      return bytes;
    }
    if (this.held === undefined || this.held.length !== n) this.held = Buffer.allocUnsafe(n);
    const copied = this.chunk.copy(this.held, this.heldLength, this.at, this.at + Math.min(available, n - this.heldLength));
    this.at += copied;
    this.heldLength += copied;
    if (this.heldLength < n) return null;
    const bytes = this.held;
    this.held = undefined;
    this.heldLength = 0;
    return bytes;
  }

  private toPadding(size: number): void {
    this.state = "padding";
    this.left = paddingOf(size);
  }

  private takeMeta(data: Buffer): void {
    if (this.metaFlag === 0x78) parsePax(data, (this.pax ??= new Map()));
    else if (this.metaFlag === 0x67) parsePax(data, this.globalPax);
    else if (this.metaFlag === 0x4c) this.longName = readString(data, 0, data.length).toString("utf8");
    else this.longLink = readString(data, 0, data.length).toString("utf8");
  }

  /** An entry's header, or null for an extended header or the end of the archive. */
  private parseHeader(block: Buffer): TarEntryHeader | null {
    if (isZeroBlock(block)) {
      this.state = "end";
      return null;
    }
    let sum = 0;
    for (let i = 0; i < TAR_BLOCK; i++) sum += block[i]!;
    for (let i = 148; i < 156; i++) sum += 0x20 - block[i]!;
    if (sum !== readNumber(block, 148, 8, "checksum")) throw new TarFormatError("tar header checksum mismatch (not a tar stream, or corrupted)");
    const flag = block[156]!;
    let size = readNumber(block, 124, 12, "size");
    if (flag === 0x78 || flag === 0x67 || flag === 0x4c || flag === 0x4b) {
      // "x" PAX, "g" global PAX, "L" GNU long name, "K" GNU long link name
      if (size > MAX_META_RECORD) throw new TarFormatError(`tar extended header of ${size} bytes is too large`);
      this.metaFlag = flag;
      this.state = "meta";
      this.left = size;
      this.inside = "an extended header";
      return null;
    }
    const type = typeOf(flag);
    if (!type) throw new TarFormatError(`unsupported tar entry type '${String.fromCharCode(flag)}'`);
    const records = this.pax === undefined ? this.globalPax : this.globalPax.size === 0 ? this.pax : new Map([...this.globalPax, ...this.pax]);
    const ustar = block.toString("latin1", 257, 263) === "ustar\0";
    const prefix = ustar ? readString(block, 345, 155).toString("utf8") : "";
    const plainName = readString(block, 0, 100).toString("utf8");
    const rawName = records.get("path")?.toString("utf8") ?? this.longName ?? (prefix ? `${prefix}/${plainName}` : plainName);
    const numberRecord = (key: string, fallback: number): number => {
      const value = records.get(key);
      if (value === undefined) return fallback;
      const n = Number(value.toString("latin1"));
      if (!Number.isFinite(n) || n < 0) throw new TarFormatError(`bad PAX ${key} value for ${rawName}`);
      return Math.floor(n);
    };
    let xattrs = NO_XATTRS;
    if (records.size > 0) {
      size = numberRecord("size", size);
      for (const [key, value] of records) {
        if (!key.startsWith(XATTR_PREFIX)) continue;
        if (xattrs === NO_XATTRS) xattrs = new Map();
        (xattrs as Map<string, Buffer>).set(key.slice(XATTR_PREFIX.length), value);
      }
    }
    const device = type === "char" || type === "block";
    const header: TarEntryHeader = {
      name: cleanName(rawName),
      type,
      mode: readNumber(block, 100, 8, "mode") & 0o7777,
      uid: numberRecord("uid", readNumber(block, 108, 8, "uid")),
      gid: numberRecord("gid", readNumber(block, 116, 8, "gid")),
      size,
      mtime: numberRecord("mtime", readNumber(block, 136, 12, "mtime")),
      linkname: records.get("linkpath")?.toString("utf8") ?? this.longLink ?? readString(block, 157, 100).toString("utf8"),
      devmajor: device ? readNumber(block, 329, 8, "devmajor") : 0,
      devminor: device ? readNumber(block, 337, 8, "devminor") : 0,
      xattrs,
    };
    this.pax = undefined;
    this.longName = undefined;
    this.longLink = undefined;
    this.inside = `the content of ${header.name}`;
    if (size > 0) {
      this.state = "content";
      this.left = size;
      this.contentPadding = paddingOf(size);
    } else this.toPadding(0);
    return header;
  }
}
