// Where BuildKit's conformance vectors live: read in place, never copied into the repo.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

export const conformanceDir = path.resolve(
  repoRoot,
  process.env.TSBUILD_CONFORMANCE_DIR ?? "../shared/conformance",
);

// Missing vectors fail every conformance file loudly instead of passing with zero cases.
if (!existsSync(conformanceDir)) {
  throw new Error(
    `conformance vectors not found at ${conformanceDir}: set TSBUILD_CONFORMANCE_DIR to the folder that holds buildkit/ and dockerignore/`,
  );
}

export function vectorPath(...parts: string[]): string {
  return path.join(conformanceDir, ...parts);
}
