// COPY and ADD: select sources (wildcards, .dockerignore, --exclude), then
// write them into a snapshot's rootfs with Docker's destination rules. The
// snapshot's upper dir becomes the layer, so overlay decides what changed.
import {
  chmodSync, chownSync, constants, createReadStream, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, readlinkSync, rmSync,
  symlinkSync, utimesSync, type Stats,
} from "node:fs";
import { chmod, chown, copyFile, lstat, readFile, readdir, rm, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { PatternMatcher, type CopyInstruction, type Heredoc } from "@tsbuild/dockerfile";
import { mkdirInRoot, resolveInRoot, resolveUser } from "@tsbuild/executor";
import { isWhiteout, type ChangesetDigest, type WrittenEntryMeta } from "@tsbuild/layers";
import { readDirectory, STAT_FIELDS } from "@tsbuild/syscalls";
import { FileBatches } from "./file-batches.js";
import { hasWildcard, matchComponent } from "./glob.js";
import { compareBytes, EntryStat, entryStat, timeMs, type BuildContextIndex } from "./build-context.js";

/** Where COPY reads from: the build context (filtered) or a stage/image rootfs. */
export interface CopySourceRoot {
  dir: string;
  /** The context's filtered index; absent for rootfs sources (every file is visible). */
  index?: BuildContextIndex;
  /** Keep the source's uid/gid (true for --from sources; context files become 0:0). */
  preserveOwner: boolean;
  /** How messages name this source (`build context`, `stage build`). */
  label: string;
  /** A layer's dir read directly (see onlyLayerOf in @tsbuild/layers): its whiteouts are not files to copy. */
  layerDir?: boolean;
}

/** One selected source: a path relative to the source root, with its stat (symlinks at the top followed). */
export interface SelectedSource {
  rel: string;
  /** The path the user wrote this source as (for --parents and messages). */
  written: string;
  stat: EntryStat;
  /** The name it is copied as: the matched name, before a symlink to it was followed. */
  name: string;
  /** For --parents: the part of `rel` kept below the destination. */
  keep: string;
}

export class CopyError extends Error {
  override readonly name = "CopyError";
}

const SOURCE_DATE_NOW = () => new Date();

/** Cleans a source path: relative to the root, `..` may not leave it. */
export function cleanSourcePath(source: string, label: string): string {
  const relative = path.posix.normalize(source.replace(/^\/+/, ""));
  if (relative === ".." || relative.startsWith("../")) {
    throw new CopyError(`${source}: forbidden path outside the ${label}`);
  }
  const clean = relative.replace(/\/+$/, "");
  return clean === "." ? "" : clean;
}

/** Expands the sources of a COPY/ADD (wildcards included) against a source root. */
export async function selectSources(root: CopySourceRoot, sources: readonly string[], parents: boolean): Promise<SelectedSource[]> {
  const out: SelectedSource[] = [];
  for (const written of sources) {
    const marker = written.indexOf("/./");
    const clean = cleanSourcePath(written, root.label);
    const keepFrom = parents && marker !== -1 ? cleanSourcePath(written.slice(0, marker), root.label) : "";
    const matches = hasWildcard(clean) ? await expandWildcards(root, clean) : [clean];
    if (matches.length === 0) throw new CopyError(`no source files were specified: ${written} matched nothing in the ${root.label}`);
    for (const rel of matches) {
      const resolved = await resolveSource(root, rel, written);
      const keepBase = keepFrom === "" ? rel : path.posix.relative(keepFrom, rel);
      out.push({ rel: resolved.rel, written, stat: resolved.stat, name: path.posix.basename(rel), keep: parents ? keepBase : "" });
    }
  }
  return out;
}

async function expandWildcards(root: CopySourceRoot, pattern: string): Promise<string[]> {
  let candidates = [""];
  for (const component of pattern.split("/")) {
    const next: string[] = [];
    for (const dir of candidates) {
      if (!hasWildcard(component)) {
        next.push(dir === "" ? component : `${dir}/${component}`);
        continue;
      }
      for (const name of await listDir(root, dir)) {
        if (matchComponent(component, name)) next.push(dir === "" ? name : `${dir}/${name}`);
      }
    }
    candidates = next;
  }
  const existing: string[] = [];
  for (const c of candidates) if (await visible(root, c)) existing.push(c);
  return existing.sort();
}

async function listDir(root: CopySourceRoot, rel: string): Promise<string[]> {
  if (root.index) {
    const prefix = rel === "" ? "" : `${rel}/`;
    return [...root.index.entries.keys()].filter((p) => p.startsWith(prefix) && p !== rel && !p.slice(prefix.length).includes("/")).map((p) => p.slice(prefix.length));
  }
  try {
    return await readdir(await resolveInRoot(root.dir, rel));
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

async function visible(root: CopySourceRoot, rel: string): Promise<boolean> {
  if (root.index) return root.index.entries.has(rel);
  try {
    await lstat(path.join(root.dir, rel));
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

/** Follows a top-level symlink (Docker copies what it points at), staying inside the root. */
async function resolveSource(root: CopySourceRoot, rel: string, written: string): Promise<{ rel: string; stat: EntryStat }> {
  const hostPath = await resolveInRoot(root.dir, rel);
  const resolvedRel = path.relative(root.dir, hostPath).split(path.sep).join("/");
  if (resolvedRel.startsWith("..")) throw new CopyError(`${written}: forbidden path outside the ${root.label}`);
  if (root.index && !root.index.entries.has(resolvedRel)) {
    throw new CopyError(`${written}: not found in the ${root.label}${resolvedRel !== rel ? ` (it links to ${resolvedRel})` : ""}${root.index ? " (or excluded by .dockerignore)" : ""}`);
  }
  try {
    return { rel: resolvedRel, stat: entryStat(await lstat(hostPath, { bigint: true })) };
  } catch (error) {
    if (isMissing(error)) throw new CopyError(`${written}: not found in the ${root.label}`);
    throw error;
  }
}

export interface Ownership {
  uid: number;
  gid: number;
}

/** `--chown=user[:group]` through the image's passwd/group; a user alone gives gid = uid (Docker's rule). */
export async function resolveChown(spec: string, rootfs: string): Promise<Ownership> {
  const [userPart = "", groupPart] = spec.split(":");
  const passwd = await readImageFile(rootfs, "/etc/passwd");
  const group = await readImageFile(rootfs, "/etc/group");
  const user = resolveUser(groupPart === undefined ? userPart : `${userPart}:${groupPart}`, passwd, group);
  return { uid: user.uid, gid: groupPart === undefined ? user.uid : user.gid };
}

/** A file of the image's rootfs, or undefined when absent (symlinks resolved inside the rootfs). */
export async function readImageFile(rootfs: string, containerPath: string): Promise<string | undefined> {
  try {
    return await readFile(await resolveInRoot(rootfs, containerPath), "utf8");
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

export interface CopyOptions {
  owner?: Ownership;
  /** Octal mode from --chmod. */
  mode?: number;
  exclude: PatternMatcher | undefined;
  /** Timestamp for files made from heredocs and for created directories (SOURCE_DATE_EPOCH). */
  now?: Date;
  /** Told every entry as it is written, when the copy writes a layer dir itself (see @tsbuild/layers). */
  digest?: ChangesetDigest;
}

/** Where a COPY writes in the image: an absolute path, and whether it names a directory. */
export function copyDestination(instruction: Pick<CopyInstruction, "destination" | "sources">, workdir: string | undefined): { dest: string; isDir: boolean } {
  const written = instruction.destination;
  const dest = path.posix.resolve(workdir || "/", written);
  const isDir = written.endsWith("/") || written === "." || written.endsWith("/.") || written === "";
  if (instruction.sources.length > 1 && !isDir) {
    throw new CopyError(`when using ${"COPY"} with more than one source file, the destination must be a directory and end with a /: ${written}`);
  }
  return { dest, isDir };
}

/** Copies the selected sources into `rootfs` at `dest` with Docker's rules for files, dirs and existing targets. */
export async function copyIntoRootfs(
  root: CopySourceRoot,
  selected: readonly SelectedSource[],
  rootfs: string,
  destination: { dest: string; isDir: boolean },
  options: CopyOptions,
): Promise<void> {
  const run = copyRun(root, options);
  const host = await resolveInRoot(rootfs, destination.dest);
  const target: CopyTarget = { rootfs, dest: destination.dest, host, stat: lstatOrUndefined(host), asDir: destination.isDir || selected.length > 1 };
  // A destination dir this copy makes has no entries to check or replace until a first source is in.
  let destIsNew = target.stat === undefined;
  try {
    for (const source of selected) {
      await copySource(run, source, target, destIsNew);
      destIsNew = false;
      // Whatever a later source writes may replace what this one wrote: it must be there first.
      await run.files.flush();
    }
  } catch (error) {
    await run.files.abandon();
    throw error;
  }
}

/** A COPY's destination: its path in the image, on the host, what is there now, whether sources go into it. */
interface CopyTarget {
  rootfs: string;
  dest: string;
  host: string;
  stat: Stats | undefined;
  asDir: boolean;
}

async function copySource(run: CopyRun, source: SelectedSource, { rootfs, dest, host, stat, asDir }: CopyTarget, destWasNew: boolean): Promise<void> {
  const { root, options } = run;
  const srcHost = path.join(root.dir, source.rel);
  const exclude = options.exclude;
  if (source.keep !== "") {
    // --parents: the source keeps its path below the destination.
    const target = await resolveInRoot(rootfs, path.posix.join(dest, source.keep));
    await ensureParents(rootfs, path.dirname(target), options);
    options.digest?.parents(path.dirname(target));
    await copyEntry(run, srcHost, source.stat, target, "");
    return;
  }
  if (source.stat.type === "dir") {
    await ensureDir(rootfs, dest, options);
    options.digest?.parents(host);
    await copyChildren(run, srcHost, host, "", destWasNew);
    return;
  }
  if (exclude?.matches(source.name)) return;
  const intoDir = asDir || stat?.isDirectory() === true;
  const target = intoDir ? path.join(host, source.name) : host;
  if (intoDir) await ensureDir(rootfs, dest, options);
  else await ensureParents(rootfs, path.dirname(target), options);
  options.digest?.parents(path.dirname(target));
  await copyEntry(run, srcHost, source.stat, target, source.name);
}

/** Writes heredoc bodies as files (`COPY <<EOF /dest`), named after their delimiter inside a directory destination. */
export async function writeHeredocs(heredocs: readonly Heredoc[], rootfs: string, destination: { dest: string; isDir: boolean }, options: CopyOptions): Promise<void> {
  const asDir = destination.isDir || heredocs.length > 1;
  for (const heredoc of heredocs) {
    const containerPath = asDir ? path.posix.join(destination.dest, heredoc.name) : destination.dest;
    const target = await resolveInRoot(rootfs, containerPath);
    await ensureParents(rootfs, path.dirname(target), options);
    await rm(target, { recursive: true, force: true });
    await writeFile(target, heredoc.content);
    await chmod(target, options.mode ?? 0o644);
    await chown(target, options.owner?.uid ?? 0, options.owner?.gid ?? 0);
    const now = options.now ?? SOURCE_DATE_NOW();
    await utimes(target, now, now);
  }
}

/**
 * One COPY's shared state. A tree is walked and its dirs and symlinks made with synchronous file
 * system calls, in slices that end every few milliseconds to let the event loop turn (progress,
 * Ctrl-C); its small files are copied on the thread pool in batches of dozens, one hand-off
 * each (a hand-off per call cost more than the calls: docs/decisions/0005 and 0015).
 */
interface CopyRun {
  root: CopySourceRoot;
  options: CopyOptions;
  exclude: PatternMatcher | undefined;
  files: FileBatches;
  /** The first copy of each multiply-linked source inode (later names link to it) and its metadata. */
  hardlinks: Map<number, { path: string; meta: WrittenEntryMeta }>;
  /** When the current slice of synchronous work ends (performance.now()). */
  sliceEnd: number;
}

/** How long synchronous copying runs before the event loop gets a turn. */
const SLICE_MS = 10;
/** Files up to this size are copied in batches, their bytes hashed from memory; bigger ones one by one by the kernel, and read back. */
const SMALL_FILE = 1 << 20;

function copyRun(root: CopySourceRoot, options: CopyOptions): CopyRun {
  return { root, options, exclude: options.exclude, files: new FileBatches(SMALL_FILE), hardlinks: new Map(), sliceEnd: performance.now() + SLICE_MS };
}

async function endOfSlice(run: CopyRun): Promise<void> {
  if (performance.now() < run.sliceEnd) return;
  await new Promise((resolve) => setImmediate(resolve));
  run.sliceEnd = performance.now() + SLICE_MS;
}

/**
 * Copies the entries of `srcDir` into `destDir`. `destIsNew`: this copy made `destDir`, so none
 * of the names can exist there yet and nothing needs checking or replacing.
 */
async function copyChildren(run: CopyRun, srcDir: string, destDir: string, relBase: string, destIsNew: boolean): Promise<void> {
  const rootRel = path.relative(run.root.dir, srcDir).split(path.sep).join("/");
  const index = run.root.index;
  // The context's index has listed and lstat-ed every entry it sends; a stage or an image is
  // listed with each entry's lstat in one call. Both in the layer tar's order (byte order), so
  // that a digest can follow the copy.
  const listing = index ? undefined : readDirectory(srcDir);
  const names = listing ? listing.names : (index!.childNames(rootRel) ?? []);
  const order = names.map((_, i) => i);
  if (listing) order.sort((a, b) => compareBytes(names[a]!, names[b]!));
  for (const i of order) {
    const name = names[i]!;
    const childRootRel = rootRel === "" ? name : `${rootRel}/${name}`;
    const indexed = index?.entries.get(childRootRel);
    const rel = relBase === "" ? name : `${relBase}/${name}`;
    if (run.exclude?.matches(rel)) continue;
    const srcPath = path.join(srcDir, name);
    const st = indexed?.stat ?? new EntryStat(listing!.stats, i * STAT_FIELDS);
    if (run.root.layerDir && st.type === "other" && isWhiteout(lstatSync(srcPath))) continue;
    await copyEntry(run, srcPath, st, path.join(destDir, name), rel, destIsNew);
  }
}

async function copyEntry(run: CopyRun, src: string, st: EntryStat, dest: string, rel: string, parentIsNew = false): Promise<void> {
  const { options, root } = run;
  const { digest } = options;
  const uid = options.owner?.uid ?? (root.preserveOwner ? st.uid : 0);
  const gid = options.owner?.gid ?? (root.preserveOwner ? st.gid : 0);
  const mode = options.mode ?? st.mode & 0o7777;
  const { type } = st;
  const atimeMs = timeMs(st.atimeSec, st.atimeNsec);
  const mtimeMs = timeMs(st.mtimeSec, st.mtimeNsec);
  const meta: WrittenEntryMeta = { mode, uid, gid, mtimeMs };
  const existing = parentIsNew ? undefined : lstatOrUndefined(dest);
  const { files } = run;
  if (type === "dir") {
    if (existing && !existing.isDirectory()) rmSync(dest, { recursive: true, force: true });
    const isNew = !existing?.isDirectory();
    if (isNew) mkdirSync(dest);
    await files.inOrder(() => digest?.directory(dest, meta));
    await endOfSlice(run);
    await copyChildren(run, src, dest, rel, isNew);
    // Once its files are in, so that writing them does not change the directory's mtime again.
    await files.inOrder(() => {
      chownSync(dest, uid, gid);
      chmodSync(dest, mode);
      utimesSync(dest, new Date(atimeMs), new Date(mtimeMs));
    });
    return;
  }
  if (type === "other") throw new CopyError(`${src}: cannot copy a device, socket or FIFO`);
  if (existing) rmSync(dest, { recursive: true, force: true });
  if (type === "symlink") {
    const target = readlinkSync(src);
    symlinkSync(target, dest);
    lchownSync(dest, uid, gid);
    lutimesSync(dest, new Date(atimeMs), new Date(mtimeMs));
    await files.inOrder(() => digest?.symlink(dest, meta, target));
  } else {
    const firstCopy = st.nlink > 1 ? run.hardlinks.get(st.ino) : undefined;
    if (firstCopy !== undefined) {
      await files.flush(); // the first copy must be there to link to
      linkSync(firstCopy.path, dest);
      digest?.hardlink(dest, firstCopy.path, firstCopy.meta);
    } else if (st.size <= SMALL_FILE) {
      await files.add({ source: src, target: dest, uid, gid, mode, atimeMs, mtimeMs }, st.size, async (content) => {
        // Without its bytes (it grew past its room since it was listed): read back from the disk.
        if (content) digest?.file(dest, meta, content);
        else await digest?.fileFromDisk(dest, meta);
      });
    } else {
      await files.flush(); // the digest takes files in order
      await copyFile(src, dest, constants.COPYFILE_FICLONE);
      await chown(dest, uid, gid);
      await chmod(dest, mode);
      await utimes(dest, new Date(atimeMs), new Date(mtimeMs));
      await digest?.fileFromDisk(dest, meta);
    }
    if (st.nlink > 1 && firstCopy === undefined) run.hardlinks.set(st.ino, { path: dest, meta });
  }
  await endOfSlice(run);
}

/** Makes the destination directory (and parents) as COPY does: created dirs are 0755, owned by --chown's user. */
async function ensureDir(rootfs: string, containerPath: string, options: CopyOptions): Promise<void> {
  await mkdirInRoot(rootfs, containerPath, options.owner?.uid ?? 0, options.owner?.gid ?? 0);
}

async function ensureParents(rootfs: string, hostDir: string, options: CopyOptions): Promise<void> {
  const rel = path.relative(rootfs, hostDir).split(path.sep).join("/");
  await ensureDir(rootfs, `/${rel}`, options);
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** The first `bytes` bytes of a file (ADD sniffs archives by their magic numbers). */
export async function readHead(file: string, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of createReadStream(file, { start: 0, end: bytes - 1 })) {
    chunks.push(chunk as Buffer);
    total += (chunk as Buffer).length;
  }
  return Buffer.concat(chunks, total);
}
