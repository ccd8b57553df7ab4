import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

export class DigestMismatchError extends Error {
  override readonly name = "DigestMismatchError";
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${what}: expected ${expected} but the content hashes to ${actual}; the source is corrupt or not what it claims`);
  }
}

/** A pass-through stream that hashes (sha256) and counts what flows through it. */
export class DigestingStream extends Transform {
  private readonly hash: Hash = createHash("sha256");
  private hex: string | undefined;
  size = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.hex = this.hash.digest("hex");
    callback();
  }

  /** The sha256 digest; only after the stream has ended. */
  digest(): string {
    if (this.hex === undefined) throw new Error("DigestingStream.digest() called before the stream ended");
    return `sha256:${this.hex}`;
  }
}

/**
 * A pass-through stream that fails at its end when the content does not hash to `expected`
 * or, when given, is not `expectedSize` bytes long; so a consumer never commits bad content.
 */
export class VerifyingStream extends Transform {
  private readonly hash: Hash = createHash("sha256");
  private size = 0;

  constructor(
    private readonly expected: string,
    private readonly what: string,
    private readonly expectedSize?: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const actual = `sha256:${this.hash.digest("hex")}`;
    if (actual !== this.expected) return callback(new DigestMismatchError(this.what, this.expected, actual));
    if (this.expectedSize !== undefined && this.size !== this.expectedSize) {
      return callback(new Error(`${this.what}: expected ${this.expectedSize} bytes, got ${this.size}`));
    }
    callback();
  }
}
