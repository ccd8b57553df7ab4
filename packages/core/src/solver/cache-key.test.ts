import { describe, expect, test } from "vitest";
import { cacheKey, explainMiss } from "./cache-key.js";

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
});
