// Platforms as `os/arch[/variant]`, and the automatic platform ARGs BuildKit defines.

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const nodeArchToOci: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };

/** The OCI name of a Node.js `process.arch`. */
export function ociArchitecture(nodeArch: string): string {
  return nodeArchToOci[nodeArch] ?? nodeArch;
}

export function parsePlatform(text: string): Platform {
  const parts = text.trim().toLowerCase().split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) {
    throw new Error(`invalid platform ${JSON.stringify(text)}: expected os/arch[/variant], e.g. linux/amd64`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/** TARGETPLATFORM, TARGETOS, …, BUILDVARIANT for a build from `build` to `target`. */
export function platformArgs(target: Platform, build: Platform): Map<string, string> {
  const out = new Map<string, string>();
  for (const [prefix, p] of [["TARGET", target], ["BUILD", build]] as const) {
    out.set(`${prefix}PLATFORM`, formatPlatform(p));
    out.set(`${prefix}OS`, p.os);
    out.set(`${prefix}ARCH`, p.architecture);
    out.set(`${prefix}VARIANT`, p.variant ?? "");
  }
  return out;
}

/** Proxy build args: usable in RUN without an ARG, and kept out of the image history. */
export const proxyArgNames: ReadonlySet<string> = new Set(
  ["HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"].flatMap((n) => [n, n.toLowerCase()]),
);
