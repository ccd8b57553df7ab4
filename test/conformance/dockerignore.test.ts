// .dockerignore vectors (dockerignore/*.json), restated from the upstream Go tests; see the
// conformance README, section 4, and dockerignore/README.md for the field meanings.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ContextFilter,
  DockerignoreError,
  filterContextPaths,
  parseDockerignore,
  PatternMatcher,
} from "../../packages/dockerfile/src/dockerignore/index.js";
import { vectorPath } from "./location.js";

interface MatchCase {
  patterns: string[];
  path: string;
  excluded: boolean;
  error?: boolean;
  unixOnly?: boolean;
  note?: string;
  source: string;
}

interface ReadAllCase {
  content: string | null;
  patterns: string[];
  source: string;
}

type Kind = "file" | "dir";

interface WalkCase {
  name: string;
  tree: [Kind, string][];
  excludePatterns: string[];
  expectedWalk?: [Kind, string][];
  expectedOpen?: Record<string, boolean>;
  expectError?: boolean;
  source: string;
}

function readVectors<T>(file: string): T[] {
  return JSON.parse(readFileSync(vectorPath("dockerignore", file), "utf8")) as T[];
}

const matchCases = readVectors<MatchCase>("cases.json");
const readAllCases = readVectors<ReadAllCase>("ignorefile-readall.json");
const walkCases = readVectors<WalkCase>("walk-cases.json");

// A truncated or swapped vector file must fail loudly rather than run fewer cases.
for (const [file, count, expected] of [
  ["cases.json", matchCases.length, 149],
  ["ignorefile-readall.json", readAllCases.length, 2],
  ["walk-cases.json", walkCases.length, 6],
] as const) {
  if (count !== expected) throw new Error(`dockerignore/${file}: expected ${expected} cases, found ${count}`);
}

describe("dockerignore cases.json (MatchesOrParentMatches)", () => {
  // We run on Linux, so the unixOnly cases (backslash escapes) apply too.
  matchCases.forEach((vector, index) => {
    const title = `#${index} ${JSON.stringify(vector.patterns)} ~ ${JSON.stringify(vector.path)} (${vector.source})`;
    it(title, () => {
      if (vector.error) {
        expect(() => new PatternMatcher(vector.patterns).matches(vector.path)).toThrow(DockerignoreError);
      } else {
        expect(new PatternMatcher(vector.patterns).matches(vector.path)).toBe(vector.excluded);
      }
    });
  });
});

describe("dockerignore ignorefile-readall.json (ReadAll)", () => {
  readAllCases.forEach((vector) => {
    it(vector.source, () => {
      expect(parseDockerignore(vector.content)).toEqual(vector.patterns);
    });
  });
});

describe("dockerignore walk-cases.json (fsutil filtered walk)", () => {
  walkCases.forEach((vector) => {
    it(`${vector.name} (${vector.source})`, () => {
      const entries = vector.tree.map(([kind, path]) => ({ path, isDir: kind === "dir" }));
      if (vector.expectError) {
        expect(() => new ContextFilter(vector.excludePatterns)).toThrow(DockerignoreError);
        expect(() => filterContextPaths(entries, vector.excludePatterns)).toThrow(DockerignoreError);
        return;
      }
      const kinds = new Map(vector.tree.map(([kind, path]) => [path, kind]));
      const walked = filterContextPaths(entries, vector.excludePatterns).map((path) => [kinds.get(path), path]);
      if (vector.expectedWalk) expect(walked).toEqual(vector.expectedWalk);
      if (vector.expectedOpen) {
        const filter = new ContextFilter(vector.excludePatterns);
        for (const [path, opens] of Object.entries(vector.expectedOpen)) {
          expect(filter.allowsOpen(path), path).toBe(opens);
          // The walk sends exactly the files that can be opened.
          expect(walked.some(([, sent]) => sent === path), path).toBe(opens);
        }
      }
    });
  });
});
