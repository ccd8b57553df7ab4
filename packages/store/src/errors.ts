export class BlobDigestMismatchError extends Error {
  override readonly name = "BlobDigestMismatchError";
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`blob content hashes to ${actual} but ${expected} was expected; nothing was stored (the source is corrupt or the wrong blob)`);
  }
}

export class LayerDiffIDMismatchError extends Error {
  override readonly name = "LayerDiffIDMismatchError";
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`layer tar hashes to ${actual} but belongs to layer ${expected}; nothing was stored (the layer source changed or is wrong)`);
  }
}

export class BlobNotFoundError extends Error {
  override readonly name = "BlobNotFoundError";
  constructor(
    readonly digest: string,
    readonly root: string,
  ) {
    super(`blob ${digest} is not in the store at ${root}; pull or rebuild the image that holds it`);
  }
}

export class LayerNotFoundError extends Error {
  override readonly name = "LayerNotFoundError";
  constructor(
    readonly diffID: string,
    readonly root: string,
    detail = "",
  ) {
    super(`layer ${diffID} is not in the store at ${root}${detail}`);
  }
}

export class StoreLockTimeoutError extends Error {
  override readonly name = "StoreLockTimeoutError";
  constructor(
    readonly lockPath: string,
    readonly holderPid: number | undefined,
    readonly waitedMs: number,
  ) {
    super(
      `timed out after ${waitedMs} ms waiting for the store lock ${lockPath}` +
        (holderPid !== undefined ? `, held by process ${holderPid}` : "") +
        `; wait for that process to finish, or remove the lock file if that process is gone`,
    );
  }
}

export class InvalidImageNameError extends Error {
  override readonly name = "InvalidImageNameError";
  constructor(
    readonly imageName: string,
    reason: string,
  ) {
    super(`invalid image name ${JSON.stringify(imageName)}: ${reason}`);
  }
}
