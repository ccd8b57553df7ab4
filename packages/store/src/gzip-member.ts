// One gzip member per call, from libdeflate in a small N-API addon (src/gzip-member.c, compiled by
// `npm run build` into dist/gzip-member.node, with libdeflate linked in statically).
import { createRequire } from "node:module";

interface Addon {
  compressMember(input: Buffer, level: number): Promise<Buffer>;
}

/** libdeflate's levels: 0 stores, 1 is the fastest that compresses, 10–12 search hardest. */
export const MIN_GZIP_LEVEL = 0;
export const MAX_GZIP_LEVEL = 12;

let addon: Addon | undefined;

function load(): Addon {
  if (!addon) {
    try {
      // The same relative path from src/ (tests) and dist/ (the build).
      addon = createRequire(import.meta.url)("../dist/gzip-member.node") as Addon;
    } catch (error) {
      throw new Error(
        `the tsbuild gzip addon is not built or cannot load (${(error as Error).message}); run \`npm run build\` (it needs a C compiler, Node's headers and libdeflate: apt-get install libdeflate-dev)`,
        { cause: error },
      );
    }
  }
  return addon;
}

/**
 * `input` as one whole gzip member (no name, MTIME 0) at libdeflate `level`, compressed on libuv's
 * thread pool. `input` is read in place, not copied: it must not change until the promise settles.
 */
export function compressGzipMember(input: Buffer, level: number): Promise<Buffer> {
  return load().compressMember(input, level);
}
