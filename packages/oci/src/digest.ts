import { createHash } from "node:crypto";

const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

export class InvalidDigestError extends Error {
  override readonly name = "InvalidDigestError";
  constructor(readonly digest: string) {
    super(`invalid digest ${JSON.stringify(digest)}: expected "sha256:" followed by 64 lowercase hex digits`);
  }
}

export function sha256Digest(bytes: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** True for a sha256 digest in canonical form (the only algorithm tsbuild writes or reads). */
export function isDigest(s: string): boolean {
  return SHA256_DIGEST.test(s);
}

/** The hex part of a sha256 digest; throws InvalidDigestError for anything else, so it is safe in paths. */
export function digestHex(digest: string): string {
  if (!isDigest(digest)) throw new InvalidDigestError(digest);
  return digest.slice("sha256:".length);
}
