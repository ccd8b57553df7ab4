// Compiles one workspace package's src/**/*.ts to dist/**/*.js with @swc/core.
// Type checking is separate (`npm run typecheck`); this only strips types, fast.
// src/*.c files are N-API addons: each is compiled with cc into dist/<name>.node. An addon that
// needs a system library says so in the `//` comment lines that open the file:
//   // link: -l:libdeflate.a  arguments added to cc's command line after the source (libraries)
//   // apt: libdeflate-dev    the Debian packages with the headers and libraries it builds against,
//                            named in the error when cc cannot find a header or a library
// (scripts/setup.sh installs those packages).
import { transformFile } from "@swc/core";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const pkgDir = process.cwd();
const srcDir = path.join(pkgDir, "src");
const outDir = path.join(pkgDir, "dist");

async function* sources(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(full);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") && !entry.name.endsWith(".d.ts") && entry.name !== "test-support.ts") yield full;
  }
}

await rm(outDir, { recursive: true, force: true });
const jobs = [];
for await (const file of sources(srcDir)) {
  jobs.push(
    (async () => {
      const out = path.join(outDir, path.relative(srcDir, file)).replace(/\.ts$/, ".js");
      const { code, map } = await transformFile(file, {
        jsc: { parser: { syntax: "typescript" }, target: "es2022", keepClassNames: true },
        module: { type: "es6" },
        sourceMaps: true,
        sourceFileName: path.relative(path.dirname(out), file),
      });
      await mkdir(path.dirname(out), { recursive: true });
      await writeFile(out, `${code}\n//# sourceMappingURL=${path.basename(out)}.map\n`);
      if (map) await writeFile(`${out}.map`, map);
    })(),
  );
}
for (const entry of await readdir(srcDir)) {
  if (entry.endsWith(".c")) jobs.push(compileAddon(path.join(srcDir, entry)));
}
await Promise.all(jobs);

/** Node's headers sit beside its binary (…/bin/node -> …/include/node), as npm's nodedir expects. */
async function compileAddon(source) {
  const include = path.resolve(path.dirname(process.execPath), "..", "include", "node");
  if (!existsSync(path.join(include, "node_api.h"))) {
    throw new Error(`${source}: Node's headers are not in ${include} (node_api.h); install them with Node (Debian: the nodejs or libnode-dev package)`);
  }
  const { link, apt } = await addonDirectives(source);
  const name = path.basename(source, ".c");
  const out = path.join(outDir, `${name}.node`);
  await mkdir(outDir, { recursive: true });
  const args = ["-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", `-DNODE_GYP_MODULE_NAME=${name}`, `-I${include}`, "-o", out, source, ...link];
  try {
    await promisify(execFile)("cc", args);
  } catch (error) {
    const stderr = String(error.stderr ?? "");
    const missing = /fatal error: ([^:\s]+): No such file or directory/.exec(stderr)?.[1] ?? /cannot find (-l[^:\s]+)/.exec(stderr)?.[1];
    if (missing && apt.length > 0) {
      throw new Error(`${source}: cc cannot find ${missing}; install what this addon builds against: apt-get install ${apt.join(" ")}\n${stderr}`, { cause: error });
    }
    throw error;
  }
}

/** The `// link:` and `// apt:` lines of the comment that opens an addon's source. */
async function addonDirectives(source) {
  const directives = { link: [], apt: [] };
  for (const line of (await readFile(source, "utf8")).split("\n")) {
    if (!line.startsWith("//")) break;
    const match = /^\/\/\s*(link|apt):\s*(.*)$/.exec(line);
    if (match) directives[match[1]].push(...match[2].trim().split(/\s+/).filter(Boolean));
  }
  return directives;
}
