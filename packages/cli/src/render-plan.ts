// Text renderings of planning results for `--call outline|targets|check`.
import type { BuildCheckFinding, BuildOutline, TargetSummary } from "@tsbuild/core";
import { table } from "./table.js";

export function renderOutline(outline: BuildOutline): string {
  const out: string[] = [];
  const target = outline.target;
  out.push(`TARGET:      ${target.name ?? target.index}`);
  if (target.description) out.push(`DESCRIPTION: ${target.description}`);
  out.push("");
  if (outline.args.length > 0) {
    out.push(...table(["BUILD ARG", "VALUE", "DESCRIPTION"], outline.args.map((a) => [a.name, a.value ?? "<unset>", a.description])));
    out.push("");
  }
  out.push("STAGES (in build order)");
  for (const stage of outline.stages) {
    const label = stage.name ?? String(stage.index);
    const needs = stage.dependsOn.length ? `, needs ${stage.dependsOn.map((d) => outline.stages.find((s) => s.index === d)?.name ?? d).join(", ")}` : "";
    out.push(`[${label}] FROM ${stage.base}${needs}${stage.description ? ` — ${stage.description}` : ""}`);
    stage.steps.forEach((step, i) => out.push(`  ${String(i + 1).padStart(2)}. ${step}`));
  }
  return out.join("\n") + "\n";
}

export function renderTargets(targets: readonly TargetSummary[]): string {
  return table(["TARGET", "DESCRIPTION"], targets.map((t) => [t.isDefault ? `${t.name} (default)` : t.name, t.description])).join("\n") + "\n";
}

export function renderFindings(findings: readonly BuildCheckFinding[], file: string, lines: readonly string[]): string {
  if (findings.length === 0) return "Check complete, no warnings found.\n";
  const errors = findings.filter((f) => f.error).length;
  const out = [`Check complete, ${findings.length} ${findings.length === 1 ? "warning has" : "warnings have"} been found${errors ? " (reported as errors by # check=error=true)" : ""}!`, ""];
  for (const f of findings) out.push(renderFinding(f, file, lines), "");
  return out.join("\n");
}

export function renderFinding(f: BuildCheckFinding, file: string, lines: readonly string[]): string {
  const where = f.range ? `${file}:${f.range.start.line}:${f.range.start.column}` : file;
  const level = f.error ? "error" : "warning";
  let text = `${where}: ${level}: ${f.rule}: ${f.message}`;
  if (f.range) {
    const n = f.range.start.line;
    text += `\n ${n} | ${lines[n - 1] ?? ""}`;
  }
  return text;
}
