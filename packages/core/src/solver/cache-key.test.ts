import { describe, expect, test } from "vitest";
import { cacheKey, canonical, explainMiss } from "./cache-key.js";

describe("cacheKey", () => {
  test("keeps the keys of earlier versions (stores and exported caches stay valid)", () => {
    // Computed with the first implementation (one hash update per file).
    const files = { "b/x": "file:644:ff", a: "dir:755", "c é": "symlink:../a" };
    expect(cacheKey({ parent: "sha256:abc", instruction: '{"kind":"COPY"}', files })).toBe("2b7084f9a9304389ce86ac8c7a52d63e50417ba2fa1d6f403e4afe8211a4fc8e");
    expect(cacheKey({ parent: "p", instruction: "i" })).toBe("42bada6debe80479728c6f7a7e6ac1d663c0b4793a4999e2f6da64ae059dc87e");
  });

  test("depends on every input but not on the order the files were listed in", () => {
    const base = { parent: "p", instruction: "i", files: { a: "file:644:1", b: "file:644:2" } };
    expect(cacheKey({ ...base, files: { b: "file:644:2", a: "file:644:1" } })).toBe(cacheKey(base));
    expect(cacheKey({ ...base, files: { a: "file:644:1", b: "file:755:2" } })).not.toBe(cacheKey(base));
    expect(cacheKey({ ...base, parent: "q" })).not.toBe(cacheKey(base));
    expect(cacheKey({ ...base, instruction: "j" })).not.toBe(cacheKey(base));
  });
});

describe("explainMiss", () => {
  test("names the changed files", () => {
    const before = { parent: "p", instruction: "i", files: { a: "1", b: "2" } };
    expect(explainMiss({ ...before, files: { a: "1", b: "3" } }, before)).toBe("1 file changed: b");
    expect(explainMiss(before, undefined)).toBe("not built before with this instruction");
  });

  test("names the settings that changed, and a changed COPY --from source as such", () => {
    const copy = (from: string, extra: object = {}) => canonical({ kind: "copy", sources: ["/out"], dest: "/app/", from, ...extra });
    const before = { parent: "p", instruction: copy("stage:sha256:1") };
    expect(explainMiss({ ...before, instruction: copy("stage:sha256:2") }, before)).toBe("the stage or image it copies from changed");
    expect(explainMiss({ ...before, instruction: copy("stage:sha256:2", { chmod: "755" }) }, before)).toBe(
      "the stage or image it copies from changed; its settings changed (chmod)",
    );
    const run = (env: string[], user?: string) => canonical({ kind: "run", argv: ["/bin/sh", "-c", "make"], env, user });
    expect(explainMiss({ parent: "p", instruction: run(["A=2"], "app") }, { parent: "p", instruction: run(["A=1"]) })).toBe("its settings changed (env, user)");
    // COPY --chown keeps the parent key (names resolve through its /etc/passwd): said once.
    const chown = (parent: string) => ({ parent, instruction: canonical({ kind: "copy", chown: "app", user: parent }) });
    expect(explainMiss(chown("p2"), chown("p1"))).toBe("an earlier step or the base image changed");
    expect(explainMiss({ parent: "p", instruction: "i2" }, { parent: "p", instruction: "i1" })).toBe("its settings changed (environment, build args, user, workdir or flags)");
  });
});
