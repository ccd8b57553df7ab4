// Working containers and volumes: from, run, diff, commit, cp, ps, rm, mount, umount, inspect,
// history, info, volume. Output follows the docker/buildah commands of the same names.
// @tsbuild/containers and the store are loaded by the handlers (`await import`).
import type { Argv, CommandModule } from "yargs";
import type { HistoryRow, MountRequest } from "@tsbuild/containers";
import type { Store } from "@tsbuild/store";
import { asList } from "./args.js";
import { storeRoot } from "./store-commands.js";
import { UsageError } from "./dockerfile-input.js";
import { hostPlatform } from "./platform.js";
import { formatSize } from "./progress.js";

interface RootArgs {
  root?: string;
}

async function store(args: RootArgs): Promise<Store> {
  const { openStore } = await import("@tsbuild/store");
  return openStore(await storeRoot(args));
}

function out(text: string): void {
  process.stdout.write(text.endsWith("\n") || text === "" ? text : `${text}\n`);
}

/** Columns padded to their widest cell, three spaces apart, as docker's tables are. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows.map((r) => r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col]! + 3))).join("").trimEnd() + "\n").join("");
}

/** "3 seconds ago", "About a minute ago", "2 hours ago": go-units' HumanDuration, as docker prints CREATED. */
export function humanAgo(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return "Less than a second ago";
  if (s === 1) return "1 second ago";
  if (s < 60) return `${s} seconds ago`;
  const m = Math.round(s / 60);
  if (m === 1) return "About a minute ago";
  if (m < 60) return `${m} minutes ago`;
  const h = Math.round(s / 3600);
  if (h === 1) return "About an hour ago";
  if (h < 48) return `${h} hours ago`;
  if (h < 24 * 7 * 2) return `${Math.round(h / 24)} days ago`;
  if (h < 24 * 30 * 2) return `${Math.round(h / 24 / 7)} weeks ago`;
  if (h < 24 * 365 * 2) return `${Math.round(h / 24 / 30)} months ago`;
  return `${Math.round(h / 24 / 365)} years ago`;
}

/** `docker ps -s`'s SIZE column: the writable layer, then the total with the image's layers. */
export function formatContainerSize(size: number, virtualSize: number): string {
  return `${formatSize(size)} (virtual ${formatSize(virtualSize)})`;
}

/** `docker history` rows: the id (or <missing>), age, created-by (cut at 45 unless noTrunc), size, comment. */
export function formatHistory(rows: readonly HistoryRow[], now: number, noTrunc: boolean): string {
  const cut = (text: string) => (noTrunc || text.length <= 45 ? text : `${text.slice(0, 44).trimEnd()}…`);
  return formatTable([
    ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
    ...rows.map((r) => [
      r.id ? (noTrunc ? r.id : r.id.replace(/^sha256:/, "").slice(0, 12)) : "<missing>",
      r.created ? humanAgo(now - Date.parse(r.created)) : "N/A",
      cut(r.createdBy.replace(/\s+/g, " ")),
      r.size === undefined ? "N/A" : formatSize(r.size),
      r.comment,
    ]),
  ]);
}

async function parseMounts(values: readonly string[]): Promise<MountRequest[]> {
  const { parseMountFlag, RunFlagError } = await import("@tsbuild/containers");
  return values.map((v) => {
    try {
      return parseMountFlag(v, process.cwd());
    } catch (error) {
      if (error instanceof RunFlagError) throw new UsageError(error.message);
      throw error;
    }
  });
}

const fromCommand: CommandModule<RootArgs, RootArgs & { image: string; name?: string }> = {
  command: "from <image>",
  describe: "Create a working container from an image (a new writable layer over its layers); prints its name",
  builder: (y) =>
    y
      .positional("image", { type: "string", demandOption: true, describe: "Image: a local name[:tag], oci-layout://PATH[:TAG], or scratch" })
      .option("name", { type: "string", describe: "Name the container (default IMAGE-working-container)" }),
  handler: async (args) => {
    const { createContainer } = await import("@tsbuild/containers");
    const record = await createContainer(await store(args), args.image, { name: args.name, platform: await hostPlatform() });
    out(record.name);
  },
};

interface RunArgs extends RootArgs {
  container: string;
  command: string[];
  mount: string[];
  env: string[];
  user?: string;
  workdir?: string;
  allow: string[];
  "--"?: string[];
}

function runCommand(setExitCode: (code: number) => void): CommandModule<RootArgs, RunArgs> {
  return {
    command: "run <container> [command..]",
    describe: "Run a command in a working container; its changes go to the container's writable layer",
    builder: (y) =>
      y
        .parserConfiguration({ "populate--": true })
        .positional("container", { type: "string", demandOption: true, describe: "Container name or ID" })
        .positional("command", { type: "string", array: true, default: [] as string[], describe: "Command and arguments, after --" })
        .option("mount", {
          type: "string",
          default: [] as string[],
          coerce: asList,
          describe: "type=bind,src=HOST,dst=PATH[,readonly] or type=volume,src=NAME,dst=PATH[,readonly] (repeatable; volumes stay attached)",
        })
        .option("env", { alias: "e", type: "string", default: [] as string[], coerce: asList, describe: "Set NAME=VALUE (NAME alone: from this environment)" })
        .option("user", { alias: "u", type: "string", describe: "User[:group] to run as (default: the image's USER)" })
        .option("workdir", { alias: "w", type: "string", describe: "Working directory, absolute (default: the image's WORKDIR)" })
        .option("allow", { type: "string", default: [] as string[], coerce: asList, choices: ["host-paths"], describe: "host-paths: allow binding host system directories" })
        .example("$0 run c1 -- sh -c 'echo hi > /greeting'", "")
        .example("$0 run --mount type=volume,src=data,dst=/data c1 -- ls /data", ""),
    handler: async (args) => {
      const command = [...args.command, ...(args["--"] ?? [])].map(String);
      if (command.length === 0) throw new UsageError("run needs a command: tsbuild run CONTAINER -- COMMAND [ARG...]");
      if (args.workdir !== undefined && !args.workdir.startsWith("/")) throw new UsageError(`--workdir ${args.workdir}: must be an absolute path`);
      const { parseEnvFlags, runInContainer } = await import("@tsbuild/containers");
      let env: string[];
      try {
        env = parseEnvFlags(args.env, process.env);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const code = await runInContainer(await store(args), args.container, {
        args: command,
        env,
        user: args.user,
        workdir: args.workdir,
        mounts: await parseMounts(args.mount),
        allowHostPaths: args.allow.includes("host-paths"),
        onOutput: (stream, chunk) => (stream === "stdout" ? process.stdout : process.stderr).write(chunk),
      });
      setExitCode(code);
    },
  };
}

const containerArg = <T>(y: Argv<T>) => y.positional("container", { type: "string", demandOption: true, describe: "Container name or ID" });

const diffCommand: CommandModule<RootArgs, RootArgs & { container: string }> = {
  command: "diff <container>",
  describe: "List what a container changed: A added, C changed, D deleted (as docker diff)",
  builder: containerArg,
  handler: async (args) => {
    const { diffContainer, formatChanges } = await import("@tsbuild/containers");
    out(formatChanges(await diffContainer(await store(args), args.container)));
  },
};

const commitCommand: CommandModule<RootArgs, RootArgs & { container: string; image: string; message?: string; author?: string }> = {
  command: "commit <container> <image>",
  describe: "Make an image of a container: its writable layer becomes a new layer; prints the image ID",
  builder: (y) =>
    containerArg(y)
      .positional("image", { type: "string", demandOption: true, describe: "Name for the new image (name[:tag])" })
      .option("message", { alias: "m", type: "string", describe: "Comment for the history entry" })
      .option("author", { alias: "a", type: "string", describe: "Author of the new image" }),
  handler: async (args) => {
    const { commitContainer } = await import("@tsbuild/containers");
    const result = await commitContainer(await store(args), args.container, args.image, { message: args.message, author: args.author });
    out(result.imageId);
  },
};

const cpCommand: CommandModule<RootArgs, RootArgs & { src: string; dest: string }> = {
  command: "cp <src> <dest>",
  describe: "Copy files between the host and a container (CONTAINER:PATH on one side; paths under a volume go to the volume)",
  builder: (y) =>
    y
      .positional("src", { type: "string", demandOption: true, describe: "HOST_PATH or CONTAINER:PATH (end a dir with /. for its contents)" })
      .positional("dest", { type: "string", demandOption: true, describe: "CONTAINER:PATH or HOST_PATH" }),
  handler: async (args) => {
    const { copyFiles, parseCopyEndpoint } = await import("@tsbuild/containers");
    const from = parseCopyEndpoint(args.src);
    const to = parseCopyEndpoint(args.dest);
    if ((from.kind === "container") === (to.kind === "container")) {
      throw new UsageError("cp copies between the host and a container: exactly one of SRC and DEST must be CONTAINER:PATH");
    }
    await copyFiles(await store(args), from, to);
  },
};

const psCommand: CommandModule<RootArgs, RootArgs & { size: boolean; "no-trunc": boolean }> = {
  command: "ps",
  describe: "List working containers (-s: SIZE of the writable layer, virtual = with the image's layers)",
  builder: (y) =>
    y
      .option("size", { alias: "s", type: "boolean", default: false, describe: "Show sizes" })
      .option("no-trunc", { type: "boolean", default: false, describe: "Show full IDs" }),
  handler: async (args) => {
    const { containerSize, listContainers, mountStatus } = await import("@tsbuild/containers");
    const s = await store(args);
    const now = Date.now();
    const rows = [["CONTAINER ID", "IMAGE", "CREATED", "MOUNTED", ...(args.size ? ["SIZE"] : []), "NAMES"]];
    for (const c of await listContainers(s)) {
      const size = args.size ? await containerSize(s, c) : undefined;
      rows.push([
        args["no-trunc"] ? c.id : c.id.slice(0, 12),
        c.image,
        humanAgo(now - Date.parse(c.createdAt)),
        (await mountStatus(s, c)).mounted ? "yes" : "no",
        ...(size ? [formatContainerSize(size.size, size.virtualSize)] : []),
        c.name,
      ]);
    }
    out(formatTable(rows));
  },
};

const rmCommand: CommandModule<RootArgs, RootArgs & { containers: string[] }> = {
  command: "rm <containers..>",
  describe: "Remove containers: their writable layers go, the images and volumes stay",
  builder: (y) => y.positional("containers", { type: "string", array: true, demandOption: true, describe: "Container names or IDs" }),
  handler: async (args) => {
    const { removeContainer } = await import("@tsbuild/containers");
    const s = await store(args);
    for (const ref of args.containers) {
      await removeContainer(s, ref);
      out(ref);
    }
  },
};

const mountCommand: CommandModule<RootArgs, RootArgs & { container: string }> = {
  command: "mount <container>",
  describe: "Mount a container's rootfs and print its path (until tsbuild umount)",
  builder: containerArg,
  handler: async (args) => {
    const { getContainer, mountContainer } = await import("@tsbuild/containers");
    const s = await store(args);
    out(await mountContainer(s, await getContainer(s, args.container)));
  },
};

const umountCommand: CommandModule<RootArgs, RootArgs & { containers: string[] }> = {
  command: "umount <containers..>",
  describe: "Unmount containers mounted with tsbuild mount",
  builder: (y) => y.positional("containers", { type: "string", array: true, demandOption: true, describe: "Container names or IDs" }),
  handler: async (args) => {
    const { getContainer, unmountContainer } = await import("@tsbuild/containers");
    const s = await store(args);
    for (const ref of args.containers) await unmountContainer(s, await getContainer(s, ref));
  },
};

const inspectCommand: CommandModule<RootArgs, RootArgs & { refs: string[] }> = {
  command: "inspect <refs..>",
  describe: "Show containers or images as JSON: config, layers, and a container's storage paths (GraphDriver)",
  builder: (y) => y.positional("refs", { type: "string", array: true, demandOption: true, describe: "Container or image names" }),
  handler: async (args) => {
    const { inspectAny } = await import("@tsbuild/containers");
    const s = await store(args);
    const platform = await hostPlatform();
    const result = [];
    for (const ref of args.refs) result.push(await inspectAny(s, ref, platform));
    out(JSON.stringify(result, null, 4));
  },
};

const historyCommand: CommandModule<RootArgs, RootArgs & { image: string; "no-trunc": boolean }> = {
  command: "history <image>",
  describe: "Show an image's history: one line per entry with what created it and its layer's size",
  builder: (y) =>
    y
      .positional("image", { type: "string", demandOption: true, describe: "Image name or oci-layout://PATH[:TAG]" })
      .option("no-trunc", { type: "boolean", default: false, describe: "Do not shorten IDs and commands" }),
  handler: async (args) => {
    const { imageHistory } = await import("@tsbuild/containers");
    out(formatHistory(await imageHistory(await store(args), args.image, await hostPlatform()), Date.now(), args["no-trunc"]));
  },
};

const infoCommand: CommandModule<RootArgs, RootArgs> = {
  command: "info",
  describe: "Show the storage driver in use and why, the store root, and runc's version",
  handler: async (args) => {
    const { storeInfo } = await import("@tsbuild/containers");
    const info = await storeInfo(await store(args));
    out(
      [
        `Storage Driver: ${info.storageDriver}`,
        ` Reason: ${info.storageDriverReason}`,
        `Store Root: ${info.root}`,
        `runc version: ${info.runcVersion}`,
        `Images: ${info.images}`,
        `Containers: ${info.containers}`,
        `Volumes: ${info.volumes}`,
      ].join("\n"),
    );
  },
};

const volumeCommand: CommandModule<RootArgs, RootArgs> = {
  command: "volume",
  describe: "Manage volumes (stored under the store's volumes/)",
  builder: (y) =>
    y
      .command<RootArgs & { name?: string }>({
        command: "create [name]",
        describe: "Create a volume (a random name when none is given); prints its name",
        builder: (v) => v.positional("name", { type: "string", describe: "Volume name" }),
        handler: async (args) => {
          const { createVolume } = await import("@tsbuild/containers");
          out((await createVolume(await store(args), args.name)).Name);
        },
      })
      .command<RootArgs & { quiet: boolean }>({
        command: "ls",
        describe: "List volumes",
        builder: (v) => v.option("quiet", { alias: "q", type: "boolean", default: false, describe: "Only names" }),
        handler: async (args) => {
          const { listVolumes } = await import("@tsbuild/containers");
          const volumes = await listVolumes(await store(args));
          out(args.quiet ? volumes.map((v) => v.Name).join("\n") : formatTable([["DRIVER", "VOLUME NAME"], ...volumes.map((v) => ["local", v.Name])]));
        },
      })
      .command<RootArgs & { names: string[] }>({
        command: "inspect <names..>",
        describe: "Show volumes as JSON",
        builder: (v) => v.positional("names", { type: "string", array: true, demandOption: true }),
        handler: async (args) => {
          const { inspectVolume } = await import("@tsbuild/containers");
          const s = await store(args);
          const result = [];
          for (const name of args.names) result.push(await inspectVolume(s, name));
          out(JSON.stringify(result, null, 4));
        },
      })
      .command<RootArgs & { names: string[] }>({
        command: "rm <names..>",
        describe: "Remove volumes and their data (not while a container uses them)",
        builder: (v) => v.positional("names", { type: "string", array: true, demandOption: true }),
        handler: async (args) => {
          const { removeVolume } = await import("@tsbuild/containers");
          const s = await store(args);
          for (const name of args.names) {
            await removeVolume(s, name);
            out(name);
          }
        },
      })
      .command<RootArgs & { all: boolean }>({
        command: "prune",
        describe: "Remove volumes no container uses (anonymous ones; with --all named ones too)",
        builder: (v) => v.option("all", { alias: "a", type: "boolean", default: false, describe: "Named volumes too" }),
        handler: async (args) => {
          const { pruneVolumes } = await import("@tsbuild/containers");
          const result = await pruneVolumes(await store(args), { all: args.all });
          out(`${result.removed.length > 0 ? `Deleted Volumes:\n${result.removed.join("\n")}\n\n` : ""}Total reclaimed space: ${formatSize(result.reclaimedBytes)}`);
        },
      })
      .demandCommand(1, "volume needs a subcommand: create, ls, inspect, rm or prune"),
  handler: () => undefined,
};

export function containerCommands(setExitCode: (code: number) => void): CommandModule<RootArgs, any>[] {
  return [
    fromCommand,
    runCommand(setExitCode),
    diffCommand,
    commitCommand,
    cpCommand,
    psCommand,
    rmCommand,
    mountCommand,
    umountCommand,
    inspectCommand,
    historyCommand,
    infoCommand,
    volumeCommand,
  ];
}
