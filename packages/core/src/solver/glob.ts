// Go's filepath.Match for one path component: COPY and ADD source wildcards.

export function hasWildcard(pattern: string): boolean {
  return /[*?[\\]/.test(pattern);
}

/** Whether `name` matches `pattern` (`*`, `?`, `[a-z]`, `[^a-z]`, `\` escapes). Throws for a malformed pattern. */
export function matchComponent(pattern: string, name: string): boolean {
  return componentRegExp(pattern).test(name);
}

const compiled = new Map<string, RegExp>();

function componentRegExp(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (re) return re;
  let source = "";
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "\\") {
      if (i + 1 >= chars.length) throw new Error(`bad pattern ${JSON.stringify(pattern)}: trailing backslash`);
      source += escapeRegExp(chars[++i]!);
    } else if (c === "[") {
      let j = i + 1;
      let cls = "";
      if (chars[j] === "^") {
        cls += "^";
        j++;
      }
      let closed = false;
      let first = true;
      for (; j < chars.length; j++) {
        const d = chars[j]!;
        if (d === "]" && !first) {
          closed = true;
          break;
        }
        first = false;
        if (d === "\\") {
          j++;
          if (j >= chars.length) break;
          cls += escapeClassChar(chars[j]!);
        } else if (d === "-") cls += "-";
        else cls += escapeClassChar(d);
      }
      if (!closed || cls === "" || cls === "^") throw new Error(`bad pattern ${JSON.stringify(pattern)}: unterminated character class`);
      source += `[${cls}]`;
      i = j;
    } else source += escapeRegExp(c);
  }
  re = new RegExp(`^${source}$`, "u");
  compiled.set(pattern, re);
  return re;
}

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

function escapeClassChar(c: string): string {
  return /[\\\][^-]/.test(c) ? `\\${c}` : c;
}
