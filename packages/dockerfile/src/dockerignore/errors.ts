/** A .dockerignore (or include) pattern list that cannot be used; the build must stop. */
export class DockerignoreError extends Error {
  override readonly name = "DockerignoreError";
  constructor(
    message: string,
    /** The offending pattern as written, when one pattern is at fault. */
    readonly pattern?: string,
  ) {
    super(message);
  }
}
