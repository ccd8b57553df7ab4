// .dockerignore support with the semantics of moby/patternmatcher v0.6.1 and the context walk
// of tonistiigi/fsutil, as BuildKit uses them. Pure: callers read the files.
export { DockerignoreError } from "./errors.js";
export { parseDockerignore, dockerignoreCandidates } from "./ignorefile.js";
export { PatternMatcher } from "./pattern-matcher.js";
export {
  ContextFilter,
  filterContextPaths,
  type ContextFilterOptions,
  type ContextVisit,
} from "./context-filter.js";
