// Parser directives (`# syntax=…`, `# escape=…`, `# check=…`): only the
// unbroken run of directive lines at the very top of the file counts. The first
// line that is not a well-formed directive with a known key ends the run.
import { ParseFailure } from "./failure.js";
import { goTrimLeftSpace } from "./text.js";

export type DirectiveName = "syntax" | "escape" | "check";

export interface Directive {
  name: DirectiveName;
  value: string;
}

const knownDirectives = new Set<string>(["syntax", "escape", "check"]);

// Go's RE2 `\s` is ASCII [\t\n\f\r ] (no \v), and `.` matches anything but \n.
const directiveLine = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;

/** Reads directives line by line until the first line that is not one; then it answers null forever. */
export class DirectiveReader {
  private done = false;
  private readonly seen = new Set<string>();

  /**
   * `line` is the physical line with its line ending (and, for the first line
   * of an instruction, its leading whitespace) removed.
   * Throws a ParseFailure for a repeated directive; the caller adds the position.
   */
  read(line: string): Directive | null {
    if (this.done) return null;
    if (!line.startsWith("#")) {
      this.done = true;
      return null;
    }
    const match = directiveLine.exec(goTrimLeftSpace(line.slice(1)));
    const name = match?.[1].toLowerCase();
    if (!match || !name || !knownDirectives.has(name)) {
      this.done = true;
      return null;
    }
    if (this.seen.has(name)) {
      throw new ParseFailure(`only one ${name} parser directive can be used`);
    }
    this.seen.add(name);
    return { name: name as DirectiveName, value: match[2] };
  }
}

/** Checks an `escape` directive value; BuildKit accepts only a backslash or a backtick. */
export function validEscapeToken(value: string): boolean {
  return value === "\\" || value === "`";
}

/** `([^E])E[ \t]*$|^E[ \t]*$`: a line ending in the escape token (not itself escaped) continues. */
export function continuationPattern(escapeToken: string): RegExp {
  const e = escapeToken === "\\" ? "\\\\" : escapeToken;
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}
