// `tsbuild build [CONTEXT]` (also the default command: `tsbuild -f Dockerfile .`).
// @tsbuild/core is loaded by the handler (`await import`): `--help` and other commands need none of it.
import path from "node:path";
import { writeFile } from "node:fs/promises";
import type { CacheSpec, OutputSpec } from "@tsbuild/core";
import { defineCommand, type GlobalArgs } from "./args.js";
import { UsageError, type OptionTable, type OptionValues } from "./command-line.js";
import { registryOptions, registryOptionTable } from "./registry-commands.js";
import { hostPlatform, platformOption } from "./platform.js";
import { readDockerfileInput } from "./dockerfile-input.js";
import { renderFindings, renderOutline, renderTargets } from "./render-plan.js";
import { createRenderer } from "./progress.js";

const buildOptions = {
  ...registryOptionTable,
  file: { type: "string", short: "f", describe: "Dockerfile (default CONTEXT/Dockerfile; - for stdin)" },
  "build-arg": { type: "string", multiple: true, describe: "Set a build argument NAME=VALUE" },
  target: { type: "string", describe: "Build this stage (default: the last)" },
  platform: { type: "string", describe: "Target platform os/arch[/variant] (default: the host)" },
  tag: { type: "string", short: "t", multiple: true, describe: "Name the image in the local store (name[:tag])" },
  output: { type: "string", short: "o", multiple: true, describe: "type=oci|docker|local,dest=PATH[,tar=false][,name=N]" },
  "no-cache": { type: "boolean", describe: "Do not use the build cache" },
  pull: { type: "boolean", describe: "Ask the registry for newer base images, even those already in the local store" },
  "no-cache-filter": { type: "string", multiple: true, describe: "Do not use the cache for these stages" },
  label: { type: "string", multiple: true, describe: "Add a label to the image (KEY=VALUE)" },
  "build-context": { type: "string", multiple: true, describe: "NAME=DIR|oci-layout://PATH[:TAG] for FROM NAME / COPY --from=NAME" },
  iidfile: { type: "string", describe: "Write the image ID to this file" },
  "metadata-file": { type: "string", describe: "Write build metadata (digests, tags) as JSON to this file" },
  progress: { type: "string", choices: ["auto", "tty", "plain", "json"], default: "auto", describe: "Progress output" },
  secret: { type: "string", multiple: true, describe: "A secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR" },
  ssh: { type: "string", multiple: true, describe: "An ssh agent for RUN --mount=type=ssh: default or ID=SOCKET (default: $SSH_AUTH_SOCK)" },
  allow: { type: "string", multiple: true, describe: "Entitlements: security.insecure (for RUN --security=insecure)" },
  push: { type: "boolean", describe: "Push the image to its registry under each -t name" },
  "cache-to": { type: "string", multiple: true, describe: "Export the build cache: type=registry,ref=R[,mode=max] or type=local,dest=DIR" },
  "cache-from": { type: "string", multiple: true, describe: "Import build cache: type=registry,ref=R or type=local,src=DIR" },
  "storage-driver": { type: "string", choices: ["overlay", "native"], describe: "Snapshots: overlay (default where it mounts) or native (copies)" },
  call: {
    type: "string",
    choices: ["build", "outline", "targets", "check"],
    default: "build",
    describe: "What to do: build, or show the outline, the targets, or the check findings",
  },
} as const satisfies OptionTable;

type BuildArgs = OptionValues<typeof buildOptions> & GlobalArgs;

export function parseKeyValues(values: readonly string[], flag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of values) {
    const eq = entry.indexOf("=");
    if (eq <= 0) {
      // `--build-arg NAME` takes the value from the environment, as docker build does.
      const fromEnv = process.env[entry];
      if (eq === -1 && entry !== "" && fromEnv !== undefined) {
        out.set(entry, fromEnv);
        continue;
      }
      if (eq === -1 && entry !== "") continue;
      throw new UsageError(`${flag} expects NAME=VALUE, got ${JSON.stringify(entry)}`);
    }
    out.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return out;
}

export const buildCommand = defineCommand({
  name: "build",
  describe: "Build an image from a Dockerfile",
  isDefault: true,
  positionals: [{ name: "context", default: ".", describe: "Build context directory" }],
  options: buildOptions,
  run: async (args) => {
    const context = path.resolve(args.context);
    const input = await readDockerfileInput(args.file, context);
    const build = await hostPlatform();
    const target = await platformOption(args.platform);
    const buildArgs = parseKeyValues(args["build-arg"], "--build-arg");
    const { buildOutline, listTargets, planBuild } = await import("@tsbuild/core");
    const plan = planBuild(input.text, { file: input.name, buildArgs, target: args.target, targetPlatform: target, buildPlatform: build });
    for (const name of plan.unusedBuildArgs) {
      process.stderr.write(`warning: build-arg ${name} was not consumed by any ARG in the stages built\n`);
    }
    switch (args.call) {
      case "outline":
        process.stdout.write(renderOutline(buildOutline(plan)));
        return 0;
      case "targets":
        process.stdout.write(renderTargets(listTargets(plan)));
        return 0;
      case "check":
        process.stdout.write(renderFindings(plan.findings, input.name, plan.ast.lines));
        return plan.findings.some((f) => f.error) ? 1 : 0;
      default:
        await runBuild(args, context, input, buildArgs);
        return 0;
    }
  },
});

async function runBuild(args: BuildArgs, context: string, input: Awaited<ReturnType<typeof readDockerfileInput>>, buildArgs: Map<string, string>): Promise<void> {
  const { build, parseCacheSpec, parseOutputSpec } = await import("@tsbuild/core");
  let outputs: OutputSpec[];
  let cacheTo: CacheSpec[];
  let cacheFrom: CacheSpec[];
  try {
    outputs = args.output.map(parseOutputSpec);
    cacheTo = args["cache-to"].map((c) => parseCacheSpec(c, "to"));
    cacheFrom = args["cache-from"].map((c) => parseCacheSpec(c, "from"));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (args.push && args.tag.length === 0) throw new UsageError("--push needs at least one -t NAME to push to");
  for (const entitlement of args.allow) {
    if (entitlement !== "security.insecure") throw new UsageError(`unknown --allow ${JSON.stringify(entitlement)} (known: security.insecure)`);
  }
  const epoch = process.env.SOURCE_DATE_EPOCH ?? buildArgs.get("SOURCE_DATE_EPOCH");
  if (epoch !== undefined && !/^\d+$/.test(epoch)) throw new UsageError(`SOURCE_DATE_EPOCH must be a number of seconds, got ${JSON.stringify(epoch)}`);
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write("\ncancelling: stopping the running step (press Ctrl-C again to quit at once)\n");
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const renderer = createRenderer(args.progress, process.stderr);
  try {
    const result = await build({
      context,
      dockerfile: input.path,
      dockerfileText: input.path ? undefined : input.text,
      buildArgs,
      target: args.target,
      platform: args.platform,
      root: args.root,
      tags: args.tag,
      outputs,
      noCache: args["no-cache"],
      pull: args.pull,
      noCacheFilter: args["no-cache-filter"],
      labels: Object.fromEntries(parseKeyValues(args.label, "--label")),
      buildContexts: Object.fromEntries(parseKeyValues(args["build-context"], "--build-context")),
      sourceDateEpoch: epoch === undefined ? undefined : Number(epoch),
      storageDriver: args["storage-driver"],
      registry: registryOptions(args),
      secrets: parseSecrets(args.secret),
      ssh: parseSsh(args.ssh),
      allow: args.allow,
      push: args.push,
      cacheTo,
      cacheFrom,
      signal: controller.signal,
      onEvent: (e) => renderer.onEvent(e),
    });
    renderer.close();
    if (args.iidfile) await writeFile(args.iidfile, result.imageId);
    if (args["metadata-file"]) {
      const metadata = { "containerimage.digest": result.manifestDigest, "containerimage.config.digest": result.imageId, "image.name": result.tags.join(","), tags: result.tags };
      await writeFile(args["metadata-file"], `${JSON.stringify(metadata, null, 2)}\n`);
    }
    if (args.progress !== "json") process.stdout.write(`${result.imageId}\n`);
  } finally {
    renderer.close();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** `--secret id=ID,src=FILE` / `id=ID,env=VAR` (`type=file|env` accepted as buildx has it). */
export function parseSecrets(values: readonly string[]): Record<string, { file: string } | { env: string }> {
  const out: Record<string, { file: string } | { env: string }> = {};
  for (const value of values) {
    const fields = new Map(value.split(",").map((part) => {
      const eq = part.indexOf("=");
      if (eq <= 0) throw new UsageError(`--secret ${JSON.stringify(value)}: expected id=ID,src=FILE or id=ID,env=VAR`);
      return [part.slice(0, eq).trim(), part.slice(eq + 1).trim()] as const;
    }));
    const id = fields.get("id");
    if (!id) throw new UsageError(`--secret ${JSON.stringify(value)} needs id=ID`);
    const src = fields.get("src") ?? fields.get("source");
    const env = fields.get("env");
    if (src !== undefined) out[id] = { file: path.resolve(src) };
    else out[id] = { env: env ?? id };
  }
  return out;
}

/** `--ssh default` (the agent at $SSH_AUTH_SOCK) or `--ssh ID=SOCKET`. */
export function parseSsh(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf("=");
    const id = eq === -1 ? value : value.slice(0, eq);
    const socket = eq === -1 ? process.env.SSH_AUTH_SOCK : value.slice(eq + 1);
    if (!id || !socket) throw new UsageError(`--ssh ${JSON.stringify(value)}: give ID=SOCKET, or set SSH_AUTH_SOCK for --ssh ${id || "default"}`);
    out[id] = path.resolve(socket);
  }
  return out;
}
