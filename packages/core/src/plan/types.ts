// The build plan: the stages a target needs, in dependency order, with every
// instruction expanded in its scope. Pure data, made without touching the disk.
import type { DockerfileAst, DockerfileProgram, DockerfileWarning, Instruction, Platform } from "@tsbuild/dockerfile";

export type StageBase =
  | { kind: "scratch" }
  | { kind: "stage"; index: number }
  /** `--build-context NAME=…` named in FROM. */
  | { kind: "context"; name: string }
  | { kind: "image"; ref: string };

export interface PlannedStep {
  /** The instruction with its words expanded as Docker expands them. */
  instruction: Exclude<Instruction, { kind: "from" }>;
  /** ARG values in effect for this step (RUN gets them as environment), declaration order. */
  args: ReadonlyMap<string, string>;
  /** Set for an ONBUILD trigger of the base image, run before the stage's own instructions. */
  trigger?: boolean;
  /** The stages a COPY --from or RUN --mount from= names, by the word written. */
  stageRefs?: Readonly<Record<string, number>>;
}

export interface PlannedStage {
  index: number;
  /** Lowercased stage name. */
  name?: string;
  base: StageBase;
  /** The expanded FROM --platform, when given. */
  platform?: string;
  steps: PlannedStep[];
  /** Stages this stage needs before it can run (base stage, COPY --from, RUN --mount from=). */
  dependsOn: number[];
  /** Whether the base image's environment was known while expanding (UndefinedVar is exact only then). */
  baseEnvKnown: boolean;
}

export interface BuildCheckFinding extends DockerfileWarning {
  /** True when `# check=error=true` turns the finding into an error. */
  error: boolean;
}

export interface BuildPlan {
  ast: DockerfileAst;
  program: DockerfileProgram;
  /** Every stage of the Dockerfile, planned (for outline and checks). */
  allStages: PlannedStage[];
  /** Stages the target needs, dependencies before dependents. */
  stages: PlannedStage[];
  target: PlannedStage;
  /** Global ARGs with their values (after --build-arg), as FROM saw them. */
  globalArgs: ReadonlyMap<string, string | undefined>;
  /** `--build-arg` names no needed stage declared. */
  unusedBuildArgs: string[];
  findings: BuildCheckFinding[];
}

export interface PlanOptions {
  /** The Dockerfile's name in messages. */
  file?: string;
  buildArgs?: ReadonlyMap<string, string> | Record<string, string>;
  /** Stage name (case-insensitive) or index; default the last stage. */
  target?: string;
  targetPlatform: Platform;
  buildPlatform: Platform;
  /** Names given with `--build-context`; FROM or COPY --from naming one reads that context. */
  namedContexts?: ReadonlySet<string>;
  /** The environment (`K=V`) of a base image by reference, when already resolved. */
  baseImageEnv?: (ref: string) => readonly string[] | undefined;
  /** The ONBUILD triggers (config OnBuild) of a base image by reference, when already resolved. */
  baseImageOnBuild?: (ref: string) => readonly string[] | undefined;
}
