// The `# check=skip=Rule1,Rule2;error=true` parser directive.

export interface CheckSettings {
  /** Rules not to report; `all` skips every rule. */
  skip: ReadonlySet<string>;
  skipAll: boolean;
  /** Report findings as errors (the build fails). */
  error: boolean;
}

export function parseCheckDirective(value: string | undefined): CheckSettings {
  const skip = new Set<string>();
  let skipAll = false;
  let error = false;
  for (const part of (value ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (part.trim() === "") continue;
    if (eq === -1) throw new Error(`invalid check directive ${JSON.stringify(part)}: expected key=value`);
    const key = part.slice(0, eq).trim().toLowerCase();
    const val = part.slice(eq + 1).trim();
    if (key === "skip") {
      for (const rule of val.split(",").map((r) => r.trim()).filter(Boolean)) {
        if (rule.toLowerCase() === "all") skipAll = true;
        else skip.add(rule);
      }
    } else if (key === "error") {
      if (!/^(true|false)$/i.test(val)) throw new Error(`invalid check directive error=${val}: expected true or false`);
      error = val.toLowerCase() === "true";
    } else if (key !== "experimental") {
      throw new Error(`invalid check directive key ${JSON.stringify(key)}: expected skip, error or experimental`);
    }
  }
  return { skip, skipAll, error };
}
