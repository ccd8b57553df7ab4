// The Dockerfile parser: text → instructions with positions, as BuildKit parses them.
export type { DockerfileAst, Heredoc, InstructionNode, ParserDirectives } from "./ast.js";
export { dumpAst } from "./dump.js";
export { parseDockerfile, type ParseOptions } from "./parse.js";
export { goQuote } from "./quote.js";
