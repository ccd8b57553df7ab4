import { describe, expect, it } from "vitest";
import { configBytes, manifestBytes } from "./canonical-json.js";
import { digestHex, isDigest, sha256Digest } from "./digest.js";
import { assembleImage, parseImage } from "./image.js";
import type { ImageConfig } from "./types.js";

describe("digests", () => {
  it("hashes and validates sha256 digests", () => {
    expect(sha256Digest("")).toBe("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(isDigest(sha256Digest("x"))).toBe(true);
    expect(isDigest("sha256:ABC")).toBe(false);
    expect(isDigest("sha512:" + "a".repeat(64))).toBe(false);
    expect(() => digestHex("sha256:../../etc/passwd")).toThrow(/invalid digest/);
  });
});

describe("canonical JSON", () => {
  it("orders fields as the spec lists them, sorts maps, and escapes like Go", () => {
    const config = {
      rootfs: { diff_ids: [], type: "layers" },
      os: "linux",
      config: { Labels: { b: "2", a: "1" }, Cmd: ["sh"], User: "0" },
      architecture: "amd64",
      history: [{ empty_layer: true, created_by: "RUN a > b && c < d" }],
      created: "1970-01-01T00:00:00Z",
    } as unknown as ImageConfig;
    expect(configBytes(config).toString()).toBe(
      '{"created":"1970-01-01T00:00:00Z","architecture":"amd64","os":"linux",' +
        '"config":{"User":"0","Cmd":["sh"],"Labels":{"a":"1","b":"2"}},"rootfs":{"type":"layers","diff_ids":[]},' +
        '"history":[{"created_by":"RUN a \\u003e b \\u0026\\u0026 c \\u003c d","empty_layer":true}]}',
    );
  });

  it("keeps unknown fields, after the known ones, so a pulled document round-trips", () => {
    const m = { layers: [], config: { size: 2, digest: sha256Digest("{}"), mediaType: "x" }, schemaVersion: 2, zzz: 1 };
    expect(manifestBytes(m as never).toString()).toBe(
      `{"schemaVersion":2,"config":{"mediaType":"x","digest":"${sha256Digest("{}")}","size":2},"layers":[],"zzz":1}`,
    );
  });

  it("assembles an image whose digests are over its bytes, and parses it back", () => {
    const diffID = sha256Digest("layer");
    const config: ImageConfig = { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [diffID] } };
    const layer = { diffID, descriptor: { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: diffID, size: 5 } };
    const image = assembleImage(config, [layer]);
    expect(image.manifestDigest).toBe(sha256Digest(image.manifestBytes));
    expect(image.manifest.config.digest).toBe(image.configDigest);
    const parsed = parseImage(image.manifestBytes, image.configBytes);
    expect(parsed.layers).toEqual([layer]);
    expect(() => assembleImage(config, [])).toThrow(/diff_ids/);
    expect(() => parseImage(image.manifestBytes, Buffer.from("{}"))).toThrow(/config digest/);
  });
});
