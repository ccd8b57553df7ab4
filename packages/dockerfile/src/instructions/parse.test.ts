import { describe, expect, it } from "vitest";
import { DockerfileError } from "../errors.js";
import { parseDockerfile } from "../parser/index.js";
import { parseInstructions } from "./parse.js";
import type { CopyInstruction, HealthcheckInstruction, KeyValueInstruction, OnbuildInstruction, RunInstruction } from "./types.js";

const program = (text: string) => parseInstructions(parseDockerfile(text));
const first = (text: string) => program(text).stages[0]!.instructions[0]!;

function errorOf(text: string): DockerfileError {
  try {
    program(text);
  } catch (error) {
    expect(error).toBeInstanceOf(DockerfileError);
    return error as DockerfileError;
  }
  throw new Error("expected a DockerfileError");
}

describe("parseInstructions", () => {
  it("splits global ARGs and stages", () => {
    const p = program("ARG V=1\nFROM busybox:${V} AS Build\nRUN true\nFROM scratch\nCOPY --from=build /a /b\n");
    expect(p.globalArgs).toHaveLength(1);
    expect(p.stages.map((s) => s.name)).toEqual(["build", undefined]);
    expect(p.stages[0]!.from.stageName).toBe("Build");
    expect(p.stages[1]!.instructions[0]!.kind).toBe("copy");
  });

  it("reports an unknown instruction with its position, the line and a suggestion", () => {
    const error = errorOf("FROM busybox\n\nCOPPY a b\n");
    expect(error.message).toBe("unknown instruction: COPPY (did you mean COPY?)");
    expect(error.range?.start).toEqual({ line: 3, column: 1 });
    expect(error.format("Dockerfile")).toBe("Dockerfile:3:1: unknown instruction: COPPY (did you mean COPY?)\n 3 | COPPY a b\n   | ^");
  });

  it("rejects instructions before the first FROM other than ARG", () => {
    expect(errorOf("RUN true\nFROM busybox\n").message).toMatch(/RUN cannot come before the first FROM/);
  });

  it("validates flags per instruction", () => {
    expect(errorOf("FROM busybox\nCOPY --form=x a b\n").message).toMatch(/^unknown flag: --form \(COPY accepts --from,/);
    expect(errorOf("FROM busybox\nENV --x=1 A=b\n").message).toBe("unknown flag: --x");
    expect(errorOf("FROM busybox\nCOPY --from=a --from=b a b\n").message).toBe("duplicate flag specified: --from");
    expect(errorOf("FROM busybox\nCOPY --link=maybe a b\n").message).toBe("expecting boolean value for flag --link, not: maybe");
    expect(errorOf("FROM busybox\nCOPY --from a b\n").message).toBe("missing a value on flag: --from");
    expect(errorOf("FROM busybox\nCOPY --chmod=abc a b\n").message).toMatch(/invalid --chmod value/);
  });

  it("types COPY and ADD with their flags", () => {
    const copy = first("FROM busybox\nCOPY --link --chown=app:app --chmod=0644 --exclude=*.md --exclude=x a b /dst/\n") as CopyInstruction;
    expect(copy).toMatchObject({ kind: "copy", sources: ["a", "b"], destination: "/dst/", link: true, chown: "app:app", chmod: "0644", exclude: ["*.md", "x"], parents: false });
    const add = first("FROM busybox\nADD --checksum=sha256:abc --keep-git-dir=false https://x/y /y\n") as CopyInstruction;
    expect(add).toMatchObject({ kind: "add", checksum: "sha256:abc", keepGitDir: false });
    expect(errorOf("FROM busybox\nCOPY onlyone\n").message).toMatch(/COPY requires at least two arguments, but only one was provided/);
    expect(errorOf("FROM busybox\nADD --checksum=sha256:abc a b /c\n").message).toMatch(/checksum can't be specified for multiple sources/);
  });

  it("keeps exec and shell forms of RUN, CMD and ENTRYPOINT", () => {
    expect((first('FROM b\nRUN ["echo", "hi"]\n') as RunInstruction).command).toEqual({ form: "exec", args: ["echo", "hi"] });
    expect((first("FROM b\nRUN echo $HOME  &&  ls\n") as RunInstruction).command).toEqual({ form: "shell", script: "echo $HOME  &&  ls" });
    const run = first("FROM b\nRUN --mount=type=cache,target=/c --network=none true\n") as RunInstruction;
    expect(run.mounts).toEqual(["type=cache,target=/c"]);
    expect(run.network).toBe("none");
    expect(errorOf("FROM b\nSHELL /bin/bash -c\n").message).toBe("SHELL requires the arguments to be in JSON form");
  });

  it("types ENV and LABEL pairs, noting the legacy form", () => {
    const env = first('FROM b\nENV A=1 B="two words"\n') as KeyValueInstruction;
    expect(env.pairs).toEqual([{ key: "A", value: "1" }, { key: "B", value: '"two words"' }]);
    expect(env.legacyFormat).toBe(false);
    const legacy = first("FROM b\nENV A 1 2\n") as KeyValueInstruction;
    expect(legacy.pairs).toEqual([{ key: "A", value: "1 2" }]);
    expect(legacy.legacyFormat).toBe(true);
  });

  it("types HEALTHCHECK with Go durations and validates them", () => {
    const hc = first("FROM b\nHEALTHCHECK --interval=1m30s --timeout=5s --start-period=0 --retries=3 CMD curl -f http://x\n") as HealthcheckInstruction;
    expect(hc.healthcheck).toEqual({ test: ["CMD-SHELL", "curl -f http://x"], interval: 90e9, timeout: 5e9, startPeriod: 0, startInterval: 0, retries: 3 });
    expect((first('FROM b\nHEALTHCHECK CMD ["true"]\n') as HealthcheckInstruction).healthcheck.test).toEqual(["CMD", "true"]);
    expect((first("FROM b\nHEALTHCHECK NONE\n") as HealthcheckInstruction).healthcheck.test).toEqual(["NONE"]);
    expect(errorOf("FROM b\nHEALTHCHECK --interval=abc CMD true\n").message).toMatch(/invalid duration for --interval/);
    expect(errorOf("FROM b\nHEALTHCHECK --interval=10us CMD true\n").message).toMatch(/cannot be less than 1ms/);
    expect(errorOf("FROM b\nHEALTHCHECK --retries=-1 CMD true\n").message).toMatch(/non-negative integer/);
    expect(errorOf("FROM b\nHEALTHCHECK NONE true\n").message).toMatch(/takes no arguments/);
  });

  it("types ONBUILD triggers and refuses the forbidden ones", () => {
    const onbuild = first("FROM b\nONBUILD run echo hi\n") as OnbuildInstruction;
    expect(onbuild.trigger).toBe("RUN echo hi");
    expect(onbuild.inner.kind).toBe("run");
    expect(errorOf("FROM b\nONBUILD ONBUILD RUN x\n").message).toMatch(/isn't allowed/);
    expect(errorOf("FROM b\nONBUILD FROM x\n").message).toBe("FROM isn't allowed as an ONBUILD trigger");
  });

  it("checks FROM's arguments and stage names", () => {
    expect(errorOf("FROM a b\n").message).toMatch(/FROM requires either one or three arguments/);
    expect(errorOf("FROM a AS 1abc\n").message).toMatch(/invalid name for build stage/);
  });

  it("requires single-argument instructions to have one", () => {
    expect(errorOf("FROM b\nWORKDIR\n").message).toBe("WORKDIR requires exactly one argument");
    expect(errorOf("FROM b\nVOLUME [\"\"]\n").message).toBe("VOLUME specified can not be an empty string");
  });
});
