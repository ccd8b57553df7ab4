// A Go regexp tree compiled to a Thompson NFA and run as RE2 runs it: all threads advance
// together, one code point at a time, so a match costs O(text length × program size) whatever
// the pattern (a backtracking engine can take exponential time). The sets of threads are cached
// as states of a lazily built DFA, so text the program has seen before costs one lookup per
// code point. Only "does it match anywhere" is asked: threads carry no captures, and the search
// stops as soon as any thread reaches the match state.
import type { Assertion, CodePointSet, GoRegexpNode } from "./go-regexp.js";

/**
 * Instruction kinds: CodePoint consumes one code point in `sets[arg]` and goes to `next`; Split
 * goes to `next` and to `arg`; Assert goes to `next` when assertion `arg` holds here.
 */
const Op = { CodePoint: 0, Split: 1, Assert: 2, Match: 3 } as const;
type Op = (typeof Op)[keyof typeof Op];

const ASSERTIONS: readonly Assertion[] = ["beginText", "endText", "wordBoundary", "notWordBoundary"];
/** Assertions from this index on look at word characters. */
const WORD_ASSERTIONS = 2;

/** What is on one side of a position, as far as assertions care: a text edge, a word character, another. */
const Side = { Edge: 0, Word: 1, Other: 2 } as const;
type Side = (typeof Side)[keyof typeof Side];

/**
 * How large the cache may grow, in rough words of memory (a state costs its transition table
 * and twice its seeds, for the array and the key; a transition one), before it is dropped and
 * rebuilt from the current state; RE2 bounds its DFA's memory the same way. When a thread
 * starts at every position, states grow with the text, so counting states alone would not do.
 */
const CACHE_BUDGET = 4_000_000;

/**
 * A DFA state: the instructions threads are at before the next code point is read (`seeds`,
 * sorted) and what precedes this position. Transitions fill in as text is read: the next state,
 * or "match" when a thread reaches the match state before consuming that code point.
 */
class DfaState {
  readonly ascii: (DfaState | "match" | undefined)[] = new Array(128);
  readonly other = new Map<number, DfaState | "match">();
  /** Whether a thread reaches the match state when the text ends here; computed on first need. */
  matchesAtEnd: boolean | undefined;

  constructor(
    readonly seeds: readonly number[],
    readonly before: Side,
  ) {}
}

/** A compiled Go regexp; `test` is Go's `MatchString` (unanchored search). */
export class GoRegexpProgram {
  private readonly ops: Op[] = [];
  private readonly next: number[] = [];
  private readonly arg: number[] = [];
  private readonly sets: ((code: number) => boolean)[] = [];
  private readonly setIndex = new Map<CodePointSet, number>();
  private readonly start: number;
  /** Whether every match begins at offset 0, so no new thread starts later. */
  private readonly anchored: boolean;
  /** Whether `\b` or `\B` occur; otherwise the kind of character before a position does not matter. */
  private readonly usesWordBoundaries: boolean;

  private states = new Map<string, DfaState>();
  private cacheSize = 0;
  private initial: DfaState;
  /** Closure bookkeeping: instruction `pc` was visited in the current closure when seen[pc] === generation. */
  private readonly seen: Uint32Array;
  private generation = 0;

  constructor(root: GoRegexpNode) {
    const match = this.emit(Op.Match, -1, -1);
    this.start = this.compile(root, match);
    this.anchored = startsWithBeginText(root);
    this.usesWordBoundaries = this.ops.some((op, pc) => op === Op.Assert && this.arg[pc] >= WORD_ASSERTIONS);
    this.seen = new Uint32Array(this.ops.length);
    this.initial = this.state([this.start], Side.Edge);
  }

  test(text: string): boolean {
    let state = this.initial;
    for (let pos = 0; pos < text.length; ) {
      if (state.seeds.length === 0) return false;
      const code = text.codePointAt(pos)!;
      let following = code < 128 ? state.ascii[code] : state.other.get(code);
      if (following === undefined) {
        following = this.transition(state, code);
        if (this.cacheSize > CACHE_BUDGET) {
          this.states = new Map();
          this.cacheSize = 0;
          this.initial = this.state([this.start], Side.Edge);
          if (following !== "match") following = this.state(following.seeds, following.before);
        } else {
          if (code < 128) state.ascii[code] = following;
          else state.other.set(code, following);
          this.cacheSize++;
        }
      }
      if (following === "match") return true;
      state = following;
      pos += code > 0xffff ? 2 : 1;
    }
    state.matchesAtEnd ??= this.closure(state.seeds, state.before, Side.Edge) === undefined;
    return state.matchesAtEnd;
  }

  /** Runs every thread of `state` over `code`; new threads start at every position unless anchored. */
  private transition(state: DfaState, code: number): DfaState | "match" {
    const after = side(code);
    const threads = this.closure(state.seeds, state.before, after);
    if (threads === undefined) return "match";
    const seeds = new Set<number>();
    for (const pc of threads) if (this.sets[this.arg[pc]](code)) seeds.add(this.next[pc]);
    if (!this.anchored) seeds.add(this.start);
    const before = this.usesWordBoundaries ? after : Side.Other;
    return this.state([...seeds].sort((a, b) => a - b), before);
  }

  private state(seeds: readonly number[], before: Side): DfaState {
    const key = `${before}:${seeds.join(",")}`;
    let state = this.states.get(key);
    if (state === undefined) {
      state = new DfaState(seeds, before);
      this.states.set(key, state);
      this.cacheSize += 128 + 2 * seeds.length;
    }
    return state;
  }

  /**
   * Everything reachable from `seeds` without consuming input, at a position with `before` and
   * `after` on its sides: the CodePoint instructions, or undefined when the match state is reachable.
   */
  private closure(seeds: readonly number[], before: Side, after: Side): number[] | undefined {
    const generation = ++this.generation;
    const threads: number[] = [];
    const stack = [...seeds];
    while (stack.length > 0) {
      const pc = stack.pop()!;
      if (this.seen[pc] === generation) continue;
      this.seen[pc] = generation;
      switch (this.ops[pc]) {
        case Op.CodePoint:
          threads.push(pc);
          break;
        case Op.Split:
          stack.push(this.arg[pc], this.next[pc]);
          break;
        case Op.Assert:
          if (holds(ASSERTIONS[this.arg[pc]], before, after)) stack.push(this.next[pc]);
          break;
        case Op.Match:
          return undefined;
      }
    }
    return threads;
  }

  /** Compiles `node` to run before `next` (continuation style: no patching); returns its entry. */
  private compile(node: GoRegexpNode, next: number): number {
    switch (node.kind) {
      case "codePoint": {
        // Copies made by a counted repetition share one set.
        let set = this.setIndex.get(node.set);
        if (set === undefined) {
          set = this.sets.push(membership(node.set)) - 1;
          this.setIndex.set(node.set, set);
        }
        return this.emit(Op.CodePoint, next, set);
      }
      case "assertion":
        return this.emit(Op.Assert, next, ASSERTIONS.indexOf(node.assertion));
      case "concat":
        return node.items.reduceRight((entry, item) => this.compile(item, entry), next);
      case "alternate": {
        const entries = node.alternatives.map((alternative) => this.compile(alternative, next));
        return entries.reduceRight((rest, entry) => this.emit(Op.Split, entry, rest));
      }
      case "repeat": {
        let entry: number;
        if (node.max < 0) {
          // x*: a split that either runs x and comes back, or leaves.
          entry = this.emit(Op.Split, -1, next);
          this.next[entry] = this.compile(node.item, entry);
        } else {
          // x{0,k} as Go expands it: (x(x(x)?)?)?
          entry = next;
          for (let i = node.min; i < node.max; i++) entry = this.emit(Op.Split, this.compile(node.item, entry), next);
        }
        for (let i = 0; i < node.min; i++) entry = this.compile(node.item, entry);
        return entry;
      }
    }
  }

  private emit(op: Op, next: number, arg: number): number {
    this.ops.push(op);
    this.next.push(next);
    this.arg.push(arg);
    return this.ops.length - 1;
  }
}

function holds(assertion: Assertion, before: Side, after: Side): boolean {
  switch (assertion) {
    case "beginText":
      return before === Side.Edge;
    case "endText":
      return after === Side.Edge;
    case "wordBoundary":
      return (before === Side.Word) !== (after === Side.Word);
    case "notWordBoundary":
      return (before === Side.Word) === (after === Side.Word);
  }
}

/** Go's `\b` word characters are ASCII only. */
function side(code: number): Side {
  const word =
    (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || code === 0x5f || (code >= 0x61 && code <= 0x7a);
  return word ? Side.Word : Side.Other;
}

function membership(set: CodePointSet): (code: number) => boolean {
  const ranges = set.ranges;
  // A one-code-point test against property escapes: no repetition, so nothing to backtrack.
  const property = set.properties.length > 0 ? new RegExp(`^[${set.properties.join("")}]$`, "u") : undefined;
  return (code) => {
    let inside = false;
    for (let i = 0; i < ranges.length && !inside; i++) inside = code >= ranges[i][0] && code <= ranges[i][1];
    if (!inside && property !== undefined) inside = property.test(String.fromCodePoint(code));
    return inside !== set.negated;
  };
}

function startsWithBeginText(node: GoRegexpNode): boolean {
  if (node.kind === "assertion") return node.assertion === "beginText";
  if (node.kind === "concat") return node.items.length > 0 && startsWithBeginText(node.items[0]);
  if (node.kind === "alternate") return node.alternatives.every(startsWithBeginText);
  return false;
}
