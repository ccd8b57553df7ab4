// The tsbuild command line: yargs commands, exit codes (0 ok, 1 failed, 2 usage).
// Only yargs and the command definitions load at start; each handler loads the packages it uses,
// so `--version` and `--help` start fast.
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { buildCommand } from "./build-command.js";
import { loginCommand, logoutCommand, pullCommand, pushCommand } from "./registry-commands.js";
import { containerCommands } from "./container-commands.js";
import { UsageError } from "./dockerfile-input.js";
import { dfCommand, imagesCommand, pruneCommand, rmiCommand } from "./store-commands.js";

const version = "0.1.0";

async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const cli = yargs(argv)
    .scriptName("tsbuild")
    // `--no-cache` is an option of its own, not the negation of a `--cache`.
    .parserConfiguration({ "boolean-negation": false })
    .version(version)
    .strict()
    .command(buildCommand((code) => (exitCode = code)))
    .command(pullCommand)
    .command(pushCommand)
    .command(loginCommand)
    .command(logoutCommand)
    .command(imagesCommand)
    .command(rmiCommand((code) => (exitCode = code)))
    .command(pruneCommand)
    .command(dfCommand)
    .command(containerCommands((code) => (exitCode = code)))
    .option("root", { type: "string", describe: "Store root (default /var/lib/tsbuild as root; env TSBUILD_ROOT)", global: true })
    .help()
    .alias("h", "help")
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((message, error) => {
      throw error ?? new UsageError(message);
    });
  await cli.parseAsync();
  return exitCode;
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

main(hideBin(process.argv)).then(
  (code) => process.exit(code),
  async (error: unknown) => process.exit(await reportFailure(error)),
);
