// A syntax error found while parsing one piece (a directive, an instruction's
// arguments, a heredoc word). The parser catches it and turns it into a
// positioned DockerfileError; any other exception is a bug and is not caught.
export class ParseFailure extends Error {
  override readonly name = "ParseFailure";
}
