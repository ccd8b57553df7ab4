// BuildKit's AST dump (`Node.Dump`), the format of the conformance `result`
// files: one `(keyword ["--flag" …] "arg" …)` line per instruction.
import type { DockerfileAst, InstructionNode } from "./ast.js";
import { goQuote } from "./quote.js";
import { goTrimSpace } from "./text.js";

/** The dump of every instruction, each line ending in `\n` (byte for byte a `result` file). */
export function dumpAst(ast: DockerfileAst): string {
  return ast.instructions.map((node) => `(${dumpNode(node)})\n`).join("");
}

function dumpNode(node: InstructionNode): string {
  let out = node.keyword;
  if (node.flags.length > 0) out += ` [${node.flags.map(goQuote).join(" ")}]`;
  if (node.inner) out += ` (${dumpNode(node.inner)})`;
  for (const arg of node.args) out += ` ${goQuote(arg)}`;
  // Go trims each node's dump, which matters only for an empty keyword (`("")`).
  return goTrimSpace(out);
}
