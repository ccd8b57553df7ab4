#!/usr/bin/env node
// `npm run bench [-- --smoke] [--reps N] [--work DIR] [--only a,b] [--builders tsbuild,buildah,docker] [--report FILE]`
// Builds the workloads with tsbuild and its peers, interleaved, measures the machine's limits in
// the same run, prints a summary and (full runs) writes BENCHMARKS.md and the ratio chart.
// See docs/benchmarks.md.
import { existsSync } from "node:fs";
import { appendFile, mkdir, readFile, rm, stat, statfs, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { busyboxLayout, debianLayout, startBaseRegistry } from "./bases.mjs";
import { Buildah, Docker, Tsbuild } from "./builders.mjs";
import { parallelGzip, measureLimits } from "./limits.mjs";
import { gnuTimeAvailable, removeTree, run, runMeasured, settleDisk, summarize } from "./measure.mjs";
import { machineInfo, renderReport, renderSummary } from "./report.mjs";
import { journaledWorkDir } from "./workdir.mjs";
import { SMOKE_WORKLOADS, WORKLOADS } from "./workloads.mjs";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const { values: options } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    reps: { type: "string" },
    work: { type: "string" },
    only: { type: "string" },
    builders: { type: "string" },
    report: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (options.help) {
  console.log("usage: npm run bench -- [--smoke] [--reps N] [--work DIR] [--only WORKLOAD,…] [--builders tsbuild,buildah,docker] [--report FILE]");
  process.exit(0);
}

const smoke = options.smoke;
const reps = Number(options.reps ?? (smoke ? 1 : 3));
const selected = (options.only?.split(",") ?? (smoke ? SMOKE_WORKLOADS : WORKLOADS.map((w) => w.name))).map((name) => {
  const workload = WORKLOADS.find((w) => w.name === name);
  if (!workload) throw new Error(`unknown workload ${name}; known: ${WORKLOADS.map((w) => w.name).join(", ")}`);
  return workload;
});
const builderNames = options.builders?.split(",") ?? (smoke ? ["tsbuild", "buildah"] : ["tsbuild", "buildah", "docker"]);
if (!builderNames.includes("tsbuild")) throw new Error(`--builders ${builderNames.join(",")}: tsbuild must be one of them (the figures are its ratios to the peers)`);
const reportFile = options.report ?? (smoke ? null : path.join(repo, "BENCHMARKS.md"));

// buildah rejects image names with upper-case letters, and names images pulled by path after the
// path: the work dir is spelled in lower case.
const workRoot = path.resolve(options.work ?? `/tmp/tsbuild-bench-${process.pid}`);
if (workRoot !== workRoot.toLowerCase()) throw new Error(`--work ${workRoot}: use a lower-case path (buildah rejects upper-case image names)`);
const work = path.join(workRoot, `run-${process.pid}`);
const cacheDir = path.join(workRoot, "cache");

const started = Date.now();
const log = (message) => console.error(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}`);

const builders = [];
let registry = null;
let workFs = null;
let interrupted = false;
async function cleanUp() {
  for (const builder of builders) await builder.stop().catch((error) => log(`stopping ${builder.name}: ${error.message}`));
  await registry?.stop().catch((error) => log(`stopping the registry: ${error.message}`));
  await removeTree(work);
  await workFs?.release().catch((error) => log(`releasing the work dir's file system: ${error.message}`));
  // Without --work everything goes, the Debian cache too; with it, the cache stays for the next run.
  if (!options.work) await removeTree(workRoot);
  if (existsSync(work)) console.error(`bench: could not delete ${work}; delete it by hand`);
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: cleaning up`);
    cleanUp().finally(() => process.exit(130));
  });
}

/**
 * Free space a run needs on the disk under the work dir, in GiB. At its peak, big-file has a 1 GiB
 * file in its context, in a builder's store twice (the COPY and the RUN's copy-up), in its blobs
 * and in two exported archives; 20 GiB leaves room for the registry, Docker's data and buildah's
 * temp files beside that.
 */
const NEEDED_GIB = smoke ? 2 : 20;

async function main() {
  await mkdir(work, { recursive: true });
  const { bavail, bsize } = await statfs(work);
  const freeGiB = (bavail * bsize) / 2 ** 30;
  if (freeGiB < NEEDED_GIB) throw new Error(`${work} has ${freeGiB.toFixed(1)} GiB free; the ${smoke ? "smoke run" : "full run"} needs ${NEEDED_GIB} GiB (big-file's 1 GiB file is in every builder's store, blobs and archives): free some or pass --work on a bigger disk`);
  workFs = await journaledWorkDir(work, path.join(workRoot, `run-${process.pid}.ext4`), log);
  await mkdir(cacheDir, { recursive: true });
  const runLog = path.join(work, "bench.log");

  // Builders: tsbuild must work; a peer that cannot start is reported, not fatal.
  const unavailable = {};
  for (const name of builderNames) {
    const builder = name === "tsbuild" ? new Tsbuild(repo) : name === "buildah" ? new Buildah(work) : name === "docker" ? new Docker(work) : null;
    if (!builder) throw new Error(`unknown builder ${name}: tsbuild, buildah or docker`);
    try {
      log(`preparing ${name}`);
      await builder.prepare();
      builders.push(builder);
    } catch (error) {
      if (name === "tsbuild") throw error;
      unavailable[name] = error.message;
      log(`${name} is unavailable: ${error.message.split("\n")[0]}`);
    }
  }
  const versions = {};
  for (const builder of builders) versions[builder.name] = await builder.version();

  log("base images");
  const layouts = { busybox: await busyboxLayout(repo, path.join(work, "bases")) };
  if (selected.some((w) => w.base === "debian")) layouts.debian = await debianLayout(cacheDir, path.join(work, "bases"), log);
  // Cold builds pull their base from this registry (pushed once here, untimed), as issue #6 asks.
  registry = await startBaseRegistry(path.join(work, "registry"));
  log(`local registry on ${registry.host}`);
  const bases = {};
  for (const [name, layout] of Object.entries(layouts)) bases[name] = await registry.push(layout, name);

  log("generating workloads");
  const workloads = [];
  for (const definition of selected) {
    const dir = path.join(work, "workloads", definition.name);
    const context = path.join(dir, "context");
    await mkdir(context, { recursive: true });
    await definition.generate(context, { smoke });
    // One Dockerfile per builder, so that builders needing different base references can have them.
    const dockerfiles = {};
    for (const builder of builders) {
      dockerfiles[builder.name] = path.join(dir, `Dockerfile.${builder.name}`);
      await writeFile(dockerfiles[builder.name], definition.dockerfile.replaceAll("{{BASE}}", bases[definition.base]));
    }
    workloads.push({ ...definition, dir, context, dockerfiles });
  }

  const smallFiles = workloads.find((w) => w.name === "small-files");
  log("physical limits");
  const limits = await measureLimits({
    scratchDir: work,
    tree: smallFiles ? smallFiles.context : layouts.busybox,
    contexts: Object.fromEntries(workloads.map((w) => [w.name, w.context])),
    smoke,
    log,
  });

  log("tsbuild --version cold start");
  const tsbuild = builders.find((b) => b.name === "tsbuild");
  const versionSamples = [];
  for (let i = 0; i < (smoke ? 3 : 7); i++) versionSamples.push((await runMeasured(tsbuild.cli, ["--version"], { scratchDir: work })).seconds);

  // results[workload][builder] = { cold: [], noop: [], change: [], exportOci: [], exportDocker: [], rss: [], ... }
  const results = {};
  const errors = [];
  const context = { versions, unavailable, limits, versionSamples, workloads, results, errors };
  for (let rep = 0; rep < reps; rep++) {
    for (const workload of workloads) {
      // Interleaved: every builder builds every workload in every repetition, in a rotating order.
      const order = builders.map((_, i) => builders[(i + rep) % builders.length]);
      for (const builder of order) {
        // After Ctrl-C the clean-up removes the registry and the work dir: measuring on would only fail.
        if (interrupted) return;
        const record = ((results[workload.name] ??= {})[builder.name] ??= { cold: [], noop: [], change: [], exportOci: [], exportDocker: [], rss: [] });
        log(`rep ${rep + 1}/${reps} ${workload.name} ${builder.name}`);
        try {
          await measureWorkload(builder, workload, record, rep, runLog);
        } catch (error) {
          errors.push(`${workload.name} / ${builder.name} / rep ${rep + 1}: ${error.message}`);
          log(`FAILED ${workload.name} ${builder.name}: ${error.message.split("\n").slice(0, 6).join(" | ")}`);
          if (builder.name === "tsbuild") process.exitCode = 1;
        } finally {
          await builder.dropStore().catch((error) => log(`dropping ${builder.name}'s store: ${error.message}`));
          await workFs.trim().catch((error) => log(`trimming the work dir: ${error.message}`));
        }
      }
    }
    // A long run that is stopped still leaves the repetitions it completed.
    if (reportFile && rep < reps - 1) await writeReport(await runSummary(context, rep + 1));
  }
  const summary = await runSummary(context, reps);
  console.log(renderSummary(summary));
  if (reportFile) await writeReport(summary);
  if (errors.length > 0) log(`${errors.length} failure(s); build logs were in ${runLog}`);
}

/** The run's figures so far (medians with min–max) and everything the report says about the run. */
async function runSummary({ versions, unavailable, limits, versionSamples, workloads, results, errors }, completedReps) {
  return {
    date: new Date().toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    smoke,
    reps,
    completedReps,
    machine: { ...(await machineInfo(work)), workFs: workFs?.note },
    versions,
    unavailable,
    gnuTime: gnuTimeAvailable,
    limits,
    versionStartup: summarize(versionSamples),
    workloads: workloads.map((w) => ({ name: w.name, describe: w.describe(smoke), dockerfile: w.dockerfile, changeFile: w.changeFile })),
    results: Object.fromEntries(
      Object.entries(results).map(([name, perBuilder]) => [
        name,
        Object.fromEntries(
          Object.entries(perBuilder).map(([builder, r]) => [
            builder,
            {
              cold: summarize(r.cold),
              noop: summarize(r.noop),
              change: summarize(r.change),
              exportOci: summarize(r.exportOci),
              exportDocker: summarize(r.exportDocker),
              rss: summarize(r.rss),
              layers: r.layers,
              ociBytes: r.ociBytes,
              dockerBytes: r.dockerBytes,
              gzip1AllCoresSeconds: r.gzip1AllCoresSeconds,
              unusedStageRan: r.unusedStageRan,
            },
          ]),
        ),
      ]),
    ),
    errors: [...errors],
  };
}

/**
 * Raw figures first (they survive a rendering bug), then the report and the chart. The default
 * report (BENCHMARKS.md) keeps them in scripts/bench/results; a --report elsewhere beside it.
 */
async function writeReport(summary) {
  const defaultReport = path.join(repo, "BENCHMARKS.md");
  const resultsDir = path.resolve(reportFile) === defaultReport ? path.join(repo, "scripts", "bench", "results") : path.dirname(path.resolve(reportFile));
  const chartFile = path.join(resultsDir, "ratios.svg");
  await mkdir(resultsDir, { recursive: true });
  await writeFile(path.join(resultsDir, "last-run.json"), `${JSON.stringify(summary, null, 2)}\n`);
  const { markdown, svg } = renderReport(summary, path.relative(path.dirname(reportFile), chartFile));
  await writeFile(reportFile, markdown);
  await writeFile(chartFile, svg);
  log(`wrote ${reportFile} and ${chartFile} (${summary.completedReps} of ${summary.reps} repetitions)`);
}

/** Cold build, no-op rebuild, one-file change, OCI and docker exports, layers and peak RSS of one builder. */
async function measureWorkload(builder, workload, record, rep, runLog) {
  const storeDir = path.join(work, "stores", `${builder.name}-${workload.name}`);
  await builder.freshStore(storeDir);
  const scratchDir = work;
  // Each measured command starts with nothing dirty on the disk (see settleDisk).
  const measure = async (command) => {
    await settleDisk();
    return command();
  };
  const keep = async (phase, measured) => {
    await appendFile(runLog, `==== ${workload.name} ${builder.name} ${phase}\n${measured.output}\n`);
    if (measured.rssMiB !== null) rss = Math.max(rss, measured.rssMiB);
    return measured.seconds;
  };
  let rss = 0;

  const cold = await measure(() => builder.cold(workload, scratchDir));
  record.cold.push(await keep("cold", cold));
  if (workload.unusedStageMarker) {
    // The marker is echoed by the stage's RUN; the Dockerfile text itself is not printed by any builder.
    record.unusedStageRan = (record.unusedStageRan ?? false) || cold.output.includes(`\n${workload.unusedStageMarker}`) || cold.output.includes(` ${workload.unusedStageMarker}\n`);
  }
  record.noop.push(await keep("no-op", await measure(() => builder.build(workload, scratchDir))));

  const changed = path.join(workload.context, workload.changeFile);
  const original = await readFile(changed);
  await appendFile(changed, `// one more line, rep ${rep + 1}\n`);
  try {
    record.change.push(await keep("one-file change", await measure(() => builder.build(workload, scratchDir))));
  } finally {
    await writeFile(changed, original);
  }

  const ociArchive = path.join(work, `${builder.name}-${workload.name}.oci.tar`);
  const dockerArchive = path.join(work, `${builder.name}-${workload.name}.docker.tar`);
  try {
    const oci = await measure(() => builder.exportOci(workload, ociArchive, scratchDir));
    if (oci) {
      record.exportOci.push(await keep("export oci", oci));
      record.ociBytes = (await stat(ociArchive)).size;
    }
    record.exportDocker.push(await keep("export docker", await measure(() => builder.exportDocker(workload, dockerArchive, scratchDir))));
    record.dockerBytes = (await stat(dockerArchive)).size;
    const manifest = JSON.parse(await run("tar", ["-xOf", dockerArchive, "manifest.json"]));
    record.layers = manifest[0].Layers.length;
    // The export target's yardstick: gzip -1 on all cores of the same (uncompressed) layer bytes.
    if (builder.name === "tsbuild" && record.gzip1AllCoresSeconds === undefined) {
      record.gzip1AllCoresSeconds = (await parallelGzip(dockerArchive, 1, availableParallelism())).seconds;
    }
  } finally {
    await rm(ociArchive, { force: true });
    await rm(dockerArchive, { force: true });
  }
  const daemonPeak = await builder.daemonPeakMiB();
  record.rss.push(daemonPeak ?? (rss || null));
}

try {
  await main();
} catch (error) {
  console.error(`bench: ${error.message}`);
  process.exitCode = 1;
} finally {
  if (!interrupted) await cleanUp();
}
