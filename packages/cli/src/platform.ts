// Host and target platforms for the handlers that build, pull or inspect images. @tsbuild/dockerfile
// is loaded on first use, so that defining the commands (and `--help`) does not load it.
import type { Platform } from "@tsbuild/dockerfile";
import { UsageError } from "./command-line.js";

/** The platform tsbuild runs on: linux on this process's architecture. */
export async function hostPlatform(): Promise<Platform> {
  const { ociArchitecture } = await import("@tsbuild/dockerfile");
  return { os: "linux", architecture: ociArchitecture(process.arch) };
}

/** `--platform os/arch[/variant]`, or the host's when it is not given; a malformed value is a usage error. */
export async function platformOption(value: string | undefined): Promise<Platform> {
  if (!value) return hostPlatform();
  const { parsePlatform } = await import("@tsbuild/dockerfile");
  try {
    return parsePlatform(value);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
