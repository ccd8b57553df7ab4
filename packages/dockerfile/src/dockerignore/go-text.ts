// Go string and path helpers whose exact behaviour the pattern rules depend on.

/** Go's `unicode.IsSpace` set, which `strings.TrimSpace` strips (JS `trim` also strips U+FEFF and keeps U+0085). */
const GO_SPACE = "[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const GO_TRIM = new RegExp(`^${GO_SPACE}+|${GO_SPACE}+$`, "g");

/** `strings.TrimSpace`. */
export function goTrimSpace(text: string): string {
  return text.replace(GO_TRIM, "");
}

/** `path.Clean` (= `filepath.Clean` on Unix): the shortest equivalent slash path. */
export function cleanPath(path: string): string {
  if (path === "") return ".";
  const rooted = path.startsWith("/");
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length > 0 && parts[parts.length - 1] !== "..") parts.pop();
      else if (!rooted) parts.push("..");
      continue;
    }
    parts.push(part);
  }
  const joined = parts.join("/");
  if (rooted) return `/${joined}`;
  return joined === "" ? "." : joined;
}

/** `filepath.Dir`: everything before the last slash, cleaned. */
export function goDir(path: string): string {
  return cleanPath(path.slice(0, path.lastIndexOf("/") + 1));
}

/** Orders strings as Go compares them (UTF-8 bytes, which is code point order), not by UTF-16 units. */
export function compareCodePoints(a: string, b: string): number {
  const left = a[Symbol.iterator]();
  const right = b[Symbol.iterator]();
  for (;;) {
    const x = left.next();
    const y = right.next();
    if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
    const diff = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (diff !== 0) return diff;
  }
}
