// What "the same result" means between tsbuild and buildah, and the differences that are known
// and legitimate (each with its reason). Pure: manifests and configs in, mismatches out.
import { isDeepStrictEqual } from "node:util";
import type { TreeEntry } from "../support/tree-manifest.js";
import type { ContainerConfig } from "./buildah.js";

export interface Mismatch {
  path: string;
  field: string;
  tsbuild: unknown;
  buildah: unknown;
}

/** A difference expected for one fixture, with why buildah's side is not the reference. */
export type KnownDifference =
  /**
   * buildah's entry for path (or its absence) is not compared; tsbuild's must have exactly
   * these fields (the reference behaviour). Reported if buildah ever agrees with tsbuild.
   */
  | { kind: "buildah-differs"; path: string; tsbuild: Partial<TreeEntry>; why: string }
  /** These fields of path are not compared on either side (everything else is). */
  | { kind: "ignore-fields"; path: string; fields: (keyof TreeEntry)[]; why: string };

/**
 * Mount points buildah creates in the rootfs for every RUN (with --isolation chroot, to bind the
 * host's files onto) and commits into the layer: empty 0755 files /etc/hosts, /etc/hostname,
 * /etc/resolv.conf and an empty /run. The base has none of them, BuildKit removes such stubs
 * before committing, and so must tsbuild: they are dropped from buildah's side only, and only
 * when they are exactly such stubs.
 */
export function withoutBuildahRunStubs(entries: readonly TreeEntry[]): TreeEntry[] {
  const isStub = (entry: TreeEntry): boolean => {
    if (entry.uid !== 0 || entry.gid !== 0 || entry.mode !== "0755") return false;
    if (["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"].includes(entry.path)) return entry.type === "file" && entry.size === 0;
    return entry.path === "/run" && entry.type === "dir" && !entries.some((other) => other.path.startsWith("/run/"));
  };
  return entries.filter((entry) => !isStub(entry));
}

const entryFields: (keyof TreeEntry)[] = ["type", "mode", "uid", "gid", "size", "sha256", "target", "rdev", "hardlinks", "xattrs"];

/** Field-by-field differences between two rootfs manifests, after the fixture's known differences. */
export function compareTrees(tsbuild: readonly TreeEntry[], buildah: readonly TreeEntry[], known: readonly KnownDifference[] = []): Mismatch[] {
  const ours = new Map(tsbuild.map((entry) => [entry.path, entry]));
  const theirs = new Map(buildah.map((entry) => [entry.path, entry]));
  const mismatches: Mismatch[] = [];
  for (const difference of known) {
    if (difference.kind !== "buildah-differs") continue;
    const entry = ours.get(difference.path);
    const buildahEntry = theirs.get(difference.path);
    if (entry && buildahEntry && isDeepStrictEqual(entry, buildahEntry)) {
      mismatches.push({ path: difference.path, field: "known difference gone: buildah agrees now", tsbuild: entry, buildah: buildahEntry });
    }
    for (const [field, expected] of Object.entries(difference.tsbuild)) {
      const actual = entry?.[field as keyof TreeEntry];
      if (!isDeepStrictEqual(actual, expected)) {
        mismatches.push({ path: difference.path, field, tsbuild: actual, buildah: `(not compared; reference: ${JSON.stringify(expected)})` });
      }
    }
    ours.delete(difference.path);
    theirs.delete(difference.path);
  }
  const ignored = (path: string, field: keyof TreeEntry): boolean =>
    known.some((difference) => difference.kind === "ignore-fields" && difference.path === path && difference.fields.includes(field));
  for (const path of [...new Set([...ours.keys(), ...theirs.keys()])].sort()) {
    const a = ours.get(path);
    const b = theirs.get(path);
    if (!a || !b) {
      mismatches.push({ path, field: "exists", tsbuild: a ? describeEntry(a) : "(absent)", buildah: b ? describeEntry(b) : "(absent)" });
      continue;
    }
    for (const field of entryFields) {
      if (!ignored(path, field) && !isDeepStrictEqual(a[field], b[field])) mismatches.push({ path, field, tsbuild: a[field], buildah: b[field] });
    }
  }
  return mismatches;
}

function describeEntry(entry: TreeEntry): string {
  const detail = entry.target !== undefined ? ` -> ${entry.target}` : entry.size !== undefined ? ` ${entry.size}B` : "";
  return `${entry.type} ${entry.mode} ${entry.uid}:${entry.gid}${detail}`;
}

export const comparedConfigFields = [
  "Env",
  "Cmd",
  "Entrypoint",
  "WorkingDir",
  "User",
  "ExposedPorts",
  "Volumes",
  "Labels",
  "StopSignal",
  "Healthcheck",
] as const satisfies readonly (keyof ContainerConfig)[];

/**
 * Differences in the compared config fields. Normalized first, on both sides alike: an absent,
 * null, empty-string, empty-list or empty-map field means "not set" in every consumer (buildah
 * writes `Entrypoint: []`, `Volumes: {}` where BuildKit omits them). Buildah's own label
 * `io.buildah.version` is dropped from its side.
 */
export function compareConfigs(tsbuild: ContainerConfig, buildah: ContainerConfig): Mismatch[] {
  const buildahLabels = { ...buildah.Labels };
  delete buildahLabels["io.buildah.version"];
  const theirs: ContainerConfig = { ...buildah, Labels: buildahLabels };
  const mismatches: Mismatch[] = [];
  for (const field of comparedConfigFields) {
    const a = normalize(tsbuild[field]);
    const b = normalize(theirs[field]);
    if (!isDeepStrictEqual(a, b)) mismatches.push({ path: "(config)", field, tsbuild: a, buildah: b });
  }
  return mismatches;
}

function normalize(value: unknown): unknown {
  if (value === null || value === undefined || value === "") return undefined;
  if (Array.isArray(value)) return value.length === 0 ? undefined : value;
  if (typeof value === "object") return Object.keys(value).length === 0 ? undefined : value;
  return value;
}

/** One line per mismatch, for the failure message. */
export function formatMismatches(fixture: string, mismatches: readonly Mismatch[]): string {
  return mismatches
    .map((m) => `${fixture}: ${m.path} ${m.field}: tsbuild=${JSON.stringify(m.tsbuild)} buildah=${JSON.stringify(m.buildah)}`)
    .join("\n");
}
