import { defineConfig } from "vitest/config";
import { alias, reporters } from "./vitest.shared.js";

export default defineConfig({
  resolve: { alias },
  test: { include: ["test/conformance/**/*.test.ts"], reporters },
});
