import { defineConfig } from "vitest/config";
import { alias, reporters } from "./vitest.shared.js";

export default defineConfig({
  resolve: { alias },
  test: {
    include: ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"],
    reporters,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
