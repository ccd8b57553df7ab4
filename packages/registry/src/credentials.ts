// Registry credentials from Docker's config.json: `credHelpers[registry]`, then `credsStore`
// (both run `docker-credential-<helper>`), then `auths[registry].auth` (base64 "user:pass").
// login/logout write the same file (or the helper), so `docker` and tsbuild share logins.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { DOCKER_HUB } from "./reference.js";

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth refresh token (a helper's `<token>` user, or `identitytoken` in config.json). */
  identityToken?: string;
  /** Where these came from, for error messages ("~/.docker/config.json auths", "docker-credential-pass"). */
  source: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  [key: string]: unknown;
}

interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

export class CredentialHelperError extends Error {
  override readonly name = "CredentialHelperError";
}

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function defaultDockerConfigPath(): string {
  const dir = process.env.DOCKER_CONFIG || path.join(os.homedir(), ".docker");
  return path.join(dir, "config.json");
}

// Docker Hub logins are stored under its v1 index URL, as `docker login` writes them.
const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";

/** The key Docker uses for a registry in config.json and when talking to helpers. */
function serverAddress(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_AUTH_KEY : registry;
}

/** `https://host:5000/v1/` and `host:5000` name the same registry; Docker Hub has several names. */
function registryOfKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, "").split("/")[0];
  return host === "index.docker.io" || host === "registry-1.docker.io" ? DOCKER_HUB : host;
}

async function readConfig(configPath: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await readFile(configPath, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw e;
  }
  try {
    return JSON.parse(text) as DockerConfig;
  } catch (e) {
    throw new Error(`${configPath} is not valid JSON (${(e as Error).message}); fix or remove it`);
  }
}

function helperFor(config: DockerConfig, registry: string): string | undefined {
  for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
    if (registryOfKey(key) === registry) return helper;
  }
  return config.credsStore || undefined;
}

/** Runs `docker-credential-<helper> <action>` with `input` on stdin; resolves stdout, or undefined for "not found". */
function runHelper(helper: string, action: "get" | "store" | "erase", input: string): Promise<string | undefined> {
  const program = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (e: NodeJS.ErrnoException) => {
      reject(
        new CredentialHelperError(
          e.code === "ENOENT"
            ? `credential helper ${program} is not on PATH; install it or remove it from the docker config.json`
            : `credential helper ${program} failed to start: ${e.message}`,
        ),
      );
    });
    child.on("close", (code) => {
      if (code === 0) return resolve(stdout);
      const output = (stdout + stderr).trim();
      // The helper protocol's "no such entry" answer (docker-credential-helpers' ErrCredentialsNotFound).
      if (/credentials not found/i.test(output)) return resolve(undefined);
      reject(new CredentialHelperError(`${program} ${action} exited with ${code}: ${output || "(no output)"}`));
    });
    child.stdin.on("error", () => undefined); // a helper that exits without reading stdin
    child.stdin.end(input);
  });
}

/** The credentials config.json holds for `registry` (as parseReference normalises it), or undefined. */
export async function lookupCredentials(registry: string, configPath = defaultDockerConfigPath()): Promise<Credentials | undefined> {
  const config = await readConfig(configPath);
  const helper = helperFor(config, registry);
  if (helper) {
    const out = await runHelper(helper, "get", serverAddress(registry));
    if (out !== undefined) {
      let answer: { Username?: string; Secret?: string };
      try {
        answer = JSON.parse(out) as { Username?: string; Secret?: string };
      } catch {
        throw new CredentialHelperError(`docker-credential-${helper} get printed something that is not JSON`);
      }
      const source = `docker-credential-${helper}`;
      if (answer.Username === "<token>") return { identityToken: answer.Secret, source };
      return { username: answer.Username, password: answer.Secret, source };
    }
  }
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (registryOfKey(key) !== registry) continue;
    const source = `${configPath} auths["${key}"]`;
    if (entry.identitytoken) return { identityToken: entry.identitytoken, source };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon < 0) throw new Error(`${source}.auth is not base64 of "user:password"; run login again`);
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source };
    }
    if (entry.username !== undefined || entry.password !== undefined) {
      return { username: entry.username, password: entry.password, source };
    }
  }
  return undefined;
}

/** Writes config.json atomically (temp + fsync + rename), private to the user as Docker keeps it. */
async function writeConfig(configPath: string, config: DockerConfig): Promise<void> {
  await mkdir(path.dirname(configPath), { recursive: true, mode: 0o700 });
  const temp = `${configPath}.${process.pid}-${randomBytes(6).toString("hex")}.tmp`;
  try {
    const fh = await open(temp, "wx", 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(config, null, "\t")}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, configPath);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

/**
 * Saves a login for `registry`: into the credential helper config.json names for it, else as
 * an `auths` entry. Does not contact the registry (RegistryClient.checkLogin does).
 */
export async function login(
  registry: string,
  credentials: { username: string; password: string },
  configPath = defaultDockerConfigPath(),
): Promise<void> {
  const config = await readConfig(configPath);
  const helper = helperFor(config, registry);
  if (helper) {
    const payload = { ServerURL: serverAddress(registry), Username: credentials.username, Secret: credentials.password };
    await runHelper(helper, "store", JSON.stringify(payload));
    return;
  }
  const auths = Object.fromEntries(Object.entries(config.auths ?? {}).filter(([key]) => registryOfKey(key) !== registry));
  auths[serverAddress(registry)] = {
    auth: Buffer.from(`${credentials.username}:${credentials.password}`, "utf8").toString("base64"),
  };
  await writeConfig(configPath, { ...config, auths });
}

/** Removes the login for `registry` (helper and `auths`); false when there was none in `auths` and no helper. */
export async function logout(registry: string, configPath = defaultDockerConfigPath()): Promise<boolean> {
  const config = await readConfig(configPath);
  const helper = helperFor(config, registry);
  if (helper) await runHelper(helper, "erase", serverAddress(registry));
  const entries = Object.entries(config.auths ?? {});
  const kept = entries.filter(([key]) => registryOfKey(key) !== registry);
  if (kept.length !== entries.length) await writeConfig(configPath, { ...config, auths: Object.fromEntries(kept) });
  return helper !== undefined || kept.length !== entries.length;
}
