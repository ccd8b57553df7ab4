export { planBuild } from "./plan/plan.js";
export type { BuildCheckFinding, BuildPlan, PlannedStage, PlannedStep, PlanOptions, StageBase } from "./plan/types.js";
export { buildOutline, listTargets, type BuildOutline, type OutlineArg, type OutlineStage, type TargetSummary } from "./plan/outline.js";
