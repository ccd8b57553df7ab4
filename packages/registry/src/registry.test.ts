// Pull and push against a real registry (CNCF Distribution) on 127.0.0.1, without auth.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { MediaTypes, buildIndex, descriptorOf, indexBytes, parseManifest } from "@tsbuild/oci";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { startRegistry, type TestRegistry } from "../../../test/support/registry.js";
import { RegistryClient } from "./client.js";
import { parseReference } from "./reference.js";
import { leftovers, makeImage, scratchStore, rejection } from "./test-support.js";

const exec = promisify(execFile);

let registry: TestRegistry;
let client: RegistryClient;

beforeAll(async () => {
  registry = await startRegistry();
  client = new RegistryClient({ credentials: async () => undefined });
});
afterAll(async () => {
  await client?.close();
});

const ref = (name: string) => parseReference(`${registry.host}/${name}`);


/**
 * A proxy in front of the registry that records requests and, unless mode is "record",
 * damages blob downloads in the ways a network can.
 */
async function startProxy(mode: "record" | "corrupt" | "cut" | "cut-ignoring-range" | "cut-upload") {
  const seen: { method: string; url: string; range?: string; status?: number }[] = [];
  let cuts = 0;
  const server = http.createServer((req, res) => {
    const isBlob = req.method === "GET" && /\/blobs\/sha256:/.test(req.url ?? "");
    const entry: (typeof seen)[number] = { method: req.method ?? "", url: req.url ?? "", range: req.headers.range };
    seen.push(entry);
    if (mode === "cut-upload" && req.method === "PUT" && req.url?.includes("/blobs/uploads/") && cuts === 0) {
      // Break the first blob upload once its body has started arriving.
      cuts++;
      req.once("data", () => req.socket.destroy());
      return;
    }
    const headers = { ...req.headers };
    if (mode === "cut-ignoring-range") delete headers.range;
    const upstream = http.request(`${registry.url}${req.url}`, { method: req.method, headers }, (up) => {
      entry.status = up.statusCode;
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (!isBlob || mode === "record") return up.pipe(res);
      let sent = 0;
      up.on("data", (chunk: Buffer) => {
        let data = chunk;
        if (mode === "corrupt" && sent === 0) {
          data = Buffer.from(chunk);
          data[0] ^= 0xff;
        }
        if (mode !== "corrupt" && cuts === 0 && sent + data.length > 1000) {
          // Send the first 1000 bytes, then break the connection mid-body.
          cuts++;
          up.destroy();
          res.write(data.subarray(0, 1000 - sent), () => res.socket?.destroy());
          return;
        }
        sent += data.length;
        res.write(data);
      });
      up.on("end", () => res.end());
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  onTestFinished(() => server.closeAllConnections());
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe("push and pull", () => {
  it("pushes an image, pulls it back verified, and skopeo reads it", async () => {
    const store = await scratchStore();
    const image = await makeImage(store, "hello registry");
    const pushed = await client.pushImage(ref("app/one:v1"), image, store);
    expect(pushed.digest).toBe(image.manifestDigest);
    expect(pushed.blobs.map((b) => b.outcome)).toEqual(["uploaded", "uploaded"]);

    const resolved = await client.resolveImage(ref("app/one:v1"));
    expect(resolved.reference).toEqual({ registry: registry.host, repository: "app/one", tag: "v1", digest: image.manifestDigest });
    expect(resolved.index).toBeUndefined();
    expect(resolved.image.manifestBytes).toEqual(image.manifestBytes);
    expect(resolved.image.configBytes).toEqual(image.configBytes);

    const target = await scratchStore();
    for (const layer of resolved.image.layers) {
      const stored = await client.fetchBlob(ref("app/one"), layer.descriptor, (s) =>
        target.putBlob(s, { expectedDigest: layer.descriptor.digest }),
      );
      expect(stored).toEqual({ digest: layer.descriptor.digest, size: layer.descriptor.size });
    }
    expect(await target.hasBlob(image.layers[0].descriptor.digest)).toBe(true);

    const { stdout } = await exec("skopeo", ["inspect", "--tls-verify=false", `docker://${registry.host}/app/one:v1`]);
    const inspected = JSON.parse(stdout) as { Digest: string; Layers: string[]; Os: string; Architecture: string };
    expect(inspected.Digest).toBe(image.manifestDigest);
    expect(inspected.Layers).toEqual([image.layers[0].descriptor.digest]);
    expect([inspected.Os, inspected.Architecture]).toEqual(["linux", "amd64"]);
  });

  it("pulls by digest and by tag with digest", async () => {
    const store = await scratchStore();
    const image = await makeImage(store, "by digest");
    await client.pushImage(ref("app/pinned:1"), image, store);
    const byDigest = await client.getManifest(ref(`app/pinned@${image.manifestDigest}`));
    expect(byDigest).toEqual({ digest: image.manifestDigest, mediaType: MediaTypes.ociManifest, bytes: image.manifestBytes });
    const both = await client.resolveImage(ref(`app/pinned:other@${image.manifestDigest}`));
    expect(both.image.manifestDigest).toBe(image.manifestDigest);
  });

  it("skips blobs the repository has (HEAD) and mounts blobs from another repository", async () => {
    const store = await scratchStore();
    const image = await makeImage(store, "mount me");
    await client.pushImage(ref("mount/source:1"), image, store);

    const again = await client.pushImage(ref("mount/source:2"), image, store);
    expect(again.blobs.map((b) => b.outcome)).toEqual(["exists", "exists"]);
    expect(await client.hasBlob(ref("mount/source"), image.configDigest)).toBe(true);
    expect(await client.hasBlob(ref("mount/elsewhere"), image.configDigest)).toBe(false);

    const proxy = await startProxy("record");
    const mounted = await client.pushImage(parseReference(`${proxy.host}/mount/target:1`), image, store, { mountFrom: "mount/source" });
    expect(mounted.blobs.map((b) => b.outcome)).toEqual(["mounted", "mounted"]);
    const posts = proxy.seen.filter((r) => r.method === "POST").map((r) => r.url).sort();
    expect(posts).toEqual(
      [image.layers[0].descriptor.digest, image.configDigest]
        .map((d) => `/v2/mount/target/blobs/uploads/?mount=${encodeURIComponent(d)}&from=mount%2Fsource`)
        .sort(),
    );
    expect(proxy.seen.filter((r) => r.method === "PUT" || r.method === "PATCH").map((r) => r.url)).toEqual([
      `/v2/mount/target/manifests/1`,
    ]);
    expect((await client.resolveImage(ref("mount/target:1"))).image.manifestDigest).toBe(image.manifestDigest);

    // A mount from a repository without the blob falls back to an upload.
    const other = await makeImage(store, "not in the source");
    const fallback = await client.pushImage(ref("mount/target:2"), other, store, { mountFrom: "mount/empty" });
    expect(fallback.blobs.map((b) => b.outcome)).toEqual(["uploaded", "uploaded"]);
  });

  it("uploads in PATCH chunks when a blob is larger than chunkSize", async () => {
    const chunked = new RegistryClient({ credentials: async () => undefined, chunkSize: 64 * 1024 });
    onTestFinished(() => chunked.close());
    const store = await scratchStore();
    const image = await makeImage(store, randomBytes(300_000)); // random: gzip cannot shrink it
    expect(image.layers[0].descriptor.size).toBeGreaterThan(4 * 64 * 1024);
    const proxy = await startProxy("record");
    const pushed = await chunked.pushImage(parseReference(`${proxy.host}/chunked/app:1`), image, store);
    expect(pushed.blobs.map((b) => b.outcome)).toEqual(["uploaded", "uploaded"]);
    // The layer went up in 64 KiB PATCHes, then an empty PUT; the small config in one PUT.
    const patches = proxy.seen.filter((r) => r.method === "PATCH");
    expect(patches).toHaveLength(Math.ceil(image.layers[0].descriptor.size / (64 * 1024)));
    expect(proxy.seen.filter((r) => r.method === "PUT" && r.url.includes("/blobs/uploads/"))).toHaveLength(2);
    const target = await scratchStore();
    const layer = image.layers[0].descriptor;
    await client.fetchBlob(ref("chunked/app"), layer, (s) => target.putBlob(s, { expectedDigest: layer.digest }));
    expect(await target.blobSize(layer.digest)).toBe(layer.size);
  });

  it("pushes an index and pulls the platform asked for", async () => {
    const store = await scratchStore();
    const amd64 = await makeImage(store, "amd64 image");
    const arm64 = await makeImage(store, "arm64 image", { os: "linux", architecture: "arm64", variant: "v8" });
    for (const image of [amd64, arm64]) {
      const pushed = await client.pushImage(ref("multi/app"), image, store); // by digest: no tag
      expect(pushed.digest).toBe(image.manifestDigest);
    }
    const index = buildIndex([
      { ...descriptorOf(amd64.manifestBytes, MediaTypes.ociManifest), platform: { os: "linux", architecture: "amd64" } },
      { ...descriptorOf(arm64.manifestBytes, MediaTypes.ociManifest), platform: { os: "linux", architecture: "arm64", variant: "v8" } },
    ]);
    const bytes = indexBytes(index);
    const indexDigest = await client.putManifest(ref("multi/app:latest"), bytes, MediaTypes.ociIndex);

    const arm = await client.resolveImage(ref("multi/app"), { platform: { os: "linux", architecture: "arm64" } });
    expect(arm.reference.digest).toBe(indexDigest);
    expect(arm.index).toEqual({ digest: indexDigest, mediaType: MediaTypes.ociIndex, bytes });
    expect(arm.image.manifestDigest).toBe(arm64.manifestDigest);
    expect((await client.resolveImage(ref("multi/app"))).image.manifestDigest).toBe(amd64.manifestDigest);

    const missing = await rejection(client.resolveImage(ref("multi/app"), { platform: { os: "linux", architecture: "s390x" } }));
    expect(missing.kind).toBe("not-found");
    expect(missing.message).toMatch(/no image for platform linux\/s390x \(the index offers: linux\/amd64, linux\/arm64\/v8\)/);

    const { stdout } = await exec("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${registry.host}/multi/app:latest`]);
    expect(JSON.parse(stdout)).toEqual(index);
  });

  it("names registry, repository and tag or digest when something is missing", async () => {
    const noTag = await rejection(client.getManifest(ref("app/one:nope")));
    expect(noTag).toMatchObject({ kind: "not-found", registry: registry.host, repository: "app/one", object: "nope", status: 404 });
    expect(noTag.message).toContain(`${registry.host}/app/one:nope`);
    expect(noTag.codes).toEqual(["MANIFEST_UNKNOWN"]);

    const digest = `sha256:${"0".repeat(64)}`;
    const store = await scratchStore();
    const noBlob = await rejection(
      client.fetchBlob(ref("app/one"), { mediaType: MediaTypes.ociLayerGzip, digest, size: 3 }, (s) => store.putBlob(s, { expectedDigest: digest })),
    );
    expect(noBlob).toMatchObject({ kind: "not-found", object: digest });
    expect(noBlob.message).toContain(`${digest} from ${registry.host}/app/one`);
    expect(await leftovers(store)).toEqual([]);
  });

  it("fails a missing blob as not found also when the sink starts reading late (no uncaught 'error' event)", async () => {
    const digest = `sha256:${"0".repeat(64)}`;
    const store = await scratchStore();
    // The 404 arrives before this sink attaches to the stream, as it can with the store's putBlob
    // (it opens its temp file first): the feed's failure must still reach the sink, as an error
    // of its pipeline, not as an 'error' event nobody listens to (which vitest reports, and which
    // ends the CLI).
    const lateSink = async (stream: NodeJS.ReadableStream) => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      return store.putBlob(stream, { expectedDigest: digest });
    };
    const noBlob = await rejection(client.fetchBlob(ref("app/one"), { mediaType: MediaTypes.ociLayerGzip, digest, size: 3 }, lateSink));
    expect(noBlob).toMatchObject({ kind: "not-found", object: digest });
    expect(await leftovers(store)).toEqual([]);
  });

  it("refuses a manifest whose digest is not the one pinned", async () => {
    const store = await scratchStore();
    const image = await makeImage(store, "pin check");
    const other = `sha256:${"1".repeat(64)}`;
    const e = await rejection(client.putManifest(ref(`app/pin:1@${other}`), image.manifestBytes, MediaTypes.ociManifest));
    expect(e.kind).toBe("digest-mismatch");
    // A manifest naming blobs the repository lacks is refused by the registry, with its reason.
    const missing = await rejection(client.putManifest(ref("app/pin:1"), image.manifestBytes, MediaTypes.ociManifest));
    expect(missing.codes).toContain("MANIFEST_BLOB_UNKNOWN");
    expect(parseManifest(image.manifestBytes).layers).toHaveLength(1);
  });
});

describe("damaged downloads", () => {
  it("fails a corrupted blob with a digest mismatch naming registry, repository and digest; nothing is kept", async () => {
    const store = await scratchStore();
    const image = await makeImage(store, randomBytes(5000));
    await client.pushImage(ref("damaged/app:1"), image, store);
    const proxy = await startProxy("corrupt");
    const viaProxy = parseReference(`${proxy.host}/damaged/app:1`);
    const layer = image.layers[0].descriptor;

    const target = await scratchStore();
    const e = await rejection(client.fetchBlob(viaProxy, layer, (s) => target.putBlob(s, { expectedDigest: layer.digest })));
    expect(e).toMatchObject({ kind: "digest-mismatch", registry: proxy.host, repository: "damaged/app", object: layer.digest });
    expect(e.message).toContain(`blob ${layer.digest} from ${proxy.host}/damaged/app`);
    expect(e.message).toContain("nothing was kept");
    expect(await target.hasBlob(layer.digest)).toBe(false);
    expect(await leftovers(target)).toEqual([]);

    // The config is a blob too: resolving the image fails the same way.
    const configError = await rejection(client.resolveImage(viaProxy));
    expect(configError.kind).toBe("digest-mismatch");
    expect(configError.object).toBe(image.configDigest);
  });

  it("resumes a broken download with a Range request", async () => {
    const store = await scratchStore();
    const image = await makeImage(store, randomBytes(50_000));
    await client.pushImage(ref("resume/app:1"), image, store);
    const proxy = await startProxy("cut");
    const layer = image.layers[0].descriptor;
    const target = await scratchStore();
    await client.fetchBlob(parseReference(`${proxy.host}/resume/app`), layer, (s) => target.putBlob(s, { expectedDigest: layer.digest }));
    expect(await target.blobSize(layer.digest)).toBe(layer.size);
    const blobGets = proxy.seen.filter((r) => r.url.includes("/blobs/"));
    expect(blobGets.map((r) => [r.range, r.status])).toEqual([
      [undefined, 200],
      ["bytes=1000-", 206],
    ]);
  });

  it("restarts a broken download where the server ignores Range, without the sink seeing it", async () => {
    const store = await scratchStore();
    const image = await makeImage(store, randomBytes(50_000));
    await client.pushImage(ref("restart/app:1"), image, store);
    const proxy = await startProxy("cut-ignoring-range");
    const layer = image.layers[0].descriptor;
    const target = await scratchStore();
    await client.fetchBlob(parseReference(`${proxy.host}/restart/app`), layer, (s) => target.putBlob(s, { expectedDigest: layer.digest }));
    expect(await target.blobSize(layer.digest)).toBe(layer.size);
    expect(proxy.seen.filter((r) => r.url.includes("/blobs/")).map((r) => r.status)).toEqual([200, 200]);
  });

  it("starts a broken upload over with a new session and a new stream", async () => {
    const store = await scratchStore();
    const image = await makeImage(store, randomBytes(200_000));
    const proxy = await startProxy("cut-upload");
    let opened = 0;
    const layer = image.layers[0].descriptor;
    const outcome = await client.pushBlob(parseReference(`${proxy.host}/upload/retry`), layer, async () => {
      opened++;
      return store.openBlob(layer.digest);
    });
    expect(outcome).toBe("uploaded");
    expect(opened).toBe(2);
    expect(proxy.seen.filter((r) => r.method === "POST")).toHaveLength(2);
    expect(await client.hasBlob(ref("upload/retry"), layer.digest)).toBe(true);
  });

  it("reports an unreachable registry as a network error naming it", async () => {
    // A port nothing listens on: connection refused on every attempt.
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const quick = new RegistryClient({ credentials: async () => undefined, retries: 1 });
    onTestFinished(() => quick.close());
    const e = await rejection(quick.resolveImage(parseReference(`127.0.0.1:${port}/gone/app:1`)));
    expect(e.kind).toBe("network");
    expect(e.message).toContain(`127.0.0.1:${port}`);
  });
});
