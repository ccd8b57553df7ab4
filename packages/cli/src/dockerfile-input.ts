// Where the Dockerfile comes from: `-f FILE`, `-f -` (stdin), or CONTEXT/Dockerfile.
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { UsageError } from "./command-line.js";

export interface DockerfileInput {
  text: string;
  /** The name used in messages. */
  name: string;
  /** The file's path on disk (for NAME.dockerignore), absent for stdin. */
  path?: string;
}

export async function readDockerfileInput(file: string | undefined, context: string): Promise<DockerfileInput> {
  const contextStat = await stat(context).catch(() => undefined);
  if (!contextStat?.isDirectory()) {
    throw new UsageError(`build context ${context} is not a directory${contextStat ? "" : " (it does not exist; 'tsbuild --help' lists the commands)"}`);
  }
  if (file === "-") {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return { text: Buffer.concat(chunks).toString("utf8"), name: "Dockerfile" };
  }
  const resolved = file === undefined ? path.join(context, "Dockerfile") : path.resolve(file);
  try {
    return { text: await readFile(resolved, "utf8"), name: path.relative(process.cwd(), resolved) || resolved, path: resolved };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new UsageError(`no Dockerfile at ${resolved}: give one with -f FILE (or -f - for standard input)`);
    throw error;
  }
}
