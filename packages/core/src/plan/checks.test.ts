import { describe, expect, it } from "vitest";
import { DockerfileError } from "@tsbuild/dockerfile";
import { planBuild } from "./plan.js";

const amd64 = { os: "linux", architecture: "amd64" };
const rules = (text: string) =>
  planBuild(text, { targetPlatform: amd64, buildPlatform: amd64, baseImageEnv: () => ["PATH=/bin"] }).findings.map((f) => `${f.range?.start.line}:${f.rule}`);

describe("build checks", () => {
  it("flags stage name and AS casing", () => {
    expect(rules("FROM busybox as Build\n")).toEqual(["1:StageNameCasing", "1:FromAsCasing"]);
    expect(rules("from busybox AS build\n")).toEqual(["1:FromAsCasing"]);
  });

  it("recommends JSON args for CMD and ENTRYPOINT and flags repeats", () => {
    expect(rules('FROM busybox\nCMD echo hi\nCMD ["a"]\nENTRYPOINT ["b"]\n')).toEqual(["2:JSONArgsRecommended", "2:MultipleInstructionsDisallowed"]);
  });

  it("flags undefined variables when the base environment is known", () => {
    expect(rules("FROM busybox\nENV A=$PATH:$NOPE\n")).toEqual(["2:UndefinedVar"]);
    expect(rules("FROM ${IMG}\n")).toEqual(["1:UndefinedArgInFrom"]);
  });

  it("flags secrets in ARG and ENV names, but not public ones", () => {
    expect(rules("FROM busybox\nARG GITHUB_TOKEN\nENV API_KEY=x PUBLIC_KEY=y\n")).toEqual(["2:SecretsUsedInArgOrEnv", "3:SecretsUsedInArgOrEnv"]);
  });

  it("flags the legacy key value form, MAINTAINER, relative WORKDIR in scratch, casing", () => {
    expect(rules("FROM scratch\nENV A 1\nMAINTAINER me\nWORKDIR rel\nrun true\n")).toEqual([
      "2:LegacyKeyValueFormat",
      "3:MaintainerDeprecated",
      "4:WorkdirRelativePath",
      "5:ConsistentInstructionCasing",
    ]);
  });

  it("flags COPY . before a dependency install", () => {
    expect(rules("FROM node\nWORKDIR /app\nCOPY . .\nRUN npm ci\n")).toEqual(["4:CopyAllBeforeDependencyInstall"]);
    expect(rules("FROM node\nWORKDIR /app\nCOPY package*.json ./\nRUN npm ci\nCOPY . .\n")).toEqual([]);
  });

  it("flags constant and redundant FROM --platform", () => {
    expect(rules("FROM --platform=linux/amd64 busybox\nFROM --platform=$TARGETPLATFORM busybox\nFROM --platform=$BUILDPLATFORM busybox\n")).toEqual([
      "1:FromPlatformFlagConstDisallowed",
      "2:RedundantTargetPlatform",
    ]);
  });

  it("obeys the check directive: skip rules, skip all, make them errors", () => {
    expect(rules("# check=skip=JSONArgsRecommended\nFROM busybox\nCMD echo\n")).toEqual([]);
    expect(rules("# check=skip=all\nFROM busybox as X\nCMD echo\n")).toEqual([]);
    const plan = planBuild("# check=error=true\nFROM busybox\nCMD echo\n", { targetPlatform: amd64, buildPlatform: amd64 });
    expect(plan.findings.map((f) => [f.rule, f.error])).toEqual([["JSONArgsRecommended", true]]);
    expect(() => planBuild("# check=bogus=1\nFROM busybox\n", { targetPlatform: amd64, buildPlatform: amd64 })).toThrow(DockerfileError);
  });
});
