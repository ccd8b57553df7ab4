// One core's share of a parallel gzip: compresses bytes [start, end) of a file and reports the output size.
import { createReadStream } from "node:fs";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parentPort, workerData } from "node:worker_threads";
import { createGzip } from "node:zlib";

const { file, start, end, level } = workerData;
let outputBytes = 0;
await pipeline(
  createReadStream(file, { start, end: end - 1, highWaterMark: 1024 * 1024 }),
  createGzip({ level }),
  new Writable({
    write(chunk, _encoding, done) {
      outputBytes += chunk.length;
      done();
    },
  }),
);
parentPort.postMessage({ outputBytes });
