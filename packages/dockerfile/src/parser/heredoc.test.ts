// Heredocs have no conformance vectors; these cases follow the behaviour of
// BuildKit's parser (parser_heredoc_test.go upstream), written out as our own.
import { describe, expect, it } from "vitest";
import { DockerfileError } from "../errors.js";
import type { Heredoc } from "./ast.js";
import { parseHeredocWord } from "./heredoc.js";
import { parseDockerfile } from "./parse.js";

function heredocsOf(dockerfile: string): Heredoc[][] {
  return parseDockerfile(dockerfile).instructions.map((node) => node.heredocs);
}

function only(dockerfile: string): Heredoc[] {
  const all = heredocsOf(`FROM alpine\n${dockerfile}`);
  expect(all).toHaveLength(2);
  return all[1];
}

const doc = (name: string, content: string, extra: Partial<Heredoc> = {}): Heredoc => ({
  name,
  content,
  expand: true,
  chomp: false,
  ...extra,
});

describe("heredoc bodies", () => {
  it("reads an empty body and a body with several lines", () => {
    expect(only("RUN <<EMPTY\nEMPTY\n")).toEqual([doc("EMPTY", "")]);
    expect(only("RUN <<EOF\necho hello world\necho foo bar\nEOF\n")).toEqual([
      doc("EOF", "echo hello world\necho foo bar\n"),
    ]);
  });

  it("keeps the `<<EOF` word in the instruction's arguments", () => {
    const node = parseDockerfile("FROM a\nRUN <<EOF python3\nprint(1)\nEOF\n").instructions[1];
    expect(node.args).toEqual(["<<EOF python3"]);
    expect(node.heredocs).toEqual([doc("EOF", "print(1)\n")]);
    const copy = parseDockerfile("FROM a\nCOPY <<FILE1 <<FILE2 /dest\n1\nFILE1\n2\nFILE2\n").instructions[1];
    expect(copy.args).toEqual(["<<FILE1", "<<FILE2", "/dest"]);
  });

  it("reads several heredocs one after another, each up to its own terminator", () => {
    expect(only("COPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n")).toEqual([
      doc("FILE1", "content 1\n"),
      doc("FILE2", "content 2\n"),
    ]);
    // The other heredoc's name inside a body is just text.
    expect(only("COPY <<X <<Y /dest\nY\nX\nX\nY\n")).toEqual([doc("X", "Y\n"), doc("Y", "X\n")]);
  });

  it("keeps leading tabs for <<, strips them from body and terminator for <<-", () => {
    expect(only("RUN <<INDENT\n\tfoo\n\tbar\nINDENT\n")).toEqual([doc("INDENT", "\tfoo\n\tbar\n")]);
    expect(only("RUN <<-UNINDENT\n\tbaz\n\t\tquux\n\tUNINDENT\n")).toEqual([
      doc("UNINDENT", "baz\nquux\n", { chomp: true }),
    ]);
    // Without `-`, an indented terminator is body text and the heredoc runs on.
    expect(only("RUN <<EOF\n\tEOF\nEOF\n")).toEqual([doc("EOF", "\tEOF\n")]);
  });

  it("does not expand when any part of the delimiter is quoted", () => {
    expect(only("RUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n")).toEqual([
      doc("NOEXPAND", "don't expand $NAME\n", { chomp: true, expand: false }),
    ]);
    expect(only('RUN <<"EOF"\n$X\nEOF\n')).toEqual([doc("EOF", "$X\n", { expand: false })]);
    expect(only("RUN <<eo'f'\necho foo\neof\n")).toEqual([doc("eof", "echo foo\n", { expand: false })]);
    // An escaped quote is part of the name, not quoting.
    expect(only("RUN <<eo\\'f\necho foo\neo'f\n")).toEqual([doc("eo'f", "echo foo\n")]);
    expect(only("RUN <<'e'o\\'f\necho foo\neo'f\n")).toEqual([doc("eo'f", "echo foo\n", { expand: false })]);
    expect(only("RUN <<'one two'\necho bar\none two\n")).toEqual([doc("one two", "echo bar\n", { expand: false })]);
  });

  it("records a file descriptor prefix", () => {
    expect(only("RUN 3<<EOF\nhi\nEOF\n")).toEqual([doc("EOF", "hi\n", { fileDescriptor: 3 })]);
  });

  it("keeps a shebang, comments and trailing backslashes in the body as text", () => {
    const body = "#!/usr/bin/env python3\n# a comment\nprint('a') \\\n\n";
    expect(only(`RUN <<EOF\n${body}EOF\n`)).toEqual([doc("EOF", body)]);
  });

  it("accepts flags before the heredoc, blanks after <<, and unusual names", () => {
    expect(only("RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n")).toEqual([
      doc("MOUNT", "echo hello\n"),
    ]);
    expect(only("RUN <<  EOF  > foo\nEOF\n")).toEqual([doc("EOF", "")]);
    expect(only("COPY <<file.txt /dest\nhello world\nfile.txt\n")).toEqual([doc("file.txt", "hello world\n")]);
    expect(only("RUN <<$EOF\n$EOF\n")).toEqual([doc("$EOF", "")]);
  });

  it("finds heredocs in ONBUILD RUN/COPY/ADD and attaches them to the ONBUILD node", () => {
    const node = parseDockerfile("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n").instructions[1];
    expect(node.inner?.keyword).toBe("run");
    expect(node.heredocs).toEqual([doc("EOF", "echo hi\n")]);
    expect(node.range).toEqual({ start: { line: 2, column: 1 }, end: { line: 4, column: 4 } });
    expect(node.inner?.range.end).toEqual({ line: 4, column: 4 });
  });

  it("ignores heredoc-like text in the exec form, in quotes and in other instructions", () => {
    expect(heredocsOf('FROM a\nRUN ["<<EOF"]\nRUN ["<<\'EOF\'"]\n')).toEqual([[], [], []]);
    expect(heredocsOf('FROM a\nRUN "<<NOHEREDOC"\nRUN \'<<EOF\'\n')).toEqual([[], [], []]);
    // USER is not a heredoc instruction: the next line is an instruction of its own.
    const nodes = parseDockerfile("FROM a\nUSER <<INVALID\nINVALID\n").instructions;
    expect(nodes.map((n) => n.keyword)).toEqual(["from", "user", "invalid"]);
  });

  it("ignores every marker of a line the shell lexer cannot split (unterminated quote)", () => {
    expect(heredocsOf("FROM a\nRUN <<EOF 'oops\nRUN b\n")).toEqual([[], [], []]);
  });

  it("spans the instruction's range over the bodies and terminators", () => {
    const node = parseDockerfile("FROM a\nRUN <<A <<B\na\nA\nb\nB\nRUN next\n").instructions[1];
    expect(node.range).toEqual({ start: { line: 2, column: 1 }, end: { line: 6, column: 2 } });
  });

  it("fails on an unterminated heredoc, pointing at the instruction", () => {
    let error: unknown;
    try {
      parseDockerfile("FROM a\nRUN <<EOF\necho hi\n");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DockerfileError);
    const { range, message } = error as DockerfileError;
    expect(message).toMatch(/unterminated heredoc/);
    expect(range).toEqual({ start: { line: 2, column: 1 }, end: { line: 3, column: 8 } });
  });

  it("keeps CR of CRLF body lines, and matches the terminator without it", () => {
    expect(only("RUN <<EOF\r\nx\r\nEOF\r\n")).toEqual([doc("EOF", "x\r\n")]);
  });
});

describe("parseHeredocWord", () => {
  it("reads the delimiter of valid markers", () => {
    for (const word of ["<<EOF", "<<'EOF'", '<<"EOF"', "<<-EOF", "<<-'EOF'", '<<-"EOF"', '<<EO"F"', "<< EOF", "<<- EOF"]) {
      expect(parseHeredocWord(word)?.name, word).toBe("EOF");
    }
    expect(parseHeredocWord("<< -EOF")?.name).toBe("-EOF");
  });

  it("answers null for words that are not markers", () => {
    for (const word of ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"]) {
      expect(parseHeredocWord(word), word).toBeNull();
    }
  });

  it("throws for a delimiter with an unterminated quote", () => {
    for (const word of ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"']) {
      expect(() => parseHeredocWord(word), word).toThrow(/unexpected end of statement/);
    }
  });
});
