// The tsbuild command line: parses argv against the command table and runs the command; exit
// codes 0 ok, 1 failed, 2 usage (docs/decisions/0006-cli-parser.md: why not yargs).
import { fixMallocThresholds } from "@tsbuild/syscalls";
import { parseCommandLine, UsageError } from "./command-line.js";
import { tsbuildProgram } from "./program.js";

/**
 * The top-level commands. bin/tsbuild.cjs keeps V8's code cache per command named first in argv
 * (else "default"); a first word that names none (a context directory) gets no cache file.
 */
export const commandNames: readonly string[] = (tsbuildProgram.subcommands ?? []).map((c) => c.name);

async function main(argv: readonly string[]): Promise<number> {
  const invocation = parseCommandLine(tsbuildProgram, argv, Math.min(110, process.stdout.columns ?? 110));
  if (invocation.kind === "print") {
    process.stdout.write(invocation.text);
    return 0;
  }
  // At glibc's starting value, which it would raise as the 1 MiB stream buffers of a layer are
  // freed, keeping them resident: ~15 MiB less at an export's peak (docs/decisions/0010).
  fixMallocThresholds(128 << 10);
  return (await invocation.command.run(invocation.args as never)) ?? 0;
}

/**
 * Prints why the command failed and returns the exit code. The classes of Dockerfile and build
 * errors are imported only for errors of their names: the handler that threw one has loaded its
 * package already, and other failures need not load it.
 */
async function reportFailure(error: unknown): Promise<number> {
  const name = error instanceof Error ? error.name : undefined;
  if (name === "DockerfileError" && error instanceof (await import("@tsbuild/dockerfile")).DockerfileError) {
    process.stderr.write(`error: ${error.format()}\n`);
    return 1;
  }
  if (name === "BuildStepError" && error instanceof (await import("@tsbuild/core")).BuildStepError) {
    process.stderr.write(`error: ${error.message}\n`);
    return 1;
  }
  if (error instanceof UsageError) {
    process.stderr.write(`tsbuild: ${error.message}\nRun 'tsbuild --help' for usage.\n`);
    return 2;
  }
  process.stderr.write(`tsbuild: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  async (error: unknown) => process.exit(await reportFailure(error)),
);
