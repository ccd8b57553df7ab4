// Lock contention between real processes: the lock module is compiled with swc (as the build
// does) into a scratch dir, and two node processes compete for one lock.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { transformFile } from "@swc/core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { StoreLockTimeoutError } from "./errors.js";
import { withLock } from "./lock.js";

const here = path.dirname(fileURLToPath(import.meta.url));
let compiled: string;
let scratch: string;
const children: ReturnType<typeof spawn>[] = [];

beforeAll(async () => {
  compiled = await mkdtemp(path.join(os.tmpdir(), "tsbuild-lock-js-"));
  for (const name of ["lock", "errors"]) {
    const { code } = await transformFile(path.join(here, `${name}.ts`), {
      jsc: { parser: { syntax: "typescript" }, target: "es2022" },
      module: { type: "es6" },
    });
    await writeFile(path.join(compiled, `${name}.js`), code);
  }
  await writeFile(path.join(compiled, "package.json"), '{"type":"module"}');
  // Holds the lock for argv[3] ms and prints when it got and released it.
  await writeFile(
    path.join(compiled, "hold.js"),
    `import { withLock } from "./lock.js";
     const [locks, holdMs] = process.argv.slice(2);
     await withLock(locks, "images", async () => {
       console.log("acquired " + Date.now());
       await new Promise((r) => setTimeout(r, Number(holdMs)));
       console.log("released " + Date.now());
     });`,
  );
  return () => rm(compiled, { recursive: true, force: true });
});

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function hold(locks: string, ms: number): { child: ReturnType<typeof spawn>; output: Promise<string>; acquired: Promise<void> } {
  const child = spawn(process.execPath, [path.join(compiled, "hold.js"), locks, String(ms)], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  let out = "";
  let onAcquired: () => void;
  const acquired = new Promise<void>((r) => (onAcquired = r));
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    if (out.includes("acquired")) onAcquired();
  });
  const output = new Promise<string>((resolve, reject) =>
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`holder exited ${code}: ${out}`)))),
  );
  return { child, output, acquired };
}

const times = (out: string, word: string) => Number(out.match(new RegExp(`${word} (\\d+)`))![1]);

describe("store lock", () => {
  it("lets one of two processes hold it at a time", async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), "tsbuild-lock-"));
    const a = hold(scratch, 300);
    const b = hold(scratch, 300);
    const [outA, outB] = await Promise.all([a.output, b.output]);
    const [first, second] = times(outA, "acquired") < times(outB, "acquired") ? [outA, outB] : [outB, outA];
    expect(times(second, "acquired")).toBeGreaterThanOrEqual(times(first, "released"));
  });

  it("times out naming the holder, and breaks the lock of a dead holder", async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), "tsbuild-lock-"));
    const holder = hold(scratch, 30_000);
    await holder.acquired;
    const err = await withLock(scratch, "images", async () => undefined, { timeoutMs: 300 }).catch((e) => e);
    expect(err).toBeInstanceOf(StoreLockTimeoutError);
    expect(err.holderPid).toBe(holder.child.pid);
    expect(err.message).toMatch(/held by process \d+/);

    holder.child.kill("SIGKILL");
    await holder.output.catch(() => undefined);
    const started = Date.now();
    expect(await withLock(scratch, "images", async () => "got it", { timeoutMs: 5_000 })).toBe("got it");
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("is exclusive within one process too", async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), "tsbuild-lock-"));
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        withLock(scratch, "images", async () => {
          maxInside = Math.max(maxInside, ++inside);
          await new Promise((r) => setTimeout(r, 10));
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(1);
  });
});
