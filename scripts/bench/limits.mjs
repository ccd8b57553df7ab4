// The machine's physical limits, measured in the same run as the builds: what a builder could reach
// at best for disk I/O, hashing, compression and walking a tree.
import { createHash, randomFillSync } from "node:crypto";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { rm } from "node:fs/promises";
import { Worker } from "node:worker_threads";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { run, spawnCollect } from "./measure.mjs";

const MiB = 1024 * 1024;

async function timed(fn) {
  const started = process.hrtime.bigint();
  const result = await fn();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, result };
}

/**
 * gzip of a file at `level` split into `workers` contiguous ranges, one worker thread (one core)
 * each, like a parallel gzip (pigz) would. Returns { seconds, inputBytes, outputBytes }.
 */
export async function parallelGzip(file, level, workers) {
  const size = statSync(file).size;
  const { seconds, result } = await timed(() =>
    Promise.all(
      Array.from({ length: workers }, (_, i) => {
        const start = Math.floor((size * i) / workers);
        const end = Math.floor((size * (i + 1)) / workers);
        return new Promise((resolve, reject) => {
          const worker = new Worker(new URL("./gzip-worker.mjs", import.meta.url), { workerData: { file, start, end, level } });
          worker.once("message", (message) => resolve(message.outputBytes));
          worker.once("error", reject);
        });
      }),
    ),
  );
  return { seconds, inputBytes: size, outputBytes: result.reduce((a, b) => a + b, 0) };
}

/** Streams `tar -c` of dir into a byte counter (GNU tar skips reading files when writing to /dev/null itself). */
function tarTree(dir) {
  return new Promise((resolve, reject) => {
    const tar = spawn("tar", ["-C", dir, "-cf", "-", "."], { stdio: ["ignore", "pipe", "inherit"] });
    let bytes = 0;
    tar.stdout.on("data", (chunk) => (bytes += chunk.length));
    tar.on("error", reject);
    tar.on("close", (code) => (code === 0 ? resolve(bytes) : reject(new Error(`tar -c ${dir} exited with ${code}`))));
  });
}

/** Runs `find dir -printf …` and resolves with the lines it printed (stdout "pipe") or 0 (stdout "ignore"). */
function find(dir, stdout) {
  return new Promise((resolve, reject) => {
    const child = spawn("find", [dir, "-printf", "%s %T@ %i\n"], { stdio: ["ignore", stdout, "inherit"] });
    let lines = 0;
    child.stdout?.on("data", (chunk) => {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(lines) : reject(new Error(`find ${dir} exited with ${code}`))));
  });
}

/**
 * The physical floor of a no-op rebuild that must notice any changed file: lstat of every entry of
 * the context (`find CTX -printf '%s %T@ %i\n' > /dev/null`), warm caches as in a rebuild.
 * Median of 5 after one warm-up. Returns { seconds, entries }.
 */
export async function statWalk(dir) {
  const entries = await find(dir, "pipe");
  const samples = [];
  for (let i = 0; i < 5; i++) samples.push((await timed(() => find(dir, "ignore"))).seconds);
  samples.sort((a, b) => a - b);
  return { seconds: samples[2], entries };
}

/** Median wall time of `count` runs of a command, after one warm-up run. */
async function medianSeconds(count, file, argv, options) {
  const samples = [];
  for (let i = 0; i <= count; i++) {
    const { seconds, result } = await timed(() => spawnCollect(file, argv(i), options));
    if (result.code !== 0) throw new Error(`${file} ${argv(i).join(" ")} exited with ${result.code}:\n${result.output}`);
    if (i > 0) samples.push(seconds);
  }
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)];
}

/**
 * The floor of any tsbuild command: this Node.js running an empty script (NODE_EXTRA_CA_CERTS
 * unset, as tsbuild's launcher leaves it until a verified HTTPS connection).
 */
async function nodeStart(scratchDir) {
  const script = path.join(scratchDir, "empty.mjs");
  writeFileSync(script, "");
  const { NODE_EXTRA_CA_CERTS: _unused, ...env } = process.env;
  try {
    return await medianSeconds(7, process.execPath, () => [script], { env });
  } finally {
    await rm(script, { force: true });
  }
}

/**
 * The floor of a RUN step's runtime: `runc run` of `busybox true` in a plain directory, with
 * `runc spec`'s default mounts and namespaces (those of a RUN, /sys/fs/cgroup included).
 */
async function runcTrue(scratchDir) {
  const bundle = path.join(scratchDir, "runc-true");
  mkdirSync(path.join(bundle, "rootfs", "bin"), { recursive: true });
  copyFileSync("/bin/busybox", path.join(bundle, "rootfs", "bin", "busybox"));
  await run("runc", ["spec", "--bundle", bundle]);
  const specFile = path.join(bundle, "config.json");
  const spec = JSON.parse(readFileSync(specFile, "utf8"));
  spec.process.terminal = false;
  spec.process.args = ["/bin/busybox", "true"];
  writeFileSync(specFile, JSON.stringify(spec));
  try {
    return await medianSeconds(9, "runc", (i) => ["--root", path.join(bundle, "state"), "run", "--bundle", bundle, `bench-true-${process.pid}-${i}`]);
  } finally {
    await rm(bundle, { recursive: true, force: true });
  }
}

function hashThroughput(bytes, update) {
  const chunk = 1 * MiB;
  const started = process.hrtime.bigint();
  for (let offset = 0; offset < bytes.length; offset += chunk) update(bytes.subarray(offset, offset + chunk));
  return bytes.length / MiB / (Number(process.hrtime.bigint() - started) / 1e9);
}

/**
 * Figures in MiB/s (throughput) and seconds (tar, stat walks): disk write (dd, fdatasync) and read
 * (O_DIRECT), SHA-256 (node:crypto, @noble/hashes), gzip -1/-6 on one core and all cores over a tar
 * of the small-files tree, `tar -c` of that tree, and the stat walk of each workload's context
 * (contexts: { workload: dir }; statWalks: { workload: { seconds, entries } }).
 */
export async function measureLimits({ scratchDir, tree, contexts, smoke, log }) {
  const cores = availableParallelism();
  const limits = { cores, statWalks: {} };
  log("limits: stat walk of each context");
  for (const [workload, dir] of Object.entries(contexts)) limits.statWalks[workload] = await statWalk(dir);

  const ddFile = path.join(scratchDir, "dd.bin");
  const ddMiB = smoke ? 64 : 1024;
  log(`limits: dd write/read ${ddMiB} MiB`);
  const write = await timed(() => run("dd", ["if=/dev/zero", `of=${ddFile}`, "bs=1M", `count=${ddMiB}`, "conv=fdatasync"]));
  limits.diskWriteMiBs = ddMiB / write.seconds;
  const read = await timed(() => run("dd", [`if=${ddFile}`, "of=/dev/null", "bs=1M", "iflag=direct"]));
  limits.diskReadMiBs = ddMiB / read.seconds;
  await rm(ddFile, { force: true });

  log("limits: node start-up and runc run");
  limits.nodeStartSeconds = await nodeStart(scratchDir);
  limits.runcTrueSeconds = await runcTrue(scratchDir);

  log("limits: SHA-256");
  const data = randomFillSync(Buffer.alloc((smoke ? 32 : 256) * MiB));
  const nodeHash = createHash("sha256");
  limits.sha256NodeMiBs = hashThroughput(data, (chunk) => nodeHash.update(chunk));
  nodeHash.digest();
  const nobleHash = nobleSha256.create();
  limits.sha256NobleMiBs = hashThroughput(data.subarray(0, (smoke ? 16 : 64) * MiB), (chunk) => nobleHash.update(chunk));
  nobleHash.digest();

  log("limits: tar of the small-files tree");
  const tar = await timed(() => tarTree(tree));
  limits.tarTreeSeconds = tar.seconds;
  limits.tarTreeBytes = tar.result;

  const sample = path.join(scratchDir, "small-files.tar");
  await run("tar", ["-C", tree, "-cf", sample, "."]);
  log("limits: gzip -1/-6, one core and all cores");
  for (const level of [1, 6]) {
    for (const [label, workers] of [["OneCore", 1], ["AllCores", cores]]) {
      const { seconds, inputBytes, outputBytes } = await parallelGzip(sample, level, workers);
      limits[`gzip${level}${label}MiBs`] = inputBytes / MiB / seconds;
      limits[`gzip${level}Ratio`] = inputBytes / outputBytes;
    }
  }
  await rm(sample, { force: true });
  return limits;
}
