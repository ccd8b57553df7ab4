// `--mount` flags of `tsbuild run`, as `docker run --mount` spells them, and which host paths a
// bind may not expose. Pure: the caller resolves symlinks before asking about a host path.
import path from "node:path";

export type MountRequest =
  | { type: "bind"; source: string; destination: string; readonly: boolean }
  | { type: "volume"; name: string; destination: string; readonly: boolean };

/** A --mount or -e value that cannot be used; the message says which field and what to write instead. */
export class RunFlagError extends Error {
  override readonly name = "RunFlagError";
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function isValidVolumeName(name: string): boolean {
  return VOLUME_NAME.test(name);
}

const KEYS = new Map([
  ["type", "type"],
  ["src", "source"],
  ["source", "source"],
  ["dst", "destination"],
  ["destination", "destination"],
  ["target", "destination"],
  ["readonly", "readonly"],
  ["ro", "readonly"],
]);

/**
 * Parses `type=bind,src=/host,dst=/in[,readonly]` or `type=volume,src=NAME,dst=/in[,readonly]`.
 * A relative bind source is taken from `cwd`. Volume names follow Docker's rule.
 */
export function parseMountFlag(text: string, cwd: string): MountRequest {
  const fields = new Map<string, string>();
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    const rawKey = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    const key = KEYS.get(rawKey);
    if (key === undefined) {
      throw new RunFlagError(`--mount ${text}: unknown field ${JSON.stringify(rawKey)} (known: type, src|source, dst|destination|target, readonly|ro)`);
    }
    if (fields.has(key)) throw new RunFlagError(`--mount ${text}: ${key} is given twice`);
    fields.set(key, eq === -1 ? (key === "readonly" ? "true" : "") : part.slice(eq + 1));
  }
  const type = fields.get("type") ?? "volume";
  const destination = fields.get("destination");
  if (!destination) throw new RunFlagError(`--mount ${text}: needs dst=/PATH (where it appears in the container)`);
  if (!destination.startsWith("/")) throw new RunFlagError(`--mount ${text}: dst must be an absolute path, got ${JSON.stringify(destination)}`);
  const normalizedDestination = path.posix.normalize(destination);
  if (normalizedDestination === "/") throw new RunFlagError(`--mount ${text}: cannot mount over the container's root (dst=/)`);
  const readonlyText = fields.get("readonly") ?? "false";
  if (readonlyText !== "true" && readonlyText !== "false" && readonlyText !== "1" && readonlyText !== "0") {
    throw new RunFlagError(`--mount ${text}: readonly=${readonlyText}: expected true or false`);
  }
  const readonly = readonlyText === "true" || readonlyText === "1";
  const source = fields.get("source");
  switch (type) {
    case "bind":
      if (!source) throw new RunFlagError(`--mount ${text}: a bind mount needs src=HOST_PATH`);
      return { type: "bind", source: path.resolve(cwd, source), destination: normalizedDestination, readonly };
    case "volume":
      if (!source) throw new RunFlagError(`--mount ${text}: a volume mount needs src=VOLUME_NAME (tsbuild volume ls lists them)`);
      if (!isValidVolumeName(source)) {
        throw new RunFlagError(`--mount ${text}: ${JSON.stringify(source)} is not a valid volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)`);
      }
      return { type: "volume", name: source, destination: normalizedDestination, readonly };
    default:
      throw new RunFlagError(`--mount ${text}: unsupported type=${type} (supported: bind, volume)`);
  }
}

// Whole system trees: exposing them lets a container rewrite the host. Paths inside /etc or /var
// (a single config file, a data dir) stay allowed; kernel interfaces are refused at any depth.
const SYSTEM_DIRS = new Set([
  "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/proc",
  "/root", "/run", "/sbin", "/srv", "/sys", "/usr", "/var", "/var/lib", "/var/run",
]);
const SYSTEM_TREES = ["/proc", "/sys", "/dev", "/boot"];

/** Why binding the host path `realSource` (symlinks resolved) is refused, or undefined if it is allowed. */
export function hostPathRefusal(realSource: string): string | undefined {
  const p = path.posix.normalize(realSource);
  if (SYSTEM_DIRS.has(p)) return `${p} is a host system directory`;
  const tree = SYSTEM_TREES.find((t) => p.startsWith(`${t}/`));
  if (tree !== undefined) return `${p} is inside the host's ${tree}`;
  return undefined;
}

/** `-e K=V`, or `-e K` to take K from `hostEnv` (dropped when unset there), as docker run does. */
export function parseEnvFlags(values: readonly string[], hostEnv: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const value of values) {
    const eq = value.indexOf("=");
    if (eq === 0 || value === "") throw new RunFlagError(`-e ${JSON.stringify(value)}: expected NAME=VALUE or NAME`);
    if (eq > 0) out.push(value);
    else if (hostEnv[value] !== undefined) out.push(`${value}=${hostEnv[value]}`);
  }
  return out;
}

/** The image's env with `overrides` applied: a later NAME=… replaces an earlier one in place. */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const out = [...base];
  for (const entry of overrides) {
    const name = entry.slice(0, entry.indexOf("="));
    const at = out.findIndex((e) => e.slice(0, e.indexOf("=")) === name);
    if (at === -1) out.push(entry);
    else out[at] = entry;
  }
  return out;
}
