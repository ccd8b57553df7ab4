// The docker-registry (CNCF Distribution) configuration that the tests and the benchmark share:
// filesystem storage, no redirects to storage URLs, no background purging (each registry only
// serves one run on 127.0.0.1).
import { randomBytes } from "node:crypto";

/**
 * The config file's lines, without TLS or auth (callers append those under `http:` and at the end).
 * @param {{ host: string, storageDir: string, allowDelete?: boolean }} options
 * @returns {string[]}
 */
export function registryConfigLines({ host, storageDir, allowDelete = false }) {
  return [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${storageDir}`,
    ...(allowDelete ? ["  delete:", "    enabled: true"] : []),
    "  redirect:",
    "    disable: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: ${host}`,
    `  secret: ${randomBytes(16).toString("hex")}`,
  ];
}
