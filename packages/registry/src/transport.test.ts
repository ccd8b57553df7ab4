import { describe, expect, it } from "vitest";
import { RegistryError } from "./errors.js";
import { Transport, isLoopbackRegistry } from "./transport.js";

describe("isLoopbackRegistry", () => {
  it.each([
    ["localhost", true],
    ["localhost:5000", true],
    ["127.0.0.1", true],
    ["127.1.2.3:80", true],
    ["[::1]:5000", true],
    ["128.0.0.1", false],
    ["127.0.0.1.example.com", false],
    ["localhost.example.com:5000", false],
    ["docker.io", false],
  ])("%s -> %s", (registry, loopback) => {
    expect(isLoopbackRegistry(registry)).toBe(loopback);
  });
});

describe("Transport.send", () => {
  it("refuses plain HTTP to a host that is neither loopback nor listed as insecure, before connecting", async () => {
    const transport = new Transport({ userAgent: "test", timeoutMs: 1000, insecureRegistries: ["listed.invalid:5000"] });
    const e = await transport.send(new URL("http://registry.invalid/v2/"), { method: "GET" }, "registry.invalid").catch((err: unknown) => err);
    expect(e).toBeInstanceOf(RegistryError);
    expect(e).toMatchObject({ kind: "insecure", registry: "registry.invalid" });
    expect((e as Error).message).toMatch(/list it as an insecure registry/);
    expect(transport.isInsecure("listed.invalid:5000")).toBe(true);
    expect(transport.isInsecure("listed.invalid")).toBe(false);
    await transport.close();
  });
});
