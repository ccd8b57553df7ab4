import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CredentialHelperError, login, logout, lookupCredentials } from "./credentials.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

let dir: string;
let configPath: string;
const savedPath = process.env.PATH;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tsbuild-registry-creds-"));
  configPath = path.join(dir, "docker", "config.json");
});
afterEach(async () => {
  process.env.PATH = savedPath;
  await rm(dir, { recursive: true, force: true });
});

async function writeConfig(config: unknown): Promise<void> {
  await mkdir(path.dirname(configPath), { recursive: true });
  await writeFile(configPath, JSON.stringify(config));
}

/**
 * Puts a docker-credential-test on PATH: `get` answers for 127.0.0.1:5000 and Docker Hub,
 * "credentials not found" for anything else; `store` and `erase` append their stdin to a log.
 */
async function installHelper(): Promise<string> {
  const log = path.join(dir, "helper.log");
  const script = `#!/bin/sh
input=$(cat)
case "$1" in
  get)
    case "$input" in
      127.0.0.1:5000) echo '{"ServerURL":"127.0.0.1:5000","Username":"helper-user","Secret":"helper-secret"}' ;;
      https://index.docker.io/v1/) echo '{"ServerURL":"https://index.docker.io/v1/","Username":"<token>","Secret":"refresh-me"}' ;;
      broken.example) echo 'not json' ;;
      *) echo "credentials not found in native keychain"; exit 1 ;;
    esac ;;
  store|erase) echo "$1 $input" >> ${log} ;;
  *) exit 2 ;;
esac
`;
  const file = path.join(dir, "docker-credential-test");
  await writeFile(file, script);
  await chmod(file, 0o755);
  process.env.PATH = `${dir}:${savedPath}`;
  return log;
}

describe("lookupCredentials", () => {
  it("answers undefined without a config file", async () => {
    expect(await lookupCredentials("example.com", configPath)).toBeUndefined();
  });

  it("decodes auths entries under any of Docker's key spellings", async () => {
    await writeConfig({
      auths: {
        "https://index.docker.io/v1/": { auth: b64("hub:hub-pass") },
        "http://example.com:5000/v2/": { auth: b64("ex:pa:ss") },
        "ghcr.io": { username: "u", password: "p" },
        "token.example": { identitytoken: "idt" },
      },
    });
    expect(await lookupCredentials("docker.io", configPath)).toMatchObject({ username: "hub", password: "hub-pass" });
    expect(await lookupCredentials("example.com:5000", configPath)).toMatchObject({ username: "ex", password: "pa:ss" });
    expect(await lookupCredentials("ghcr.io", configPath)).toMatchObject({ username: "u", password: "p" });
    expect(await lookupCredentials("token.example", configPath)).toMatchObject({ identityToken: "idt" });
    expect(await lookupCredentials("example.com", configPath)).toBeUndefined();
    const found = await lookupCredentials("example.com:5000", configPath);
    expect(found?.source).toContain(configPath);
  });

  it("says which file is broken", async () => {
    await writeConfig({});
    await writeFile(configPath, "{ nope");
    await expect(lookupCredentials("x.io", configPath)).rejects.toThrow(configPath);
  });

  it("asks credHelpers first, then credsStore, then auths", async () => {
    await installHelper();
    await writeConfig({
      credHelpers: { "127.0.0.1:5000": "test" },
      auths: { "127.0.0.1:5000": { auth: b64("file:file") }, "other.io": { auth: b64("o:o") } },
    });
    expect(await lookupCredentials("127.0.0.1:5000", configPath)).toEqual({
      username: "helper-user",
      password: "helper-secret",
      source: "docker-credential-test",
    });
    // No helper configured for other.io: auths.
    expect(await lookupCredentials("other.io", configPath)).toMatchObject({ username: "o" });

    await writeConfig({ credsStore: "test", auths: { "other.io": { auth: b64("o:o") } } });
    expect(await lookupCredentials("docker.io", configPath)).toEqual({ identityToken: "refresh-me", source: "docker-credential-test" });
    // The helper has nothing for other.io: the auths entry still counts.
    expect(await lookupCredentials("other.io", configPath)).toMatchObject({ username: "o" });
    expect(await lookupCredentials("nothing.io", configPath)).toBeUndefined();
    await expect(lookupCredentials("broken.example", configPath)).rejects.toThrow(CredentialHelperError);
  });

  it("names a helper that is not installed", async () => {
    await writeConfig({ credsStore: "absent-helper-xyz" });
    await expect(lookupCredentials("x.io", configPath)).rejects.toThrow(/docker-credential-absent-helper-xyz is not on PATH/);
  });
});

describe("login and logout", () => {
  it("write and remove auths entries, keeping the rest of the file", async () => {
    await writeConfig({ auths: { "https://keep.io": { auth: b64("k:k") } }, psFormat: "table" });
    await login("127.0.0.1:5000", { username: "me", password: "secret" }, configPath);
    await login("docker.io", { username: "hub", password: "h" }, configPath);
    const written = JSON.parse(await readFile(configPath, "utf8"));
    expect(written.psFormat).toBe("table");
    expect(written.auths).toEqual({
      "https://keep.io": { auth: b64("k:k") },
      "127.0.0.1:5000": { auth: b64("me:secret") },
      "https://index.docker.io/v1/": { auth: b64("hub:h") },
    });
    expect((await stat(configPath)).mode & 0o777).toBe(0o600);
    expect(await lookupCredentials("127.0.0.1:5000", configPath)).toMatchObject({ username: "me", password: "secret" });

    expect(await logout("127.0.0.1:5000", configPath)).toBe(true);
    expect(await logout("127.0.0.1:5000", configPath)).toBe(false);
    expect(await lookupCredentials("127.0.0.1:5000", configPath)).toBeUndefined();
    expect(Object.keys(JSON.parse(await readFile(configPath, "utf8")).auths)).toEqual(["https://keep.io", "https://index.docker.io/v1/"]);
  });

  it("go through the credential helper when one is configured", async () => {
    const log = await installHelper();
    await writeConfig({ credsStore: "test" });
    await login("example.com", { username: "me", password: "pw" }, configPath);
    await logout("example.com", configPath);
    expect(await readFile(log, "utf8")).toBe('store {"ServerURL":"example.com","Username":"me","Secret":"pw"}\nerase example.com\n');
    expect(JSON.parse(await readFile(configPath, "utf8")).auths).toBeUndefined();
  });
});
