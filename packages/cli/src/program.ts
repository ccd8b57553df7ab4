// The tsbuild command table: every command, with `build` the default (`tsbuild -f Dockerfile .`).
// Only the tables load at start; each handler loads the packages it uses, so `--version` and
// `--help` start fast.
import { globalOptions } from "./args.js";
import { buildCommand } from "./build-command.js";
import type { ProgramSpec } from "./command-line.js";
import { containerCommands } from "./container-commands.js";
import { loginCommand, logoutCommand, pullCommand, pushCommand } from "./registry-commands.js";
import { dfCommand, imagesCommand, pruneCommand, rmiCommand, saveCommand } from "./store-commands.js";

export const tsbuildProgram: ProgramSpec = {
  name: "tsbuild",
  version: "0.1.0",
  describe: "Build OCI images from Dockerfiles, without a daemon",
  options: globalOptions,
  subcommands: [buildCommand, pullCommand, pushCommand, loginCommand, logoutCommand, imagesCommand, rmiCommand, saveCommand, pruneCommand, dfCommand, ...containerCommands],
};
