import type { Descriptor, Platform } from "./types.js";

/** The platform tsbuild builds for unless told otherwise. */
export const DEFAULT_PLATFORM: Platform = { os: "linux", architecture: "amd64" };

// arm64 images often omit the variant; "v8" is the only one, so absent and "v8" are the same.
function normalVariant(p: Platform): string | undefined {
  if (p.architecture === "arm64" && (p.variant === undefined || p.variant === "")) return "v8";
  return p.variant || undefined;
}

/** True when `candidate` runs on `wanted`: same os and architecture, and the variant if one is wanted. */
export function platformMatches(candidate: Platform | undefined, wanted: Platform): boolean {
  if (!candidate) return false;
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  const wantedVariant = normalVariant(wanted);
  return wantedVariant === undefined || normalVariant(candidate) === wantedVariant;
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/** The first entry of an index that matches the platform, or undefined. */
export function selectPlatformManifest(manifests: readonly Descriptor[], wanted: Platform): Descriptor | undefined {
  return manifests.find((d) => platformMatches(d.platform, wanted));
}
