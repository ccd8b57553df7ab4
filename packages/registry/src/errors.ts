/**
 * What went wrong talking to a registry, so callers can react without parsing messages:
 * - "unauthorized": 401/403 and no credentials were sent (log in);
 * - "denied": 401/403 although credentials were sent (wrong credentials or no access);
 * - "not-found": 404 for a manifest, tag, blob or repository;
 * - "digest-mismatch": content did not hash to the digest it was asked for by;
 * - "insecure": the registry would need plain HTTP or an unverified certificate and is not allowed to;
 * - "network": the connection failed (after retries);
 * - "protocol": any other unexpected answer.
 */
export type RegistryErrorKind = "unauthorized" | "denied" | "not-found" | "digest-mismatch" | "insecure" | "network" | "protocol";

export interface RegistryErrorDetails {
  kind: RegistryErrorKind;
  registry: string;
  repository?: string;
  /** The tag or digest the request was about. */
  object?: string;
  status?: number;
  /** Error codes from the registry's JSON error body (MANIFEST_UNKNOWN, DENIED, …). */
  codes?: string[];
  cause?: unknown;
}

export class RegistryError extends Error {
  override readonly name = "RegistryError";
  readonly kind: RegistryErrorKind;
  readonly registry: string;
  readonly repository: string | undefined;
  readonly object: string | undefined;
  readonly status: number | undefined;
  readonly codes: string[];

  constructor(message: string, details: RegistryErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.kind = details.kind;
    this.registry = details.registry;
    this.repository = details.repository;
    this.object = details.object;
    this.status = details.status;
    this.codes = details.codes ?? [];
  }
}
