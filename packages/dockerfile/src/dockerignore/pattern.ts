import { DockerignoreError } from "./errors.js";
import { compileGoRegexp, type GoRegexpResult } from "./go-regexp.js";

/**
 * The characters upstream's `shouldEscape` escapes. It means to escape `.+()|{}$`, but its
 * 8-byte bitmap drops every character from 64 up, so `{`, `|` and `}` reach the Go regexp raw.
 */
const REGEXP_ONLY_SPECIALS = new Set([".", "+", "(", ")", "$"]);

type MatchKind = "exact" | "prefix" | "suffix" | "regexp";

/**
 * One cleaned pattern (without its `!`), matched the way patternmatcher v0.6.1 does: globs
 * without wildcards compare as strings; a trailing `**` is a prefix test and a leading `**` a
 * suffix test when nothing else needs a regexp; anything else becomes a regexp, compiled on
 * first use, so a regexp Go rejects (`[Local-Only]` has the range `l-O`) only fails when a path
 * is matched against it.
 */
export class Pattern {
  private readonly kind: MatchKind;
  /** Go regexp source; empty unless kind is "regexp". */
  private readonly regexpSource: string;
  private compiled: GoRegexpResult | undefined;

  constructor(
    /** The cleaned pattern text, `!` removed (upstream's `Pattern.String()`). */
    readonly text: string,
    readonly exclusion: boolean,
  ) {
    [this.kind, this.regexpSource] = globToGoRegexp(text);
  }

  /** Whether `path` itself (not its parents) matches. Throws DockerignoreError for a pattern Go cannot compile. */
  test(path: string): boolean {
    switch (this.kind) {
      case "exact":
        return path === this.text;
      case "prefix":
        return path.startsWith(this.text.slice(0, -2));
      case "suffix": {
        const suffix = this.text.slice(2);
        return path.endsWith(suffix) || (suffix.startsWith("/") && path === suffix.slice(1));
      }
      case "regexp": {
        this.compiled ??= compileGoRegexp(this.regexpSource);
        if ("error" in this.compiled) {
          throw new DockerignoreError(
            `invalid pattern ${JSON.stringify(this.original)}: ${this.compiled.error}; fix or remove this pattern`,
            this.original,
          );
        }
        return this.compiled.program.test(path);
      }
    }
  }

  private get original(): string {
    return this.exclusion ? `!${this.text}` : this.text;
  }
}

/**
 * Upstream's `Pattern.compile`: walks the glob once, building the Go regexp source and deciding
 * the match kind. `i` counts loop turns (a `**` and its `/` are one turn), so only a `**` in the
 * first turn makes a suffix match. Go's text/scanner skips a leading U+FEFF, so this does too.
 * (For a suffix or prefix match Go slices the pattern by bytes; the two can only differ for a
 * pattern that starts with U+FEFF, which no .dockerignore reader produces.)
 */
function globToGoRegexp(glob: string): [MatchKind, string] {
  const chars = Array.from(glob);
  let pos = chars[0] === "\uFEFF" ? 1 : 0;
  let source = "^";
  let kind: MatchKind = "exact";
  for (let i = 0; pos < chars.length; i++) {
    const ch = chars[pos++];
    if (ch === "*" && chars[pos] === "*") {
      pos++;
      if (chars[pos] === "/") pos++; // `**/` is treated as `**`
      if (pos >= chars.length) {
        // A trailing `**` accepts everything below, like .gitignore.
        if (kind === "exact") kind = "prefix";
        else {
          source += ".*";
          kind = "regexp";
        }
      } else {
        // Any number of directory levels, including none.
        source += "(.*/)?";
        kind = "regexp";
      }
      if (i === 0) kind = "suffix";
    } else if (ch === "*") {
      source += "[^/]*";
      kind = "regexp";
    } else if (ch === "?") {
      source += "[^/]";
      kind = "regexp";
    } else if (REGEXP_ONLY_SPECIALS.has(ch)) {
      source += `\\${ch}`;
    } else if (ch === "\\") {
      // The escaped character goes to the regexp as `\c`, whatever Go's regexp makes of it.
      if (pos < chars.length) {
        source += `\\${chars[pos++]}`;
        kind = "regexp";
      } else {
        source += "\\";
      }
    } else if (ch === "[" || ch === "]") {
      source += ch;
      kind = "regexp";
    } else {
      source += ch;
    }
  }
  return [kind, kind === "regexp" ? `${source}$` : ""];
}
