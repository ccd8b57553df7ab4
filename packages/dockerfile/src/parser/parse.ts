// Dockerfile text → instructions, following BuildKit's parser line for line:
// directives at the top, comments, continuation lines joined with no separator,
// per-instruction argument shapes, and heredoc bodies after RUN/COPY/ADD.
import { DockerfileError, type DockerfileWarning, type SourcePosition, type SourceRange } from "../errors.js";
import { shapeArguments } from "./arguments.js";
import type { DockerfileAst, Heredoc, InstructionNode, ParserDirectives } from "./ast.js";
import { DirectiveReader, continuationPattern, validEscapeToken } from "./directives.js";
import { ParseFailure } from "./failure.js";
import { type HeredocMarker, chompHeredocContent, heredocMarkers } from "./heredoc.js";
import { splitCommand } from "./split.js";
import { goToLower, goTrimLeftSpace, utf8Length } from "./text.js";

export interface ParseOptions {
  /** The file name used in error messages. */
  file?: string;
}

/** BuildKit reads lines with Go's bufio.Scanner, whose token limit is 64 KiB including the newline. */
const maxLineBytes = 65535;

const heredocInstructions = new Set(["add", "copy", "run"]);

interface PhysicalLine {
  /** The line without its `\n` (a `\r` before it stays, as in BuildKit's scanner). */
  raw: string;
  newline: boolean;
}

/** A piece of a joined instruction line: where its text starts in the joined line and in the source. */
interface Segment {
  offset: number;
  line: number;
  /** 0-based column of the piece's first character. */
  column: number;
}

/**
 * Parses a Dockerfile. Throws DockerfileError, with the line and column, for
 * every syntax error BuildKit's parser reports.
 */
export function parseDockerfile(text: string, options: ParseOptions = {}): DockerfileAst {
  return new DockerfileParser(text, options.file ?? "Dockerfile").parse();
}

function trimNewline(s: string): string {
  let end = s.length;
  while (end > 0 && (s[end - 1] === "\r" || s[end - 1] === "\n")) end--;
  return s.slice(0, end);
}

function isComment(line: string): boolean {
  return goTrimLeftSpace(line).startsWith("#");
}

class DockerfileParser {
  private readonly physical: PhysicalLine[];
  /** The lines as shown to users: no line ending, no byte order mark. */
  private readonly lines: string[];
  /** Lines from this index on are beyond a line too long for BuildKit's scanner: it stops reading there. */
  private readonly readable: number;
  private readonly directives: ParserDirectives = { escape: "\\", ranges: {} };
  private readonly directiveReader = new DirectiveReader();
  private continuation = continuationPattern("\\");
  private readonly warnings: DockerfileWarning[] = [];
  /** Index of the next physical line to read. */
  private next = 0;

  constructor(
    text: string,
    private readonly file: string,
  ) {
    const parts = text.split("\n");
    this.physical = parts.map((raw, i) => ({ raw, newline: i < parts.length - 1 }));
    // Like a line scanner, a final newline does not start another line.
    if (this.physical.at(-1)?.raw === "") this.physical.pop();
    const firstLong = this.physical.findIndex((l) => utf8Length(l.raw) > maxLineBytes);
    this.readable = firstLong < 0 ? this.physical.length : firstLong;
    if (this.physical.length > 0 && this.physical[0].raw.startsWith("\ufeff")) {
      this.physical[0] = { ...this.physical[0], raw: this.physical[0].raw.slice(1) };
    }
    this.lines = this.physical.map((l) => trimNewline(l.raw));
  }

  parse(): DockerfileAst {
    const instructions: InstructionNode[] = [];
    while (this.next < this.readable) {
      const instruction = this.readInstruction();
      if (instruction) instructions.push(instruction);
    }
    if (this.readable < this.physical.length) {
      throw this.error(`dockerfile line greater than max allowed size of ${maxLineBytes}`, this.pointAt(this.readable + 1, 1));
    }
    if (instructions.length === 0) {
      throw this.error(
        "file with no instructions: a Dockerfile needs at least one instruction, such as FROM",
        this.pointAt(Math.max(1, this.physical.length), 1),
      );
    }
    return {
      directives: this.directives,
      instructions,
      range: { start: instructions[0].range.start, end: instructions[instructions.length - 1].range.end },
      warnings: this.warnings,
      lines: this.lines,
    };
  }

  /** Reads the next instruction with its continuation lines and heredoc bodies; null for a blank or comment line. */
  private readInstruction(): InstructionNode | null {
    const first = this.readLine(true);
    const startLine = this.next;
    let { text, continues } = this.trimContinuation(first.text);
    if (!continues && text === "") return null;

    const segments: Segment[] = [{ offset: 0, line: startLine, column: first.leading }];
    let joined = text;
    let emptyContinuationLine: number | undefined;
    while (continues && this.next < this.readable) {
      const rawLine = this.lines[this.next];
      const current = this.readLine(false);
      if (isComment(rawLine)) continue;
      if (goTrimLeftSpace(current.text) === "") {
        emptyContinuationLine ??= this.next;
        continue;
      }
      ({ text, continues } = this.trimContinuation(current.text));
      segments.push({ offset: joined.length, line: this.next, column: 0 });
      joined += text;
    }

    if (emptyContinuationLine !== undefined) {
      this.warnings.push({
        rule: "NoEmptyContinuation",
        message: `Empty continuation line found in: ${joined} (empty continuation lines will become errors in a future release; remove the blank line)`,
        range: this.lineRange(emptyContinuationLine),
      });
    }

    const positionOf = (offset: number): SourcePosition => {
      let segment = segments[0];
      for (const s of segments) if (s.offset <= offset) segment = s;
      return { line: segment.line, column: segment.column + (offset - segment.offset) + 1 };
    };
    const start: SourcePosition = { line: startLine, column: first.leading + 1 };
    let end = this.endOfLine(this.next);
    const node = this.buildNode(joined, 0, positionOf, start, () => end);

    const target = node.keyword === "onbuild" && node.inner ? node.inner : node;
    if (heredocInstructions.has(target.keyword) && !target.json && joined.includes("<<")) {
      node.heredocs = this.readHeredocs(joined, start);
      end = this.endOfLine(this.next);
      node.range.end = end;
      if (node.inner) node.inner.range.end = end;
    }
    return node;
  }

  /** Builds a node from a joined instruction line (or ONBUILD's inner text starting at `base`). */
  private buildNode(
    text: string,
    base: number,
    positionOf: (offset: number) => SourcePosition,
    start: SourcePosition,
    end: () => SourcePosition,
  ): InstructionNode {
    const split = splitCommand(text, this.directives.escape);
    const keyword = goToLower(split.keyword);
    const argsStart = positionOf(base + split.argsOffset);
    const node: InstructionNode = {
      keyword,
      keywordAsWritten: split.keyword,
      original: text,
      flags: split.flags,
      args: [],
      json: false,
      heredocs: [],
      range: { start, end: end() },
      argsStart,
    };
    if (keyword === "onbuild") {
      if (split.args !== "") {
        const innerBase = base + split.argsOffset;
        node.inner = this.buildNode(split.args, innerBase, positionOf, positionOf(innerBase), end);
      }
      return node;
    }
    try {
      const shaped = shapeArguments(keyword, split.args, this.directives.escape);
      node.args = shaped.args;
      node.json = shaped.json;
    } catch (error) {
      if (error instanceof ParseFailure) throw this.error(error.message, { start: argsStart, end: end() });
      throw error;
    }
    return node;
  }

  /** Reads the bodies of the heredocs announced on `line`, one after another, each up to its terminator line. */
  private readHeredocs(line: string, start: SourcePosition): Heredoc[] {
    let markers: HeredocMarker[];
    try {
      markers = heredocMarkers(line);
    } catch (error) {
      if (error instanceof ParseFailure) throw this.error(error.message, { start, end: this.endOfLine(this.next) });
      throw error;
    }
    const heredocs: Heredoc[] = [];
    for (const marker of markers) {
      let content = "";
      let terminated = false;
      while (this.next < this.readable) {
        const { raw, newline } = this.physical[this.next++];
        let candidate = trimNewline(raw);
        if (marker.chomp) candidate = candidate.replace(/^\t+/, "");
        if (candidate === marker.name) {
          terminated = true;
          break;
        }
        content += newline ? raw + "\n" : raw;
      }
      if (!terminated) {
        throw this.error(
          `unterminated heredoc: no line "${marker.name}" ends the heredoc that starts here; add one after the body`,
          { start, end: this.endOfLine(this.next) },
        );
      }
      heredocs.push({ ...marker, content: marker.chomp ? chompHeredocContent(content) : content });
    }
    return heredocs;
  }

  /**
   * Reads one physical line: line ending removed, leading whitespace too for
   * the first line of an instruction, directives recorded, a comment turned
   * into an empty line. `leading` is how much was stripped from the front.
   */
  private readLine(stripLeft: boolean): { text: string; leading: number } {
    const index = this.next++;
    const lineNumber = index + 1;
    let text = this.lines[index];
    let leading = 0;
    if (stripLeft) {
      const trimmed = goTrimLeftSpace(text);
      leading = text.length - trimmed.length;
      text = trimmed;
    }
    let directive;
    try {
      directive = this.directiveReader.read(text);
    } catch (error) {
      if (error instanceof ParseFailure) throw this.error(error.message, this.pointAt(lineNumber, leading + 1));
      throw error;
    }
    if (directive) {
      if (directive.name === "escape") {
        if (!validEscapeToken(directive.value)) {
          throw this.error(
            `invalid escape token '${directive.value}' does not match \` or \\`,
            this.pointAt(lineNumber, leading + 1),
          );
        }
        this.directives.escape = directive.value;
        this.continuation = continuationPattern(directive.value);
      } else {
        this.directives[directive.name] = directive.value;
      }
      this.directives.ranges[directive.name] = { start: { line: lineNumber, column: leading + 1 }, end: this.endOfLine(lineNumber) };
    }
    return { text: isComment(text) ? "" : text, leading };
  }

  /** Removes a trailing escape token (and the blanks after it); `continues` tells whether it was there. */
  private trimContinuation(line: string): { text: string; continues: boolean } {
    if (!this.continuation.test(line)) return { text: line, continues: false };
    return { text: line.replace(this.continuation, "$1"), continues: true };
  }

  private endOfLine(lineNumber: number): SourcePosition {
    return { line: lineNumber, column: (this.lines[lineNumber - 1]?.length ?? 0) + 1 };
  }

  private lineRange(lineNumber: number): SourceRange {
    return { start: { line: lineNumber, column: 1 }, end: this.endOfLine(lineNumber) };
  }

  private pointAt(line: number, column: number): SourceRange {
    return { start: { line, column }, end: { line, column } };
  }

  private error(message: string, range: SourceRange): DockerfileError {
    return new DockerfileError(message, range, this.lines[range.start.line - 1] ?? "", this.file);
  }
}
