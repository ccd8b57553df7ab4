import { describe, expect, it } from "vitest";
import { DockerfileError } from "@tsbuild/dockerfile";
import { planBuild } from "./plan.js";
import type { PlanOptions, PlannedStep } from "./types.js";

const amd64 = { os: "linux", architecture: "amd64" };
const arm64 = { os: "linux", architecture: "arm64", variant: "v8" };
const plan = (text: string, options: Partial<PlanOptions> = {}) =>
  planBuild(text, { targetPlatform: amd64, buildPlatform: amd64, ...options });
const stepOf = (p: ReturnType<typeof plan>, stage: number, step: number): PlannedStep => p.allStages[stage]!.steps[step]!;
const errorOf = (text: string, options: Partial<PlanOptions> = {}): DockerfileError => {
  try {
    plan(text, options);
  } catch (error) {
    expect(error).toBeInstanceOf(DockerfileError);
    return error as DockerfileError;
  }
  throw new Error("expected a DockerfileError");
};

describe("ARG and ENV scoping", () => {
  it("uses global ARGs in FROM, overridden by --build-arg", () => {
    const text = "ARG TAG=1.36\nFROM busybox:${TAG}\n";
    expect(plan(text).target.base).toEqual({ kind: "image", ref: "busybox:1.36" });
    expect(plan(text, { buildArgs: { TAG: "edge" } }).target.base).toEqual({ kind: "image", ref: "busybox:edge" });
  });

  it("makes a global ARG visible in a stage only when re-declared there", () => {
    const p = plan("ARG V=global\nFROM scratch\nWORKDIR /a$V\nARG V\nWORKDIR /b$V\n");
    expect(stepOf(p, 0, 0).instruction).toMatchObject({ kind: "workdir", value: "/a" });
    expect(stepOf(p, 0, 2).instruction).toMatchObject({ kind: "workdir", value: "/bglobal" });
  });

  it("gives stage ARG defaults, build-arg overrides, and lets ENV shadow ARG", () => {
    const text = "FROM scratch\nARG A=default\nWORKDIR /$A\nENV A=env\nWORKDIR /$A\n";
    expect(stepOf(plan(text), 0, 1).instruction).toMatchObject({ value: "/default" });
    expect(stepOf(plan(text, { buildArgs: { A: "cli" } }), 0, 1).instruction).toMatchObject({ value: "/cli" });
    expect(stepOf(plan(text, { buildArgs: { A: "cli" } }), 0, 3).instruction).toMatchObject({ value: "/env" });
    // RUN sees ARGs as environment, except those ENV shadows.
    const run = plan("FROM scratch\nARG A=1\nARG B=2\nENV B=3\nRUN true\n");
    expect([...stepOf(run, 0, 3).args]).toEqual([["A", "1"]]);
  });

  it("expands ENV values with the environment before the instruction", () => {
    const p = plan("FROM scratch\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$def\n");
    expect(stepOf(p, 0, 1).instruction).toMatchObject({ pairs: [{ key: "abc", value: "bye" }, { key: "def", value: "hello" }] });
    expect(stepOf(p, 0, 2).instruction).toMatchObject({ pairs: [{ key: "ghi", value: "hello" }] });
  });

  it("inherits ENV from a base stage and from a known base image", () => {
    const p = plan("FROM img AS one\nENV X=1\nFROM one\nWORKDIR /$X$HOME\n", { baseImageEnv: () => ["HOME=/root"] });
    expect(stepOf(p, 1, 0).instruction).toMatchObject({ value: "/1/root" });
  });

  it("defines the platform ARGs in the global scope and, once declared, in stages", () => {
    const text = "FROM --platform=$BUILDPLATFORM busybox:$TARGETARCH AS b\nWORKDIR /x$TARGETARCH\nARG TARGETARCH\nARG TARGETVARIANT\nWORKDIR /$TARGETARCH/$TARGETVARIANT\n";
    const p = plan(text, { targetPlatform: arm64 });
    expect(p.target.base).toEqual({ kind: "image", ref: "busybox:arm64" });
    expect(p.target.platform).toBe("linux/amd64");
    expect(stepOf(p, 0, 0).instruction).toMatchObject({ value: "/x" });
    expect(stepOf(p, 0, 3).instruction).toMatchObject({ value: "/arm64/v8" });
  });

  it("passes proxy build args to RUN without an ARG and does not count them as unused", () => {
    const p = plan("FROM scratch\nRUN true\n", { buildArgs: { HTTP_PROXY: "http://p:3128", UNUSED: "x" } });
    expect(stepOf(p, 0, 0).args.get("HTTP_PROXY")).toBe("http://p:3128");
    expect(p.unusedBuildArgs).toEqual(["UNUSED"]);
  });

  it("counts a build arg consumed by a global ARG or a needed stage", () => {
    const p = plan("ARG G\nFROM scratch AS a\nARG S\nFROM scratch\n", { buildArgs: { G: "1", S: "2" } });
    expect(p.unusedBuildArgs).toEqual(["S"]);
  });

  it("positions an expansion error at its instruction", () => {
    const error = errorOf("FROM scratch\nWORKDIR ${NEED:?set NEED}\n");
    expect(error.range?.start.line).toBe(2);
    expect(error.message).toMatch(/NEED/);
  });
});

describe("stages", () => {
  const multi = [
    "FROM busybox AS base",
    "FROM base AS build",
    "RUN make",
    "FROM busybox AS unused",
    "RUN exit 1",
    "FROM scratch AS final",
    "COPY --from=build /out /out",
    "COPY --from=0 /etc/passwd /p",
    "COPY --from=alpine:3 /x /x",
    "",
  ].join("\n");

  it("resolves FROM and COPY --from by name, index or image, and plans only what the target needs", () => {
    const p = plan(multi);
    expect(p.stages.map((s) => s.name)).toEqual(["base", "build", "final"]);
    expect(p.allStages[1]!.base).toEqual({ kind: "stage", index: 0 });
    expect(p.target.dependsOn).toEqual([1, 0]);
    expect(p.target.steps.map((s) => s.stageRefs)).toEqual([{ build: 1 }, { "0": 0 }, undefined]);
    expect(plan(multi, { target: "BUILD" }).stages.map((s) => s.name)).toEqual(["base", "build"]);
  });

  it("reports unknown targets, cycles, duplicates and reserved names", () => {
    expect(errorOf(multi, { target: "nope" }).message).toBe('target stage "nope" could not be found (stages: base, build, unused, final)');
    expect(errorOf("FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n").message).toMatch(/circular dependency detected on stage: (a|b)/);
    expect(errorOf("FROM busybox AS a\nFROM busybox AS A\n").message).toMatch(/duplicate stage name "a"/);
    expect(errorOf("FROM busybox AS scratch\n").message).toMatch(/reserved/);
    expect(errorOf("FROM busybox\nCOPY --from=5 /x /x\n").message).toMatch(/stage index 5 does not exist/);
  });

  it("does not fail on an unneeded stage's expansion error", () => {
    const text = "FROM scratch AS broken\nWORKDIR ${X:?no}\nFROM scratch AS ok\nWORKDIR /ok\n";
    expect(plan(text, { target: "ok" }).stages).toHaveLength(1);
    expect(() => plan(text, { target: "broken" })).toThrow(DockerfileError);
  });

  it("runs the base's ONBUILD triggers first, from a stage or from a base image's config", () => {
    const fromStage = plan("FROM scratch AS base\nONBUILD WORKDIR /trigger\nFROM base\nWORKDIR /own\n");
    expect(fromStage.target.steps.map((s) => [s.instruction.kind, s.trigger ?? false])).toEqual([["workdir", true], ["workdir", false]]);
    const fromImage = plan("FROM img\nARG V=1\n", { baseImageOnBuild: () => ["ENV FROM_TRIGGER=yes", "RUN echo $FROM_TRIGGER"], baseImageEnv: () => [] });
    expect(fromImage.target.steps.map((s) => s.instruction.kind)).toEqual(["env", "run", "arg"]);
    expect(fromImage.target.steps[0]!.instruction).toMatchObject({ pairs: [{ key: "FROM_TRIGGER", value: "yes" }] });
  });

  it("makes RUN --mount from= a stage dependency and positions bad mounts", () => {
    const p = plan("FROM scratch AS deps\nFROM scratch\nRUN --mount=type=bind,from=deps,target=/d --mount=type=cache,target=/c true\n");
    expect(p.target.dependsOn).toEqual([0]);
    expect(p.target.steps[0]!.stageRefs).toEqual({ deps: 0 });
    const error = errorOf("FROM scratch\nRUN --mount=type=floppy,target=/x true\n");
    expect(error.range?.start.line).toBe(2);
    expect(error.message).toMatch(/--mount=type=floppy,target=\/x/);
  });

  it("treats --build-context names as contexts", () => {
    const p = plan("FROM deps\nCOPY --from=src /a /b\n", { namedContexts: new Set(["deps", "src"]) });
    expect(p.target.base).toEqual({ kind: "context", name: "deps" });
  });
});
