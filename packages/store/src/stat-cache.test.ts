import { stat, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { sha256Digest } from "@tsbuild/oci";
import { describe, expect, it } from "vitest";
import { openStatCache } from "./stat-cache.js";
import type { Store } from "./store.js";
import { useScratchStore } from "./test-support.js";

let scratch: string;
let store: Store;
useScratchStore("tsbuild-statcache-", (s, dir) => {
  store = s;
  scratch = dir;
});

const bigStat = (p: string) => stat(p, { bigint: true });

describe("stat cache", () => {
  it("hits when size, times and inode match after a reload, and misses after a change", async () => {
    const file = path.join(scratch, "a.txt");
    await writeFile(file, "one");
    const past = new Date(Date.now() - 60_000);
    await utimes(file, past, past);
    const cache = await openStatCache(store, "/ctx");
    expect(cache.lookup("a.txt", await bigStat(file))).toBeUndefined();
    cache.record("a.txt", await bigStat(file), sha256Digest("one"));
    // utimes set the file's ctime to now: save a clock tick later, or the entry is (rightly) racy.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await cache.save();

    const again = await openStatCache(store, "/ctx");
    expect(again.lookup("a.txt", await bigStat(file))).toBe(sha256Digest("one"));
    expect((await openStatCache(store, "/other")).lookup("a.txt", await bigStat(file))).toBeUndefined();

    await writeFile(file, "two");
    expect(again.lookup("a.txt", await bigStat(file))).toBeUndefined();
  });

  it("does not trust an entry as new as the cache file (racy: changed within the same clock tick)", async () => {
    const file = path.join(scratch, "racy.txt");
    await writeFile(file, "x");
    const future = new Date(Date.now() + 60_000);
    await utimes(file, future, future);
    const cache = await openStatCache(store, "/ctx");
    cache.record("racy.txt", await bigStat(file), sha256Digest("x"));
    expect(cache.lookup("racy.txt", await bigStat(file))).toBe(sha256Digest("x"));
    await cache.save();
    expect((await openStatCache(store, "/ctx")).lookup("racy.txt", await bigStat(file))).toBeUndefined();
  });

  it("loads 20,000 entries quickly", async () => {
    const cache = await openStatCache(store, "/big");
    const s = { size: 10n, mtimeNs: 1_000_000_000n, ctimeNs: 1_000_000_000n, ino: 1n };
    for (let i = 0; i < 20_000; i++) cache.record(`dir${i % 100}/file-${i}.ts`, { ...s, ino: BigInt(i) }, sha256Digest(`${i}`));
    await cache.save();
    const started = performance.now();
    const loaded = await openStatCache(store, "/big");
    expect(loaded.lookup("dir7/file-19907.ts", { ...s, ino: 19907n })).toBe(sha256Digest("19907"));
    expect(performance.now() - started).toBeLessThan(500);
  });
});
