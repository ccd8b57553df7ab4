// Runs one process in a mounted snapshot with runc, streaming its output.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants as fsConstants, existsSync } from "node:fs";
import { constants } from "node:os";
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { HOST_FILE_MOUNTS, runtimeSpec, type ExecFileMount, type ProcessSpec } from "./spec.js";
import { missingPaths, mkdirInRoot, removeStubs, resolveInRoot } from "./rootfs.js";

const RUNC = "runc";
/** Where runc keeps container state without `--root` (as root). */
const DEFAULT_RUNC_ROOT = "/run/runc";
const LAST_LINES = 20;
// Enough to hold the last LAST_LINES lines of any reasonable output, bounded for endless ones.
const TAIL_BYTES = 64 * 1024;
const KILL_RETRY_MS = 100;

/** The process exited non-zero, or runc could not start it. */
export class RunFailedError extends Error {
  constructor(
    readonly exitCode: number,
    readonly command: string,
    readonly lastLines: string[],
    /** runc's own error when the process could not be started (e.g. executable not found). */
    readonly startError?: string,
  ) {
    super(
      (startError !== undefined
        ? `RUN ${command}: could not start the process: ${startError}`
        : `RUN ${command}: exited with code ${exitCode}`) +
        (lastLines.length > 0 ? `\nlast lines of output:\n${lastLines.join("\n")}` : ""),
    );
    this.name = "RunFailedError";
  }
}

export interface RunResult {
  exitCode: number;
}

export interface RunOptions {
  /** Parent directory for the per-run bundle directory (config.json, runc log); created if missing. */
  bundleRoot: string;
  /** runc's state directory (`runc --root`); runc's default (/run/runc) when absent. */
  runcRoot?: string;
  signal?: AbortSignal;
  onOutput?: (stream: "stdout" | "stderr", chunk: Buffer) => void;
}

function abortError(signal: AbortSignal): Error {
  const error = new Error("RUN aborted", { cause: signal.reason });
  error.name = "AbortError";
  return error;
}

function runcArgs(options: RunOptions, ...args: string[]): string[] {
  return options.runcRoot === undefined ? args : ["--root", options.runcRoot, ...args];
}

/** Runs runc to completion, collecting its output; never rejects on a non-zero exit. */
function runcQuiet(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(RUNC, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

export async function runcVersion(): Promise<string> {
  const { code, output } = await runcQuiet(["--version"]);
  const match = /^runc version (\S+)/m.exec(output);
  if (code !== 0 || match === null) throw new Error(`runc --version failed (exit ${code}): ${output.trim()}`);
  return match[1];
}

/** The last `count` lines of output, from a bounded tail of it. */
class OutputTail {
  private tail = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.tail = Buffer.concat([this.tail, chunk]);
    if (this.tail.length > TAIL_BYTES) this.tail = this.tail.subarray(this.tail.length - TAIL_BYTES);
  }

  lines(count: number): string[] {
    const lines = this.tail.toString("utf8").split("\n");
    if (lines.at(-1) === "") lines.pop();
    return lines.slice(-count);
  }
}

// runc writes one JSON object per line to --log; its own failures are at level error or fatal.
async function runcStartError(logFile: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(logFile, "utf8");
  } catch {
    return undefined;
  }
  const messages: string[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if ((entry.level === "error" || entry.level === "fatal") && entry.msg) messages.push(entry.msg);
    } catch {
      messages.push(line);
    }
  }
  return messages.length > 0 ? messages.join("; ") : undefined;
}

/** Gives a file mount's source the mode and owner the process is to see; it must be a regular file. */
async function prepareFileMount(mount: ExecFileMount): Promise<void> {
  let handle;
  try {
    // O_NOFOLLOW: a symlink put in place of the file must not redirect the chown and chmod.
    handle = await open(mount.source, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    if (!(await handle.stat()).isFile()) throw new Error("not a regular file");
    // chown before chmod: chown clears the setuid and setgid bits.
    await handle.chown(mount.uid, mount.gid);
    await handle.chmod(mount.mode);
  } catch (error) {
    throw new Error(`cannot prepare the file mounted at ${mount.destination} from ${mount.source}: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    await handle?.close();
  }
}

function describeCommand(args: string[]): string {
  return JSON.stringify(args);
}

/**
 * Runs one process with runc in `rootfs` (a mounted snapshot) and resolves with its exit code 0.
 * Throws RunFailedError on any other exit code. On abort the container is killed and the
 * promise rejects with an error named "AbortError". The bundle directory, runc's state and the
 * mount points runc created in rootfs (for the host files and for every ExecMount whose
 * destination did not exist) are always removed, so no mount leaves a trace in the layer.
 */
export async function runInRootfs(rootfs: string, process: ProcessSpec, options: RunOptions): Promise<RunResult> {
  const { signal } = options;
  if (signal?.aborted) throw abortError(signal);
  const root = path.resolve(rootfs);
  const command = describeCommand(process.args);

  try {
    await mkdirInRoot(root, process.cwd, process.user.uid, process.user.gid);
  } catch (error) {
    throw new Error(`RUN ${command}: cannot create the working directory ${process.cwd} in ${root}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const mounts = process.mounts ?? [];
  for (const mount of mounts) if (mount.type === "file") await prepareFileMount(mount);
  // runc creates what is missing of each mount point: an empty file for a file or socket, a
  // directory otherwise, and their parent directories. Remember which paths are ours to
  // remove afterwards.
  const stubs: string[][] = [];
  for (const destination of [...HOST_FILE_MOUNTS, ...mounts.map((mount) => mount.destination)]) {
    stubs.push(await missingPaths(root, await resolveInRoot(root, destination)));
  }

  await mkdir(options.bundleRoot, { recursive: true });
  // `<kind>-<pid>-`: the store's prune removes the bundles of processes that are gone.
  const bundle = await mkdtemp(path.join(options.bundleRoot, `run-${globalThis.process.pid}-`));
  const id = `tsbuild-${randomBytes(8).toString("hex")}`;
  const logFile = path.join(bundle, "runc.log");
  let killing: Promise<unknown> | undefined;
  try {
    await writeFile(path.join(bundle, "config.json"), JSON.stringify(runtimeSpec(root, process)));
    const tail = new OutputTail();
    const exitCode = await new Promise<number>((resolve, reject) => {
      const child = spawn(
        RUNC,
        runcArgs(options, "--log", logFile, "--log-format", "json", "run", "--bundle", bundle, id),
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      for (const stream of ["stdout", "stderr"] as const) {
        child[stream].on("data", (chunk: Buffer) => {
          tail.push(chunk);
          options.onOutput?.(stream, chunk);
        });
      }
      // `runc kill` fails until runc has created the container, so keep trying until runc run
      // exits: killing pid 1 of the pid namespace takes every process in it.
      let killTimer: NodeJS.Timeout | undefined;
      const kill = (): void => {
        killing = runcQuiet(runcArgs(options, "kill", id, "KILL")).finally(() => {
          if (child.exitCode === null && child.signalCode === null) killTimer = setTimeout(kill, KILL_RETRY_MS);
        });
      };
      signal?.addEventListener("abort", kill, { once: true });
      // The signal may have fired while the rootfs was being prepared.
      if (signal?.aborted) kill();
      child.on("error", (error) => {
        signal?.removeEventListener("abort", kill);
        reject(new Error(`cannot run ${RUNC}: ${error.message}; install the Debian package runc`, { cause: error }));
      });
      child.on("close", (code, signalName) => {
        signal?.removeEventListener("abort", kill);
        clearTimeout(killTimer);
        resolve(code ?? 128 + (signalName === null ? 0 : constants.signals[signalName]));
      });
    });
    if (signal?.aborted) throw abortError(signal);
    if (exitCode !== 0) {
      throw new RunFailedError(exitCode, command, tail.lines(LAST_LINES), await runcStartError(logFile));
    }
    return { exitCode };
  } finally {
    await killing?.catch(() => undefined);
    // `runc run` deletes the container when it exits; its state left behind means runc itself
    // died early (one runc process less per RUN otherwise: ~30 ms).
    if (existsSync(path.join(options.runcRoot ?? DEFAULT_RUNC_ROOT, id))) await runcQuiet(runcArgs(options, "delete", "--force", id));
    await rm(bundle, { recursive: true, force: true });
    // Innermost mounts first: a later mount may sit inside an earlier one's mount point.
    for (const created of stubs.reverse()) await removeStubs(created);
  }
}
