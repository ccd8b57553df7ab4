// Runs the tsbuild CLI the way a user does: the `tsbuild` program (packages/cli/bin/tsbuild.cjs, run
// by its #! line with the `node` this test runs on first in PATH; needs `npm run build`).
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../../packages/cli/bin/tsbuild.cjs", import.meta.url));

export interface TsbuildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** stdout as written (an archive, say). */
  stdoutBytes: Buffer;
  stderr: string;
}

export interface TsbuildOptions {
  /** Store root, passed as `--root` after args (options may follow positionals), or see rootVia. */
  root: string;
  /**
   * How the CLI gets the store: "flag" (default) appends `--root ROOT`; "env" sets TSBUILD_ROOT
   * instead, for args that end with `-- COMMAND…`, where an appended flag would join the command.
   */
  rootVia?: "flag" | "env";
  cwd: string;
  /** Written to the CLI's stdin (e.g. for `-f -`); stdin is closed at once without it. */
  input?: string | Buffer;
  /** Kills the CLI (SIGKILL) after this long; default 120 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/**
 * Spawns the CLI with args + `--root ROOT` (or TSBUILD_ROOT, see rootVia) and collects its
 * output. Never throws for a non-zero exit: callers assert on code/stderr, and get the output
 * in the failure message.
 */
export function runTsbuild(args: readonly string[], options: TsbuildOptions): Promise<TsbuildRun> {
  return new Promise((resolve, reject) => {
    const viaEnv = options.rootVia === "env";
    const child = spawn(cli, [...args, ...(viaEnv ? [] : ["--root", options.root])], {
      cwd: options.cwd,
      env: {
        ...process.env,
        PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ""}`,
        ...options.env,
        ...(viaEnv ? { TSBUILD_ROOT: options.root } : {}),
      },
      stdio: ["pipe", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 120_000,
      killSignal: "SIGKILL",
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const stdoutBytes = Buffer.concat(stdout);
      resolve({ code, signal, stdout: stdoutBytes.toString(), stdoutBytes, stderr: Buffer.concat(stderr).toString() });
    });
    child.stdin.on("error", () => undefined); // the CLI may exit without reading its stdin
    child.stdin.end(options.input);
  });
}
