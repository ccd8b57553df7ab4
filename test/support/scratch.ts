// Scratch directories for integration tests, removed even when a test or hook fails.
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, onTestFinished } from "vitest";

const exec = promisify(execFile);

// Dirs made outside a test (in beforeAll or at collection) are removed in this file's afterAll.
// Vitest isolates test files, so this module (and this hook) is instantiated once per file.
const fileScratchDirs: string[] = [];
afterAll(async () => {
  for (const dir of fileScratchDirs.splice(0)) await removeScratchDir(dir);
});
// Last resort for a worker that exits between creating a dir and its afterAll.
process.once("exit", () => {
  for (const dir of fileScratchDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Makes an empty directory under os.tmpdir(). Inside a test it is removed when that test ends
 * (onTestFinished), unless `untilFileEnds`; outside a test (beforeAll, describe) and with
 * `untilFileEnds`, when the test file ends (afterAll). Both run after failures too.
 */
export async function makeScratchDir(prefix = "tsbuild-test-", options: { untilFileEnds?: boolean } = {}): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  if (!options.untilFileEnds) {
    try {
      onTestFinished(() => removeScratchDir(dir));
      return dir;
    } catch {
      // onTestFinished throws outside a running test.
    }
  }
  fileScratchDirs.push(dir);
  return dir;
}

/**
 * Removes a tree that may hold read-only directories (buildah's vfs layers, rootfs copies):
 * makes every directory owner-writable first, as rm cannot empty a 0555 dir without
 * CAP_DAC_OVERRIDE. Anything still mounted below dir must be unmounted before.
 */
export async function removeScratchDir(dir: string): Promise<void> {
  // chmod -R does not follow symlinks; errors (a dir already gone) are not interesting here.
  await exec("chmod", ["-R", "u+w", dir]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
