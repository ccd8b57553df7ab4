import { describe, expect, it } from "vitest";
import { hasWildcard, matchComponent } from "./glob.js";

describe("matchComponent (Go filepath.Match)", () => {
  it("matches stars, question marks and classes within one component", () => {
    expect(matchComponent("*.js", "a.js")).toBe(true);
    expect(matchComponent("*.js", "a.ts")).toBe(false);
    expect(matchComponent("?.txt", "a.txt")).toBe(true);
    expect(matchComponent("?.txt", "ab.txt")).toBe(false);
    expect(matchComponent("[a-c]x", "bx")).toBe(true);
    expect(matchComponent("[^a-c]x", "bx")).toBe(false);
    expect(matchComponent("[^a-c]x", "dx")).toBe(true);
    expect(matchComponent("a-b", "a-b")).toBe(true);
    expect(matchComponent("[-]", "-")).toBe(true);
    expect(matchComponent("\\*", "*")).toBe(true);
    expect(matchComponent("\\*", "x")).toBe(false);
  });

  it("rejects malformed patterns", () => {
    expect(() => matchComponent("[abc", "a")).toThrow(/bad pattern/);
    expect(() => matchComponent("abc\\", "a")).toThrow(/bad pattern/);
  });

  it("tells wildcards from plain names", () => {
    expect(hasWildcard("src/*.js")).toBe(true);
    expect(hasWildcard("src/index.js")).toBe(false);
  });
});
