// Shared by this package's tests: scratch dirs and snapshots that are always cleaned up, and
// tar reading/writing with tar-stream (an independent implementation of the format).
import { execFileSync } from "node:child_process";
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import tarStream from "tar-stream";
import type { Snapshot } from "./snapshot.js";

export class Scratch {
  private readonly dirs: string[] = [];
  private readonly snapshots: Snapshot[] = [];

  async dir(prefix = "tsbuild-layers-"): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  track<T extends Snapshot>(snapshot: T): T {
    this.snapshots.push(snapshot);
    return snapshot;
  }

  /** Unmounts snapshots first, so deleting dirs never reaches through a mount into a lower. */
  async cleanup(): Promise<void> {
    for (const snapshot of this.snapshots.splice(0)) await snapshot.remove();
    for (const dir of this.dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  }
}

/** Runs a shell script in dir (the operations a RUN step would do). */
export function sh(dir: string, script: string): void {
  execFileSync("bash", ["-euo", "pipefail", "-c", script], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

export async function collect(stream: AsyncIterable<Buffer | Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

export interface ReadEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string | null;
  content: string;
  pax: Record<string, string>;
  uname: string;
  gname: string;
}

/** Reads a tar with tar-stream, not with our own reader. */
export async function readWithTarStream(bytes: Buffer): Promise<ReadEntry[]> {
  const extract = tarStream.extract();
  const entries: ReadEntry[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const content = await collect(entry as unknown as AsyncIterable<Buffer>); // streamx streams iterate; its types omit it
      const h = entry.header;
      entries.push({
        name: h.name,
        type: h.type ?? "file",
        mode: h.mode ?? 0,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000),
        linkname: h.linkname ?? null,
        content: content.toString(),
        pax: (h.pax ?? {}) as Record<string, string>,
        uname: h.uname ?? "",
        gname: h.gname ?? "",
      });
    }
  })();
  extract.end(bytes);
  await done;
  return entries;
}

/** Writes a tar with tar-stream, for hostile inputs our writer would never produce. */
export function tarOf(entries: readonly (Partial<tarStream.Header> & { name: string; content?: string })[]): Readable {
  const pack = tarStream.pack();
  for (const { content, ...header } of entries) pack.entry(header, content ?? "");
  pack.finalize();
  return pack as unknown as Readable;
}

/** One line per entry under root: type, mode, owner, link count, link target or content. */
export async function describeTree(root: string): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(root, rel))).sort()) {
      const child = rel === "" ? name : `${rel}/${name}`;
      const file = path.join(root, child);
      const st = await lstat(file);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        lines.push(`${child}/ dir ${mode} ${st.uid}:${st.gid}`);
        await walk(child);
      } else if (st.isSymbolicLink()) lines.push(`${child} -> ${await readlink(file)} ${st.uid}:${st.gid}`);
      else if (st.isFile()) lines.push(`${child} file ${mode} ${st.uid}:${st.gid} nlink=${st.nlink} ${JSON.stringify(await readFile(file, "utf8"))}`);
      else lines.push(`${child} special ${st.mode.toString(8)} ${st.rdev}`);
    }
  };
  await walk("");
  return lines;
}
