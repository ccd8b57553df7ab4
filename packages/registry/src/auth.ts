// The Authorization header for a request: none, Basic, or a Bearer token from the realm the
// registry's challenge names (distribution's token flow), cached per registry and scope set.
import type { AuthChallenge } from "./challenge.js";
import type { Credentials } from "./credentials.js";
import { RegistryError } from "./errors.js";
import { type Endpoint, type Transport, readBody } from "./transport.js";

interface CachedToken {
  token: string;
  expiresAt: number;
}

// A token is renewed this long before it expires, so it does not lapse in flight.
const EXPIRY_MARGIN_MS = 10_000;
// distribution's token spec: without expires_in a token lives 60 seconds.
const DEFAULT_TOKEN_SECONDS = 60;

export class Authorizer {
  private readonly credentials = new Map<string, Promise<Credentials | undefined>>();
  private readonly tokens = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly transport: Transport,
    private readonly lookup: (registry: string) => Promise<Credentials | undefined>,
    private readonly clientId: string,
  ) {}

  /** The credentials used for `registry` (looked up once), or undefined for anonymous access. */
  credentialsFor(registry: string): Promise<Credentials | undefined> {
    let found = this.credentials.get(registry);
    if (!found) {
      found = this.lookup(registry);
      this.credentials.set(registry, found);
    }
    return found;
  }

  /** Uses `credentials` for `registry` from now on instead of looking them up (checkLogin). */
  setCredentials(registry: string, credentials: Credentials | undefined): void {
    this.credentials.set(registry, Promise.resolve(credentials));
    for (const key of this.tokens.keys()) if (key.startsWith(`${registry} `)) this.tokens.delete(key);
  }

  /** Forgets a cached token, after the registry refused it. */
  invalidate(registry: string, scopes: readonly string[]): void {
    this.tokens.delete(tokenKey(registry, scopes));
  }

  /**
   * The Authorization header value for `scopes` (`repository:name:pull,push`), from the
   * challenges the registry answered with; undefined when it asked for none or we have nothing.
   */
  async authorization(endpoint: Endpoint, scopes: readonly string[], challenges = endpoint.challenges): Promise<string | undefined> {
    const bearer = challenges.find((c) => c.scheme === "bearer");
    const credentials = await this.credentialsFor(endpoint.registry);
    if (bearer) {
      const key = tokenKey(endpoint.registry, scopes);
      const cached = this.tokens.get(key);
      if (cached) {
        const token = await cached.catch(() => undefined);
        if (token && token.expiresAt > Date.now() + EXPIRY_MARGIN_MS) return `Bearer ${token.token}`;
      }
      const fresh = this.fetchToken(endpoint, bearer, scopes, credentials);
      this.tokens.set(key, fresh);
      fresh.catch(() => this.tokens.delete(key));
      return `Bearer ${(await fresh).token}`;
    }
    if (challenges.some((c) => c.scheme === "basic") && credentials?.username !== undefined) {
      return `Basic ${Buffer.from(`${credentials.username}:${credentials.password ?? ""}`).toString("base64")}`;
    }
    return undefined;
  }

  private async fetchToken(
    endpoint: Endpoint,
    challenge: AuthChallenge,
    scopes: readonly string[],
    credentials: Credentials | undefined,
  ): Promise<CachedToken> {
    const registry = endpoint.registry;
    const realm = challenge.params.realm;
    if (!realm) {
      throw new RegistryError(`${registry} asked for a bearer token but named no realm to get it from`, { kind: "protocol", registry });
    }
    const url = new URL(realm, endpoint.origin);
    const params = new URLSearchParams();
    if (challenge.params.service) params.set("service", challenge.params.service);
    for (const scope of scopes) params.append("scope", scope);

    let res;
    if (credentials?.identityToken) {
      // OAuth2 refresh-token grant (what Docker does with an identity token).
      params.set("grant_type", "refresh_token");
      params.set("refresh_token", credentials.identityToken);
      params.set("client_id", this.clientId);
      const body = Buffer.from(params.toString());
      res = await this.transport.send(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body }, registry);
    } else {
      for (const [k, v] of params) url.searchParams.append(k, v);
      const headers: Record<string, string> = {};
      if (credentials?.username !== undefined) {
        headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password ?? ""}`).toString("base64")}`;
      }
      res = await this.transport.send(url, { method: "GET", headers }, registry);
    }
    const body = await readBody(res, 1 << 20, `token from ${url.origin}`);
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new RegistryError(
        credentials
          ? `the token service ${url.origin} of ${registry} rejected the credentials from ${credentials.source} (${res.statusCode}): wrong username or password; log in again`
          : `the token service ${url.origin} of ${registry} refused anonymous access (${res.statusCode}); log in to ${registry}`,
        { kind: credentials ? "denied" : "unauthorized", registry, status: res.statusCode },
      );
    }
    if (res.statusCode !== 200) {
      throw new RegistryError(`the token service ${url.origin} of ${registry} answered ${res.statusCode}: ${body.toString("utf8").slice(0, 200)}`, {
        kind: "protocol",
        registry,
        status: res.statusCode,
      });
    }
    let answer: { token?: string; access_token?: string; expires_in?: number };
    try {
      answer = JSON.parse(body.toString("utf8")) as typeof answer;
    } catch {
      throw new RegistryError(`the token service ${url.origin} of ${registry} answered with something that is not JSON`, { kind: "protocol", registry });
    }
    const token = answer.token ?? answer.access_token;
    if (!token) throw new RegistryError(`the token service ${url.origin} of ${registry} answered without a token`, { kind: "protocol", registry });
    const seconds = answer.expires_in && answer.expires_in > 0 ? answer.expires_in : DEFAULT_TOKEN_SECONDS;
    return { token, expiresAt: Date.now() + seconds * 1000 };
  }
}

function tokenKey(registry: string, scopes: readonly string[]): string {
  return `${registry} ${[...scopes].sort().join(" ")}`;
}
