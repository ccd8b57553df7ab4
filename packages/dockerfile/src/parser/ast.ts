// The syntax tree the parser produces: instructions split into flags and
// arguments exactly as BuildKit's parser splits them, with no variable expansion.
import type { DockerfileWarning, SourceRange } from "../errors.js";

export interface Heredoc {
  /** The delimiter word, without quotes or `-`. */
  name: string;
  /** The body, terminator line excluded; for `<<-` leading tabs are already stripped. */
  content: string;
  /** False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): no expansion in the body. */
  expand: boolean;
  /** True for `<<-`. */
  chomp: boolean;
  /** The file descriptor prefix (`3<<EOF`), when one was written. */
  fileDescriptor?: number;
}

export interface InstructionNode {
  /** The keyword, lowercased: `from`, `run`, `copy`, … (unknown keywords are kept too). */
  keyword: string;
  /** The keyword as written (`From`), for messages and casing checks. */
  keywordAsWritten: string;
  /** The instruction's text with continuations joined (BuildKit's `Original`), first line only for heredocs. */
  original: string;
  /** The `--flag[=value]` words before the arguments, quotes and escapes removed. */
  flags: string[];
  /**
   * The arguments, shaped per instruction as BuildKit's parser shapes them
   * (JSON elements, whitespace-split words, ENV/LABEL key/value/sep triplets, …).
   */
  args: string[];
  /** True when args came from a JSON array (exec form). */
  json: boolean;
  /** ONBUILD's inner instruction. */
  inner?: InstructionNode;
  /** Heredoc bodies attached to RUN/COPY/ADD in shell form, in order. */
  heredocs: Heredoc[];
  /** Lines spanned, start at the keyword, end at the last continuation or heredoc line. */
  range: SourceRange;
  /** Where the argument text starts (after keyword and flags), for positioned errors. */
  argsStart: SourceRange["start"];
}

export interface ParserDirectives {
  syntax?: string;
  /** `\` or `` ` ``. */
  escape: string;
  /** The raw `# check=` value, e.g. `skip=JSONArgsRecommended;error=true`. */
  check?: string;
  /** Where each directive was written. */
  ranges: Partial<Record<"syntax" | "escape" | "check", SourceRange>>;
}

export interface DockerfileAst {
  directives: ParserDirectives;
  instructions: InstructionNode[];
  /** Lines spanned by the instructions (directives, comments and trailing blank lines excluded). */
  range: SourceRange;
  /** Non-fatal findings of the parser, e.g. empty continuation lines. */
  warnings: DockerfileWarning[];
  /** The source split into lines, for error displays. */
  lines: string[];
}
