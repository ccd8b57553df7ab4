export { DockerfileError, type DockerfileWarning, type SourcePosition, type SourceRange } from "./errors.js";
export { parseDockerfile, dumpAst } from "./parser/index.js";
export type { DockerfileAst, Heredoc, InstructionNode, ParserDirectives } from "./parser/ast.js";
export { expandWord, expandWords, ShellExpansionError, type ShellEnv, type ShellLexOptions } from "./shell/index.js";
export {
  parseDockerignore,
  PatternMatcher,
  ContextFilter,
  DockerignoreError,
  filterContextPaths,
  dockerignoreCandidates,
} from "./dockerignore/index.js";
export { parseInstructions, parseInstruction, knownInstructions } from "./instructions/parse.js";
export { StageScope, type ScopeOptions, type UndefinedReference } from "./instructions/scope.js";
export type * from "./instructions/types.js";
export { parsePlatform, formatPlatform, platformArgs, proxyArgNames, ociArchitecture, type Platform } from "./platform.js";
export { parseCheckDirective, type CheckSettings } from "./check-directive.js";
export { parseGoDuration } from "./instructions/duration.js";
export {
  parseRunMount,
  parseRunMounts,
  resolveRunMountTarget,
  RunMountError,
  type RunMount,
  type RunMountType,
  type RunMountSharing,
  type RunBindMount,
  type RunCacheMount,
  type RunTmpfsMount,
  type RunSecretMount,
  type RunSshMount,
} from "./instructions/run-mount.js";
