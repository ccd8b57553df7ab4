import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, expect, test } from "vitest";
import { FileBatches } from "./file-batches.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "tsbuild-file-batches-"));
  mkdirSync(path.join(dir, "src"));
  mkdirSync(path.join(dir, "dest"));
});
// Retried: should a batch still be writing (the bug the second test looks for), the first try meets new files.
afterEach(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));

const attrs = { uid: 0, gid: 0, mode: 0o644, atimeMs: 0, mtimeMs: 1_700_000_000_000 };

/** n source files of different sizes; file i holds `i` repeated. */
function sources(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const name = `f${i}`;
    writeFileSync(path.join(dir, "src", name), String(i).repeat(i % 50));
    return name;
  });
}

test("steps run in the order they were queued, each file's with its own bytes, across many batches", async () => {
  const batches = new FileBatches(1 << 20);
  const seen: string[] = [];
  const queued: string[] = [];
  for (const name of sources(700)) {
    const i = Number(name.slice(1));
    queued.push(name);
    await batches.add({ ...attrs, source: path.join(dir, "src", name), target: path.join(dir, "dest", name) }, i % 50 * String(i).length, (content) => {
      seen.push(name);
      expect(Buffer.from(content!).toString(), name).toBe(String(i).repeat(i % 50));
    });
    if (i % 97 === 0) {
      queued.push(`step ${i}`);
      await batches.inOrder(() => void seen.push(`step ${i}`));
    }
  }
  await batches.flush();
  expect(seen).toEqual(queued);
  expect(readdirSync(path.join(dir, "dest"))).toHaveLength(700);
  // With nothing queued, a step runs at once.
  await batches.inOrder(() => void seen.push("last"));
  expect(seen.at(-1)).toBe("last");
});

test("a failed batch fails the flush; abandon returns once no batch writes any more", async () => {
  const names = sources(900);
  writeFileSync(path.join(dir, "dest", "f300"), "in the way");
  const batches = new FileBatches(1 << 20);
  const copy = (name: string) => ({ ...attrs, source: path.join(dir, "src", name), target: path.join(dir, "dest", name) });
  const failure = (async () => {
    for (const name of names) await batches.add(copy(name), 100, () => undefined);
    await batches.flush();
  })();
  await expect(failure).rejects.toMatchObject({ code: "EEXIST" });
  await batches.abandon();
  const written = readdirSync(path.join(dir, "dest")).length;
  await sleep(100);
  expect(readdirSync(path.join(dir, "dest")).length).toBe(written);

  // Abandoned while batches are still being copied: it waits for them.
  const more = new FileBatches(1 << 20);
  mkdirSync(path.join(dir, "again"));
  for (const name of names) await more.add({ ...copy(name), target: path.join(dir, "again", name) }, 100, () => undefined);
  await more.abandon();
  const after = readdirSync(path.join(dir, "again")).length;
  await sleep(100);
  expect(readdirSync(path.join(dir, "again")).length).toBe(after);
});
