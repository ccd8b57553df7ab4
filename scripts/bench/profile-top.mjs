#!/usr/bin/env node
// Where a tsbuild run spends its time, from a V8 CPU profile:
//   node --cpu-prof --cpu-prof-dir=/tmp/prof packages/cli/bin/tsbuild.cjs build …
//   node scripts/bench/profile-top.mjs /tmp/prof/*.cpuprofile [N]
// Prints self time by module (file) and by function, top N each (default 15).
import { readFile } from "node:fs/promises";

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error("usage: node scripts/bench/profile-top.mjs PROFILE.cpuprofile [N]");
  process.exit(2);
}
const top = Number(topArg ?? 15);
const profile = JSON.parse(await readFile(file, "utf8"));

// Each sample hits one node; the gap to the next sample is that node's self time.
const selfMicros = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const delta = profile.timeDeltas[i + 1] ?? 0;
  selfMicros.set(profile.samples[i], (selfMicros.get(profile.samples[i]) ?? 0) + delta);
}
const byFunction = new Map();
const byModule = new Map();
let total = 0;
for (const node of profile.nodes) {
  const micros = selfMicros.get(node.id) ?? 0;
  total += micros;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url.replace(/^file:\/\//, "").replace(/.*\/node_modules\//, "node_modules/").replace(/.*\/packages\//, "packages/") || "(native/V8)";
  const name = `${functionName || "(anonymous)"} ${where}${url ? `:${lineNumber + 1}` : ""}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
  byModule.set(where, (byModule.get(where) ?? 0) + micros);
}
const print = (title, map) => {
  console.log(`${title} (self time, of ${(total / 1000).toFixed(0)} ms sampled):`);
  for (const [key, micros] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${(micros / 1000).toFixed(1).padStart(8)} ms ${((100 * micros) / total).toFixed(1).padStart(5)}%  ${key}`);
  }
};
print("by module", byModule);
print("by function", byFunction);
