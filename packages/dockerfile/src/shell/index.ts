// Shell-word expansion of Dockerfile arguments, as BuildKit's lexer does it.
export {
  expandWord,
  expandWords,
  ShellExpansionError,
  type ShellEnv,
  type ShellLexOptions,
  type WordExpansion,
  type WordsExpansion,
} from "./lex.js";
