// Errors and warnings that point at a place in a Dockerfile, printed the way a
// compiler prints them: `Dockerfile:3:1: message`, then the line and a caret.

export interface SourcePosition {
  /** 1-based line. */
  line: number;
  /** 1-based column (in UTF-16 code units of the line). */
  column: number;
}

export interface SourceRange {
  start: SourcePosition;
  end: SourcePosition;
}

export class DockerfileError extends Error {
  override readonly name = "DockerfileError";
  constructor(
    message: string,
    readonly range: SourceRange | undefined,
    /** The text of the line at range.start, for the caret display. */
    readonly sourceLine?: string,
    readonly file = "Dockerfile",
  ) {
    super(message);
  }

  /** `FILE:LINE:COL: message` followed by the offending line and a caret. */
  format(file = this.file): string {
    if (!this.range) return `${file}: ${this.message}`;
    const { line, column } = this.range.start;
    let out = `${file}:${line}:${column}: ${this.message}`;
    if (this.sourceLine !== undefined) {
      const gutter = String(line);
      out += `\n ${gutter} | ${this.sourceLine}\n ${" ".repeat(gutter.length)} | ${" ".repeat(Math.max(0, column - 1))}^`;
    }
    return out;
  }
}

export interface DockerfileWarning {
  /** A stable rule name (BuildKit's check names where one exists), e.g. `JSONArgsRecommended`. */
  rule: string;
  message: string;
  range?: SourceRange;
}
