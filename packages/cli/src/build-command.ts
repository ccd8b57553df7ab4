// `tsbuild build [CONTEXT]` (also the default command: `tsbuild -f Dockerfile .`).
import path from "node:path";
import type { CommandModule } from "yargs";
import { buildOutline, listTargets, planBuild } from "@tsbuild/core";
import { ociArchitecture, parsePlatform, type Platform } from "@tsbuild/dockerfile";
import { readDockerfileInput, UsageError } from "./dockerfile-input.js";
import { renderFindings, renderOutline, renderTargets } from "./render-plan.js";

interface BuildArgs {
  context: string;
  file?: string;
  "build-arg": string[];
  target?: string;
  call?: "build" | "outline" | "targets" | "check";
  platform?: string;
}

export function hostPlatform(): Platform {
  return { os: "linux", architecture: ociArchitecture(process.arch) };
}

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

export function buildCommand(setExitCode: (code: number) => void): CommandModule<object, BuildArgs> {
  return {
    command: ["build [context]", "$0 [context]"],
    describe: "Build an image from a Dockerfile",
    builder: (y) =>
      y
        .positional("context", { type: "string", default: ".", describe: "Build context directory" })
        .option("file", { alias: "f", type: "string", describe: "Dockerfile (default CONTEXT/Dockerfile; - for stdin)" })
        .option("build-arg", { type: "string", array: true, default: [], describe: "Set a build argument NAME=VALUE" })
        .option("target", { type: "string", describe: "Build this stage (default: the last)" })
        .option("platform", { type: "string", describe: "Target platform os/arch[/variant] (default: the host)" })
        .option("call", {
          choices: ["build", "outline", "targets", "check"] as const,
          default: "build" as const,
          describe: "What to do: build, or show the outline, the targets, or the check findings",
        }) as never,
    handler: async (args) => {
      const context = path.resolve(args.context);
      const input = await readDockerfileInput(args.file, context);
      const build = hostPlatform();
      let target = build;
      if (args.platform) {
        try {
          target = parsePlatform(args.platform);
        } catch (error) {
          throw new UsageError((error as Error).message);
        }
      }
      const buildArgs = parseKeyValues(args["build-arg"], "--build-arg");
      const plan = planBuild(input.text, { file: input.name, buildArgs, target: args.target, targetPlatform: target, buildPlatform: build });
      for (const name of plan.unusedBuildArgs) {
        process.stderr.write(`warning: build-arg ${name} was not consumed by any ARG in the stages built\n`);
      }
      switch (args.call) {
        case "outline":
          process.stdout.write(renderOutline(buildOutline(plan)));
          return;
        case "targets":
          process.stdout.write(renderTargets(listTargets(plan)));
          return;
        case "check":
          process.stdout.write(renderFindings(plan.findings, input.name, plan.ast.lines));
          if (plan.findings.some((f) => f.error)) setExitCode(1);
          return;
        default:
          throw new UsageError("building images is not yet implemented (the layer engine lands next); use --call outline|targets|check");
      }
    },
  };
}
