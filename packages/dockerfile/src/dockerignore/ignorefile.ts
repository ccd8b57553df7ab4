import { DockerignoreError } from "./errors.js";
import { cleanPath, goTrimSpace } from "./go-text.js";

/** Go's bufio.Scanner gives up on a line that does not fit its 64 KiB buffer. */
const MAX_LINE_BYTES = 64 * 1024;

/**
 * The pattern list of a .dockerignore file (moby/patternmatcher `ignorefile.ReadAll`); `null`
 * means there is no file. A UTF-8 BOM is dropped; a line whose first character is `#` is a
 * comment (`  #x` is a pattern); lines are trimmed and blank ones skipped; `!` is split off and
 * the rest trimmed again; the path is cleaned and one leading `/` dropped. A lone `!` is kept:
 * building the matcher rejects it.
 */
export function parseDockerignore(text: string | null): string[] {
  if (text === null) return [];
  const patterns: string[] = [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  lines.forEach((rawLine, index) => {
    let line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    if (rawLine.length * 3 >= MAX_LINE_BYTES && new TextEncoder().encode(rawLine).length >= MAX_LINE_BYTES) {
      throw new DockerignoreError(
        `.dockerignore line ${index + 1} is ${MAX_LINE_BYTES} bytes or longer; split or shorten it`,
      );
    }
    if (index === 0 && line.startsWith("\uFEFF")) line = line.slice(1);
    if (line.startsWith("#")) return;
    let pattern = goTrimSpace(line);
    if (pattern === "") return;
    const invert = pattern.startsWith("!");
    if (invert) pattern = goTrimSpace(pattern.slice(1));
    if (pattern !== "") {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
    }
    patterns.push(invert ? `!${pattern}` : pattern);
  });
  return patterns;
}

/**
 * The ignore files to try for a build, most specific first; the first that exists is used, even
 * when empty (BuildKit's dockerui): `<Dockerfile path>.dockerignore` beside the Dockerfile, then
 * `.dockerignore` at the root of the context.
 */
export function dockerignoreCandidates(dockerfilePath: string, contextDir = "."): string[] {
  const contextIgnore =
    contextDir === "." || contextDir === "" ? ".dockerignore" : `${contextDir.replace(/\/+$/, "")}/.dockerignore`;
  return [`${dockerfilePath}.dockerignore`, contextIgnore];
}
