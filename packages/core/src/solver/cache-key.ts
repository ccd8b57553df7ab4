// Cache keys: sha256(parent key, canonical instruction, digests of its inputs).
// The inputs are kept beside the key so that a miss can be explained in words.
import { createHash } from "node:crypto";

export interface StepInputs {
  /** The key of the step before (or the base's identity for the first step). */
  parent: string;
  /** The expanded instruction in a canonical form, with everything it depends on but files. */
  instruction: string;
  /** For COPY/ADD: destination-relative path -> content+metadata digest of each file it reads. */
  files?: Record<string, string>;
}

const keys = new WeakMap<StepInputs, string>();

/** The text a key hashes before the files: the version of the scheme, the parent, the instruction. */
export function keyBasis(inputs: Pick<StepInputs, "parent" | "instruction">): string {
  return `tsbuild-cache-v1\0${inputs.parent}\0${inputs.instruction}\0`;
}

/**
 * Gives inputs whose files are not listed the key they had when they were (known by the files'
 * stats, decision 0016). cacheKey() then returns it; the files are listed for an explanation.
 */
export function rememberCacheKey(inputs: StepInputs, key: string): void {
  keys.set(inputs, key);
}

/** The key of a step's inputs (remembered per inputs object: a COPY of a large tree has many files to hash). */
export function cacheKey(inputs: StepInputs): string {
  let key = keys.get(inputs);
  if (key === undefined) {
    const hash = createHash("sha256");
    hash.update(keyBasis(inputs));
    const files = inputs.files;
    // One update of the joined text: the same bytes as one per file, without a call each.
    if (files) hash.update(Object.keys(files).sort().map((name) => `${name}\0${files[name]}\0`).join(""));
    key = hash.digest("hex");
    keys.set(inputs, key);
  }
  return key;
}

/** A stable text form of a JSON-able value: object keys sorted. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Map) return Object.fromEntries([...v].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

/** Why `current` missed, compared with the inputs of the last build of the same instruction. */
export function explainMiss(current: StepInputs, previous: StepInputs | undefined, maxNames = 5): string {
  if (!previous) return "not built before with this instruction";
  const reasons: string[] = [];
  if (previous.parent !== current.parent) reasons.push("an earlier step or the base image changed");
  if (previous.instruction !== current.instruction) reasons.push(...instructionChanges(previous, current));
  const before = previous.files ?? {};
  const after = current.files ?? {};
  const changed: string[] = [];
  for (const [name, digest] of Object.entries(after)) if (before[name] !== digest) changed.push(name);
  for (const name of Object.keys(before)) if (!(name in after)) changed.push(name);
  if (changed.length > 0) {
    changed.sort();
    const shown = changed.slice(0, maxNames).join(", ");
    const more = changed.length > maxNames ? `, and ${changed.length - maxNames} more` : "";
    reasons.push(`${changed.length} ${changed.length === 1 ? "file" : "files"} changed: ${shown}${more}`);
  }
  return reasons.length ? reasons.join("; ") : "the cache record was removed (pruned)";
}

/**
 * What differs between two instructions' canonical forms, in words. They are JSON objects (see
 * canonical()); each differing field is named. A field that holds the parent key (COPY --chown
 * resolves names through the parent's /etc/passwd) changes with the parent, which is said already.
 */
function instructionChanges(previous: StepInputs, current: StepInputs): string[] {
  const before = parseObject(previous.instruction);
  const after = parseObject(current.instruction);
  if (!before || !after) return ["its settings changed (environment, build args, user, workdir or flags)"];
  const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
    (field) => canonical(before[field]) !== canonical(after[field]) && !(before[field] === previous.parent && after[field] === current.parent),
  );
  const reasons: string[] = [];
  if (fields.includes("from")) reasons.push("the stage or image it copies from changed");
  const settings = fields.filter((field) => field !== "from");
  if (settings.length > 0) reasons.push(`its settings changed (${settings.sort().join(", ")})`);
  return reasons;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
