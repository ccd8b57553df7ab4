// The syntax check upstream runs on every pattern when the matcher is built: it calls Go's
// `filepath.Match(pattern, ".")` only for its error. Match parses the pattern in chunks (text
// between unbracketed `*`s) and rejects the whole pattern if any chunk is malformed, so
// checking every chunk here gives the same verdict without matching anything.

/** Why `pattern` is not a valid `filepath.Match` pattern, or undefined when it is. */
export function globSyntaxError(pattern: string): string | undefined {
  const chars = Array.from(pattern);
  let pos = 0;
  while (pos < chars.length) {
    while (chars[pos] === "*") pos++;
    const end = chunkEnd(chars, pos);
    const problem = chunkError(chars.slice(pos, end));
    if (problem !== undefined) return problem;
    pos = end;
  }
  return undefined;
}

/** Where the chunk starting at `start` ends: at the first `*` outside a bracket (Go's scanChunk). */
function chunkEnd(chars: string[], start: number): number {
  let inRange = false;
  let i = start;
  for (; i < chars.length; i++) {
    const c = chars[i];
    if (c === "\\") {
      if (i + 1 < chars.length) i++;
    } else if (c === "[") {
      inRange = true;
    } else if (c === "]") {
      inRange = false;
    } else if (c === "*" && !inRange) {
      break;
    }
  }
  return i;
}

function chunkError(chunk: string[]): string | undefined {
  let pos = 0;
  while (pos < chunk.length) {
    const c = chunk[pos];
    if (c === "[") {
      pos++;
      if (chunk[pos] === "^") pos++;
      let ranges = 0;
      for (;;) {
        if (chunk[pos] === "]" && ranges > 0) {
          pos++;
          break;
        }
        const lo = classChar(chunk, pos);
        if (typeof lo === "string") return lo;
        pos = lo;
        if (chunk[pos] === "-") {
          const hi = classChar(chunk, pos + 1);
          if (typeof hi === "string") return hi;
          pos = hi;
        }
        ranges++;
      }
    } else if (c === "\\") {
      if (pos + 1 >= chunk.length) return "trailing backslash (escape it as \\\\)";
      pos += 2;
    } else {
      pos++;
    }
  }
  return undefined;
}

/** Reads one (possibly escaped) class character; returns the next position or the problem (Go's getEsc). */
function classChar(chunk: string[], start: number): number | string {
  let pos = start;
  const c = chunk[pos];
  if (c === undefined) return "unterminated character class (missing ])";
  if (c === "-" || c === "]") return `unexpected ${c} in character class (escape it with \\)`;
  if (c === "\\") {
    pos++;
    if (pos >= chunk.length) return "unterminated character class (missing ])";
  }
  pos++;
  return pos >= chunk.length ? "unterminated character class (missing ])" : pos;
}
