// Running commands with a wall clock and the peak RSS of the process tree, and summarising samples.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";

/** GNU time reports the peak RSS (ru_maxrss: the largest process among the command and its waited-for children). */
export const GNU_TIME = "/usr/bin/time";
export const gnuTimeAvailable = existsSync(GNU_TIME);

let rssFileCounter = 0;

/**
 * Runs cmd with args, timing the wall clock in-process (GNU time's %e has only 10 ms resolution)
 * and reading the peak RSS from GNU time when it exists.
 * Returns { seconds, rssMiB (null without GNU time), output (the last 64 KiB), code }.
 * Throws, with the output's tail, when the command fails, unless allowFail.
 */
export async function runMeasured(cmd, args, { env = process.env, cwd, scratchDir, allowFail = false } = {}) {
  const rssFile = path.join(scratchDir ?? "/tmp", `.bench-rss-${process.pid}-${rssFileCounter++}`);
  const [file, argv] = gnuTimeAvailable ? [GNU_TIME, ["-f", "%M", "-o", rssFile, cmd, ...args]] : [cmd, args];
  const started = process.hrtime.bigint();
  const { code, output } = await spawnCollect(file, argv, { env, cwd });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  let rssMiB = null;
  if (gnuTimeAvailable) {
    // GNU time writes "Command exited with non-zero status N" before the figure when the command fails.
    const lines = (await readFile(rssFile, "utf8").catch(() => "")).trim().split("\n");
    const kib = Number(lines.at(-1));
    if (Number.isFinite(kib) && kib > 0) rssMiB = kib / 1024;
    await rm(rssFile, { force: true });
  }
  if (code !== 0 && !allowFail) {
    throw new Error(`${cmd} ${args.join(" ")} exited with ${code}:\n${tail(output, 25)}`);
  }
  return { seconds, rssMiB, output, code };
}

/** Spawns a command, keeps the last 64 KiB of stdout+stderr, resolves with the exit code (never rejects on failure). */
export function spawnCollect(file, argv, { env = process.env, cwd, stdin = "ignore" } = {}) {
  return new Promise((resolve) => {
    const child = spawn(file, argv, { env, cwd, stdio: [stdin, "pipe", "pipe"] });
    let output = "";
    const keep = (chunk) => {
      output += chunk.toString();
      if (output.length > 128 * 1024) output = output.slice(-64 * 1024);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", (error) => resolve({ code: 127, output: `${output}${error.message}\n` }));
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output }));
  });
}

/**
 * Writes every dirty page of every file system to the disk (sync(1)), untimed, before a measured
 * command: a builder's timed flushes (tsbuild's fsync and syncfs) must not also write back what the
 * builder measured before it left dirty (its exports, its deleted store), which an unsynced builder
 * never pays for.
 */
export async function settleDisk() {
  await run("sync", []);
}

/** Runs a command that must succeed and returns its stdout+stderr. */
export async function run(file, argv, options = {}) {
  const { code, output } = await spawnCollect(file, argv, options);
  if (code !== 0) throw new Error(`${file} ${argv.join(" ")} exited with ${code}:\n${tail(output, 25)}`);
  return output;
}

export function tail(text, lines) {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** { median, min, max, n } of the finite numbers in samples, or null when there are none. */
export function summarize(samples) {
  const values = samples.filter((v) => typeof v === "number" && Number.isFinite(v)).sort((a, b) => a - b);
  if (values.length === 0) return null;
  const mid = Math.floor(values.length / 2);
  const median = values.length % 2 === 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
  return { median, min: values[0], max: values.at(-1), n: values.length };
}

/** A path field of /proc/self/mounts or mountinfo, whose spaces and the like are octal escapes. */
export function decodeMountPath(field) {
  return field?.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8)));
}

/** Mount points at or below dir (from /proc/self/mounts, octal escapes decoded), deepest first. */
export async function mountsUnder(dir) {
  const table = await readFile("/proc/self/mounts", "utf8");
  return table
    .split("\n")
    .map((line) => decodeMountPath(line.split(" ")[1]))
    .filter((mountPoint) => mountPoint !== undefined && (mountPoint === dir || mountPoint.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts whatever a builder left mounted under dir (lazily), then deletes dir. */
export async function removeTree(dir) {
  for (const mountPoint of await mountsUnder(dir)) await spawnCollect("umount", ["-l", mountPoint]);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
