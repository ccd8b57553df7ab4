// @tsbuild/containers: working containers (a writable layer over an image's shared layers),
// runs in them, diff, commit, cp, sizes, inspection, and named volumes.
export { createContainer, getContainer, listContainers, ContainerNotFoundError, type ContainerRecord, type CreateContainerOptions, type VolumeAttachment } from "./records.js";
export { diffContainer, removeContainer } from "./containers.js";
export { formatChanges, type Change, type ChangeKind } from "./changes.js";
export { mountContainer, unmountContainer, mountStatus } from "./rootfs.js";
export { runInContainer, HostPathRefusedError, type ContainerRunOptions } from "./run.js";
export { parseMountFlag, parseEnvFlags, RunFlagError, type MountRequest } from "./mount-spec.js";
export { copyFiles, parseCopyEndpoint, type CopyEndpoint } from "./cp.js";
export { commitContainer, type CommitOptions, type CommitResult } from "./commit.js";
export { containerSize, containerDiskUsage, type ContainerSize, type ContainerUsage, type VolumeUsage } from "./sizes.js";
export { createVolume, listVolumes, inspectVolume, removeVolume, pruneVolumes, VolumeNotFoundError, type VolumeInspect, type VolumeRecord } from "./volumes.js";
export { inspectAny, inspectImage, inspectContainer, imageHistory, type ContainerInspect, type HistoryRow, type ImageInspect } from "./inspect.js";
export { storeInfo, type StoreInfo } from "./info.js";
