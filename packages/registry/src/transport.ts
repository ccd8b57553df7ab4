// HTTP(S) to registries: which scheme a registry speaks, TLS trust (system CAs plus an optional
// extra CA), and single requests with streaming bodies. Plain HTTP only for loopback hosts and
// hosts listed as insecure, as Docker allows it.
import http, { type ClientRequest, type IncomingMessage } from "node:http";
import https from "node:https";
import { type AuthChallenge, parseWwwAuthenticate } from "./challenge.js";
import { RegistryError } from "./errors.js";
import { DOCKER_HUB } from "./reference.js";
import { trustedCertificates } from "./trust.js";

export interface TransportOptions {
  /** PEM files with extra CAs to trust for registries, on top of the system's. */
  registryCa?: readonly string[];
  /** Registries (`host` or `host:port`) that may use plain HTTP or an unverified certificate. */
  insecureRegistries?: readonly string[];
  userAgent: string;
  /** Idle time after which a request fails (ms). */
  timeoutMs: number;
}

/** A registry's API root and how it asks to be authenticated (from `GET /v2/`). */
export interface Endpoint {
  registry: string;
  origin: string;
  challenges: AuthChallenge[];
}

/** A request body: bytes (can be sent again) or a writer that streams into the request and ends it. */
export type RequestBody = Buffer | ((req: ClientRequest) => Promise<void>);

export interface SendOptions {
  method: string;
  headers?: Record<string, string | number>;
  body?: RequestBody;
  /** Skip certificate checks for this request only (probing whether a port speaks TLS at all). */
  unverifiedTls?: boolean;
}

const NETWORK_CODES = new Set([
  "ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH",
  "ERR_STREAM_PREMATURE_CLOSE", "UND_ERR_SOCKET",
]);

/** True for errors a new connection may not have: resets, refusals, timeouts, cut-off bodies. */
export function isRetryableNetworkError(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException | undefined;
  return !!err && (NETWORK_CODES.has(err.code ?? "") || err.message === "aborted" || err.message === "socket hang up");
}

function isCertificateError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? "";
  return /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT/.test(code);
}

/** localhost, 127.0.0.0/8 and ::1 (with or without a port). */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith("[") ? registry.slice(1, registry.indexOf("]")) : registry.replace(/:\d+$/, "");
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The host serving a registry's API (Docker Hub's is not docker.io). */
function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? "registry-1.docker.io" : registry;
}

export class Transport {
  /** Made on the first verified HTTPS request: loading the CA lists costs ~40 ms a plain-HTTP (loopback) registry never needs. */
  private verifiedAgent: Promise<https.Agent> | undefined;
  private unverifiedAgent: https.Agent | undefined;
  private plainAgent: http.Agent | undefined;
  private readonly endpoints = new Map<string, Promise<Endpoint>>();

  constructor(private readonly options: TransportOptions) {}

  /** True when `registry` may be reached over plain HTTP or with an unverified certificate. */
  isInsecure(registry: string): boolean {
    const host = registry.replace(/:\d+$/, "");
    return (this.options.insecureRegistries ?? []).some((r) => r === registry || r === host);
  }

  private async getVerifiedAgent(): Promise<https.Agent> {
    this.verifiedAgent ??= trustedCertificates(this.options.registryCa).then((ca) => new https.Agent({ keepAlive: true, ca }));
    return this.verifiedAgent;
  }

  /** Closes idle keep-alive connections so the process can exit. */
  async close(): Promise<void> {
    this.plainAgent?.destroy();
    this.unverifiedAgent?.destroy();
    (await this.verifiedAgent?.catch(() => undefined))?.destroy();
  }

  /**
   * One HTTP request; resolves with the response (headers read, body unread), rejects on
   * connection errors. Plain HTTP and unverified TLS only where `url.host` allows them;
   * `registry` is whose request this is, for messages.
   */
  async send(url: URL, options: SendOptions, registry: string): Promise<IncomingMessage> {
    const secure = url.protocol === "https:";
    const insecure = this.isInsecure(url.host) || options.unverifiedTls === true;
    if (!secure && !insecure && !isLoopbackRegistry(url.host)) {
      throw new RegistryError(
        `refusing plain HTTP to ${url.host} (for ${registry}); list it as an insecure registry to allow it`,
        { kind: "insecure", registry },
      );
    }
    const agent = !secure
      ? (this.plainAgent ??= new http.Agent({ keepAlive: true }))
      : insecure
        ? // No CA list: this agent verifies nothing, and without one Node parses its bundled root
          // certificates first (~30 ms of the first probe of a loopback registry).
          (this.unverifiedAgent ??= new https.Agent({ keepAlive: true, rejectUnauthorized: false, ca: [] }))
        : await this.getVerifiedAgent();
    const headers: Record<string, string | number> = { "user-agent": this.options.userAgent, ...options.headers };
    if (Buffer.isBuffer(options.body)) headers["content-length"] = options.body.length;
    const requestFn = secure ? https.request : http.request;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = requestFn(url, { method: options.method, headers, agent });
      req.setTimeout(this.options.timeoutMs, () => {
        const err: NodeJS.ErrnoException = new Error(`no answer from ${url.host} for ${this.options.timeoutMs} ms`);
        err.code = "ETIMEDOUT";
        req.destroy(err);
      });
      req.on("error", reject);
      // The request's idle timeout keeps watching the socket while the body is read.
      req.on("response", resolve);
      const body = options.body;
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else body(req).catch((e: unknown) => req.destroy(e as Error));
    });
  }

  /**
   * The registry's API root: HTTPS, or plain HTTP where allowed and HTTPS failed for a reason
   * other than an untrusted certificate (Docker's fallback). Cached per registry.
   */
  endpoint(registry: string): Promise<Endpoint> {
    let found = this.endpoints.get(registry);
    if (!found) {
      found = this.probe(registry);
      this.endpoints.set(registry, found);
      found.catch(() => this.endpoints.delete(registry));
    }
    return found;
  }

  private async probe(registry: string): Promise<Endpoint> {
    const host = apiHost(registry);
    const plainAllowed = isLoopbackRegistry(registry) || this.isInsecure(registry);
    try {
      // Whether a loopback registry speaks TLS at all is found out without the CA lists (~40 ms
      // to load): a plain-HTTP one never needs them; one that does is then checked in full.
      if (plainAllowed && !this.isInsecure(registry)) await this.ping(registry, `https://${host}`, true);
      return await this.ping(registry, `https://${host}`);
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      if (isCertificateError(e)) {
        throw new RegistryError(
          `the TLS certificate of ${registry} is not trusted (${(e as Error).message}); pass its CA with registryCa, or list it as an insecure registry`,
          { kind: "insecure", registry, cause: e },
        );
      }
      if (!plainAllowed) {
        throw new RegistryError(`cannot reach registry ${registry} over HTTPS: ${(e as Error).message}`, {
          kind: "network",
          registry,
          cause: e,
        });
      }
      try {
        return await this.ping(registry, `http://${host}`);
      } catch (e2) {
        if (e2 instanceof RegistryError) throw e2;
        throw new RegistryError(
          `cannot reach registry ${registry} over HTTPS (${(e as Error).message}) or HTTP (${(e2 as Error).message})`,
          { kind: "network", registry, cause: e2 },
        );
      }
    }
  }

  private async ping(registry: string, origin: string, unverifiedTls = false): Promise<Endpoint> {
    const res = await this.send(new URL("/v2/", origin), { method: "GET", unverifiedTls }, registry);
    res.resume();
    if (res.statusCode === 200 || res.statusCode === 401) {
      return { registry, origin, challenges: parseWwwAuthenticate(res.headers["www-authenticate"]) };
    }
    throw new RegistryError(`${origin}/v2/ answered ${res.statusCode}; ${registry} does not look like an OCI registry`, {
      kind: "protocol",
      registry,
      status: res.statusCode,
    });
  }
}

/** Reads a whole (small) response body; fails beyond `limit` bytes rather than holding more. */
export async function readBody(res: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers["content-length"] ?? 0);
  if (declared > limit) {
    res.destroy();
    throw new Error(`${what} is ${declared} bytes, more than the ${limit} allowed`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      res.destroy();
      throw new Error(`${what} is more than the ${limit} bytes allowed`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
