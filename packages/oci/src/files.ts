// Writing export files so that a crash or an error never leaves a partial file under its final
// name: content goes to a temp file beside the target, is fsynced, then renamed into place.
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface AtomicFileSink {
  stream: Writable;
  /** fsync the temp file, rename it to the target, fsync the directory. */
  commit(): Promise<void>;
  /**
   * Removes the temp file after `error`, and returns the error to throw: one from creating,
   * writing or renaming the file names the target the caller asked for, not the temp file.
   */
  abort(error: unknown): Promise<unknown>;
}

export async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function atomicFileSink(target: string): AtomicFileSink {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${randomBytes(6).toString("hex")}`);
  const stream = createWriteStream(temp, { flags: "wx" });
  return {
    stream,
    async commit() {
      await fsyncPath(temp);
      await rename(temp, target);
      await fsyncPath(path.dirname(target));
    },
    async abort(error) {
      stream.destroy();
      await rm(temp, { force: true });
      const e = error as NodeJS.ErrnoException & { dest?: string };
      if (typeof e?.code !== "string" || (e.path !== temp && e.path !== target && e.dest !== target)) return error;
      // "ENOENT: no such file or directory, open '…tmp-…'" -> "no such file or directory"
      const reason = e.message.replace(/^[A-Z0-9]+: /, "").replace(/, \w+ '.*$/s, "");
      return Object.assign(new Error(`cannot write ${target}: ${reason}`, { cause: error }), { code: e.code });
    },
  };
}

/** Streams `source` through the optional transforms into `target`, atomically. */
export async function writeFileAtomic(
  target: string,
  source: NodeJS.ReadableStream | Uint8Array,
  ...transforms: NodeJS.ReadWriteStream[]
): Promise<void> {
  const sink = atomicFileSink(target);
  try {
    const input = source instanceof Uint8Array ? Readable.from([source]) : source;
    await pipeline([input, ...transforms, sink.stream]);
    await sink.commit();
  } catch (e) {
    throw await sink.abort(e);
  }
}
