// The `tsbuild` program itself (packages/cli/bin/tsbuild.cjs): V8's code cache for the one-file
// CLI, kept per command under $XDG_CACHE_HOME/tsbuild, rebuilt when it is unusable or when a long
// run compiled much more than it holds.
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeScratchDir } from "../support/scratch.js";
import { runTsbuild } from "../support/tsbuild.js";
import { fromBusybox } from "./helpers.js";

describe("the tsbuild program", () => {
  it("keeps V8's code cache per command, reuses it, and replaces one it cannot use", async () => {
    const dir = await makeScratchDir("tsbuild-launcher-");
    const env = { XDG_CACHE_HOME: dir };
    const run = (...args: string[]) => runTsbuild(args, { root: path.join(dir, "store"), cwd: dir, env });
    const cacheDir = path.join(dir, "tsbuild");

    const first = await run("--version");
    expect(first.code, first.stderr).toBe(0);
    const [versionCache] = await readdir(cacheDir);
    expect(versionCache).toMatch(new RegExp(`^[0-9a-f]{16}-${process.version}-default\\.v8cache$`));
    const written = await stat(path.join(cacheDir, versionCache!));
    expect(written.size).toBeGreaterThan(1000);

    // Reused as it is: same output, not rewritten.
    const second = await run("--version");
    expect(second.stdout).toBe(first.stdout);
    expect((await stat(path.join(cacheDir, versionCache!))).mtimeMs).toBe(written.mtimeMs);

    // Another command has its own cache.
    expect((await run("images")).code).toBe(0);
    expect((await readdir(cacheDir)).sort()).toEqual([versionCache, versionCache!.replace("-default.", "-images.")].sort());

    // A first word that names no command is the default command's context: no cache file for it.
    expect((await run("no-such-context")).code).not.toBe(0);
    expect((await readdir(cacheDir)).filter((f) => f.includes("no-such-context"))).toEqual([]);

    // Garbage in the cache: V8 rejects it, the command works, the cache is written anew.
    await writeFile(path.join(cacheDir, versionCache!), "not a code cache");
    const third = await run("--version");
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toBe(first.stdout);
    expect((await readFile(path.join(cacheDir, versionCache!))).toString()).not.toBe("not a code cache");
  });

  it("makes a command's cache again after a long run that compiled more than the run that made it", async () => {
    const dir = await makeScratchDir("tsbuild-launcher-");
    const env = { XDG_CACHE_HOME: dir };
    const ctx = path.join(dir, "ctx");
    await mkdir(ctx);
    await writeFile(path.join(ctx, "Dockerfile"), `${await fromBusybox()}\nRUN sleep 1.2\n`);
    const build = (...args: string[]) => runTsbuild(["build", ...args, ctx], { root: path.join(dir, "store"), cwd: dir, env });
    const cacheOf = async () => {
      const [name] = (await readdir(path.join(dir, "tsbuild"))).filter((f) => f.endsWith("-build.v8cache"));
      return stat(path.join(dir, "tsbuild", name!));
    };

    // A build that fails at once compiles, and caches, little of the CLI.
    expect((await build("-f", path.join(ctx, "missing.Dockerfile"))).code).not.toBe(0);
    const little = await cacheOf();
    // A build that runs steps for over a second compiles much more: its cache replaces that one.
    const built = await build();
    expect(built.code, built.stderr).toBe(0);
    const more = await cacheOf();
    expect(more.size).toBeGreaterThan(little.size * 1.1);
    // A short run (the no-op rebuild) leaves the cache as it is.
    expect((await build()).code).toBe(0);
    expect((await cacheOf()).mtimeMs).toBe(more.mtimeMs);
  }, 30_000);

  it("runs and exits where the cache dir cannot be made", async () => {
    const dir = await makeScratchDir("tsbuild-launcher-");
    // Under /proc, mkdir answers ENOENT although the parent exists: Node's recursive mkdirSync
    // looped there for ever, after the command's own work was done.
    for (const cacheHome of ["/proc/tsbuild-no-such-dir", path.join(dir, "a-file"), path.join(dir, "a-file", "below")]) {
      await writeFile(path.join(dir, "a-file"), "");
      const result = await runTsbuild(["--version"], { root: path.join(dir, "store"), cwd: dir, env: { XDG_CACHE_HOME: cacheHome }, timeoutMs: 8000 });
      expect(result.code, `${cacheHome}: ${result.stderr}`).toBe(0);
      expect(result.stdout).toMatch(/\d+\.\d+\.\d+/);
    }
  }, 20_000);

  it("makes a cache dir whose parents do not exist yet", async () => {
    const dir = await makeScratchDir("tsbuild-launcher-");
    const cacheHome = path.join(dir, "not", "yet");
    const result = await runTsbuild(["--version"], { root: path.join(dir, "store"), cwd: dir, env: { XDG_CACHE_HOME: cacheHome } });
    expect(result.code, result.stderr).toBe(0);
    expect(await readdir(path.join(cacheHome, "tsbuild"))).toHaveLength(1);
  });

  it("starts Node with young-generation semi-spaces of 2 MiB (the peak RSS of exports)", async () => {
    const dir = await makeScratchDir("tsbuild-launcher-");
    const preload = path.join(dir, "preload.cjs");
    const seen = path.join(dir, "exec-argv.json");
    await writeFile(preload, `require("node:fs").writeFileSync(${JSON.stringify(seen)}, JSON.stringify(process.execArgv));\n`);
    const result = await runTsbuild(["--version"], { root: path.join(dir, "store"), cwd: dir, env: { XDG_CACHE_HOME: dir, NODE_OPTIONS: `--require ${preload}` } });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(await readFile(seen, "utf8"))).toContain("--max-semi-space-size=2");
  });
});
