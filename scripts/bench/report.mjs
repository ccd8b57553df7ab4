// Turning one run's figures into the console summary, BENCHMARKS.md and the SVG chart of ratios.
import { readFile } from "node:fs/promises";
import { availableParallelism, cpus, loadavg, release, totalmem } from "node:os";
import { spawnCollect } from "./measure.mjs";

const FIGURES = [
  { key: "cold", label: "cold build", unit: "s" },
  { key: "noop", label: "no-op rebuild", unit: "s" },
  { key: "change", label: "one-file change", unit: "s" },
  { key: "exportOci", label: "export OCI (gzip)", unit: "s" },
  { key: "exportDocker", label: "export docker archive", unit: "s" },
  { key: "rss", label: "peak RSS", unit: "MiB" },
];
const PEERS = ["buildah", "docker"];

export async function machineInfo(dir) {
  // findmnt names ext4 as such; `stat -f` says "ext2/ext3" for all three.
  const fs = await spawnCollect("findmnt", ["--noheadings", "--output", "FSTYPE", "--target", dir]);
  const os = (await readFile("/etc/os-release", "utf8").catch(() => "")).match(/PRETTY_NAME="(.*)"/)?.[1] ?? "Linux";
  const runc = (await spawnCollect("runc", ["--version"])).output.split("\n")[0];
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    os,
    filesystem: fs.output.trim(),
    node: process.version,
    runc,
    // Other work on the machine skews every builder alike only when it is steady: worth knowing.
    loadAverage: loadavg().map((l) => l.toFixed(1)).join(" "),
  };
}

const fmt = (value, unit) => {
  if (value === null || value === undefined) return "–";
  if (unit === "MiB") return value.toFixed(0);
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
};
/** Stat walks of small contexts take milliseconds: three decimals. */
const fmtWalk = (walk) => `${walk.seconds.toFixed(3)} s`;
/** Start-up floors are tens of milliseconds too (reports of runs before they were measured have none). */
const fmtFloor = (seconds) => (seconds === undefined ? "–" : `${seconds.toFixed(3)} s`);
const cell = (stats, unit) => (stats ? `${fmt(stats.median, unit)} (${fmt(stats.min, unit)}–${fmt(stats.max, unit)})` : "–");

/** tsbuild median / peer median for one figure, or null. */
function ratio(results, workload, figure, peer) {
  const ours = results[workload]?.tsbuild?.[figure]?.median;
  const theirs = results[workload]?.[peer]?.[figure]?.median;
  return ours && theirs ? ours / theirs : null;
}

/** Every target from the issue, with the figure and whether it is met. */
export function evaluateTargets(summary) {
  const targets = [];
  const add = (target, where, value, limit, met) => targets.push({ target, where, value, limit, met });
  add("`tsbuild --version` cold start ≤ 0.15 s", "all", `${fmt(summary.versionStartup?.median)} s`, "0.15 s", summary.versionStartup?.median <= 0.15);
  for (const [workload, perBuilder] of Object.entries(summary.results)) {
    const ts = perBuilder.tsbuild;
    if (!ts) continue;
    if (ts.noop) {
      // The stat walk of the context is the floor: a no-op rebuild cannot notice a change for less.
      const walk = summary.limits.statWalks?.[workload];
      const floor = walk ? `; stat walk of the context ${fmtWalk(walk)}` : "";
      add("no-op rebuild ≤ 0.15 s", workload, `${fmt(ts.noop.median)} s${floor}`, "0.15 s", ts.noop.median <= 0.15);
      // The issue's second half of the no-op target: against BuildKit only.
      const noop = ratio(summary.results, workload, "noop", "docker");
      // Node's own start-up is part of every tsbuild command; against a warm daemon it is a floor of this ratio.
      const nodeFloor = summary.limits.nodeStartSeconds / summary.results[workload]?.docker?.noop?.median;
      const floorNote = Number.isFinite(nodeFloor) ? `; node start-up alone ${nodeFloor.toFixed(2)}×` : "";
      if (noop !== null) add("no-op rebuild ≤ 0.5× docker", workload, `${noop.toFixed(2)}×${floorNote}`, "0.5×", noop <= 0.5);
    }
    for (const peer of PEERS) {
      const change = ratio(summary.results, workload, "change", peer);
      if (change !== null) add(`one-file change ≤ 0.5× ${peer}`, workload, `${change.toFixed(2)}×`, "0.5×", change <= 0.5);
      const cold = ratio(summary.results, workload, "cold", peer);
      if (cold !== null) add(`cold build ≤ 0.8× ${peer}`, workload, `${cold.toFixed(2)}×`, "0.8×", cold <= 0.8);
    }
    if (ts.exportOci && ts.gzip1AllCoresSeconds) {
      const times = ts.exportOci.median / ts.gzip1AllCoresSeconds;
      add("OCI export ≤ 1.2× all-cores gzip -1 of the same bytes", workload, `${fmt(ts.exportOci.median)} s = ${times.toFixed(2)}× (${fmt(ts.gzip1AllCoresSeconds)} s)`, "1.2×", times <= 1.2);
    }
    if (ts.rss) add("peak RSS ≤ 150 MiB", workload, `${fmt(ts.rss.max, "MiB")} MiB (max)`, "150 MiB", ts.rss.max <= 150);
  }
  return targets;
}

export function renderSummary(summary) {
  const lines = [`tsbuild benchmark: ${summary.smoke ? "smoke, " : ""}${summary.reps} repetition(s), ${summary.durationSeconds.toFixed(0)} s`];
  for (const [workload, perBuilder] of Object.entries(summary.results)) {
    lines.push(`${workload}:`);
    for (const [builder, r] of Object.entries(perBuilder)) {
      const figures = FIGURES.map((f) => `${f.label} ${r[f.key] ? fmt(r[f.key].median, f.unit) : "–"}${r[f.key] ? (f.unit === "s" ? "s" : " MiB") : ""}`);
      lines.push(`  ${builder.padEnd(8)} ${figures.join(", ")}, layers ${r.layers ?? "–"}`);
    }
  }
  for (const [name, reason] of Object.entries(summary.unavailable)) lines.push(`${name} unavailable: ${reason.split("\n")[0]}`);
  lines.push("targets:");
  for (const t of evaluateTargets(summary)) lines.push(`  ${t.met ? "met " : "MISS"} ${t.target} [${t.where}]: ${t.value}`);
  for (const error of summary.errors) lines.push(`error: ${error.split("\n")[0]}`);
  return lines.join("\n");
}

const escapeXml = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * Horizontal bars of tsbuild/peer on a log scale centred on 1×: left (green) tsbuild is faster or
 * smaller, right (red) it is slower or bigger. One group per workload, one bar per figure and peer.
 */
export function renderChart(summary) {
  const rows = [];
  for (const workload of Object.keys(summary.results)) {
    const group = [];
    for (const figure of FIGURES) {
      for (const peer of PEERS) {
        const value = ratio(summary.results, workload, figure.key, peer);
        if (value !== null) group.push({ label: `${figure.label} vs ${peer}`, value });
      }
    }
    if (group.length > 0) rows.push({ heading: workload }, ...group);
  }
  const width = 860;
  const labelWidth = 250;
  const rowHeight = 18;
  const top = 46;
  const plotWidth = width - labelWidth - 90;
  const centre = labelWidth + plotWidth / 2;
  const decades = 2; // 0.01× … 100×
  const x = (value) => centre + (Math.log10(Math.min(Math.max(value, 10 ** -decades), 10 ** decades)) / decades) * (plotWidth / 2);
  const height = top + rows.length * rowHeight + 30;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">tsbuild / peer (median of ${summary.completedReps}; log scale; left of 1× = tsbuild better)</text>`,
  ];
  for (const tick of [0.01, 0.1, 0.5, 1, 2, 10, 100]) {
    parts.push(`<line x1="${x(tick)}" y1="${top - 8}" x2="${x(tick)}" y2="${height - 24}" stroke="${tick === 1 ? "#333" : "#ddd"}"/>`);
    parts.push(`<text x="${x(tick)}" y="${top - 12}" text-anchor="middle" fill="#555">${tick}×</text>`);
  }
  rows.forEach((row, i) => {
    const y = top + i * rowHeight;
    if (row.heading) {
      parts.push(`<text x="6" y="${y + 13}" font-weight="bold">${escapeXml(row.heading)}</text>`);
      return;
    }
    const end = x(row.value);
    const [from, to] = end < centre ? [end, centre] : [centre, end];
    parts.push(`<text x="${labelWidth - 6}" y="${y + 13}" text-anchor="end">${escapeXml(row.label)}</text>`);
    parts.push(`<rect x="${from}" y="${y + 3}" width="${Math.max(to - from, 1)}" height="${rowHeight - 6}" fill="${row.value <= 1 ? "#3a9d5d" : "#d0543f"}"/>`);
    const labelX = end < centre ? Math.max(from - 4, labelWidth + 2) : to + 4;
    parts.push(`<text x="${labelX}" y="${y + 13}" text-anchor="${end < centre ? "end" : "start"}">${row.value.toFixed(2)}×</text>`);
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

export function renderReport(summary, chartPath) {
  const m = summary.machine;
  const L = summary.limits;
  const out = [];
  out.push("# Benchmarks", "");
  out.push(
    `One run of \`${summary.command}\` on ${summary.date.slice(0, 10)} (${(summary.durationSeconds / 60).toFixed(0)} min): every builder built every workload in`,
    `every repetition, interleaved, so the ratios compare builders on the same machine in the same minutes.`,
    summary.completedReps < summary.reps
      ? `**Partial: ${summary.completedReps} of ${summary.reps} repetitions completed.** Figures are medians with min–max in brackets. How to run and what each figure`
      : `Figures are medians of ${summary.reps} repetitions with min–max in brackets. How to run and what each figure`,
    "means: [docs/benchmarks.md](docs/benchmarks.md).",
    "",
    `![tsbuild / peer ratios](${chartPath})`,
    "",
  );
  out.push("## Machine and versions", "");
  out.push(`- ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM; ${m.os}, kernel ${m.kernel}; work dir on ${m.filesystem}${m.workFs ? `: ${m.workFs}` : ""}`);
  out.push(`- Node.js ${m.node}; ${m.runc}${m.loadAverage ? `; load average at the end of the run ${m.loadAverage}` : ""}`);
  for (const [name, version] of Object.entries(summary.versions)) out.push(`- ${name}: ${version}`);
  for (const [name, reason] of Object.entries(summary.unavailable)) out.push(`- ${name}: **not run**: ${reason.replace(/\n/g, " ")}`);
  if (!summary.gnuTime) out.push("- peak RSS not measured: /usr/bin/time (GNU time) is missing");
  out.push("");
  out.push("## Targets", "", "| target | workload | tsbuild | met |", "|---|---|---|---|");
  for (const t of evaluateTargets(summary)) out.push(`| ${t.target} | ${t.where} | ${t.value} | ${t.met ? "yes" : "**no**"} |`);
  out.push("", "Where the missed targets lose their time (profiles, and what bounds them): [docs/benchmarks.md, \"Missed targets\"](docs/benchmarks.md#missed-targets-where-the-time-goes).", "");
  out.push("## Ratios tsbuild / peer (median / median; below 1 is better for tsbuild)", "");
  const ratioHeader = ["workload", ...FIGURES.flatMap((f) => PEERS.map((p) => `${f.label} / ${p}`))];
  const present = ratioHeader.map((_, i) => i === 0 || Object.keys(summary.results).some((w) => ratio(summary.results, w, FIGURES[Math.floor((i - 1) / PEERS.length)].key, PEERS[(i - 1) % PEERS.length]) !== null));
  out.push(`| ${ratioHeader.filter((_, i) => present[i]).join(" | ")} |`, `|${ratioHeader.filter((_, i) => present[i]).map(() => "---").join("|")}|`);
  for (const workload of Object.keys(summary.results)) {
    const cells = [workload, ...FIGURES.flatMap((f) => PEERS.map((p) => ratio(summary.results, workload, f.key, p)))].filter((_, i) => present[i]);
    out.push(`| ${cells.map((c) => (typeof c === "number" ? `${c.toFixed(2)}×` : c ?? "–")).join(" | ")} |`);
  }
  out.push("");
  out.push("## Figures per workload", "");
  for (const w of summary.workloads) {
    const perBuilder = summary.results[w.name] ?? {};
    out.push(`### ${w.name}`, "", `${w.describe}. The one-file change appends a line to \`${w.changeFile}\`.`, "");
    out.push("```dockerfile", w.dockerfile.trimEnd(), "```", "");
    const builders = Object.keys(perBuilder);
    out.push(`| figure | ${builders.join(" | ")} |`, `|---|${builders.map(() => "---").join("|")}|`);
    for (const f of FIGURES) out.push(`| ${f.label} (${f.unit}) | ${builders.map((b) => cell(perBuilder[b][f.key], f.unit)).join(" | ")} |`);
    out.push(`| layers (incl. base) | ${builders.map((b) => perBuilder[b].layers ?? "–").join(" | ")} |`);
    out.push(`| OCI archive (MiB) | ${builders.map((b) => fmt(perBuilder[b].ociBytes && perBuilder[b].ociBytes / 2 ** 20, "MiB")).join(" | ")} |`);
    out.push(`| docker archive (MiB) | ${builders.map((b) => fmt(perBuilder[b].dockerBytes && perBuilder[b].dockerBytes / 2 ** 20, "MiB")).join(" | ")} |`);
    if (builders.some((b) => perBuilder[b].unusedStageRan !== undefined)) {
      out.push(`| unused stage ran | ${builders.map((b) => (perBuilder[b].unusedStageRan ? "**yes**" : "no")).join(" | ")} |`);
    }
    const walk = L.statWalks?.[w.name];
    if (walk) out.push("", `Stat walk of the context (${walk.entries.toLocaleString("en-US")} entries; the floor of a no-op rebuild): ${fmtWalk(walk)}.`);
    const gzip = perBuilder.tsbuild?.gzip1AllCoresSeconds;
    if (gzip) out.push("", `gzip -1 on all cores of the same layer bytes (the docker archive): ${fmt(gzip)} s.`);
    out.push("");
  }
  out.push("## Physical limits (same run)", "", "| figure | value |", "|---|---|");
  out.push(`| sequential write (dd, 1 MiB blocks, fdatasync) | ${fmt(L.diskWriteMiBs, "MiB")} MiB/s |`);
  out.push(`| sequential read (dd, O_DIRECT) | ${fmt(L.diskReadMiBs, "MiB")} MiB/s |`);
  out.push(`| SHA-256, node:crypto | ${fmt(L.sha256NodeMiBs, "MiB")} MiB/s |`);
  out.push(`| SHA-256, @noble/hashes | ${fmt(L.sha256NobleMiBs, "MiB")} MiB/s |`);
  for (const level of [1, 6]) {
    out.push(`| gzip -${level}, one core (node:zlib; ratio ${L[`gzip${level}Ratio`].toFixed(1)}) | ${fmt(L[`gzip${level}OneCoreMiBs`], "MiB")} MiB/s |`);
    out.push(`| gzip -${level}, all ${L.cores} cores | ${fmt(L[`gzip${level}AllCoresMiBs`], "MiB")} MiB/s |`);
  }
  out.push(`| tar -c of the small-files tree (${fmt(L.tarTreeBytes / 2 ** 20, "MiB")} MiB) into a pipe | ${fmt(L.tarTreeSeconds)} s |`);
  for (const [workload, walk] of Object.entries(L.statWalks ?? {})) {
    out.push(`| stat walk of the ${workload} context (\`find CTX -printf '%s %T@ %i\\n'\`, ${walk.entries.toLocaleString("en-US")} entries, warm) | ${fmtWalk(walk)} |`);
  }
  out.push(`| \`tsbuild --version\` (node start-up + CLI import) | ${cell(summary.versionStartup, "s")} s |`);
  out.push(`| node start-up (an empty script; the floor of every tsbuild command) | ${fmtFloor(L.nodeStartSeconds)} |`);
  out.push(`| \`runc run\` of \`busybox true\` (the runtime's share of a RUN step) | ${fmtFloor(L.runcTrueSeconds)} |`);
  out.push("");
  out.push("## Exact commands", "");
  out.push("```sh", "npm run build", summary.command, "```", "");
  out.push(
    "Per builder and workload, in a fresh store each repetition (see `scripts/bench/builders.mjs`):",
    "",
    "- tsbuild: `packages/cli/bin/tsbuild.cjs build --root STORE --progress plain -f Dockerfile.tsbuild -t bench/W:latest CONTEXT`;",
    "  exports `tsbuild save --root STORE --format oci-archive|docker-archive -o X.tar bench/W:latest`.",
    "- buildah: `buildah --root R --runroot RR --storage-driver overlay bud --layers --runtime /usr/sbin/runc --network host --tls-verify=false --signature-policy P -f Dockerfile.buildah -t bench/W:latest CONTEXT`;",
    "  exports `buildah push bench/W:latest oci-archive:X.tar` / `docker-archive:X.tar:bench/W:latest`.",
    "- docker: a private `dockerd --data-root … --exec-root … -H unix://… --iptables=false --bridge=none`;",
    "  `DOCKER_BUILDKIT=1 docker build --network host --progress plain -f Dockerfile.docker -t bench/W:latest CONTEXT`; export `docker save`",
    "  (dockerd 20.10's BuildKit has no OCI exporter); the store is emptied with `docker system prune -af` + `docker builder prune -af`.",
    "",
    "Bases (busybox from `scripts/make-busybox-image.sh`, Debian from `debootstrap --variant=minbase`) are pushed once, untimed, with",
    "`skopeo copy --dest-tls-verify=false oci:BASE:latest docker://127.0.0.1:PORT/bench/B:latest` into a local `docker-registry`",
    "(plain HTTP on 127.0.0.1) started for the run; every Dockerfile says `FROM 127.0.0.1:PORT/bench/B:latest`, so each cold build pulls it.",
  );
  if (summary.errors.length > 0) {
    out.push("", "## Failures", "");
    for (const error of summary.errors) out.push("```", error, "```");
  }
  return { markdown: `${out.join("\n")}\n`, svg: renderChart(summary) };
}
