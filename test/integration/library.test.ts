// The library API: typed events, the result, and cancellation with an AbortSignal.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { build, type BuildEvent } from "@tsbuild/core";
import { makeScratchDir } from "../support/scratch.js";
import { expectNoLeftovers, fromBusybox, writeTree } from "./helpers.js";

describe("build() as a library", () => {
  it("emits typed events in order and returns the image with its layers", async () => {
    const dir = await makeScratchDir("tsbuild-lib-");
    await writeTree(dir, { Dockerfile: `${await fromBusybox()}\nRUN echo out && echo err >&2 && echo file > /made\nLABEL a=b\n` });
    const events: BuildEvent[] = [];
    const result = await build({ context: dir, root: path.join(dir, "store"), tags: ["lib:1"], onEvent: (e) => events.push(e) });
    expect(result.imageId).toMatch(/^sha256:/);
    expect(result.tags).toEqual(["lib:1"]);
    expect(result.config.config?.Labels).toEqual({ a: "b" });
    expect(result.layers.map((l) => l.fromBase)).toEqual([true, false]);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe("build-start");
    expect(types.at(-1)).toBe("build-done");
    const output = events.filter((e): e is Extract<BuildEvent, { type: "step-output" }> => e.type === "step-output");
    expect(output.map((e) => `${e.stream}:${e.text.trim()}`).sort()).toEqual(["stderr:err", "stdout:out"]);
    const done = events.find((e) => e.type === "build-done");
    expect(done).toMatchObject({ imageId: result.imageId });
  });

  it("stops a running step when its AbortSignal fires, leaving nothing mounted or running", async () => {
    const dir = await makeScratchDir("tsbuild-lib-");
    const root = path.join(dir, "store");
    // A duration no other test sleeps for: test files run in parallel and ps sees them all.
    await writeTree(dir, { Dockerfile: `${await fromBusybox()}\nRUN sleep 137\n` });
    const controller = new AbortController();
    const started = build({
      context: dir,
      root,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === "step-start" && e.instruction.startsWith("RUN")) setTimeout(() => controller.abort(), 500);
      },
    });
    await expect(started).rejects.toThrow(/abort/i);
    await expectNoLeftovers(root);
    expect(execFileSync("ps", ["-eo", "args"]).toString()).not.toMatch(/^sleep 137$/m);
  });
});
