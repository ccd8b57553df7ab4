/** A layer tar tried to write outside its root, through a symlink, or create what is not allowed. */
export class LayerSecurityError extends Error {
  override readonly name = "LayerSecurityError";
  constructor(
    /** The tar entry's name as it appears in the archive. */
    readonly entry: string,
    reason: string,
  ) {
    super(`refusing layer entry ${JSON.stringify(entry)}: ${reason}`);
  }
}
