// Shared vitest settings: workspace packages resolve to their TypeScript sources.
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const packagesDir = fileURLToPath(new URL("./packages/", import.meta.url));

export const alias = Object.fromEntries(
  readdirSync(packagesDir)
    .filter((dir) => dir !== "cli")
    .map((dir) => [`@tsbuild/${dir}`, `${packagesDir}${dir}/src/index.ts`]),
);

export const reporters = ["default", "./scripts/summary-reporter.ts"];
