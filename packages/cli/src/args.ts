// The options every tsbuild command takes, and `defineCommand`, which types each handler's
// arguments from its command's table plus these. Command tables are built on every start
// (`--help` too), so this module loads nothing but the command layer.
import { commandDefiner, type OptionTable, type OptionValues } from "./command-line.js";

export const globalOptions = {
  root: { type: "string", describe: "Store root (default /var/lib/tsbuild as root; env TSBUILD_ROOT)" },
} as const satisfies OptionTable;

export type GlobalArgs = OptionValues<typeof globalOptions>;

export const defineCommand = commandDefiner<GlobalArgs>();
