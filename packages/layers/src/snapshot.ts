import { mkdtemp } from "node:fs/promises";
import path from "node:path";

/**
 * A new dir under `workRoot` named `<kind>-<pid>-<random>`: the store's prune removes those of
 * processes that are gone (a crash's leftovers), unmounting what is mounted in them first.
 */
export function makeScratchDir(workRoot: string, kind: string): Promise<string> {
  return mkdtemp(path.join(workRoot, `${kind}-${process.pid}-`));
}

/** A mounted, writable root file system for one step. */
export interface Snapshot {
  /** Where the merged tree is visible (the overlay mountpoint, or the copied dir). */
  readonly rootfs: string;
  /** Where the step's changes are (or, for the native snapshotter, will be) in overlay upper format. */
  readonly upperDir: string;
  /** Unmounts (overlay) and returns the dir holding the changes in overlay upper format; the caller renames it into the store. */
  commit(): Promise<string>;
  /** Unmounts and deletes everything of this snapshot. Idempotent; safe after commit. */
  remove(): Promise<void>;
}

export interface Snapshotter {
  readonly kind: "overlay" | "native";
  /**
   * lowers: unpacked layer dirs (overlay upper format), NEWEST FIRST; [] for scratch.
   * workRoot: a dir on the same file system as the store, where the snapshot's own dirs go.
   */
  prepare(lowers: readonly string[], workRoot: string): Promise<Snapshot>;
}
