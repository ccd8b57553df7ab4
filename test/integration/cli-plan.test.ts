// The CLI's planning calls: outline, targets, check, Dockerfiles from stdin, usage errors.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeScratchDir } from "../support/scratch.js";
import { runTsbuild } from "../support/tsbuild.js";
import { writeTree } from "./helpers.js";

const dockerfile = [
  "# syntax=docker/dockerfile:1",
  "# Version of the base image",
  "ARG BASE_TAG=1.36",
  "",
  "# build compiles the app",
  "FROM busybox:${BASE_TAG} AS build",
  "# Where sources live",
  "ARG SRC=/src",
  "RUN make",
  "",
  "FROM busybox:${BASE_TAG} AS test",
  "RUN make test",
  "",
  "# the shipped image",
  "FROM scratch AS final",
  "COPY --from=build /out /out",
  "CMD /out/app",
  "",
].join("\n");

async function cli(...args: string[]) {
  const dir = await makeScratchDir("tsbuild-cli-");
  await writeTree(dir, { Dockerfile: dockerfile });
  return runTsbuild(args, { root: path.join(dir, "store"), cwd: dir });
}

describe("tsbuild build --call", () => {
  it("outlines the stages a target needs, their steps and build args with descriptions", async () => {
    const r = await cli("build", "--call", "outline", "--build-arg", "SRC=/code", ".");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("TARGET:      final");
    expect(r.stdout).toContain("DESCRIPTION: the shipped image");
    expect(r.stdout).toMatch(/BASE_TAG\s+1\.36\s+Version of the base image/);
    expect(r.stdout).toMatch(/SRC\s+\/code\s+Where sources live/);
    expect(r.stdout).toContain("[build] FROM busybox:1.36 — build compiles the app");
    expect(r.stdout).toContain("[final] FROM scratch, needs build");
    expect(r.stdout).not.toContain("[test]");
  });

  it("lists the targets with the default marked", async () => {
    const r = await cli("--call", "targets", ".");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n").slice(0, 4)).toEqual(["TARGET            DESCRIPTION", "build             build compiles the app", "test", "final (default)   the shipped image"]);
  });

  it("reports check findings with positions and exits non-zero only when they are errors", async () => {
    const r = await cli("build", "--call", "check", ".");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("Dockerfile:17:1: warning: JSONArgsRecommended:");
    const dir = await makeScratchDir("tsbuild-cli-");
    const strict = await runTsbuild(["build", "--call", "check", "-f", "-", "."], { root: path.join(dir, "s"), cwd: dir, input: `# check=error=true\n${dockerfile}` });
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain("error: JSONArgsRecommended");
  });

  it("reads the Dockerfile from stdin with -f - and warns about unused build args", async () => {
    const dir = await makeScratchDir("tsbuild-cli-");
    const r = await runTsbuild(["--call", "targets", "--build-arg", "NOPE=1", "-f", "-", "."], { root: path.join(dir, "s"), cwd: dir, input: "FROM scratch AS only\n" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("only (default)");
    expect(r.stderr).toContain("warning: build-arg NOPE was not consumed");
  });

  it("exits 2 with a clear message for bad arguments", async () => {
    const unknown = await cli("build", "--frobnicate", ".");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option --frobnicate/);
    const badCall = await cli("build", "--call", "dance", ".");
    expect(badCall.code).toBe(2);
    expect(badCall.stderr).toMatch(/invalid value for --call: "dance" \(choose from build, outline, targets, check\)/);
    const badOutput = await cli("build", "-o", "type=floppy,dest=x", ".");
    expect(badOutput.code).toBe(2);
    expect(badOutput.stderr).toMatch(/unsupported --output type=floppy/);
    const noContext = await cli("frobnicate");
    expect(noContext.code).toBe(2);
    expect(noContext.stderr).toMatch(/build context .*frobnicate is not a directory \(it does not exist; 'tsbuild --help' lists the commands\)/);
    const noDockerfile = await cli("build", "-f", "missing.Dockerfile", ".");
    expect(noDockerfile.code).toBe(2);
    expect(noDockerfile.stderr).toMatch(/no Dockerfile at .*missing\.Dockerfile/);
  });
});
