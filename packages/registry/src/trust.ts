// Which certificate authorities HTTPS connections trust: Node's bundled roots, the system bundle,
// the file NODE_EXTRA_CA_CERTS names and any files the caller adds. An explicit `ca` list replaces
// Node's default store (which is where Node would have put NODE_EXTRA_CA_CERTS), so that file is
// read here. The `tsbuild` launcher moves NODE_EXTRA_CA_CERTS to TSBUILD_DEFERRED_EXTRA_CA_CERTS
// before Node starts: Node 20 parses every root certificate at start-up when the variable is set
// (~40 ms per command); here the file is read only when a verified connection is made.
import { readFile } from "node:fs/promises";
import tls from "node:tls";

// Where the system keeps its CA bundle (Debian/Ubuntu, Fedora/RHEL, Alpine/Arch share the first).
const SYSTEM_CA_FILES = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"];

/** The PEM file of extra CAs the user configured for Node, or undefined. */
export function extraCaCertsFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.NODE_EXTRA_CA_CERTS || env.TSBUILD_DEFERRED_EXTRA_CA_CERTS || undefined;
}

/**
 * PEM certificates to pass as `ca` to https/tls. An unreadable NODE_EXTRA_CA_CERTS file is skipped
 * with a warning (as Node does); an unreadable file in `extraFiles` is an error naming it.
 */
export async function trustedCertificates(extraFiles: readonly string[] = []): Promise<string[]> {
  const ca: string[] = [...tls.rootCertificates];
  for (const file of SYSTEM_CA_FILES) {
    const pem = await readFile(file, "utf8").catch(() => undefined);
    if (pem !== undefined) {
      ca.push(pem);
      break;
    }
  }
  const nodeExtra = extraCaCertsFile();
  if (nodeExtra) {
    try {
      ca.push(await readFile(nodeExtra, "utf8"));
    } catch (e) {
      process.emitWarning(`Ignoring extra certs from ${nodeExtra}, load failed: ${(e as Error).message}`);
    }
  }
  for (const file of extraFiles) {
    try {
      ca.push(await readFile(file, "utf8"));
    } catch (e) {
      throw new Error(`cannot read the CA file ${file}: ${(e as Error).message}`);
    }
  }
  return ca;
}
