// Working containers and volumes: from, run, diff, commit, cp, ps, rm, mount, umount, inspect,
// history, info, volume. Output follows the docker/buildah commands of the same names.
// @tsbuild/containers and the store are loaded by the handlers (`await import`).
import type { HistoryRow, MountRequest } from "@tsbuild/containers";
import type { Store } from "@tsbuild/store";
import { defineCommand, type GlobalArgs } from "./args.js";
import { UsageError, type PositionalSpec } from "./command-line.js";
import { storeRoot } from "./store-commands.js";
import { hostPlatform } from "./platform.js";
import { formatSize } from "./progress.js";

async function store(args: GlobalArgs): Promise<Store> {
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

const containerArg = { name: "container", required: true, describe: "Container name or ID" } as const satisfies PositionalSpec;
const containersArg = { name: "containers", required: true, variadic: true, describe: "Container names or IDs" } as const satisfies PositionalSpec;

const fromCommand = defineCommand({
  name: "from",
  describe: "Create a working container from an image (a new writable layer over its layers); prints its name",
  positionals: [{ name: "image", required: true, describe: "Image: a local name[:tag], oci-layout://PATH[:TAG], or scratch" }],
  options: { name: { type: "string", describe: "Name the container (default IMAGE-working-container)" } },
  run: async (args) => {
    const { createContainer } = await import("@tsbuild/containers");
    const record = await createContainer(await store(args), args.image, { name: args.name, platform: await hostPlatform() });
    out(record.name);
  },
});

const runCommand = defineCommand({
  name: "run",
  describe: "Run a command in a working container; its changes go to the container's writable layer",
  positionals: [containerArg, { name: "command", variadic: true, describe: "Command and arguments, after --" }],
  options: {
    mount: {
      type: "string",
      multiple: true,
      describe: "type=bind,src=HOST,dst=PATH[,readonly] or type=volume,src=NAME,dst=PATH[,readonly] (volumes stay attached)",
    },
    env: { type: "string", short: "e", multiple: true, describe: "Set NAME=VALUE (NAME alone: from this environment)" },
    user: { type: "string", short: "u", describe: "User[:group] to run as (default: the image's USER)" },
    workdir: { type: "string", short: "w", describe: "Working directory, absolute (default: the image's WORKDIR)" },
    allow: { type: "string", multiple: true, choices: ["host-paths"], describe: "host-paths: allow binding host system directories" },
  },
  examples: ["tsbuild run c1 -- sh -c 'echo hi > /greeting'", "tsbuild run --mount type=volume,src=data,dst=/data c1 -- ls /data"],
  run: async (args) => {
    if (args.command.length === 0) throw new UsageError("run needs a command: tsbuild run CONTAINER -- COMMAND [ARG...]");
    if (args.workdir !== undefined && !args.workdir.startsWith("/")) throw new UsageError(`--workdir ${args.workdir}: must be an absolute path`);
    const { parseEnvFlags, runInContainer } = await import("@tsbuild/containers");
    let env: string[];
    try {
      env = parseEnvFlags(args.env, process.env);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    return runInContainer(await store(args), args.container, {
      args: args.command,
      env,
      user: args.user,
      workdir: args.workdir,
      mounts: await parseMounts(args.mount),
      allowHostPaths: args.allow.includes("host-paths"),
      onOutput: (stream, chunk) => (stream === "stdout" ? process.stdout : process.stderr).write(chunk),
    });
  },
});

const diffCommand = defineCommand({
  name: "diff",
  describe: "List what a container changed: A added, C changed, D deleted (as docker diff)",
  positionals: [containerArg],
  run: async (args) => {
    const { diffContainer, formatChanges } = await import("@tsbuild/containers");
    out(formatChanges(await diffContainer(await store(args), args.container)));
  },
});

const commitCommand = defineCommand({
  name: "commit",
  describe: "Make an image of a container: its writable layer becomes a new layer; prints the image ID",
  positionals: [containerArg, { name: "image", required: true, describe: "Name for the new image (name[:tag])" }],
  options: {
    message: { type: "string", short: "m", describe: "Comment for the history entry" },
    author: { type: "string", short: "a", describe: "Author of the new image" },
  },
  run: async (args) => {
    const { commitContainer } = await import("@tsbuild/containers");
    const result = await commitContainer(await store(args), args.container, args.image, { message: args.message, author: args.author });
    out(result.imageId);
  },
});

const cpCommand = defineCommand({
  name: "cp",
  describe: "Copy files between the host and a container (CONTAINER:PATH on one side; paths under a volume go to the volume)",
  positionals: [
    { name: "src", required: true, describe: "HOST_PATH or CONTAINER:PATH (end a dir with /. for its contents)" },
    { name: "dest", required: true, describe: "CONTAINER:PATH or HOST_PATH" },
  ],
  run: async (args) => {
    const { copyFiles, parseCopyEndpoint } = await import("@tsbuild/containers");
    const from = parseCopyEndpoint(args.src);
    const to = parseCopyEndpoint(args.dest);
    if ((from.kind === "container") === (to.kind === "container")) {
      throw new UsageError("cp copies between the host and a container: exactly one of SRC and DEST must be CONTAINER:PATH");
    }
    await copyFiles(await store(args), from, to);
  },
});

const psCommand = defineCommand({
  name: "ps",
  describe: "List working containers (-s: SIZE of the writable layer, virtual = with the image's layers)",
  options: {
    size: { type: "boolean", short: "s", describe: "Show sizes" },
    "no-trunc": { type: "boolean", describe: "Show full IDs" },
  },
  run: async (args) => {
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
});

const rmCommand = defineCommand({
  name: "rm",
  describe: "Remove containers: their writable layers go, the images and volumes stay",
  positionals: [containersArg],
  run: async (args) => {
    const { removeContainer } = await import("@tsbuild/containers");
    const s = await store(args);
    for (const ref of args.containers) {
      await removeContainer(s, ref);
      out(ref);
    }
  },
});

const mountCommand = defineCommand({
  name: "mount",
  describe: "Mount a container's rootfs and print its path (until tsbuild umount)",
  positionals: [containerArg],
  run: async (args) => {
    const { getContainer, mountContainer } = await import("@tsbuild/containers");
    const s = await store(args);
    out(await mountContainer(s, await getContainer(s, args.container)));
  },
});

const umountCommand = defineCommand({
  name: "umount",
  describe: "Unmount containers mounted with tsbuild mount",
  positionals: [containersArg],
  run: async (args) => {
    const { getContainer, unmountContainer } = await import("@tsbuild/containers");
    const s = await store(args);
    for (const ref of args.containers) await unmountContainer(s, await getContainer(s, ref));
  },
});

const inspectCommand = defineCommand({
  name: "inspect",
  describe: "Show containers or images as JSON: config, layers, and a container's storage paths (GraphDriver)",
  positionals: [{ name: "refs", required: true, variadic: true, describe: "Container or image names" }],
  run: async (args) => {
    const { inspectAny } = await import("@tsbuild/containers");
    const s = await store(args);
    const platform = await hostPlatform();
    const result = [];
    for (const ref of args.refs) result.push(await inspectAny(s, ref, platform));
    out(JSON.stringify(result, null, 4));
  },
});

const historyCommand = defineCommand({
  name: "history",
  describe: "Show an image's history: one line per entry with what created it and its layer's size",
  positionals: [{ name: "image", required: true, describe: "Image name or oci-layout://PATH[:TAG]" }],
  options: { "no-trunc": { type: "boolean", describe: "Do not shorten IDs and commands" } },
  run: async (args) => {
    const { imageHistory } = await import("@tsbuild/containers");
    out(formatHistory(await imageHistory(await store(args), args.image, await hostPlatform()), Date.now(), args["no-trunc"]));
  },
});

const infoCommand = defineCommand({
  name: "info",
  describe: "Show the storage driver in use and why, the store root, and runc's version",
  run: async (args) => {
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
});

const volumeNamesArg = { name: "names", required: true, variadic: true, describe: "Volume names" } as const satisfies PositionalSpec;

/** `tsbuild volume …`: without a subcommand it is a usage error naming them. */
const volumeCommand = defineCommand({
  name: "volume",
  describe: "Manage volumes (stored under the store's volumes/)",
  subcommands: [
    defineCommand({
      name: "create",
      describe: "Create a volume (a random name when none is given); prints its name",
      positionals: [{ name: "name", describe: "Volume name" }],
      run: async (args) => {
        const { createVolume } = await import("@tsbuild/containers");
        out((await createVolume(await store(args), args.name)).Name);
      },
    }),
    defineCommand({
      name: "ls",
      describe: "List volumes",
      options: { quiet: { type: "boolean", short: "q", describe: "Only names" } },
      run: async (args) => {
        const { listVolumes } = await import("@tsbuild/containers");
        const volumes = await listVolumes(await store(args));
        out(args.quiet ? volumes.map((v) => v.Name).join("\n") : formatTable([["DRIVER", "VOLUME NAME"], ...volumes.map((v) => ["local", v.Name])]));
      },
    }),
    defineCommand({
      name: "inspect",
      describe: "Show volumes as JSON",
      positionals: [volumeNamesArg],
      run: async (args) => {
        const { inspectVolume } = await import("@tsbuild/containers");
        const s = await store(args);
        const result = [];
        for (const name of args.names) result.push(await inspectVolume(s, name));
        out(JSON.stringify(result, null, 4));
      },
    }),
    defineCommand({
      name: "rm",
      describe: "Remove volumes and their data (not while a container uses them)",
      positionals: [volumeNamesArg],
      run: async (args) => {
        const { removeVolume } = await import("@tsbuild/containers");
        const s = await store(args);
        for (const name of args.names) {
          await removeVolume(s, name);
          out(name);
        }
      },
    }),
    defineCommand({
      name: "prune",
      describe: "Remove volumes no container uses (anonymous ones; with --all named ones too)",
      options: { all: { type: "boolean", short: "a", describe: "Named volumes too" } },
      run: async (args) => {
        const { pruneVolumes } = await import("@tsbuild/containers");
        const result = await pruneVolumes(await store(args), { all: args.all });
        out(`${result.removed.length > 0 ? `Deleted Volumes:\n${result.removed.join("\n")}\n\n` : ""}Total reclaimed space: ${formatSize(result.reclaimedBytes)}`);
      },
    }),
  ],
});

export const containerCommands = [
  fromCommand,
  runCommand,
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
