export { planBuild } from "./plan/plan.js";
export type { BuildCheckFinding, BuildPlan, PlannedStage, PlannedStep, PlanOptions, StageBase } from "./plan/types.js";
export { buildOutline, listTargets, type BuildOutline, type OutlineArg, type OutlineStage, type TargetSummary } from "./plan/outline.js";
export { build, BuildStepError, type BuildOptions, type BuildResult } from "./solver/build.js";
export { parseOutputSpec, OutputSpecError, type OutputSpec } from "./solver/export.js";
export type { BuildEvent, BuildEventListener, LayerSummary, StepRef } from "./solver/events.js";
export { resolveImage, ImageNotFoundError, type ImageSource } from "./solver/image-source.js";
export { exportImage, type ExportInput, type ExportResult } from "./solver/export.js";
