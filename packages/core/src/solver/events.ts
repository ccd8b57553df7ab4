// Typed progress events: the CLI renders them (tty, plain, json) and library
// callers receive the same objects. One JSON object per line in `--progress json`.

export interface StepRef {
  /** Stage name or index, as `[name 2/5]` shows it. */
  stage: string;
  /** 1-based step number within the stage (FROM is step 1). */
  step: number;
  /** Steps in the stage, FROM included. */
  total: number;
  /** The instruction as written. */
  instruction: string;
}

export type BuildEvent =
  | { type: "build-start"; target: string; stages: number; storeRoot: string; snapshotter: string }
  | { type: "warning"; message: string; file?: string; line?: number; rule?: string }
  | ({ type: "step-start" } & StepRef)
  | ({ type: "step-cached" } & StepRef)
  /** Why the first missed step of a stage missed the cache (plain progress prints it). */
  | ({ type: "cache-miss"; reason: string } & StepRef)
  | ({ type: "step-output"; stream: "stdout" | "stderr"; text: string } & StepRef)
  | ({ type: "step-done"; durationMs: number; layer?: { diffID: string; size: number } } & StepRef)
  | { type: "export-start"; output: string }
  | { type: "export-progress"; output: string; layer: string; bytes: number; total: number }
  | { type: "export-done"; output: string; durationMs: number; detail?: string }
  | { type: "build-done"; imageId: string; manifestDigest: string; durationMs: number; layers: LayerSummary[]; sharedWithBase: number };

export interface LayerSummary {
  diffID: string;
  /** Bytes of the uncompressed layer tar. */
  size: number;
  createdBy: string;
  /** True for layers that came with the base image. */
  fromBase: boolean;
}

export type BuildEventListener = (event: BuildEvent) => void;
