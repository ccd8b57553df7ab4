// The OCI distribution-spec client: manifests and blobs in, manifests and blobs out.
import type { IncomingMessage } from "node:http";
import { Readable, type Writable } from "node:stream";
import pLimit, { type LimitFunction } from "p-limit";
import {
  DEFAULT_PLATFORM,
  DigestMismatchError,
  MediaTypes,
  VerifyingStream,
  formatPlatform,
  isIndexMediaType,
  isManifestMediaType,
  parseImage,
  parseIndex,
  parseManifest,
  platformMatches,
  platformOf,
  selectPlatformManifest,
  sha256Digest,
} from "@tsbuild/oci";
import type { BlobSource, Descriptor, OciImage, Platform } from "@tsbuild/oci";
import { Authorizer } from "./auth.js";
import { parseWwwAuthenticate } from "./challenge.js";
import { type Credentials, lookupCredentials } from "./credentials.js";
import { RegistryError, type RegistryErrorKind } from "./errors.js";
import { type ImageReference, formatReference, repositoryName } from "./reference.js";
import { type Endpoint, type RequestBody, Transport, isRetryableNetworkError, readBody } from "./transport.js";

export interface RegistryClientOptions {
  /** Docker config.json to read credentials from; default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. */
  dockerConfigPath?: string;
  /** Replaces the config.json lookup (return undefined for anonymous access). */
  credentials?: (registry: string) => Promise<Credentials | undefined>;
  /** PEM file(s) with extra CAs trusted for registries, on top of the system's CAs. */
  registryCa?: string | readonly string[];
  /** Registries (`host` or `host:port`) allowed over plain HTTP or with unverified TLS. Loopback hosts always may use HTTP. */
  insecureRegistries?: readonly string[];
  /** Blob transfers (up and down) running at once; default 4. */
  concurrency?: number;
  /** Attempts after the first on broken connections and 429/5xx answers; default 3. */
  retries?: number;
  /** Upload blobs larger than this in PATCH chunks of this many bytes; default: one PUT per blob. */
  chunkSize?: number;
  /** A request with no progress for this long fails (and may be retried); default 60 s. */
  timeoutMs?: number;
  userAgent?: string;
}

/** A manifest or index exactly as the registry served it. */
export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

export interface ResolvedImage {
  /** The reference pinned to what its tag pointed to (the index's digest for a multi-platform image). */
  reference: ImageReference;
  /** The index the platform was chosen from, when the reference named one. */
  index?: FetchedManifest;
  /** The platform's manifest and config (verified); image.manifestDigest is the manifest's own digest. */
  image: OciImage;
}

/**
 * Consumes a blob's content. The stream fails (and so must the sink) when the content does not
 * match the descriptor's digest and size; `(s) => store.putBlob(s, { expectedDigest })` fits.
 */
export type BlobSink<T> = (stream: Readable) => Promise<T>;

/** How a blob got into the repository: already there (HEAD), mounted from another repository, or uploaded. */
export type BlobPushOutcome = "exists" | "mounted" | "uploaded";

export interface PushBlobOptions {
  /** A repository on the same registry that has the blob; the registry may link it instead of an upload. */
  mountFrom?: string;
}

export interface PushedImage {
  /** The manifest's digest, which `repository@digest` now names. */
  digest: string;
  blobs: { digest: string; outcome: BlobPushOutcome }[];
}

/** The manifest and index media types a pull accepts, in preference order. */
const MANIFEST_ACCEPT = [
  MediaTypes.ociIndex,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifestList,
  MediaTypes.dockerManifest,
].join(", ");

const MAX_MANIFEST_BYTES = 4 << 20;
const MAX_CONFIG_BYTES = 16 << 20;
const MAX_ERROR_BODY = 64 << 10;
const MAX_REDIRECTS = 5;

/** What a request is about, for error messages and kinds. */
interface Target {
  registry: string;
  repository: string;
  /** Tag or digest. */
  object?: string;
  /** "pull of manifest localhost:5000/app:1", … */
  operation: string;
}

interface RequestOptions {
  method: string;
  headers?: Record<string, string | number>;
  body?: RequestBody;
  scopes: readonly string[];
}

const pullScope = (repository: string) => [`repository:${repository}:pull`];
const pushScopes = (repository: string, mountFrom?: string) =>
  mountFrom ? [`repository:${repository}:pull,push`, `repository:${mountFrom}:pull`] : [`repository:${repository}:pull,push`];

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const backoff = (attempt: number) => delay(Math.min(100 * 2 ** attempt, 2000));

export class RegistryClient {
  private readonly transport: Transport;
  private readonly authorizer: Authorizer;
  private readonly limit: LimitFunction;
  private readonly retries: number;
  private readonly chunkSize: number | undefined;

  constructor(options: RegistryClientOptions = {}) {
    const registryCa = options.registryCa === undefined ? [] : typeof options.registryCa === "string" ? [options.registryCa] : options.registryCa;
    const userAgent = options.userAgent ?? "tsbuild";
    this.transport = new Transport({
      registryCa,
      insecureRegistries: options.insecureRegistries,
      userAgent,
      timeoutMs: options.timeoutMs ?? 60_000,
    });
    const lookup = options.credentials ?? ((registry: string) => lookupCredentials(registry, options.dockerConfigPath));
    this.authorizer = new Authorizer(this.transport, lookup, userAgent);
    this.limit = pLimit(options.concurrency ?? 4);
    this.retries = options.retries ?? 3;
    this.chunkSize = options.chunkSize;
  }

  /** Closes idle connections; the client must not be used afterwards. */
  close(): Promise<void> {
    return this.transport.close();
  }

  // ---- pull ----

  /** The manifest or index `ref` names (by digest when it has one, else by tag), verified against that digest. */
  async getManifest(ref: ImageReference): Promise<FetchedManifest> {
    const object = ref.digest ?? ref.tag ?? "latest";
    const target = this.target(ref, object, `pull of manifest ${formatReference(ref)}`);
    const res = await this.request(target, `/v2/${ref.repository}/manifests/${object}`, {
      method: "GET",
      headers: { accept: MANIFEST_ACCEPT },
      scopes: pullScope(ref.repository),
    });
    if (res.statusCode !== 200) throw await this.failure(target, res);
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, target.operation);
    const digest = sha256Digest(bytes);
    const claimed = ref.digest ?? headerValue(res, "docker-content-digest");
    if (claimed !== undefined && claimed !== digest) {
      throw this.error(target, "digest-mismatch", `the registry sent content hashing to ${digest} for ${claimed}; the registry or a proxy corrupted it`);
    }
    return { digest, mediaType: manifestMediaType(target, res, bytes), bytes };
  }

  /**
   * Resolves `ref` to one image: fetches its manifest, picks `platform` from an index (default
   * linux/amd64), and fetches and verifies the config. Layers are not fetched (fetchBlob).
   */
  async resolveImage(ref: ImageReference, options: { platform?: Platform } = {}): Promise<ResolvedImage> {
    const wanted = options.platform ?? DEFAULT_PLATFORM;
    const top = await this.getManifest(ref);
    let manifest = top;
    let index: FetchedManifest | undefined;
    if (isIndexMediaType(top.mediaType)) {
      index = top;
      const parsed = parseIndex(top.bytes, `index of ${formatReference(ref)}`);
      const chosen = selectPlatformManifest(parsed.manifests, wanted);
      if (!chosen) {
        const offered = parsed.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : "unknown")).join(", ");
        throw this.error(
          this.target(ref, top.digest, `pull of ${formatReference(ref)}`),
          "not-found",
          `no image for platform ${formatPlatform(wanted)} (the index offers: ${offered || "nothing"})`,
        );
      }
      manifest = await this.getManifest({ ...ref, digest: chosen.digest });
      if (!isManifestMediaType(manifest.mediaType)) {
        throw this.error(this.target(ref, chosen.digest, `pull of ${formatReference(ref)}`), "protocol", `the index entry for ${formatPlatform(wanted)} is a ${manifest.mediaType}, not an image manifest`);
      }
    }
    const parsedManifest = parseManifest(manifest.bytes, `manifest of ${formatReference(ref)}`);
    const configBytes = await this.fetchBlob(ref, parsedManifest.config, (stream) => collect(stream, MAX_CONFIG_BYTES));
    const image = parseImage(manifest.bytes, configBytes, formatReference(ref));
    if (!index && options.platform && !platformMatches(platformOf(image.config), wanted)) {
      throw this.error(
        this.target(ref, manifest.digest, `pull of ${formatReference(ref)}`),
        "not-found",
        `the image is for ${formatPlatform(platformOf(image.config))}, not the requested ${formatPlatform(wanted)}`,
      );
    }
    return { reference: { ...ref, digest: top.digest }, ...(index ? { index } : {}), image };
  }

  /**
   * Streams the blob `descriptor` names from `ref`'s repository into `sink`, verified against
   * its digest and size. A broken connection resumes with a Range request (or restarts the
   * transfer where the registry ignores Range) without the sink noticing; a mismatch fails the
   * sink's stream, so a sink that writes atomically keeps nothing. Runs within the client's
   * transfer limit.
   */
  fetchBlob<T>(ref: ImageReference, descriptor: Descriptor, sink: BlobSink<T>): Promise<T> {
    return this.limit(async () => {
      const target = this.target(ref, descriptor.digest, `pull of blob ${descriptor.digest} from ${repositoryName(ref)}`);
      const verifier = new VerifyingStream(descriptor.digest, `blob ${descriptor.digest} from ${repositoryName(ref)}`, descriptor.size);
      // A sink may start reading only after an await of its own (the store opens its temp file
      // first); a feed that fails before then (a 404 answers fast) destroys the verifier with
      // nobody listening, and an 'error' event without a listener would end the process. The
      // sink still sees the error: a pipeline over a destroyed stream fails with it.
      verifier.on("error", () => undefined);
      const sinkDone = sink(verifier);
      sinkDone.catch(() => undefined); // awaited below; this only stops an unhandled-rejection report
      let feedError: unknown;
      try {
        await this.feedBlob(target, ref, descriptor, verifier);
        if (!verifier.destroyed) verifier.end();
      } catch (e) {
        feedError = e;
        verifier.destroy(e as Error);
      }
      try {
        const result = await sinkDone;
        if (feedError !== undefined) throw feedError;
        return result;
      } catch (e) {
        const err = feedError ?? e;
        if (err instanceof DigestMismatchError) {
          throw this.error(target, "digest-mismatch", `the content hashes to ${err.actual}, not ${err.expected}; nothing was kept (the registry or a proxy corrupted it)`, err);
        }
        throw err;
      }
    });
  }

  /** Writes the blob's bytes into `out`, resuming after broken connections. */
  private async feedBlob(target: Target, ref: ImageReference, descriptor: Descriptor, out: Writable): Promise<void> {
    let delivered = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        const headers: Record<string, string> = delivered > 0 ? { range: `bytes=${delivered}-` } : {};
        const res = await this.request(target, `/v2/${ref.repository}/blobs/${descriptor.digest}`, {
          method: "GET",
          headers,
          scopes: pullScope(ref.repository),
        });
        // 206: the rest from `delivered`; 200: the whole blob again, whose first bytes were already delivered.
        if (!(res.statusCode === 200 || (res.statusCode === 206 && delivered > 0))) throw await this.failure(target, res);
        let skip = res.statusCode === 200 ? delivered : 0;
        for await (const chunk of res as AsyncIterable<Buffer>) {
          let data = chunk;
          if (skip > 0) {
            const dropped = Math.min(skip, data.length);
            skip -= dropped;
            data = data.subarray(dropped);
            if (data.length === 0) continue;
          }
          delivered += data.length;
          if (!out.write(data)) await drained(out);
          if (out.destroyed) {
            res.destroy();
            return; // the sink gave up; its error is the one to report
          }
        }
        if (delivered < descriptor.size) {
          throw Object.assign(new Error(`the connection ended after ${delivered} of ${descriptor.size} bytes`), { code: "ECONNRESET" });
        }
        return;
      } catch (e) {
        // request() has retried the request itself; this retries a body that broke off.
        if (!isRetryableNetworkError(e) || attempt >= this.retries || out.destroyed) throw this.asNetworkError(target, e, attempt + 1);
        await backoff(attempt);
      }
    }
  }

  // ---- push ----

  /** True when the repository has the blob (HEAD). */
  hasBlob(ref: ImageReference, digest: string): Promise<boolean> {
    return this.headBlob(ref, digest, pullScope(ref.repository));
  }

  private async headBlob(ref: ImageReference, digest: string, scopes: readonly string[]): Promise<boolean> {
    const target = this.target(ref, digest, `check for blob ${digest} in ${repositoryName(ref)}`);
    const res = await this.request(target, `/v2/${ref.repository}/blobs/${digest}`, { method: "HEAD", scopes });
    res.resume();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw await this.failure(target, res);
  }

  /**
   * Makes the blob `descriptor` names exist in `ref`'s repository: nothing when it is there
   * already, a cross-repository mount from `mountFrom` where the registry allows it, else an
   * upload of what `open` streams (one PUT, or PATCH chunks with `chunkSize`). A broken
   * upload starts over with a new session and a new stream. Runs within the transfer limit.
   */
  pushBlob(
    ref: ImageReference,
    descriptor: Descriptor,
    open: () => Promise<NodeJS.ReadableStream>,
    options: PushBlobOptions = {},
  ): Promise<BlobPushOutcome> {
    return this.limit(async () => {
      const scopes = pushScopes(ref.repository, options.mountFrom);
      if (await this.headBlob(ref, descriptor.digest, scopes)) return "exists";
      const target = this.target(ref, descriptor.digest, `push of blob ${descriptor.digest} to ${repositoryName(ref)}`);
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.uploadBlob(target, ref, descriptor, open, options.mountFrom, scopes);
        } catch (e) {
          if (!isRetryableNetworkError(e) || attempt >= this.retries) throw this.asNetworkError(target, e, attempt + 1);
          await backoff(attempt);
        }
      }
    });
  }

  private async uploadBlob(
    target: Target,
    ref: ImageReference,
    descriptor: Descriptor,
    open: () => Promise<NodeJS.ReadableStream>,
    mountFrom: string | undefined,
    scopes: readonly string[],
  ): Promise<"mounted" | "uploaded"> {
    const mountQuery = mountFrom ? `?mount=${encodeURIComponent(descriptor.digest)}&from=${encodeURIComponent(mountFrom)}` : "";
    const started = await this.request(target, `/v2/${ref.repository}/blobs/uploads/${mountQuery}`, {
      method: "POST",
      body: Buffer.alloc(0),
      scopes,
    });
    started.resume();
    if (started.statusCode === 201 && mountFrom) return "mounted";
    if (started.statusCode !== 202) throw await this.failure(target, started);
    const endpoint = await this.transport.endpoint(ref.registry);
    let location = uploadLocation(target, started, endpoint);

    const source = await open();
    const reader = new ExactReader(source, `the content of blob ${descriptor.digest}`);
    try {
      const chunk = this.chunkSize && descriptor.size > this.chunkSize ? this.chunkSize : undefined;
      if (chunk !== undefined) {
        for (let offset = 0; offset < descriptor.size; offset += chunk) {
          const n = Math.min(chunk, descriptor.size - offset);
          const res = await this.request(target, location, {
            method: "PATCH",
            headers: { "content-type": "application/octet-stream", "content-length": n, "content-range": `${offset}-${offset + n - 1}` },
            body: (req) => reader.writeTo(req, n),
            scopes,
          });
          res.resume();
          if (res.statusCode !== 202) throw await this.failure(target, res);
          location = uploadLocation(target, res, endpoint);
        }
      }
      location.searchParams.set("digest", descriptor.digest);
      const res = await this.request(target, location, {
        method: "PUT",
        headers: chunk !== undefined
          ? { "content-type": "application/octet-stream" }
          : { "content-type": "application/octet-stream", "content-length": descriptor.size },
        body: chunk !== undefined ? Buffer.alloc(0) : (req) => reader.writeTo(req, descriptor.size),
        scopes,
      });
      if (res.statusCode !== 201) throw await this.failure(target, res);
      res.resume();
      return "uploaded";
    } finally {
      reader.close();
    }
  }

  /**
   * PUTs a manifest or index: under `ref.tag` when it has one, else under its digest (which
   * must equal `ref.digest` when that is given). Returns the digest.
   */
  async putManifest(ref: ImageReference, bytes: Buffer, mediaType: string): Promise<string> {
    const digest = sha256Digest(bytes);
    const target = this.target(ref, ref.tag ?? digest, `push of manifest ${formatReference({ ...ref, digest: undefined })}`);
    if (ref.digest !== undefined && ref.digest !== digest) {
      throw this.error(target, "digest-mismatch", `the manifest hashes to ${digest}, but the reference pins ${ref.digest}`);
    }
    const res = await this.request(target, `/v2/${ref.repository}/manifests/${ref.tag ?? digest}`, {
      method: "PUT",
      headers: { "content-type": mediaType },
      body: bytes,
      scopes: pushScopes(ref.repository),
    });
    if (res.statusCode !== 201) throw await this.failure(target, res);
    res.resume();
    const stored = headerValue(res, "docker-content-digest");
    if (stored !== undefined && stored !== digest) {
      throw this.error(target, "digest-mismatch", `the registry stored the manifest as ${stored}, not ${digest}`);
    }
    return digest;
  }

  /**
   * Pushes an image: its layers (from `blobs`) and config in parallel, then the manifest
   * (under ref.tag, else by digest). For a multi-platform image push each image without a
   * tag, then putManifest the index under the tag.
   */
  async pushImage(ref: ImageReference, image: OciImage, blobs: BlobSource, options: PushBlobOptions = {}): Promise<PushedImage> {
    const configDescriptor: Descriptor = { ...image.manifest.config, digest: image.configDigest, size: image.configBytes.length };
    const uploads = [
      ...image.layers.map((layer) => ({ descriptor: layer.descriptor, open: () => blobs.openBlob(layer.descriptor.digest) })),
      { descriptor: configDescriptor, open: async () => Readable.from([image.configBytes]) },
    ];
    const outcomes = await Promise.all(
      uploads.map(async ({ descriptor, open }) => ({ digest: descriptor.digest, outcome: await this.pushBlob(ref, descriptor, open, options) })),
    );
    const digest = await this.putManifest(ref, image.manifestBytes, image.manifest.mediaType ?? MediaTypes.ociManifest);
    return { digest, blobs: outcomes };
  }

  // ---- login ----

  /**
   * Checks that `credentials` are accepted by `registry` (as `docker login` does) and uses them
   * for it from now on. Throws a RegistryError of kind "denied" when they are wrong.
   */
  async checkLogin(registry: string, credentials: { username: string; password: string }): Promise<void> {
    this.authorizer.setCredentials(registry, { ...credentials, source: "the login" });
    const target: Target = { registry, repository: "", operation: `login to ${registry}` };
    const res = await this.request(target, "/v2/", { method: "GET", scopes: [] });
    res.resume();
    if (res.statusCode !== 200) throw await this.failure(target, res);
  }

  // ---- requests ----

  private target(ref: ImageReference, object: string, operation: string): Target {
    return { registry: ref.registry, repository: ref.repository, object, operation };
  }

  /**
   * One API request with authentication (renewing a refused token once), redirects for GET
   * and HEAD, and retries for requests whose body can be sent again.
   */
  private async request(target: Target, pathOrUrl: string | URL, options: RequestOptions): Promise<IncomingMessage> {
    const endpoint = await this.endpointFor(target);
    const resendable = typeof options.body !== "function";
    let url = typeof pathOrUrl === "string" ? new URL(pathOrUrl, endpoint.origin) : pathOrUrl;
    let challenges = endpoint.challenges;
    let renewedAuth = false;
    let redirects = 0;
    for (let attempt = 0; ; ) {
      let res: IncomingMessage;
      try {
        const headers = { ...options.headers };
        // Credentials go only to the registry itself, never to a host it redirects to.
        if (url.origin === endpoint.origin) {
          const authorization = await this.authorizer.authorization(endpoint, options.scopes, challenges);
          if (authorization) headers.authorization = authorization;
        }
        res = await this.transport.send(url, { method: options.method, headers, body: options.body }, target.registry);
      } catch (e) {
        if (e instanceof RegistryError) throw e;
        // A streamed body cannot be sent again: the caller (pushBlob) starts over with a new stream.
        if (!resendable) throw e;
        if (!isRetryableNetworkError(e) || attempt >= this.retries) throw this.asNetworkError(target, e, attempt + 1);
        await backoff(attempt++);
        continue;
      }
      const status = res.statusCode ?? 0;
      if (status === 401 && !renewedAuth && resendable && url.origin === endpoint.origin) {
        // An expired token or one with too narrow a scope: get a new one for the challenge given.
        const fresh = parseWwwAuthenticate(res.headers["www-authenticate"]);
        if (fresh.some((c) => c.scheme === "bearer")) {
          res.resume();
          renewedAuth = true;
          challenges = fresh;
          this.authorizer.invalidate(target.registry, options.scopes);
          continue;
        }
      }
      if ([301, 302, 303, 307, 308].includes(status) && (options.method === "GET" || options.method === "HEAD")) {
        const location = headerValue(res, "location");
        res.resume();
        if (!location || ++redirects > MAX_REDIRECTS) throw this.error(target, "protocol", `too many or empty redirects (${status})`);
        url = new URL(location, url);
        continue;
      }
      if ((status === 429 || status === 502 || status === 503 || status === 504) && resendable && attempt < this.retries) {
        res.resume();
        await backoff(attempt++);
        continue;
      }
      return res;
    }
  }

  private async endpointFor(target: Target): Promise<Endpoint> {
    try {
      return await this.transport.endpoint(target.registry);
    } catch (e) {
      if (e instanceof RegistryError) {
        throw new RegistryError(`${target.operation} failed: ${e.message}`, {
          kind: e.kind,
          registry: e.registry,
          repository: target.repository || undefined,
          object: target.object,
          cause: e,
        });
      }
      throw e;
    }
  }

  private error(target: Target, kind: RegistryErrorKind, detail: string, cause?: unknown, status?: number, codes?: string[]): RegistryError {
    return new RegistryError(`${target.operation} failed: ${detail}`, {
      kind,
      registry: target.registry,
      repository: target.repository || undefined,
      object: target.object,
      status,
      codes,
      cause,
    });
  }

  private asNetworkError(target: Target, e: unknown, attempts: number): unknown {
    if (e instanceof RegistryError || !isRetryableNetworkError(e)) return e;
    const tries = attempts === 1 ? "" : ` (${attempts} attempts)`;
    return this.error(target, "network", `the connection to ${target.registry} broke${tries}: ${(e as Error).message}`, e);
  }

  /** The RegistryError for an unexpected answer: auth, not found, or the registry's own message. */
  private async failure(target: Target, res: IncomingMessage): Promise<RegistryError> {
    const status = res.statusCode ?? 0;
    const body = await readBody(res, MAX_ERROR_BODY, "error body").catch(() => Buffer.alloc(0));
    const errors = registryErrors(body);
    const codes = errors.map((e) => e.code);
    const said = errors.length > 0 ? ` ${errors.map((e) => `${e.code}: ${e.message}`).join("; ")}` : "";
    if (status === 401 || status === 403) {
      const credentials = await this.authorizer.credentialsFor(target.registry).catch(() => undefined);
      if (!credentials) {
        return this.error(
          target,
          "unauthorized",
          `${target.registry} requires authentication (${status}${said}) and no credentials are configured for it; log in to ${target.registry} or add it to the docker config.json`,
          undefined, status, codes,
        );
      }
      return this.error(
        target,
        "denied",
        status === 401
          ? `${target.registry} rejected the credentials from ${credentials.source} (401${said}): wrong username or password`
          : `the credentials from ${credentials.source} have no access to ${target.repository || "this"} on ${target.registry} (403${said})`,
        undefined, status, codes,
      );
    }
    if (status === 404) return this.error(target, "not-found", `not found (404${said})`, undefined, status, codes);
    if (codes.includes("DIGEST_INVALID")) {
      return this.error(target, "digest-mismatch", `the registry refused the content: it does not match its digest (${status}${said})`, undefined, status, codes);
    }
    return this.error(target, "protocol", `the registry answered ${status} ${res.statusMessage ?? ""}${said}`.trim(), undefined, status, codes);
  }
}

function headerValue(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function registryErrors(body: Buffer): { code: string; message: string }[] {
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { errors?: { code?: string; message?: string }[] };
    return (parsed.errors ?? []).map((e) => ({ code: String(e.code ?? "UNKNOWN"), message: String(e.message ?? "") }));
  } catch {
    return [];
  }
}

const SCHEMA1 = /application\/vnd\.docker\.distribution\.manifest\.v1\+(pretty)?jws|application\/json/;

/** The manifest's media type from Content-Type, else its mediaType field; schema 1 is refused. */
function manifestMediaType(target: Target, res: IncomingMessage, bytes: Buffer): string {
  const header = (headerValue(res, "content-type") ?? "").split(";")[0].trim();
  let fieldType: string | undefined;
  let schemaVersion: unknown;
  try {
    const parsed = JSON.parse(bytes.toString("utf8")) as { mediaType?: string; schemaVersion?: unknown; manifests?: unknown };
    fieldType = parsed.mediaType ?? (Array.isArray(parsed.manifests) ? MediaTypes.ociIndex : undefined);
    schemaVersion = parsed.schemaVersion;
  } catch {
    // reported below as not a manifest
  }
  const known = (t: string | undefined) => t !== undefined && (isIndexMediaType(t) || isManifestMediaType(t));
  if (known(header)) return header;
  if (known(fieldType)) return fieldType!;
  if (schemaVersion === 2 && (header === "" || SCHEMA1.test(header))) return MediaTypes.ociManifest;
  const what = schemaVersion === 1 || SCHEMA1.test(header) ? "a Docker schema 1 manifest, which is not supported; push the image again with a current tool" : `of unknown type ${header || "(none)"}`;
  throw new RegistryError(`${target.operation} failed: the manifest is ${what}`, {
    kind: "protocol",
    registry: target.registry,
    repository: target.repository,
    object: target.object,
  });
}

function uploadLocation(target: Target, res: IncomingMessage, endpoint: Endpoint): URL {
  const location = headerValue(res, "location");
  if (!location) {
    throw new RegistryError(`${target.operation} failed: the registry started an upload without a Location`, {
      kind: "protocol",
      registry: target.registry,
      repository: target.repository,
      object: target.object,
    });
  }
  return new URL(location, endpoint.origin);
}

/** Resolves when `out` can take more (or was destroyed, which the caller checks). */
function drained(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off("drain", done);
      out.off("close", done);
      resolve();
    };
    out.on("drain", done);
    out.on("close", done);
  });
}

async function collect(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error(`more than ${limit} bytes where a small document was expected`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Writes exact byte counts of a stream into successive requests (one PUT, or PATCH chunks). */
class ExactReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private pending: Buffer | undefined;

  constructor(
    private readonly source: NodeJS.ReadableStream,
    private readonly what: string,
  ) {
    this.iterator = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  async writeTo(req: Writable, count: number): Promise<void> {
    let left = count;
    while (left > 0) {
      let chunk = this.pending;
      this.pending = undefined;
      if (!chunk) {
        const next = await this.iterator.next();
        if (next.done) throw new Error(`${this.what} ended ${left} bytes before its declared size`);
        chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
      }
      if (chunk.length > left) {
        this.pending = chunk.subarray(left);
        chunk = chunk.subarray(0, left);
      }
      left -= chunk.length;
      if (!req.write(chunk)) await drained(req);
      if (req.destroyed) return;
    }
    req.end();
  }

  close(): void {
    void this.iterator.return?.();
    (this.source as Readable).destroy?.();
  }
}
