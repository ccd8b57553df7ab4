// A comparable description of a directory tree: what two builders' rootfs outputs must agree on.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, type Stats } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";

const exec = promisify(execFile);

export type TreeEntryType = "file" | "dir" | "symlink" | "char" | "block" | "fifo" | "socket";

/** One path under the tree. Times and link counts are left out: they differ between equal trees. */
export interface TreeEntry {
  /** Absolute within the tree: "/etc/passwd". */
  path: string;
  type: TreeEntryType;
  /** Permission bits with setuid/setgid/sticky, octal ("4755", "1777"). */
  mode: string;
  uid: number;
  gid: number;
  /** Regular files only. */
  size?: number;
  sha256?: string;
  /** Symlinks only. */
  target?: string;
  /** Device nodes only: "major:minor". */
  rdev?: string;
  /** Regular files with more than one name in the tree: every such path (itself included), sorted. */
  hardlinks?: string[];
  /** Extended attributes (getfattr's view, so also ACLs and capabilities): name -> hex value. */
  xattrs?: Record<string, string>;
}

/**
 * Every path under dir (not dir itself), sorted, with type, mode, owner, content digest, link
 * target, hardlink group and xattrs. Does not follow symlinks.
 */
export async function treeManifest(dir: string): Promise<TreeEntry[]> {
  const root = path.resolve(dir);
  const entries: TreeEntry[] = [];
  const inodes = new Map<string, TreeEntry[]>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(root, rel))).sort()) {
      const relPath = `${rel}/${name}`;
      const file = path.join(root, relPath);
      const stats = await lstat(file);
      const entry = await describe(file, relPath, stats);
      entries.push(entry);
      if (entry.type === "file" && stats.nlink > 1) {
        const key = `${stats.dev}:${stats.ino}`;
        inodes.set(key, [...(inodes.get(key) ?? []), entry]);
      }
      if (entry.type === "dir") await walk(relPath);
    }
  };
  await walk("");
  for (const group of inodes.values()) {
    if (group.length < 2) continue; // the other names are outside the tree
    const paths = group.map((entry) => entry.path).sort();
    for (const entry of group) entry.hardlinks = paths;
  }
  const xattrs = await readXattrs(root);
  for (const entry of entries) {
    const found = xattrs.get(entry.path);
    if (found) entry.xattrs = found;
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function describe(file: string, relPath: string, stats: Stats): Promise<TreeEntry> {
  const entry: TreeEntry = {
    path: relPath,
    type: typeOf(stats),
    mode: (stats.mode & 0o7777).toString(8).padStart(4, "0"),
    uid: stats.uid,
    gid: stats.gid,
  };
  if (entry.type === "file") {
    entry.size = stats.size;
    entry.sha256 = await sha256File(file);
  } else if (entry.type === "symlink") {
    entry.target = await readlink(file);
  } else if (entry.type === "char" || entry.type === "block") {
    // glibc's major()/minor() encoding of dev_t.
    const major = ((stats.rdev >>> 8) & 0xfff) | (Math.floor(stats.rdev / 2 ** 32) & ~0xfff);
    const minor = (stats.rdev & 0xff) | ((stats.rdev >>> 12) & 0xfff00);
    entry.rdev = `${major}:${minor}`;
  }
  return entry;
}

function typeOf(stats: Stats): TreeEntryType {
  if (stats.isFile()) return "file";
  if (stats.isDirectory()) return "dir";
  if (stats.isSymbolicLink()) return "symlink";
  if (stats.isCharacterDevice()) return "char";
  if (stats.isBlockDevice()) return "block";
  if (stats.isFIFO()) return "fifo";
  return "socket";
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(file), hash);
  return hash.digest("hex");
}

/**
 * All xattrs under root from one `getfattr -R` run (one process, not one per file), keyed by
 * tree path. getfattr prints nothing for files without xattrs.
 */
async function readXattrs(root: string): Promise<Map<string, Record<string, string>>> {
  const { stdout } = await exec("getfattr", ["--recursive", "--physical", "--no-dereference", "--dump", "--match=-", "--encoding=hex", "--absolute-names", root], {
    maxBuffer: 64 * 1024 * 1024,
    encoding: "latin1", // file names are bytes; decoded below after unescaping
  });
  const found = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const line of stdout.split("\n")) {
    if (line.startsWith("# file: ")) {
      const absolute = decodeGetfattrName(line.slice("# file: ".length));
      current = {};
      found.set(absolute === root ? "/" : absolute.slice(root.length), current);
    } else if (current && line.includes("=")) {
      const eq = line.indexOf("=");
      current[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  return found;
}

// getfattr escapes control characters, `=` and `\` in names as \ooo (octal bytes).
function decodeGetfattrName(escaped: string): string {
  const latin1 = escaped.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return Buffer.from(latin1, "latin1").toString("utf8");
}
