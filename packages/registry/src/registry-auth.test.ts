// Authentication and TLS against real registries: htpasswd over TLS with a custom CA, and
// distribution's token auth (Bearer) with a token server.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { startRegistry, type TestRegistry } from "../../../test/support/registry.js";
import { RegistryClient, type RegistryClientOptions } from "./client.js";
import { login } from "./credentials.js";
import { parseReference } from "./reference.js";
import { makeImage, scratchStore, rejection } from "./test-support.js";

const exec = promisify(execFile);

let configDir: string;
beforeAll(async () => {
  configDir = await mkdtemp(path.join(os.tmpdir(), "tsbuild-registry-auth-"));
});
afterAll(async () => {
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

function clientWith(options: RegistryClientOptions): RegistryClient {
  const client = new RegistryClient(options);
  onTestFinished(() => client.close());
  return client;
}

/** A docker config.json holding `password` for `registry`, written by login(). */
async function configWith(registry: TestRegistry, password: string): Promise<string> {
  const file = path.join(await mkdtemp(path.join(configDir, "c-")), "config.json");
  await login(registry.host, { username: registry.username, password }, file);
  return file;
}


describe("htpasswd over TLS", () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth: "htpasswd", tls: true });
  });
  const ref = (name: string) => parseReference(`${registry.host}/${name}`);

  it("pushes and pulls with credentials from config.json and the registry's CA", async () => {
    const client = clientWith({ registryCa: registry.caFile, dockerConfigPath: await configWith(registry, registry.password) });
    const store = await scratchStore();
    const image = await makeImage(store, "tls and basic auth");
    const pushed = await client.pushImage(ref("secure/app:1"), image, store);
    const resolved = await client.resolveImage(ref("secure/app:1"));
    expect(resolved.image.manifestDigest).toBe(pushed.digest);
    const layer = image.layers[0].descriptor;
    const target = await scratchStore();
    await client.fetchBlob(ref("secure/app"), layer, (s) => target.putBlob(s, { expectedDigest: layer.digest }));
    expect(await target.hasBlob(layer.digest)).toBe(true);

    const { stdout } = await exec("skopeo", [
      "inspect", "--tls-verify=false", "--creds", `${registry.username}:${registry.password}`, `docker://${registry.host}/secure/app:1`,
    ]);
    expect((JSON.parse(stdout) as { Digest: string }).Digest).toBe(pushed.digest);
  });

  it("refuses a certificate it cannot verify, unless the registry is listed as insecure", async () => {
    const untrusting = clientWith({ credentials: async () => ({ username: registry.username, password: registry.password, source: "test" }) });
    const e = await rejection(untrusting.getManifest(ref("secure/app:1")));
    expect(e.kind).toBe("insecure");
    expect(e.message).toContain(`the TLS certificate of ${registry.host} is not trusted`);
    expect(e.message).toContain("registryCa");

    const insecure = clientWith({
      insecureRegistries: [registry.host],
      credentials: async () => ({ username: registry.username, password: registry.password, source: "test" }),
    });
    await expect(insecure.hasBlob(ref("secure/app"), `sha256:${"2".repeat(64)}`)).resolves.toBe(false);
  });

  it("tells no credentials from wrong credentials", async () => {
    const anonymous = clientWith({ registryCa: registry.caFile, dockerConfigPath: path.join(configDir, "absent.json") });
    const none = await rejection(anonymous.getManifest(ref("secure/app:1")));
    expect(none).toMatchObject({ kind: "unauthorized", status: 401, registry: registry.host, repository: "secure/app", object: "1" });
    expect(none.message).toContain(`pull of manifest ${registry.host}/secure/app:1 failed`);
    expect(none.message).toContain("no credentials are configured");

    const wrongConfig = await configWith(registry, "not-the-password");
    const wrong = clientWith({ registryCa: registry.caFile, dockerConfigPath: wrongConfig });
    const denied = await rejection(wrong.getManifest(ref("secure/app:1")));
    expect(denied).toMatchObject({ kind: "denied", status: 401 });
    expect(denied.message).toContain(`rejected the credentials from ${wrongConfig}`);
    expect(denied.message).toContain("wrong username or password");
  });

  it("checks a login as docker login does", async () => {
    const client = clientWith({ registryCa: registry.caFile, credentials: async () => undefined });
    const e = await rejection(client.checkLogin(registry.host, { username: registry.username, password: "nope" }));
    expect(e.kind).toBe("denied");
    await client.checkLogin(registry.host, { username: registry.username, password: registry.password });
    await expect(client.hasBlob(ref("secure/app"), `sha256:${"3".repeat(64)}`)).resolves.toBe(false);
  });
});

describe("token auth", () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth: "token" });
  });
  const ref = (name: string) => parseReference(`${registry.host}/${name}`);

  it("pushes and pulls with anonymous bearer tokens, one token per scope set", async () => {
    const client = clientWith({ credentials: async () => undefined });
    const store = await scratchStore();
    const image = await makeImage(store, "bearer");
    registry.tokenRequests.length = 0;
    const pushed = await client.pushImage(ref("tokens/app:1"), image, store);
    expect(registry.tokenRequests).toEqual([{ scopes: ["repository:tokens/app:pull,push"], user: "" }]);
    const resolved = await client.resolveImage(ref("tokens/app:1"));
    expect(resolved.image.manifestDigest).toBe(pushed.digest);
    await client.resolveImage(ref("tokens/app:1"));
    expect(registry.tokenRequests.slice(1)).toEqual([{ scopes: ["repository:tokens/app:pull"], user: "" }]);

    const { stdout } = await exec("skopeo", ["inspect", "--tls-verify=false", `docker://${registry.host}/tokens/app:1`]);
    expect((JSON.parse(stdout) as { Digest: string }).Digest).toBe(pushed.digest);
  });

  it("asks for pull on the source repository when mounting", async () => {
    const client = clientWith({ credentials: async () => undefined });
    const store = await scratchStore();
    const image = await makeImage(store, "bearer mount");
    await client.pushImage(ref("tokens/base:1"), image, store);
    registry.tokenRequests.length = 0;
    const mounted = await client.pushImage(ref("tokens/derived:1"), image, store, { mountFrom: "tokens/base" });
    expect(mounted.blobs.map((b) => b.outcome)).toEqual(["mounted", "mounted"]);
    // Blobs with the mount scopes; the manifest needs only the target's.
    expect(registry.tokenRequests).toEqual([
      { scopes: ["repository:tokens/derived:pull,push", "repository:tokens/base:pull"], user: "" },
      { scopes: ["repository:tokens/derived:pull,push"], user: "" },
    ]);
  });

  it("sends credentials to the token service and reports wrong ones", async () => {
    const client = clientWith({ dockerConfigPath: await configWith(registry, registry.password) });
    registry.tokenRequests.length = 0;
    await expect(client.hasBlob(ref("tokens/app"), `sha256:${"4".repeat(64)}`)).resolves.toBe(false);
    expect(registry.tokenRequests).toEqual([{ scopes: ["repository:tokens/app:pull"], user: registry.username }]);

    const wrongConfig = await configWith(registry, "bad");
    const wrong = clientWith({ dockerConfigPath: wrongConfig });
    const e = await rejection(wrong.getManifest(ref("tokens/app:1")));
    expect(e).toMatchObject({ kind: "denied", status: 401, registry: registry.host });
    expect(e.message).toContain(`rejected the credentials from ${wrongConfig}`);
  });
});
