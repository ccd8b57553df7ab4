import { sha256Digest } from "@tsbuild/oci";
import { describe, expect, it } from "vitest";
import { defaultStoreRoot } from "./paths.js";
import { normalizeImageName } from "./image-name.js";
import type { Store } from "./store.js";
import { useScratchStore } from "./test-support.js";

describe("normalizeImageName", () => {
  it.each([
    ["app", "app:latest"],
    ["app:1.2", "app:1.2"],
    ["docker.io/library/app", "app:latest"],
    ["library/app:v", "app:v"],
    ["docker.io/me/app", "me/app:latest"],
    ["localhost:5000/team/app:dev", "localhost:5000/team/app:dev"],
    ["ghcr.io/o/a.b-c__d:x_1", "ghcr.io/o/a.b-c__d:x_1"],
  ])("%s -> %s", (input, expected) => {
    expect(normalizeImageName(input)).toBe(expected);
  });

  it.each([["App"], ["app:"], ["app:-x"], ["a//b"], ["app@sha256:" + "0".repeat(64)], ["-app"]])("rejects %s", (input) => {
    expect(() => normalizeImageName(input)).toThrow(/invalid image name/);
  });
});

describe("defaultStoreRoot", () => {
  it("uses /var/lib for root and XDG or HOME otherwise", () => {
    expect(defaultStoreRoot({}, 0)).toBe("/var/lib/tsbuild");
    expect(defaultStoreRoot({ XDG_DATA_HOME: "/x", HOME: "/h" }, 1000)).toBe("/x/tsbuild");
    expect(defaultStoreRoot({ HOME: "/h" }, 1000)).toBe("/h/.local/share/tsbuild");
    expect(defaultStoreRoot({ TSBUILD_ROOT: "/r" }, 0)).toBe("/r");
    expect(() => defaultStoreRoot({}, 1000)).toThrow(/TSBUILD_ROOT/);
  });
});

describe("tags", () => {
  let store: Store;
  useScratchStore("tsbuild-tags-", (s) => {
    store = s;
  });

  it("tags, resolves, lists and untags", async () => {
    const { digest } = await store.putBlobBytes(Buffer.from('{"schemaVersion":2}'));
    expect(await store.tagImage("app", digest)).toBe("app:latest");
    await store.tagImage("docker.io/library/app:v2", digest);
    expect(await store.resolveTag("app:latest")).toBe(digest);
    expect(await store.resolveTag("app:v2")).toBe(digest);
    expect((await store.listImages()).map((i) => i.name)).toEqual(["app:latest", "app:v2"]);
    expect(await store.untag("app")).toBe(true);
    expect(await store.untag("app")).toBe(false);
    expect(await store.resolveTag("app")).toBeUndefined();
    await expect(store.tagImage("x", sha256Digest("missing"))).rejects.toThrow(/is not in the store/);
  });
});
