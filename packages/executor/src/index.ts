export { resolveUser, UnknownUserError, InvalidUserError, type ResolvedUser } from "./user.js";
export { runtimeSpec, DEFAULT_CAPABILITIES, type ProcessSpec, type ExecMount } from "./spec.js";
export { resolveInRoot, mkdirInRoot } from "./rootfs.js";
export { runInRootfs, runcVersion, RunFailedError, type RunResult, type RunOptions } from "./run.js";
