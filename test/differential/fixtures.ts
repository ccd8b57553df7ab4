// Fixture layout: fixtures/<name>/Dockerfile with `{{BASE}}` for the base image, context files
// beside it, and optionally prepare.sh, run in a copy of the context to make what git cannot
// keep or what is better generated (empty dirs, dangling symlinks, owners, archives, long names).
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { access, cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const exec = promisify(execFile);
const fixturesDir = fileURLToPath(new URL("./fixtures/", import.meta.url));
const notContext = new Set(["Dockerfile", "prepare.sh"]);

/** Fixture names, sorted (synchronous: test names are needed at collection time). */
export function fixtureNames(): string[] {
  return readdirSync(fixturesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/** Makes the fixture's build context at dest (which must not exist) and returns dest. */
export async function prepareContext(name: string, dest: string): Promise<string> {
  const source = path.join(fixturesDir, name);
  await mkdir(dest, { recursive: true });
  for (const entry of await readdir(source)) {
    if (!notContext.has(entry)) await cp(path.join(source, entry), path.join(dest, entry), { recursive: true, verbatimSymlinks: true });
  }
  const prepare = path.join(source, "prepare.sh");
  if (await exists(prepare)) {
    try {
      await exec("sh", ["-eu", prepare], { cwd: dest });
    } catch (error) {
      throw new Error(`${prepare} failed in ${dest}: ${(error as { stderr?: string }).stderr ?? error}`);
    }
  }
  return dest;
}

/** Writes the fixture's Dockerfile with `{{BASE}}` replaced by base, to file. */
export async function writeDockerfile(name: string, base: string, file: string): Promise<void> {
  const text = await readFile(path.join(fixturesDir, name, "Dockerfile"), "utf8");
  await writeFile(file, text.replaceAll("{{BASE}}", base));
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
