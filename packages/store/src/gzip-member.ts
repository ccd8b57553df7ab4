// One gzip member per call, from libdeflate in a small N-API addon (src/gzip-member.c, compiled by
// `npm run build` into dist/gzip-member.node, with libdeflate linked in statically).
import { loadAddon } from "@tsbuild/syscalls";

interface Addon {
  compressMember(input: Buffer, level: number): Promise<Buffer>;
}

/** libdeflate's levels: 0 stores, 1 is the fastest that compresses, 10–12 search hardest. */
export const MIN_GZIP_LEVEL = 0;
export const MAX_GZIP_LEVEL = 12;

let addon: Addon | undefined;

function load(): Addon {
  addon ??= loadAddon<Addon>(import.meta.url, "gzip-member", ", and libdeflate: apt-get install libdeflate-dev");
  return addon;
}

/**
 * `input` as one whole gzip member (no name, MTIME 0) at libdeflate `level`, compressed on libuv's
 * thread pool. `input` is read in place, not copied: it must not change until the promise settles.
 */
export function compressGzipMember(input: Buffer, level: number): Promise<Buffer> {
  return load().compressMember(input, level);
}
