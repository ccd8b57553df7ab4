#!/bin/sh
':' //; if [ -n "${NODE_EXTRA_CA_CERTS-}" ]; then export TSBUILD_DEFERRED_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"; unset NODE_EXTRA_CA_CERTS; fi; exec node "$0" "$@"
// Run as a program, the lines above are shell: Node 20 parses all its root certificates at start-up
// when NODE_EXTRA_CA_CERTS is set (~40 ms a command), so the variable is handed over under another
// name and the file read only when a verified HTTPS connection is made (docs/decisions/0008).
// Run with `node`, they are a string and a comment. dist/tsbuild.cjs is the CLI linked into one file
// by scripts/bundle-cli.mjs; this file is CommonJS too, as an ES module importing it would make Node
// scan all of it for export names first (~80 ms) (docs/decisions/0009).
require("../dist/tsbuild.cjs");
