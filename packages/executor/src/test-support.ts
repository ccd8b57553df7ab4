// Shared by the runc integration tests: the busybox image that scripts/make-busybox-image.sh
// builds, overlay snapshots of it, and cleanup of everything a test leaves behind.
import { execFile } from "node:child_process";
import { lstat, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll } from "vitest";
import { runInRootfs, type RunOptions } from "./run.js";
import type { ProcessSpec } from "./spec.js";

export const exec = promisify(execFile);
export const PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const busyboxImageScript = fileURLToPath(new URL("../../../scripts/make-busybox-image.sh", import.meta.url));

export interface Snapshot {
  merged: string;
  upper: string;
}

export interface RuncFixture {
  /** A fresh directory for this test file, removed after its last test. */
  scratch: string;
  /** Where the busybox OCI layout was built (`<imageDir>/busybox`). */
  imageDir: string;
  /** The busybox image's single layer, unpacked. */
  busyboxRootfs: string;
  runcRoot: string;
  bundleRoot: string;
  /** RunOptions with this fixture's bundle and runc state directories. */
  runOptions(extra?: Omit<RunOptions, "bundleRoot" | "runcRoot">): RunOptions;
  /** An overlay on `lower`, unmounted after the test. */
  snapshot(lower: string): Promise<Snapshot>;
  /** Runs `process` in `rootfs` and returns its output. */
  capture(rootfs: string, process: ProcessSpec): Promise<{ stdout: string; stderr: string }>;
  /** Ids of the containers runc still knows about in runcRoot. */
  runcContainers(): Promise<string[]>;
}

/**
 * Registers the hooks that build the busybox rootfs once for the test file, and after each
 * test delete leftover containers and unmount its snapshots; the fields are set once
 * beforeAll has run.
 */
export function useRuncFixture(): RuncFixture {
  const mounted: string[] = [];
  const fixture: RuncFixture = {
    scratch: "",
    imageDir: "",
    busyboxRootfs: "",
    runcRoot: "",
    bundleRoot: "",
    runOptions(extra = {}) {
      return { bundleRoot: fixture.bundleRoot, runcRoot: fixture.runcRoot, ...extra };
    },
    async snapshot(lower) {
      const dir = await mkdtemp(path.join(fixture.scratch, "snap-"));
      const [upper, work, merged] = ["upper", "work", "merged"].map((name) => path.join(dir, name));
      for (const created of [upper, work, merged]) await mkdir(created);
      await exec("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
      mounted.push(merged);
      return { merged, upper };
    },
    async capture(rootfs, process) {
      const output = { stdout: "", stderr: "" };
      await runInRootfs(rootfs, process, fixture.runOptions({ onOutput: (stream, chunk) => (output[stream] += chunk.toString()) }));
      return output;
    },
    async runcContainers() {
      const { stdout } = await exec("runc", ["--root", fixture.runcRoot, "list", "--quiet"]);
      return stdout.split("\n").filter((line) => line !== "");
    },
  };

  beforeAll(async () => {
    fixture.scratch = await mkdtemp(path.join(os.tmpdir(), "tsbuild-executor-"));
    fixture.imageDir = path.join(fixture.scratch, "image");
    fixture.runcRoot = path.join(fixture.scratch, "runc");
    fixture.bundleRoot = path.join(fixture.scratch, "bundles");
    await exec(busyboxImageScript, [fixture.imageDir]);
    const layout = path.join(fixture.imageDir, "busybox");
    const blob = (digest: string) => path.join(layout, "blobs", ...digest.split(":"));
    const index = JSON.parse(await readFile(path.join(layout, "index.json"), "utf8"));
    const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), "utf8"));
    fixture.busyboxRootfs = path.join(fixture.scratch, "busybox-rootfs");
    await mkdir(fixture.busyboxRootfs);
    await exec("tar", ["-xzf", blob(manifest.layers[0].digest), "-C", fixture.busyboxRootfs, "--numeric-owner"]);
  });

  afterEach(async () => {
    for (const id of await fixture.runcContainers().catch(() => [])) {
      await exec("runc", ["--root", fixture.runcRoot, "delete", "--force", id]).catch(() => undefined);
    }
    while (mounted.length > 0) await exec("umount", [mounted.pop()!]).catch(() => undefined);
  });

  afterAll(async () => {
    if (fixture.scratch !== "") await rm(fixture.scratch, { recursive: true, force: true });
  });

  return fixture;
}

export function shell(command: string, overrides: Partial<ProcessSpec> = {}): ProcessSpec {
  return {
    args: ["/bin/sh", "-c", command],
    env: [PATH],
    cwd: "/",
    user: { uid: 0, gid: 0, additionalGids: [] },
    network: "host",
    ...overrides,
  };
}

/** Whiteouts in an overlay upper dir (0/0 character devices), as paths relative to it. */
export async function whiteouts(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true })) {
    const stats = await lstat(path.join(dir, entry));
    if (stats.isCharacterDevice() && stats.rdev === 0) found.push(entry);
  }
  return found;
}

export async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}
