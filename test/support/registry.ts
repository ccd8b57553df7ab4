// A real registry for tests: CNCF Distribution (Debian's docker-registry) on 127.0.0.1, with
// optional htpasswd or token auth and TLS. Each instance is stopped (kill + wait) and its
// directory removed when the test that started it ends, or when the file ends if started in
// beforeAll; both run after failures too.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createPrivateKey, randomBytes, sign } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, onTestFinished } from "vitest";
import { registryConfigLines } from "../../scripts/registry-config.mjs";
import { makeScratchDir, removeScratchDir } from "./scratch.js";

const exec = promisify(execFile);

export interface RegistryOptions {
  /** htpasswd: Basic auth; token: Bearer tokens from a token server started alongside. */
  auth?: "htpasswd" | "token";
  tls?: boolean;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, the registry part of references. */
  host: string;
  /** `http(s)://127.0.0.1:PORT` */
  url: string;
  /** The PEM certificate to trust, with tls. */
  caFile?: string;
  /** The one account, with auth. */
  username: string;
  password: string;
  /** With token auth: each token request's scopes and the user it authenticated (or "" for anonymous). */
  tokenRequests: { scopes: string[]; user: string }[];
  stop(): Promise<void>;
}

const running = new Set<TestRegistry>();
afterAll(async () => {
  for (const registry of [...running]) await registry.stop();
});
// Last resort for a worker that exits without running afterAll.
const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A certificate for 127.0.0.1 (and its key) at dir/NAME.crt and dir/NAME.key. */
export async function selfSignedCert(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  await exec("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
    "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
  ]);
  return { cert, key };
}

const base64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");

/**
 * A token server as distribution's token auth expects: RS256 JWTs with the signing
 * certificate in x5c, granting what was asked to anonymous callers and to the right
 * user, and refusing wrong credentials with 401.
 */
async function startTokenServer(
  signing: { cert: string; key: string },
  account: { username: string; password: string },
  service: string,
  issuer: string,
  requests: TestRegistry["tokenRequests"],
): Promise<http.Server> {
  const certDer = (await readFile(signing.cert, "utf8")).replace(/-----[A-Z ]+-----|\s/g, "");
  const key = createPrivateKey(await readFile(signing.key));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const basic = req.headers.authorization?.match(/^Basic (.+)$/)?.[1];
    let subject = "";
    if (basic) {
      const [user, ...rest] = Buffer.from(basic, "base64").toString("utf8").split(":");
      if (user !== account.username || rest.join(":") !== account.password) {
        res.writeHead(401, { "content-type": "application/json" }).end('{"details":"wrong credentials"}');
        return;
      }
      subject = user;
    }
    requests.push({ scopes: url.searchParams.getAll("scope"), user: subject });
    const access = url.searchParams.getAll("scope").flatMap((scope) => {
      const [type, ...middle] = scope.split(":");
      const actions = middle.pop() ?? "";
      return [{ type, name: middle.join(":"), actions: actions.split(",") }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [certDer] };
    const claims = { iss: issuer, sub: subject, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString("hex"), access };
    const unsigned = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const token = `${unsigned}.${base64url(sign("sha256", Buffer.from(unsigned), key))}`;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

async function waitUntilServing(url: string, ca: string | undefined, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}:\n${log()}`);
    const status = await new Promise<number | undefined>((resolve) => {
      const req = (url.startsWith("https:") ? https : http).get(`${url}/v2/`, ca ? { ca } : {}, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on("error", () => resolve(undefined));
    });
    if (status === 200 || status === 401) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`docker-registry did not answer on ${url}/v2/ within 20 s:\n${log()}`);
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  let inTest = true;
  try {
    onTestFinished(() => undefined);
  } catch {
    inTest = false;
  }
  const dir = await makeScratchDir("tsbuild-registry-", { untilFileEnds: !inTest });
  const username = "user";
  const password = `pass-${randomBytes(4).toString("hex")}`;
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const lines = registryConfigLines({ host, storageDir: path.join(dir, "data"), allowDelete: true });
  let caFile: string | undefined;
  if (options.tls) {
    const { cert, key } = await selfSignedCert(dir, "registry");
    caFile = cert;
    lines.push("  tls:", `    certificate: ${cert}`, `    key: ${key}`);
  }
  let tokenServer: http.Server | undefined;
  const tokenRequests: TestRegistry["tokenRequests"] = [];
  if (options.auth === "htpasswd") {
    const { stdout } = await exec("htpasswd", ["-Bbn", username, password]);
    const file = path.join(dir, "htpasswd");
    await writeFile(file, stdout);
    lines.push("auth:", "  htpasswd:", "    realm: tsbuild-test", `    path: ${file}`);
  } else if (options.auth === "token") {
    const signing = await selfSignedCert(dir, "token");
    const service = "tsbuild-test-registry";
    const issuer = "tsbuild-test-token-server";
    tokenServer = await startTokenServer(signing, { username, password }, service, issuer, tokenRequests);
    const tokenPort = (tokenServer.address() as net.AddressInfo).port;
    lines.push(
      "auth:",
      "  token:",
      `    realm: http://127.0.0.1:${tokenPort}/token`,
      `    service: ${service}`,
      `    issuer: ${issuer}`,
      `    rootcertbundle: ${signing.cert}`,
    );
  }
  const configFile = path.join(dir, "config.yml");
  await writeFile(configFile, `${lines.join("\n")}\n`);

  const child = spawn("docker-registry", ["serve", configFile], { stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let log = "";
  const keep = (d: Buffer) => {
    log = (log + d.toString("utf8")).slice(-8000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  let stopped: Promise<void> | undefined;
  const registry: TestRegistry = {
    host,
    url: `${options.tls ? "https" : "http"}://${host}`,
    ...(caFile ? { caFile } : {}),
    username,
    password,
    tokenRequests,
    stop() {
      stopped ??= (async () => {
        running.delete(registry);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
          await exited;
          clearTimeout(timer);
        }
        children.delete(child);
        if (tokenServer) await new Promise((resolve) => tokenServer!.close(resolve));
        await removeScratchDir(dir);
      })();
      return stopped;
    },
  };
  running.add(registry);
  if (inTest) onTestFinished(() => registry.stop());
  try {
    await waitUntilServing(registry.url, caFile ? await readFile(caFile, "utf8") : undefined, child, () => log);
  } catch (e) {
    await registry.stop();
    throw e;
  }
  return registry;
}
