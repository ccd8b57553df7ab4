// COPY's small files are copied on libuv's thread pool in batches (copyFiles in @tsbuild/syscalls),
// while the main thread walks the tree, makes its dirs and hashes what was copied: the kernel's
// part of a copy (opens, reads, writes, inode updates) was most of a 20,000-file COPY, all of it
// on the main thread. What must follow a file in the tree's order (the layer digest's entries, a
// dir's times, which creating its files would change) waits in one queue behind it.
import { copyFiles, type FileCopy } from "@tsbuild/syscalls";

/**
 * A batch is sent when it has this many files or this many bytes (one hand-off each). Batches of
 * 256 files / 1 MiB were no faster and peaked ~15 MiB higher (decision 0015).
 */
const BATCH_FILES = 64;
const BATCH_BYTES = 256 << 10;
/** Batches copied at once: two keep a thread busy while the main thread takes the last one's bytes. */
const IN_FLIGHT = 2;
/** Room for files that grew since they were listed, beyond their listed sizes. */
const GROWTH_ROOM = 64 << 10;

/** What to do with a copied file's content: undefined when it did not fit (read it back). */
type CopiedFile = (content: Uint8Array | undefined) => void | Promise<void>;

interface Batch {
  files: FileCopy[];
  /** Listed sizes of files, summed. */
  bytes: number;
  content?: Buffer;
  result?: Promise<Float64Array>;
  /** Each file's length in content (-1: not there), once copied. */
  lengths?: Float64Array;
  /** Where the next file's bytes start in content, as the queue takes them in order. */
  cursor: number;
}

type Step = { batch: Batch; index: number; done: CopiedFile } | { run: () => void | Promise<void> };

export class FileBatches {
  #open: Batch = emptyBatch();
  #inFlight: Batch[] = [];
  #steps: Step[] = [];
  #spare: Buffer[] = [];
  readonly #bufferBytes: number;

  /** `largestFile`: no file handed to add() is listed bigger than this. */
  constructor(largestFile: number) {
    this.#bufferBytes = BATCH_BYTES + largestFile + GROWTH_ROOM;
  }

  /** Queues the copy of a small file of `size` listed bytes; `done` gets its content once it is written, in queue order. */
  async add(file: FileCopy, size: number, done: CopiedFile): Promise<void> {
    const batch = this.#open;
    this.#steps.push({ batch, index: batch.files.length, done });
    batch.files.push(file);
    batch.bytes += size;
    if (batch.files.length >= BATCH_FILES || batch.bytes >= BATCH_BYTES) await this.#send();
  }

  /**
   * Runs `step` once everything queued before it has run (at once when nothing is queued). Not
   * named `then`: that would make a FileBatches a thenable, which `await` would call.
   */
  async inOrder(step: () => void | Promise<void>): Promise<void> {
    if (this.#steps.length === 0) await step();
    else this.#steps.push({ run: step });
  }

  /** Copies every queued file and runs every queued step. */
  async flush(): Promise<void> {
    if (this.#open.files.length > 0) await this.#send();
    while (this.#inFlight.length > 0) await this.#settleOldest();
    await this.#runSteps();
  }

  /** After a failure: waits until no batch is still writing (the caller deletes what they wrote) and forgets the queue. */
  async abandon(): Promise<void> {
    const writing = this.#inFlight.map((batch) => batch.result);
    this.#inFlight = [];
    this.#steps = [];
    this.#open = emptyBatch();
    await Promise.allSettled(writing);
  }

  async #send(): Promise<void> {
    const batch = this.#open;
    this.#open = emptyBatch();
    if (this.#inFlight.length >= IN_FLIGHT) await this.#settleOldest();
    batch.content = this.#spare.pop() ?? Buffer.allocUnsafe(this.#bufferBytes);
    batch.result = copyFiles(batch.files, batch.content);
    // Awaited in #settleOldest or abandon(); until then a failure must not count as unhandled.
    batch.result.catch(() => undefined);
    this.#inFlight.push(batch);
  }

  async #settleOldest(): Promise<void> {
    const batch = this.#inFlight[0]!;
    batch.lengths = await batch.result!;
    this.#inFlight.shift();
    await this.#runSteps();
    // Its files' steps have all run (the queue is in order): its content is free again.
    this.#spare.push(batch.content!);
    batch.content = undefined;
  }

  async #runSteps(): Promise<void> {
    let next = 0;
    try {
      for (; next < this.#steps.length; next++) {
        const step = this.#steps[next]!;
        if ("run" in step) {
          await step.run();
          continue;
        }
        const { batch, index } = step;
        if (batch.lengths === undefined) break;
        const length = batch.lengths[index]!;
        if (length < 0) {
          await step.done(undefined);
        } else {
          await step.done(batch.content!.subarray(batch.cursor, batch.cursor + length));
          batch.cursor += length;
        }
      }
    } finally {
      this.#steps.splice(0, next);
    }
  }
}

function emptyBatch(): Batch {
  return { files: [], bytes: 0, cursor: 0 };
}
