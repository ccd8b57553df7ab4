// Writes a tar of regular files whose contents are streamed in one at a time, with fixed
// metadata (mode 0644, uid/gid 0, mtime 0) so the same content gives the same archive.
import { pipeline } from "node:stream/promises";
import { atomicFileSink, type AtomicFileSink } from "./files.js";

export interface TarEntryWriter {
  addBytes(name: string, bytes: Uint8Array): Promise<void>;
  /** Streams `size` bytes through the optional transforms (e.g. a digest check) into the entry. */
  addStream(name: string, size: number, stream: NodeJS.ReadableStream, ...transforms: NodeJS.ReadWriteStream[]): Promise<void>;
}

const header = (name: string, size: number) => ({
  name,
  size,
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: new Date(0),
  type: "file" as const,
});

/**
 * Writes the tar to a file path (atomically) or to a writable stream (e.g. stdout), calling
 * `fill` to add the entries. On any error the partial file is removed.
 */
export async function writeTar(
  dest: string | NodeJS.WritableStream,
  fill: (tar: TarEntryWriter) => Promise<void>,
): Promise<void> {
  // Loaded here, not at start: most runs write no archive (a no-op rebuild, say).
  const { pack: tarPack } = await import("tar-stream");
  const pack = tarPack();
  const sink: AtomicFileSink | undefined = typeof dest === "string" ? atomicFileSink(dest) : undefined;
  const out = sink ? sink.stream : (dest as NodeJS.WritableStream);
  const piped = pipeline(pack, out);
  // Awaited after fill; until then a failing destination (no such dir, a closed pipe) must not
  // count as an unhandled rejection, which would end the process.
  piped.catch(() => undefined);
  const writer: TarEntryWriter = {
    addBytes: (name, bytes) =>
      new Promise<void>((resolve, reject) => {
        pack.entry(header(name, bytes.byteLength), Buffer.from(bytes), (err) => (err ? reject(err) : resolve()));
      }),
    addStream: async (name, size, stream, ...transforms) => {
      await pipeline([stream, ...transforms, pack.entry(header(name, size))]);
    },
  };
  try {
    await fill(writer);
    pack.finalize();
    await piped;
    await sink?.commit();
  } catch (e) {
    pack.destroy(e as Error);
    // When the destination failed first, fill only saw the destroyed pack: its error says why.
    const failure = (await piped.then(() => undefined, (error: unknown) => error)) ?? e;
    throw sink ? await sink.abort(failure) : failure;
  }
}
