#!/bin/sh
':' //; if [ -n "${NODE_EXTRA_CA_CERTS-}" ]; then export TSBUILD_DEFERRED_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"; unset NODE_EXTRA_CA_CERTS; fi; exec node --max-semi-space-size=2 "$0" "$@"
// Run as a program, the lines above are shell: Node 20 parses all its root certificates at start-up
// when NODE_EXTRA_CA_CERTS is set (~40 ms a command), so the variable is handed over under another
// name and the file read only when a verified HTTPS connection is made (docs/decisions/0008).
// V8's young generation is capped at 2 MiB semi-spaces (16 by default): the CLI's short-lived
// objects then stay within a few MiB instead of ~40 at an export's peak (docs/decisions/0010).
// Run with `node`, they are a string and a comment.
//
// dist/tsbuild.cjs is the CLI linked into one file by scripts/bundle-cli.mjs. It is compiled here
// with V8's code cache for it, kept per bundle and command in $XDG_CACHE_HOME/tsbuild (as Node 22's
// module compile cache would): compiling the 0.8 MB file and its functions anew costs 30-40 ms a
// command (docs/decisions/0009). Without a usable cache the file is compiled as usual and the
// cache written when the command ends; a cache that cannot be read or written is not an error.
// A cache holds the functions its run compiled: one made by a run that did little (a build that
// failed at once) is made again after a long run that compiled more of the CLI.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const { createRequire } = require("node:module");

const started = Date.now();
/** A run at least this long may remake a cache in use (making one takes a few ms). */
const REMAKE_AFTER_MS = 1000;
/** How much bigger the cache such a run makes must be to replace it: it compiled functions the old one lacks. */
const REMAKE_GROWTH = 1.1;
const bundle = path.join(__dirname, "..", "dist", "tsbuild.cjs");
const source = fs.readFileSync(bundle, "utf8");
const id = /^\/\/ tsbuild bundle ([0-9a-f]{64})\n/.exec(source)?.[1];
const cacheDir = path.join(process.env.XDG_CACHE_HOME || path.join(require("node:os").homedir(), ".cache"), "tsbuild");
const command = /^[a-z][a-z-]*$/.test(process.argv[2] ?? "") ? process.argv[2] : "default";
const cacheFile = id && path.join(cacheDir, `${id.slice(0, 16)}-${process.version}-${command}.v8cache`);
let cachedData;
try {
  if (cacheFile) cachedData = fs.readFileSync(cacheFile);
} catch {
  // none yet
}
const script = new vm.Script(`[function (exports, require, module, __filename, __dirname) {${source}\n}][0]`, { filename: bundle, cachedData });
const cacheUsed = cachedData !== undefined && !script.cachedDataRejected;
if (cacheFile) {
  process.once("exit", () => {
    // `tsbuild app` builds the context dir `app`: only command names make cache files.
    if (command !== "default" && !cli.exports.commandNames?.includes(command)) return;
    if (cacheUsed && Date.now() - started < REMAKE_AFTER_MS) return;
    try {
      const made = script.createCachedData();
      if (cacheUsed && made.length < cachedData.length * REMAKE_GROWTH) return;
      makeDirs(cacheDir);
      // Caches of other builds of the CLI go once a day has passed without them being written.
      for (const old of fs.readdirSync(cacheDir)) {
        const file = path.join(cacheDir, old);
        if (old.endsWith(".v8cache") && !old.startsWith(id.slice(0, 16)) && Date.now() - fs.statSync(file).mtimeMs > 86_400_000) fs.rmSync(file, { force: true });
      }
      const temp = `${cacheFile}.${process.pid}`;
      fs.writeFileSync(temp, made);
      fs.renameSync(temp, cacheFile);
    } catch {
      // read-only or full: the next command compiles again
    }
  });
}
/**
 * mkdir -p. Not fs.mkdirSync's { recursive: true }: in Node 20 that never returns where mkdir
 * answers ENOENT although the parent exists (XDG_CACHE_HOME=/proc/x spun at exit); here a second
 * ENOENT for the same dir is an error.
 */
function makeDirs(dir) {
  try {
    fs.mkdirSync(dir);
  } catch (error) {
    if (error.code === "EEXIST") return;
    if (error.code !== "ENOENT" || path.dirname(dir) === dir) throw error;
    makeDirs(path.dirname(dir));
    fs.mkdirSync(dir);
  }
}

const cli = { exports: {} };
script.runInThisContext()(cli.exports, createRequire(bundle), cli, bundle, path.dirname(bundle));
