import { describe, expect, it } from "vitest";
import { InvalidReferenceError, formatReference, parseReference } from "./reference.js";

const D = `sha256:${"a".repeat(64)}`;

describe("parseReference", () => {
  it.each([
    ["alpine", { registry: "docker.io", repository: "library/alpine", tag: "latest" }],
    ["alpine:3.19", { registry: "docker.io", repository: "library/alpine", tag: "3.19" }],
    ["library/alpine", { registry: "docker.io", repository: "library/alpine", tag: "latest" }],
    ["docker.io/alpine", { registry: "docker.io", repository: "library/alpine", tag: "latest" }],
    ["index.docker.io/alpine", { registry: "docker.io", repository: "library/alpine", tag: "latest" }],
    ["docker.io/library/alpine:edge", { registry: "docker.io", repository: "library/alpine", tag: "edge" }],
    ["me/app", { registry: "docker.io", repository: "me/app", tag: "latest" }],
    ["me/team/app:v1", { registry: "docker.io", repository: "me/team/app", tag: "v1" }],
    ["localhost/app", { registry: "localhost", repository: "app", tag: "latest" }],
    ["localhost:5000/app", { registry: "localhost:5000", repository: "app", tag: "latest" }],
    ["127.0.0.1:5000/a/b:t", { registry: "127.0.0.1:5000", repository: "a/b", tag: "t" }],
    ["ghcr.io/owner/img:1.0", { registry: "ghcr.io", repository: "owner/img", tag: "1.0" }],
    ["Registry/app", { registry: "Registry", repository: "app", tag: "latest" }],
    ["[::1]:5000/app", { registry: "[::1]:5000", repository: "app", tag: "latest" }],
    ["foo:5000", { registry: "docker.io", repository: "library/foo", tag: "5000" }],
    ["localhost", { registry: "docker.io", repository: "library/localhost", tag: "latest" }],
    ["a.b-c__d/e..f", undefined],
    [`alpine@${D}`, { registry: "docker.io", repository: "library/alpine", digest: D }],
    [`alpine:3@${D}`, { registry: "docker.io", repository: "library/alpine", tag: "3", digest: D }],
    [`host:1/x@${D}`, { registry: "host:1", repository: "x", digest: D }],
    ["a/b_c/d__e/f-g/h---i/j.k", { registry: "docker.io", repository: "a/b_c/d__e/f-g/h---i/j.k", tag: "latest" }],
    ["app:V_1.2-rc", { registry: "docker.io", repository: "library/app", tag: "V_1.2-rc" }],
    [`app:${"t".repeat(128)}`, { registry: "docker.io", repository: "library/app", tag: "t".repeat(128) }],
  ])("%s", (text, expected) => {
    if (expected === undefined) {
      expect(() => parseReference(text)).toThrow(InvalidReferenceError);
    } else {
      expect(parseReference(text)).toEqual(expected);
    }
  });

  it.each([
    ["", /empty/],
    ["App", /lowercase/],
    ["me/App", /lowercase/],
    ["a//b", /path component/],
    ["-a", /path component/],
    ["a_", /path component/],
    ["a___b", /path component/],
    ["app:", /tag ""/],
    ["app:-x", /tag "-x"/],
    [`app:${"t".repeat(129)}`, /tag/],
    ["app@sha256:abc", /digest/],
    [`app@SHA256:${"a".repeat(64)}`, /digest/],
    ["a".repeat(64), /image ID/],
    [":tag", /repository name is empty/],
    ["bad_host.io:x/app", /registry host/],
    ["-bad.io/app", /registry host/],
    [`example.com/${"a".repeat(250)}`, /longer than 255/],
  ])("rejects %j", (text, reason) => {
    const err = (() => {
      try {
        parseReference(text);
      } catch (e) {
        return e as InvalidReferenceError;
      }
      throw new Error("no error");
    })();
    expect(err).toBeInstanceOf(InvalidReferenceError);
    expect(err.message).toMatch(reason);
    expect(err.message).toContain(JSON.stringify(text));
  });
});

describe("formatReference", () => {
  it.each([
    ["alpine", "docker.io/library/alpine:latest", "alpine:latest"],
    ["me/app:1", "docker.io/me/app:1", "me/app:1"],
    ["library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest"],
    ["localhost:5000/app:2", "localhost:5000/app:2", "localhost:5000/app:2"],
    [`alpine@${D}`, `docker.io/library/alpine@${D}`, `alpine@${D}`],
    [`ghcr.io/o/i:t@${D}`, `ghcr.io/o/i:t@${D}`, `ghcr.io/o/i:t@${D}`],
  ])("%s", (text, full, familiar) => {
    const ref = parseReference(text);
    expect(formatReference(ref)).toBe(full);
    expect(formatReference(ref, { familiar: true })).toBe(familiar);
    // Normalisation is a fixed point: formatting and parsing again gives the same reference.
    expect(parseReference(full)).toEqual(ref);
    expect(parseReference(familiar)).toEqual(ref);
  });
});
