#!/bin/sh
':' //; if [ -n "${NODE_EXTRA_CA_CERTS-}" ]; then export TSBUILD_DEFERRED_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"; unset NODE_EXTRA_CA_CERTS; fi; exec node "$0" "$@"
// Run as a program, the lines above are shell: Node 20 parses all its root certificates at start-up
// when NODE_EXTRA_CA_CERTS is set (~40 ms a command), so the variable is handed over under another
// name and the file read only when a verified HTTPS connection is made (docs/decisions/0008).
// Run with `node`, they are a string and a comment.
import "../dist/main.js";
