// @tsbuild/layers: snapshots (overlay, or a copying fallback), the differ (a dir in overlay
// upper format -> OCI changeset tar), the applier (tar -> dir, safely), and tree copying.
export type { Snapshot, Snapshotter } from "./snapshot.js";
export { overlaySnapshotter, mountOverlay, unmountOverlay } from "./overlay.js";
export { pruneCopiedUpDirs } from "./prune-copyups.js";
export { readTreeXattrs, type TreeXattrs } from "./xattrs.js";
export { nativeSnapshotter } from "./native.js";
export { dirsAbove, onlyLayerOf, type DirAbove } from "./lower-view.js";
export { prepareUpperSnapshot } from "./upper-snapshot.js";
export { isWhiteout } from "./tree-writer.js";
export { detectSnapshotter } from "./detect.js";
export { changesetTar, type ChangesetTarOptions } from "./changeset-tar.js";
export { ChangesetDigest, type ChangesetDigestResult, type WrittenEntryMeta } from "./changeset-digest.js";
export { applyChangeset, type ApplyChangesetOptions, type ApplyChangesetResult } from "./apply-changeset.js";
export { LayerSecurityError } from "./errors.js";
export { TarFormatError } from "./tar-format.js";
export { mergeLayers } from "./merge.js";
export { copyTree, type CopyTreeOptions } from "./copy-tree.js";
