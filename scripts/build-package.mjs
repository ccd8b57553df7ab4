// Compiles one workspace package's src/**/*.ts to dist/**/*.js with @swc/core.
// Type checking is separate (`npm run typecheck`); this only strips types, fast.
import { transformFile } from "@swc/core";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";

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
await Promise.all(jobs);
