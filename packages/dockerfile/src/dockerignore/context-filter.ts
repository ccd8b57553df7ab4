import { compareCodePoints } from "./go-text.js";
import type { Pattern } from "./pattern.js";
import { PatternMatcher } from "./pattern-matcher.js";

/**
 * What to do with one entry of the context walk:
 * - `include`: send it, right after `parents` (directories passed over with `descend` earlier,
 *   outermost first, that now must be sent because something inside them is); for a directory,
 *   also walk into it;
 * - `descend` (directories only): do not send it now, but walk into it; it is sent later, as a
 *   parent, if an entry inside it is included;
 * - `skip`: neither send it nor walk into it.
 */
export type ContextVisit =
  | { readonly action: "include"; readonly parents: readonly string[] }
  | { readonly action: "descend" }
  | { readonly action: "skip" };

export interface ContextFilterOptions {
  /** fsutil IncludePatterns: when given (non-empty), only paths that match them are kept. */
  includePatterns?: readonly string[];
}

interface OpenDirectory {
  path: string;
  pathWithSlash: string;
  includeHits: boolean[] | undefined;
  excludeHits: boolean[] | undefined;
  sent: boolean;
}

const SKIP: ContextVisit = { action: "skip" };
const DESCEND: ContextVisit = { action: "descend" };

/** Characters that make a pattern more than a plain path prefix (fsutil, on Unix). */
const GLOB_CHARS = /[*[\]?^\\]/;

/**
 * Decides, during a depth-first walk of the build context, what to do with each entry: the
 * filtered walk of tonistiigi/fsutil (`filterFS.Walk`). An excluded directory is still walked
 * when an exception could re-include something inside it, and is sent (before that entry) only
 * if something is; entries below a directory inherit its per-pattern hits.
 *
 * How the filesystem walker must use it: one ContextFilter per walk. Visit every entry below the
 * context root (never the root itself) with its path relative to the root, `/`-separated, no
 * `./` or trailing `/`, in depth-first order with a directory's entries sorted by name (byte
 * order, i.e. code point order) and a directory visited before its contents. On `include`,
 * send each path in `parents` (the walker still holds their stat from when it visited them),
 * then the entry; walk into directories on `include` or `descend`, never on `skip`. Symlinks are
 * entries, not directories (never followed). If reading a directory that got `descend` fails
 * with EACCES, skip it silently (fsutil does); other errors fail the walk. `visit` throws
 * DockerignoreError when a pattern only turns out invalid when it is used.
 */
export class ContextFilter {
  private readonly include: PatternMatcher | undefined;
  private readonly exclude: PatternMatcher | undefined;
  /** When true, a non-matching directory is skipped unless an include pattern names a path inside it. */
  private readonly includesArePrefixes: boolean;
  /** When true, an excluded directory is skipped unless an exception names a path inside it. */
  private readonly exceptionsArePrefixes: boolean;
  private readonly open: OpenDirectory[] = [];

  /** Throws DockerignoreError for an invalid pattern in either list. */
  constructor(patterns: readonly string[], options: ContextFilterOptions = {}) {
    const includePatterns = options.includePatterns ?? [];
    this.include = includePatterns.length > 0 ? new PatternMatcher(includePatterns) : undefined;
    this.exclude = patterns.length > 0 ? new PatternMatcher(patterns) : undefined;
    this.includesArePrefixes = plainPrefixes(this.include, false);
    this.exceptionsArePrefixes = plainPrefixes(this.exclude, true);
  }

  visit(path: string, isDir: boolean): ContextVisit {
    if (this.include === undefined && this.exclude === undefined) return { action: "include", parents: [] };
    while (this.open.length > 0 && !path.startsWith(this.open[this.open.length - 1].pathWithSlash)) this.open.pop();
    const parent = this.open[this.open.length - 1];

    let hidden = false;
    let includeHits: boolean[] | undefined;
    let excludeHits: boolean[] | undefined;
    if (this.include !== undefined) {
      const result = this.include.matchesUsingParentResults(path, parent?.includeHits);
      includeHits = result.hits;
      if (!result.matched) {
        if (isDir && this.includesArePrefixes && !namesPathInside(this.include, false, path)) return SKIP;
        hidden = true;
      }
    }
    if (this.exclude !== undefined) {
      const result = this.exclude.matchesUsingParentResults(path, parent?.excludeHits);
      excludeHits = result.hits;
      if (result.matched) {
        if (isDir && this.exceptionsArePrefixes && !namesPathInside(this.exclude, true, path)) return SKIP;
        hidden = true;
      }
    }

    const parents: string[] = [];
    if (!hidden) {
      for (const dir of this.open) {
        if (dir.sent) continue;
        dir.sent = true;
        parents.push(dir.path);
      }
    }
    if (isDir) this.open.push({ path, pathWithSlash: `${path}/`, includeHits, excludeHits, sent: !hidden });
    if (hidden) return isDir ? DESCEND : SKIP;
    return { action: "include", parents };
  }

  /**
   * Whether opening `path` through the filtered context works (fsutil `filterFS.Open`): it must
   * match the include patterns, if any, and not the exclude patterns, parents counted.
   */
  allowsOpen(path: string): boolean {
    if (this.include !== undefined && !this.include.matches(path)) return false;
    return this.exclude === undefined || !this.exclude.matches(path);
  }
}

/** fsutil `patternWithoutTrailingGlob`. */
function withoutTrailingGlob(pattern: Pattern): string {
  let text = pattern.text;
  if (text.endsWith("/**")) text = text.slice(0, -3);
  if (text.endsWith("/*")) text = text.slice(0, -2);
  return text;
}

/** Whether every pattern of the given kind is a plain path once a trailing `/*` or `/**` is dropped. */
function plainPrefixes(matcher: PatternMatcher | undefined, exclusion: boolean): boolean {
  return (matcher?.patterns ?? []).every(
    (pattern) => pattern.exclusion !== exclusion || !GLOB_CHARS.test(withoutTrailingGlob(pattern)),
  );
}

/** Whether a pattern of the given kind names `dir` or a path below it. */
function namesPathInside(matcher: PatternMatcher, exclusion: boolean, dir: string): boolean {
  return matcher.patterns.some(
    (pattern) => pattern.exclusion === exclusion && `${withoutTrailingGlob(pattern)}/`.startsWith(`${dir}/`),
  );
}

/**
 * The filtered walk over an in-memory listing (every directory listed; order does not matter):
 * the paths that are sent, parents of included entries included, in walk order.
 */
export function filterContextPaths(
  entries: readonly { path: string; isDir: boolean }[],
  patterns: readonly string[],
  options: ContextFilterOptions = {},
): string[] {
  interface Node {
    path: string;
    isDir: boolean;
    children: Map<string, Node>;
  }
  const root: Node = { path: "", isDir: true, children: new Map() };
  const nodes = new Map<string, Node>([["", root]]);
  const byDepth = [...entries].sort((a, b) => a.path.split("/").length - b.path.split("/").length);
  for (const entry of byDepth) {
    const slash = entry.path.lastIndexOf("/");
    const parent = nodes.get(slash < 0 ? "" : entry.path.slice(0, slash));
    if (parent === undefined || !parent.isDir) {
      throw new Error(`listing has ${entry.path} but not its parent directory`);
    }
    const node: Node = { path: entry.path, isDir: entry.isDir, children: new Map() };
    parent.children.set(entry.path.slice(slash + 1), node);
    nodes.set(entry.path, node);
  }

  const filter = new ContextFilter(patterns, options);
  const sent: string[] = [];
  const walk = (dir: Node): void => {
    const names = [...dir.children.keys()].sort(compareCodePoints);
    for (const name of names) {
      const node = dir.children.get(name)!;
      const visit = filter.visit(node.path, node.isDir);
      if (visit.action === "include") sent.push(...visit.parents, node.path);
      if (node.isDir && visit.action !== "skip") walk(node);
    }
  };
  walk(root);
  return sent;
}
