import { DockerignoreError } from "./errors.js";
import { globSyntaxError } from "./glob-syntax.js";
import { cleanPath, goDir, goTrimSpace } from "./go-text.js";
import { Pattern } from "./pattern.js";

/**
 * An ordered pattern list where later patterns override earlier ones and `!pattern` re-includes
 * (moby/patternmatcher v0.6.1). "Matched" means excluded for .dockerignore patterns and
 * selected for include patterns.
 */
export class PatternMatcher {
  readonly patterns: readonly Pattern[];
  /** Whether any pattern is a `!` exception. */
  readonly hasExclusions: boolean;

  /** Throws DockerignoreError for a lone `!` or a malformed glob (bad `[` class, trailing `\`). */
  constructor(patterns: readonly string[]) {
    const compiled: Pattern[] = [];
    for (const raw of patterns) {
      let text = goTrimSpace(raw);
      if (text === "") continue;
      // Cleaned before the `!` is removed, as upstream does: `!./a` keeps its `./`.
      text = cleanPath(text);
      const exclusion = text.startsWith("!");
      if (exclusion) {
        if (text.length === 1) {
          throw new DockerignoreError('illegal exclusion pattern "!": a lone "!" re-includes nothing; remove it', raw);
        }
        text = text.slice(1);
      }
      const problem = globSyntaxError(text);
      if (problem !== undefined) {
        throw new DockerignoreError(`invalid pattern ${JSON.stringify(raw)}: ${problem}`, raw);
      }
      compiled.push(new Pattern(text, exclusion));
    }
    this.patterns = compiled;
    this.hasExclusions = compiled.some((pattern) => pattern.exclusion);
  }

  /**
   * Upstream `MatchesOrParentMatches`: walk the patterns in order with a flag that starts false;
   * a normal pattern is only tried while the flag is false and an exception only while it is
   * true; a pattern hits when it matches the path or any of its parent directories. The context
   * root (`.`, `""`) never matches. Throws DockerignoreError when a tried pattern cannot compile.
   */
  matches(path: string): boolean {
    if (cleanPath(path) === ".") return false;
    const parents = parentDirectories(path);
    let matched = false;
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      if (pattern.test(path) || parents.some((parent) => pattern.test(parent))) matched = !pattern.exclusion;
    }
    return matched;
  }

  /**
   * Upstream `MatchesUsingParentResults`, the form fsutil's walk uses: `parentHits` holds, per
   * pattern, whether the parent directory hit it. A pattern the parent hit counts as hit; any
   * other pattern is tried on `path` alone, and only when the flag allows it. Without
   * `parentHits` (a top-level entry) the parents are tested as in `matches`. Returns the flag and
   * this path's hits, which its children need.
   */
  matchesUsingParentResults(
    path: string,
    parentHits: readonly boolean[] | undefined,
  ): { matched: boolean; hits: boolean[] } {
    const hits = this.patterns.map(() => false);
    let matched = false;
    this.patterns.forEach((pattern, index) => {
      let hit = parentHits?.[index] ?? false;
      if (!hit) {
        if (pattern.exclusion !== matched) return;
        hit = pattern.test(path);
        if (!hit && parentHits === undefined) hit = parentDirectories(path).some((parent) => pattern.test(parent));
      }
      hits[index] = hit;
      if (hit) matched = !pattern.exclusion;
    });
    return { matched, hits };
  }
}

/** `a`, `a/b` for `a/b/c` (from Go's `filepath.Dir`, so `dir/file/` also yields `dir/file`). */
function parentDirectories(path: string): string[] {
  const dir = goDir(path);
  if (dir === ".") return [];
  const parts = dir.split("/");
  return parts.map((_, index) => parts.slice(0, index + 1).join("/"));
}
