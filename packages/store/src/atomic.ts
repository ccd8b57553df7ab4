// Crash-safe writes: content goes to a temp file under tmp/ (same filesystem as its final
// place), is fsynced, renamed into place, and the directory is fsynced so the rename itself
// survives a crash. Readers see the old state or the new one, never a partial file.
import { randomBytes } from "node:crypto";
import { utimesSync } from "node:fs";
import { mkdir, open, rename, rm, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { fsyncPath } from "@tsbuild/oci";
import { Writable } from "node:stream";

/**
 * A fresh name under `tmpDir`. The pid in it tells prune whose temp files it may remove
 * (those of processes that are gone).
 */
export function tempName(tmpDir: string, kind: string): string {
  return path.join(tmpDir, `${kind}-${process.pid}-${randomBytes(8).toString("hex")}`);
}

/** fsync of a directory, so that a rename in it is durable. */
export const fsyncDir = fsyncPath;

export interface AtomicWriteOptions {
  /**
   * Whether the new name must survive a crash: the directory is fsynced after the rename, one more
   * disk flush (default true). Files that are checked when read and rebuilt when missing (cache
   * records, the stat cache) skip it: after a crash such a file may be missing, never partial.
   */
  durableName?: boolean;
}

export async function writeFileAtomic(tmpDir: string, target: string, data: string | Uint8Array, { durableName = true }: AtomicWriteOptions = {}): Promise<void> {
  const temp = tempName(tmpDir, "file");
  try {
    const fh = await open(temp, "wx", 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await mkdir(path.dirname(target), { recursive: true });
    await rename(temp, target);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  if (durableName) await fsyncDir(path.dirname(target));
}

/** A Writable into an open file; its final step fsyncs, so 'finish' means durable. */
export function fileSink(fh: FileHandle): Writable {
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, callback) {
      writeAll(fh, chunk).then(() => callback(), callback);
    },
    final(callback) {
      fh.sync().then(() => callback(), callback);
    },
  });
}

async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/**
 * Sets a file's mtime to now (its "last used" time for garbage collection); a missing file is
 * ignored. Synchronous: one syscall a cache hit (docs/decisions/0009).
 */
export async function touch(p: string): Promise<void> {
  const now = new Date();
  try {
    utimesSync(p, now, now);
  } catch {
    // gone: nothing to mark
  }
}
