// What `--call outline` and `--call targets` show: the stages, their steps,
// and the build args a target uses, with descriptions taken from the comment
// lines right above a FROM or ARG (as BuildKit reads them).
import type { InstructionNode } from "@tsbuild/dockerfile";
import type { BuildPlan, PlannedStage } from "./types.js";

export interface OutlineArg {
  name: string;
  /** The value in effect (default or --build-arg); undefined when none. */
  value?: string;
  description: string;
}

export interface OutlineStage {
  index: number;
  name?: string;
  base: string;
  description: string;
  /** The instructions as written, one line each. */
  steps: string[];
  /** Indexes of the stages it needs. */
  dependsOn: number[];
}

export interface BuildOutline {
  target: OutlineStage;
  /** Needed stages, dependencies first (the target last). */
  stages: OutlineStage[];
  args: OutlineArg[];
}

export interface TargetSummary {
  name: string;
  description: string;
  isDefault: boolean;
}

export function buildOutline(plan: BuildPlan): BuildOutline {
  const lines = plan.ast.lines;
  const floor = directivesEnd(plan);
  const args = new Map<string, OutlineArg>();
  const declare = (name: string, value: string | undefined, node: InstructionNode) => {
    if (!args.has(name)) args.set(name, { name, value, description: commentAbove(lines, node, floor) });
  };
  for (const arg of plan.program.globalArgs) {
    for (const { name } of arg.args) declare(name, plan.globalArgs.get(name), arg.source);
  }
  for (const stage of plan.stages) {
    for (const step of stage.steps) {
      if (step.instruction.kind !== "arg") continue;
      for (const { name, defaultValue } of step.instruction.args) declare(name, defaultValue, step.instruction.source);
    }
  }
  const stages = plan.stages.map((s) => outlineStage(plan, s));
  return { target: stages[stages.length - 1]!, stages, args: [...args.values()] };
}

export function listTargets(plan: BuildPlan): TargetSummary[] {
  const last = plan.allStages.length - 1;
  return plan.allStages
    .filter((s) => s.name !== undefined || s.index === last)
    .map((s) => ({
      name: s.name ?? String(s.index),
      description: commentAbove(plan.ast.lines, plan.program.stages[s.index]!.from.source, directivesEnd(plan)),
      isDefault: s.index === last,
    }));
}

function outlineStage(plan: BuildPlan, stage: PlannedStage): OutlineStage {
  const syntax = plan.program.stages[stage.index]!;
  const base = stage.base;
  const baseText =
    base.kind === "stage"
      ? `stage ${plan.allStages[base.index]!.name ?? base.index}`
      : base.kind === "image"
        ? base.ref
        : base.kind === "context"
          ? `build context ${base.name}`
          : "scratch";
  return {
    index: stage.index,
    name: stage.name,
    base: baseText,
    description: commentAbove(plan.ast.lines, syntax.from.source, directivesEnd(plan)),
    steps: syntax.instructions.map((i) => i.source.original.trim()),
    dependsOn: stage.dependsOn,
  };
}

/** The last line (1-based) of the parser directives, 0 when there are none. */
function directivesEnd(plan: BuildPlan): number {
  return Math.max(0, ...Object.values(plan.ast.directives.ranges).map((r) => r?.end.line ?? 0));
}

/** The comment block directly above an instruction, `#` markers removed; parser directives are not comments. */
function commentAbove(lines: readonly string[], node: InstructionNode, floor: number): string {
  const out: string[] = [];
  for (let i = node.range.start.line - 2; i >= floor; i--) {
    const match = /^\s*#\s?(.*)$/.exec(lines[i] ?? "");
    if (!match) break;
    out.unshift(match[1]!.trimEnd());
  }
  return out.join(" ").trim();
}
