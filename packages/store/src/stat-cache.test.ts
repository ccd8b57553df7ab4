import { existsSync } from "node:fs";
import { readFile, stat, truncate, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { digestHex, sha256Digest } from "@tsbuild/oci";
import { describe, expect, it } from "vitest";
import { openStatCache, type StatKey } from "./stat-cache.js";
import type { Store } from "./store.js";
import { useScratchStore } from "./test-support.js";

let scratch: string;
let store: Store;
useScratchStore("tsbuild-statcache-", (s, dir) => {
  store = s;
  scratch = dir;
});

const NS = 1_000_000_000n;
async function statKey(p: string): Promise<StatKey> {
  const s = await stat(p, { bigint: true });
  return {
    size: Number(s.size),
    ino: Number(s.ino),
    mtimeSec: Number(s.mtimeNs / NS),
    mtimeNsec: Number(s.mtimeNs % NS),
    ctimeSec: Number(s.ctimeNs / NS),
    ctimeNsec: Number(s.ctimeNs % NS),
  };
}
const hex = (text: string) => digestHex(sha256Digest(text));
const cacheFile = (contextId: string, extension = "bin") => path.join(store.paths.statCache, `${hex(contextId)}.${extension}`);
/** Times well before now: a cache saved now trusts them (not racy). */
const key = (ino: number): StatKey => ({ size: 10, ino, mtimeSec: 1_000_000_000, mtimeNsec: 5, ctimeSec: 1_000_000_000, ctimeNsec: 7 });

describe("stat cache", () => {
  it("hits when size, times and inode match after a reload, and misses after a change", async () => {
    const file = path.join(scratch, "a.txt");
    await writeFile(file, "one");
    const past = new Date(Date.now() - 60_000);
    await utimes(file, past, past);
    const cache = await openStatCache(store, "/ctx");
    expect(cache.lookup("a.txt", await statKey(file))).toBeUndefined();
    cache.record("a.txt", await statKey(file), hex("one"));
    // utimes set the file's ctime to now: save a clock tick later, or the entry is (rightly) racy.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await cache.save();

    const again = await openStatCache(store, "/ctx");
    expect(again.lookup("a.txt", await statKey(file))).toBe(hex("one"));
    expect((await openStatCache(store, "/other")).lookup("a.txt", await statKey(file))).toBeUndefined();

    await writeFile(file, "two");
    expect(again.lookup("a.txt", await statKey(file))).toBeUndefined();
  });

  it("does not trust an entry as new as the cache file (racy: changed within the same clock tick)", async () => {
    const file = path.join(scratch, "racy.txt");
    await writeFile(file, "x");
    const future = new Date(Date.now() + 60_000);
    await utimes(file, future, future);
    const cache = await openStatCache(store, "/ctx");
    cache.record("racy.txt", await statKey(file), hex("x"));
    expect(cache.lookup("racy.txt", await statKey(file))).toBe(hex("x"));
    await cache.save();
    expect((await openStatCache(store, "/ctx")).lookup("racy.txt", await statKey(file))).toBeUndefined();
  });

  it("misses when any one field differs, the nanoseconds included", async () => {
    const cache = await openStatCache(store, "/fields");
    cache.record("f", key(1), hex("f"));
    await cache.save();
    const loaded = await openStatCache(store, "/fields");
    for (const field of ["size", "ino", "mtimeSec", "mtimeNsec", "ctimeSec", "ctimeNsec"] as const) {
      expect(loaded.lookup("f", { ...key(1), [field]: key(1)[field] + 1 }), field).toBeUndefined();
    }
    expect(loaded.lookup("f", key(1))).toBe(hex("f"));
  });

  it("keeps 20,000 entries and non-ASCII paths across saves, and drops the entries a session did not look up", async () => {
    const names = Array.from({ length: 20_000 }, (_, i) => `dir${i % 100}/file-${i}.ts`);
    names.push("ünïcødé/名前.txt", "emoji/\u{1F600}.js");
    const cache = await openStatCache(store, "/big");
    names.forEach((name, i) => cache.record(name, key(i), hex(name)));
    await cache.save();
    // 16 header bytes; per entry a u16 length, the UTF-8 path and 72 bytes of fields.
    const size = 16 + names.reduce((sum, n) => sum + 2 + Buffer.byteLength(n) + 72, 0);
    expect((await stat(cacheFile("/big"))).size).toBe(size);

    const loaded = await openStatCache(store, "/big");
    names.forEach((name, i) => {
      if (i % 2 === 0) expect(loaded.lookup(name, key(i)), name).toBe(hex(name));
    });
    await loaded.save();
    const half = await openStatCache(store, "/big");
    expect(half.lookup("dir7/file-19907.ts", key(19907))).toBeUndefined();
    expect(half.lookup("dir6/file-19906.ts", key(19906))).toBe(hex("dir6/file-19906.ts"));
    expect(half.lookup("ünïcødé/名前.txt", key(20_000))).toBe(hex("ünïcødé/名前.txt"));
  });

  it("does not rewrite a cache whose every entry was looked up unchanged", async () => {
    const cache = await openStatCache(store, "/same");
    cache.record("a", key(1), hex("a"));
    await cache.save();
    const before = (await stat(cacheFile("/same"), { bigint: true })).mtimeNs;
    const loaded = await openStatCache(store, "/same");
    expect(loaded.lookup("a", key(1))).toBe(hex("a"));
    await loaded.save();
    expect((await stat(cacheFile("/same"), { bigint: true })).mtimeNs).toBe(before);
  });

  it("starts empty from a file of another format or one cut short, and rewrites it", async () => {
    const cache = await openStatCache(store, "/bad");
    cache.record("a", key(1), hex("a"));
    cache.record("b", key(2), hex("b"));
    await cache.save();
    const whole = await readFile(cacheFile("/bad"));
    await truncate(cacheFile("/bad"), whole.length - 1);
    expect((await openStatCache(store, "/bad")).lookup("a", key(1))).toBeUndefined();
    await writeFile(cacheFile("/bad"), JSON.stringify({ version: 1, entries: { a: ["10", "1", "1", "1", hex("a")] } }));
    const fresh = await openStatCache(store, "/bad");
    expect(fresh.lookup("a", key(1))).toBeUndefined();
    fresh.record("a", key(1), hex("a"));
    await fresh.save();
    expect((await openStatCache(store, "/bad")).lookup("a", key(1))).toBe(hex("a"));
  });

  it("removes the JSON file of version 1 when it saves", async () => {
    await writeFile(cacheFile("/old", "json"), JSON.stringify({ version: 1, entries: {} }));
    const cache = await openStatCache(store, "/old");
    cache.record("a", key(1), hex("a"));
    await cache.save();
    expect(existsSync(cacheFile("/old", "json"))).toBe(false);
    expect(existsSync(cacheFile("/old"))).toBe(true);
  });

  it("refuses a digest that is not 64 hex digits", async () => {
    const cache = await openStatCache(store, "/ctx");
    expect(() => cache.record("a", key(1), sha256Digest("a"))).toThrow(/not a sha256 in hex/);
  });

  describe("selections", () => {
    const old = { sec: 1_000_000_000, nsec: 5 };

    it("keeps a selection's value across a reload, and not one as new as the file (racy)", async () => {
      const cache = await openStatCache(store, "/sel");
      expect(cache.lookupSelection("fp-old")).toBeUndefined();
      cache.recordSelection("fp-old", old, hex("key-old"));
      cache.recordSelection("fp-racy", { sec: Math.floor(Date.now() / 1000) + 60, nsec: 0 }, hex("key-racy"));
      expect(cache.lookupSelection("fp-racy")).toBe(hex("key-racy"));
      await cache.save();
      const again = await openStatCache(store, "/sel");
      expect(again.lookupSelection("fp-old")).toBe(hex("key-old"));
      expect(again.lookupSelection("fp-racy")).toBeUndefined();
      expect((await openStatCache(store, "/other")).lookupSelection("fp-old")).toBeUndefined();
    });

    it("reads and writes neither file in a session that only used known selections", async () => {
      const cache = await openStatCache(store, "/lazy");
      cache.record("a", key(1), hex("a"));
      cache.recordSelection("fp", old, hex("k"));
      await cache.save();
      // Unreadable now: a session that reads it fails.
      await writeFile(cacheFile("/lazy"), "");
      await utimes(cacheFile("/lazy"), new Date(0), new Date(0));
      const loaded = await openStatCache(store, "/lazy");
      expect(loaded.lookupSelection("fp")).toBe(hex("k"));
      await loaded.save();
      // The per-file entries were not read, so not rewritten (a read would have dropped "a").
      expect((await stat(cacheFile("/lazy"))).size).toBe(0);
      expect((await stat(cacheFile("/lazy"))).mtimeMs).toBe(0);
    });

    it(`keeps the ${64} most recently recorded or used selections`, async () => {
      const cache = await openStatCache(store, "/many");
      for (let i = 0; i < 70; i++) cache.recordSelection(`fp${i}`, old, hex(`k${i}`));
      // Used again: among the kept, though recorded first.
      expect(cache.lookupSelection("fp0")).toBe(hex("k0"));
      cache.recordSelection("fp-last", old, hex("last"));
      await cache.save();
      const loaded = await openStatCache(store, "/many");
      const kept = Array.from({ length: 70 }, (_, i) => `fp${i}`).filter((fp) => loaded.lookupSelection(fp));
      expect(kept).toEqual(["fp0", ...Array.from({ length: 62 }, (_, i) => `fp${i + 8}`)]);
      expect(loaded.lookupSelection("fp-last")).toBe(hex("last"));
    });

    it("starts with no selections from a file of another form, and refuses a value that is not 64 hex digits", async () => {
      for (const text of ["not json", "null", JSON.stringify({ version: 2, selections: [] }), JSON.stringify({ version: 1, selections: [["fp", "short", 1, 0]] })]) {
        await writeFile(cacheFile("/odd", "selections"), text);
        await utimes(cacheFile("/odd", "selections"), new Date(), new Date());
        expect((await openStatCache(store, "/odd")).lookupSelection("fp"), text).toBeUndefined();
      }
      // The same path with a well-formed record: found.
      await writeFile(cacheFile("/odd", "selections"), JSON.stringify({ version: 1, selections: [["fp", hex("k"), old.sec, old.nsec]] }));
      expect((await openStatCache(store, "/odd")).lookupSelection("fp")).toBe(hex("k"));
      await expect(openStatCache(store, "/odd").then((c) => c.recordSelection("fp", old, "sha256:abc"))).rejects.toThrow(/not a sha256 in hex/);
    });
  });
});
