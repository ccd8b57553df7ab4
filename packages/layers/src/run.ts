// Spawning the few system tools Node has no API for (mount, mknod, getfattr, setfattr).
import { spawn } from "node:child_process";

export interface RunOptions {
  cwd?: string;
  /** Called with each stdout chunk instead of collecting stdout. */
  onStdout?: (chunk: Buffer) => void;
}

/** Runs a command; rejects with its stderr when it exits non-zero or cannot start. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => (options.onStdout ? options.onStdout(chunk) : out.push(chunk)));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", (e) => reject(new Error(`cannot run ${command}: ${e.message}`)));
    child.on("close", (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out));
      else {
        const stderr = Buffer.concat(err).toString().trim();
        reject(new Error(`${command} ${args.join(" ")} failed (${signal ?? `exit ${code}`})${stderr ? `: ${stderr}` : ""}`));
      }
    });
  });
}
