import { describe, expect, it } from "vitest";
import { parseWwwAuthenticate } from "./challenge.js";

describe("parseWwwAuthenticate", () => {
  it("reads a Docker Hub bearer challenge", () => {
    expect(
      parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'),
    ).toEqual([
      {
        scheme: "bearer",
        params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/alpine:pull" },
      },
    ]);
  });

  it("reads basic, token values, spaces and case", () => {
    expect(parseWwwAuthenticate('BASIC Realm = "Registry Realm" , charset=UTF-8')).toEqual([
      { scheme: "basic", params: { realm: "Registry Realm", charset: "UTF-8" } },
    ]);
  });

  it("keeps commas and escaped quotes inside quoted strings", () => {
    expect(parseWwwAuthenticate('Bearer realm="r",scope="repository:a:pull,push",error="say \\"hi\\""')).toEqual([
      { scheme: "bearer", params: { realm: "r", scope: "repository:a:pull,push", error: 'say "hi"' } },
    ]);
  });

  it("splits several challenges in one header and across headers", () => {
    expect(parseWwwAuthenticate(['Basic realm="a", Bearer realm="b",service=s', "Negotiate"])).toEqual([
      { scheme: "basic", params: { realm: "a" } },
      { scheme: "bearer", params: { realm: "b", service: "s" } },
      { scheme: "negotiate", params: {} },
    ]);
  });

  it("answers nothing for nothing, and drops a malformed tail", () => {
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate("")).toEqual([]);
    expect(parseWwwAuthenticate('Bearer realm="unterminated')).toEqual([{ scheme: "bearer", params: { realm: "unterminated" } }]);
    expect(parseWwwAuthenticate('Basic realm="x" ""garbage')).toEqual([{ scheme: "basic", params: { realm: "x" } }]);
  });
});
