// `RUN --mount=<csv>`: one flag value to a typed mount, with the syntax, defaults and errors of
// BuildKit (frontend/dockerfile/instructions/commands_runmount.go and the dockerfile2llb
// dispatch of secret and ssh mounts). Values arrive already expanded.

export type RunMountSharing = "shared" | "private" | "locked";

/** Context (or `from`) files, read-only unless `rw`. */
export interface RunBindMount {
  type: "bind";
  /** Cleaned; relative to the working directory when relative (see resolveRunMountTarget). */
  target: string;
  /** A stage name, image or named context; absent for the build context. */
  from?: string;
  /** Absolute path inside the source, "/" for its root; `..` cannot climb above it. */
  source: string;
  readOnly: boolean;
}

/** A directory that persists between builds, keyed by `id`. */
export interface RunCacheMount {
  type: "cache";
  target: string;
  /** Defaults to the cleaned target. */
  id: string;
  sharing: RunMountSharing;
  readOnly: boolean;
  /** Seeds a new cache from this stage or image instead of an empty directory. */
  from?: string;
  /** Subpath of the cache (or of `from`) to mount, "/" for its root. */
  source: string;
  /** Mode, owner and group of a new cache directory (BuildKit applies them only when source is "/"). */
  mode: number;
  uid: number;
  gid: number;
}

export interface RunTmpfsMount {
  type: "tmpfs";
  target: string;
  readOnly: boolean;
  /** Upper limit in bytes; absent for the kernel default (BuildKit treats size=0 the same way). */
  sizeBytes?: number;
}

export interface RunSecretMount {
  type: "secret";
  id: string;
  /** Absolute path of the secret file; absent when the secret is only exposed as `env`. */
  target?: string;
  /** Name of an environment variable that receives the secret's value. */
  env?: string;
  /** A missing secret is an error when true, an absent file (or variable) when false. */
  required: boolean;
  mode: number;
  uid: number;
  gid: number;
}

export interface RunSshMount {
  type: "ssh";
  id: string;
  /** Absolute path of the agent socket; BuildKit also sets SSH_AUTH_SOCK to the first one. */
  target: string;
  required: boolean;
  mode: number;
  uid: number;
  gid: number;
}

export type RunMount = RunBindMount | RunCacheMount | RunTmpfsMount | RunSecretMount | RunSshMount;

export type RunMountType = RunMount["type"];

/** A `--mount` value that is not valid; the caller adds the Dockerfile position. */
export class RunMountError extends Error {
  override readonly name = "RunMountError";
  constructor(
    message: string,
    /** The whole `--mount` value. */
    readonly value: string,
  ) {
    super(`--mount=${value}: ${message}`);
  }
}

const MOUNT_TYPES: readonly RunMountType[] = ["bind", "cache", "tmpfs", "secret", "ssh"];
const SHARING_MODES: readonly RunMountSharing[] = ["shared", "private", "locked"];

/** Keys with the same meaning, by canonical key. */
const KEY_ALIASES: Record<string, string> = {
  src: "source",
  dst: "target",
  destination: "target",
  ro: "readonly",
  rw: "readwrite",
};
/** Keys that may stand alone, meaning key=true. */
const FLAG_KEYS = ["readonly", "readwrite", "required"];
const KEYS = ["type", "from", "source", "target", "readonly", "readwrite", "id", "sharing", "required", "size", "mode", "uid", "gid", "env"];
/** The keys each type uses, for the hint on an unknown key. */
const KEYS_BY_TYPE: Record<RunMountType, string> = {
  bind: "target, source, from, ro, rw",
  cache: "target, id, sharing, source, from, ro, rw, mode, uid, gid",
  tmpfs: "target, size, ro, rw",
  secret: "id, target, env, required, mode, uid, gid",
  ssh: "id, target, required, mode, uid, gid",
};

const SECRET_DIR = "/run/secrets";
const SSH_SOCKET_PREFIX = "/run/buildkit/ssh_agent.";
const MAX_MODE = 0o7777;
const MAX_ID = 2 ** 32 - 1;

/**
 * Parses every `--mount` value of one RUN, in order. ssh mounts without a target are numbered
 * among the RUN's ssh mounts, as BuildKit numbers them (/run/buildkit/ssh_agent.0, .1, …).
 */
export function parseRunMounts(values: readonly string[]): RunMount[] {
  let sshIndex = 0;
  return values.map((value) => {
    const mount = parseRunMount(value, sshIndex);
    if (mount.type === "ssh") sshIndex++;
    return mount;
  });
}

/** Parses one `--mount` value; `sshIndex` numbers the default target of an ssh mount. */
export function parseRunMount(value: string, sshIndex = 0): RunMount {
  const fail = (message: string): RunMountError => new RunMountError(message, value);
  const entries = splitCsv(value, fail).map((field) => {
    const equals = field.indexOf("=");
    const key = canonicalKey((equals === -1 ? field : field.slice(0, equals)).toLowerCase());
    return { field, key, value: equals === -1 ? undefined : field.slice(equals + 1) };
  });

  // BuildKit reads `type` as it meets it, so `required,type=secret` fails there; reading it
  // first accepts the keys in any order.
  let type: RunMountType = "bind";
  for (const entry of entries) {
    if (entry.key !== "type" || entry.value === undefined) continue;
    const named = entry.value.toLowerCase() as RunMountType;
    if (!MOUNT_TYPES.includes(named)) throw fail(`unsupported mount type "${entry.value}"; use one of ${MOUNT_TYPES.join(", ")}`);
    type = named;
  }
  const settings = new Map<string, string>();
  for (const entry of entries) {
    if (entry.value === undefined && !FLAG_KEYS.includes(entry.key)) {
      throw fail(`invalid field "${entry.field}": it must be a key=value pair`);
    }
    if (!KEYS.includes(entry.key)) {
      throw fail(`unknown key "${entry.key}" in "${entry.field}"; ${type} mounts take ${KEYS_BY_TYPE[type]}`);
    }
    // The last of ro/rw wins, whichever spelling it used.
    if (entry.key === "readonly" || entry.key === "readwrite") {
      settings.delete("readonly");
      settings.delete("readwrite");
    }
    settings.set(entry.key, entry.value ?? "true");
  }

  if (settings.has("required") && type !== "secret" && type !== "ssh") {
    throw fail(`"required" applies only to secret and ssh mounts, not ${type}`);
  }
  if (settings.has("size") && type !== "tmpfs") throw fail(`"size" applies only to tmpfs mounts, not ${type}`);
  if (type !== "secret" && type !== "ssh" && type !== "cache") {
    for (const key of ["mode", "uid", "gid"]) {
      if (settings.has(key)) throw fail(`"${key}" is not allowed for ${type} mounts (only cache, secret and ssh)`);
    }
  }
  const sharingText = settings.get("sharing");
  let sharing: RunMountSharing | undefined;
  if (sharingText !== undefined) {
    sharing = sharingText.toLowerCase() as RunMountSharing;
    if (!SHARING_MODES.includes(sharing)) throw fail(`unsupported sharing value "${sharingText}"; use one of ${SHARING_MODES.join(", ")}`);
    if (type !== "cache") throw fail(`"sharing" applies only to cache mounts, not ${type}`);
  }

  const bool = (key: string): boolean | undefined => {
    const text = settings.get(key);
    if (text === undefined) return undefined;
    const parsed = parseGoBool(text);
    if (parsed === undefined) throw fail(`invalid value for ${key}: "${text}"; use true or false`);
    return parsed;
  };
  const uint = (key: string, base: 8 | 10, max: number, fallback: number): number => {
    const text = settings.get(key);
    if (text === undefined) return fallback;
    const parsed = (base === 8 ? /^[0-7]+$/ : /^[0-9]+$/).test(text) ? parseInt(text, base) : NaN;
    if (!(parsed <= max)) {
      const expected = base === 8 ? `an octal mode from 0 to ${max.toString(8)}` : `a number from 0 to ${max}`;
      throw fail(`invalid value for ${key}: "${text}"; use ${expected}`);
    }
    return parsed;
  };
  const fileInfo = (defaultMode: number) => ({
    mode: uint("mode", 8, MAX_MODE, defaultMode),
    uid: uint("uid", 10, MAX_ID, 0),
    gid: uint("gid", 10, MAX_ID, 0),
  });
  const readOnly = (fallback: boolean): boolean => {
    const rw = bool("readwrite");
    return bool("readonly") ?? (rw === undefined ? fallback : !rw);
  };
  const required = bool("required") ?? false;
  const nonEmpty = (key: string): string | undefined => {
    const text = settings.get(key);
    return text === undefined || text === "" ? undefined : text;
  };
  const from = nonEmpty("from");
  const source = nonEmpty("source");
  const id = nonEmpty("id");
  const targetText = nonEmpty("target");

  const notRoot = (target: string): string => {
    if (target === "/") throw fail(`cannot mount over the root directory (target=${targetText})`);
    return target;
  };
  const requiredTarget = (): string => {
    if (targetText === undefined) throw fail(`${type} mounts need a target: add target=/path/in/container`);
    return notRoot(cleanPath(targetText));
  };
  // BuildKit does not join secret and ssh targets with the working directory: a relative one
  // is taken from the root.
  const rootedTarget = (text: string): string => notRoot(cleanPath(`/${text}`));
  // Like Go's path.Join("/", source): the source cannot climb out of its root.
  const rootedSource = cleanPath(`/${source ?? ""}`);

  switch (type) {
    case "bind":
      return { type, target: requiredTarget(), ...(from !== undefined ? { from } : {}), source: rootedSource, readOnly: readOnly(true) };
    case "cache": {
      const target = requiredTarget();
      return {
        type,
        target,
        id: id ?? target,
        sharing: sharing ?? "shared",
        readOnly: readOnly(false),
        ...(from !== undefined ? { from } : {}),
        source: rootedSource,
        ...fileInfo(0o755),
      };
    }
    case "tmpfs": {
      const sizeText = settings.get("size");
      const size = sizeText === undefined ? 0 : parseRamInBytes(sizeText);
      if (size === undefined) throw fail(`invalid value for size: "${sizeText}"; use bytes or a number with a unit (k, m, g, t, p: 64m, 1.5g)`);
      return { type, target: requiredTarget(), readOnly: readOnly(false), ...(size > 0 ? { sizeBytes: size } : {}) };
    }
    case "secret": {
      if (from !== undefined) throw fail("secret mounts cannot have a from");
      if (source !== undefined && id !== undefined) throw fail("set either id or source (they mean the same for secrets), not both");
      const env = settings.get("env");
      if (env === "") throw fail("env needs the name of an environment variable (env=NAME)");
      const secretId = source ?? id ?? (targetText === undefined ? undefined : baseName(targetText));
      if (secretId === undefined) throw fail("secret mounts need an id or a target (id=NAME or target=/path)");
      const target = targetText !== undefined ? rootedTarget(targetText) : env === undefined ? `${SECRET_DIR}/${baseName(secretId)}` : undefined;
      return { type, id: secretId, ...(target !== undefined ? { target } : {}), ...(env !== undefined ? { env } : {}), required, ...fileInfo(0o400) };
    }
    case "ssh": {
      if (source !== undefined) throw fail("ssh mounts do not take a source; name the agent with id=");
      const target = targetText === undefined ? `${SSH_SOCKET_PREFIX}${sshIndex}` : rootedTarget(targetText);
      return { type, id: id ?? "default", target, required, ...fileInfo(0o600) };
    }
  }
}

/**
 * The absolute container path of a bind, cache or tmpfs mount target: a relative one is taken
 * from the working directory, as BuildKit does. A target that comes out as / is an error.
 */
export function resolveRunMountTarget(target: string, workdir: string): string {
  const resolved = cleanPath(target.startsWith("/") ? target : `/${workdir}/${target}`);
  if (resolved === "/") {
    throw new RunMountError(`cannot mount over the root directory (target ${target} in working directory ${workdir})`, `target=${target}`);
  }
  return resolved;
}

function canonicalKey(key: string): string {
  return KEY_ALIASES[key] ?? key;
}

/** Go's path.Clean: one slash between elements, no `.`, no `..` that can be resolved. */
function cleanPath(text: string): string {
  const rooted = text.startsWith("/");
  const parts: string[] = [];
  for (const part of text.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === ".." && parts.length > 0 && parts.at(-1) !== "..") parts.pop();
    else if (part !== ".." || !rooted) parts.push(part);
  }
  const joined = parts.join("/");
  return rooted ? `/${joined}` : joined === "" ? "." : joined;
}

/** Go's path.Base: the last element, trailing slashes ignored. */
function baseName(text: string): string {
  const trimmed = text.replace(/\/+$/, "");
  return trimmed === "" ? (text === "" ? "." : "/") : trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** Go's strconv.ParseBool. */
function parseGoBool(text: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  return undefined;
}

const RAM_UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * docker/go-units RAMInBytes: a decimal number, an optional space, then an optional binary unit
 * (k, m, g, t, p, case-insensitive, optionally followed by b or ib); the fraction is truncated.
 */
function parseRamInBytes(text: string): number | undefined {
  let number: string;
  let suffix: string;
  const space = text.indexOf(" ");
  if (space !== -1) {
    number = text.slice(0, space);
    suffix = text.slice(space + 1);
  } else {
    const match = /^(.*[0-9.])(.*)$/s.exec(text);
    if (!match) return undefined;
    number = match[1]!;
    suffix = match[2]!;
  }
  // The decimal subset of Go's strconv.ParseFloat.
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(number)) return undefined;
  let size = Number(number);
  if (!Number.isFinite(size) || size < 0) return undefined;
  const unit = suffix.toLowerCase();
  if (unit !== "" && unit !== "b") {
    const multiplier = RAM_UNITS[unit[0]!];
    if (multiplier === undefined || unit.length > 3) return undefined;
    if ((unit.length === 2 && unit[1] !== "b") || (unit.length === 3 && unit.slice(1) !== "ib")) return undefined;
    size *= multiplier;
  }
  const bytes = Math.trunc(size);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/**
 * encoding/csv's reading of one record (BuildKit uses it for `--mount`): fields split at commas,
 * a field that starts with `"` is quoted and `""` inside it is a quote; a bare `"` elsewhere,
 * or text after a closing quote, is an error.
 */
function splitCsv(text: string, fail: (message: string) => RunMountError): string[] {
  const line = text.endsWith("\r\n") ? text.slice(0, -2) : text.endsWith("\n") ? text.slice(0, -1) : text;
  if (line === "") throw fail("the mount needs options, e.g. type=cache,target=/root/.cache");
  const fields: string[] = [];
  let position = 0;
  for (;;) {
    if (line[position] !== '"') {
      const comma = line.indexOf(",", position);
      const field = line.slice(position, comma === -1 ? undefined : comma);
      const quote = field.indexOf('"');
      if (quote !== -1) throw fail(`bare " in a field that is not quoted (column ${position + quote + 1}); quote the whole field: "key=value"`);
      fields.push(field);
      if (comma === -1) return fields;
      position = comma + 1;
      continue;
    }
    let field = "";
    position++;
    for (;;) {
      const quote = line.indexOf('"', position);
      if (quote === -1) throw fail(`unterminated quoted field starting at column ${position}`);
      field += line.slice(position, quote);
      position = quote + 1;
      if (line[position] === '"') {
        field += '"';
        position++;
        continue;
      }
      if (position === line.length) {
        fields.push(field);
        return fields;
      }
      if (line[position] === ",") {
        fields.push(field);
        position++;
        break;
      }
      throw fail(`extraneous or missing " in a quoted field (column ${position})`);
    }
  }
}
