// Planning: Dockerfile text -> the stages a target needs, expanded, in order.
import {
  DockerfileError,
  parseDockerfile,
  parseInstruction,
  parseInstructions,
  parseRunMounts,
  platformArgs,
  RunMountError,
  proxyArgNames,
  StageScope,
  type Instruction,
  type InstructionNode,
  type StageSyntax,
  type UndefinedReference,
} from "@tsbuild/dockerfile";
import { runChecks } from "./checks.js";
import type { BuildPlan, PlannedStage, PlannedStep, PlanOptions, StageBase } from "./types.js";

/** What planning learned about one stage, beyond the plan itself (for checks). */
export interface StageFacts {
  stage: PlannedStage;
  syntax: StageSyntax;
  undefinedReferences: UndefinedReference[];
  /** FROM referenced variables that had no value. */
  fromUndefined: string[];
  /** Build args this stage's ARGs took a value from. */
  consumedBuildArgs: ReadonlySet<string>;
  /** Set when the stage could not be planned; raised only if a needed stage. */
  error?: DockerfileError;
}

export function planBuild(dockerfile: string, options: PlanOptions): BuildPlan {
  const file = options.file ?? "Dockerfile";
  const ast = parseDockerfile(dockerfile, { file });
  const program = parseInstructions(ast);
  const escapeToken = ast.directives.escape as "\\" | "`";
  const buildArgs = toMap(options.buildArgs);
  const automatic = platformArgs(options.targetPlatform, options.buildPlatform);
  const lines = ast.lines;

  // The global scope sees the platform ARGs without declaring them.
  const globalScope = new StageScope({ escapeToken, buildArgs, inherited: new Map(), automatic, lines });
  for (const [k, v] of automatic) globalScope.args.set(k, v);
  for (const arg of program.globalArgs) globalScope.declareArgs(arg);
  const globalArgs = new Map<string, string | undefined>();
  for (const arg of program.globalArgs) for (const { name } of arg.args) globalArgs.set(name, globalScope.args.get(name));

  const names = new Map<string, number>();
  for (const stage of program.stages) {
    if (stage.name === undefined) continue;
    if (names.has(stage.name)) {
      throw positioned(stage.from.source, lines, `duplicate stage name ${JSON.stringify(stage.name)}: stage names must be unique`);
    }
    if (stage.name === "scratch" || stage.name === "context") {
      throw positioned(stage.from.source, lines, `${JSON.stringify(stage.name)} is reserved and cannot be used as a stage name`);
    }
    names.set(stage.name, stage.index);
  }

  const finalEnv: string[][] = [];
  const facts: StageFacts[] = [];
  for (const syntax of program.stages) {
    facts.push(planStage(syntax));
  }

  function resolveReference(word: string, self: number): StageBase {
    const lower = word.toLowerCase();
    const byName = names.get(lower);
    if (byName !== undefined && byName !== self) return { kind: "stage", index: byName };
    if (/^\d+$/.test(word)) {
      const index = Number(word);
      if (index >= program.stages.length || index === self) {
        throw new Error(`stage index ${index} does not exist (stages are numbered from 0 to ${program.stages.length - 1}; a stage cannot read itself)`);
      }
      return { kind: "stage", index };
    }
    if (options.namedContexts?.has(word)) return { kind: "context", name: word };
    if (lower === "scratch") return { kind: "scratch" };
    return { kind: "image", ref: word };
  }

  function planStage(syntax: StageSyntax): StageFacts {
    const from = syntax.from;
    const fromUndefined: string[] = [];
    const image = expandFromWord(from.image, from.source, fromUndefined);
    const platform = from.platform === undefined ? undefined : expandFromWord(from.platform, from.source, fromUndefined);
    let base: StageBase;
    const earlier = names.get(image.toLowerCase());
    if (earlier !== undefined && earlier < syntax.index) base = { kind: "stage", index: earlier };
    else if (options.namedContexts?.has(image)) base = { kind: "context", name: image };
    else if (image.toLowerCase() === "scratch") base = { kind: "scratch" };
    else base = { kind: "image", ref: image };

    let baseEnv: readonly string[] | undefined;
    if (base.kind === "stage") baseEnv = finalEnv[base.index];
    else if (base.kind === "image") baseEnv = options.baseImageEnv?.(base.ref);
    else baseEnv = [];
    const stage: PlannedStage = {
      index: syntax.index,
      name: syntax.name,
      base,
      platform,
      steps: [],
      dependsOn: base.kind === "stage" ? [base.index] : [],
      baseEnvKnown: baseEnv !== undefined,
    };
    const scope = new StageScope({ escapeToken, buildArgs, inherited: globalArgs, automatic, baseEnv, lines });
    const result: StageFacts = {
      stage,
      syntax,
      undefinedReferences: scope.undefinedReferences,
      fromUndefined,
      consumedBuildArgs: scope.consumedBuildArgs,
    };
    const triggers = onbuildTriggers(base);
    try {
      for (const [i, instruction] of [...triggers, ...syntax.instructions].entries()) {
        const expanded = scope.apply(instruction) as PlannedStep["instruction"];
        const step: PlannedStep = { instruction: expanded, args: stepArgs(scope), ...(i < triggers.length ? { trigger: true } : {}) };
        for (const reference of stageReferences(expanded, lines)) {
          let target: StageBase;
          try {
            target = resolveReference(reference, syntax.index);
          } catch (error) {
            throw positioned(instruction.source, lines, (error as Error).message);
          }
          if (target.kind === "stage") {
            step.stageRefs = { ...step.stageRefs, [reference]: target.index };
            if (!stage.dependsOn.includes(target.index)) stage.dependsOn.push(target.index);
          }
        }
        stage.steps.push(step);
      }
    } catch (error) {
      if (!(error instanceof DockerfileError)) throw error;
      result.error = error;
    }
    finalEnv[syntax.index] = [...scope.env].map(([k, v]) => `${k}=${v}`);
    return result;
  }

  /** ONBUILD triggers of the base run first in the stage, as Docker runs them. */
  function onbuildTriggers(base: StageBase): Exclude<Instruction, { kind: "from" }>[] {
    if (base.kind === "stage") {
      return program.stages[base.index]!.instructions.flatMap((i) => (i.kind === "onbuild" ? [i.inner as Exclude<Instruction, { kind: "from" }>] : []));
    }
    if (base.kind !== "image") return [];
    const texts = options.baseImageOnBuild?.(base.ref) ?? [];
    if (texts.length === 0) return [];
    const triggerAst = parseDockerfile(texts.join("\n"), { file: `ONBUILD triggers of ${base.ref}` });
    return triggerAst.instructions.map((node) => parseInstruction(node, triggerAst.lines) as Exclude<Instruction, { kind: "from" }>);
  }

  function expandFromWord(word: string, node: InstructionNode, undefinedNames: string[]): string {
    const before = globalScope.undefinedReferences.length;
    const value = globalScope.expandWord(word, node);
    for (const ref of globalScope.undefinedReferences.splice(before)) undefinedNames.push(ref.name);
    return value;
  }

  function stepArgs(scope: StageScope): Map<string, string> {
    const args = scope.runArgs();
    // Proxy args reach RUN without an ARG line.
    for (const [k, v] of buildArgs) if (proxyArgNames.has(k) && !args.has(k)) args.set(k, v);
    return args;
  }

  const target = resolveTarget(options.target, program.stages, names);
  const order = dependencyOrder(target, facts, lines);
  for (const index of order) {
    const error = facts[index]!.error;
    if (error) throw error;
  }
  const consumed = new Set([...globalScope.consumedBuildArgs, ...order.flatMap((i) => [...facts[i]!.consumedBuildArgs])]);
  const unusedBuildArgs = [...buildArgs.keys()].filter((k) => !consumed.has(k) && !proxyArgNames.has(k) && !k.startsWith("BUILDKIT_"));

  const allStages = facts.map((f) => f.stage);
  const plan: BuildPlan = {
    ast,
    program,
    allStages,
    stages: order.map((i) => allStages[i]!),
    target: allStages[target]!,
    globalArgs,
    unusedBuildArgs,
    findings: [],
  };
  plan.findings = runChecks(plan, facts);
  return plan;
}

/** What a step reads from other stages or images: COPY --from and RUN --mount from=. */
function stageReferences(instruction: PlannedStep["instruction"], lines: readonly string[]): string[] {
  if (instruction.kind === "copy" || instruction.kind === "add") return instruction.from === undefined ? [] : [instruction.from];
  if (instruction.kind !== "run") return [];
  try {
    return parseRunMounts(instruction.mounts).flatMap((m) => ("from" in m && m.from !== undefined ? [m.from] : []));
  } catch (error) {
    if (error instanceof RunMountError) throw positioned(instruction.source, lines, error.message);
    throw error;
  }
}

function resolveTarget(target: string | undefined, stages: readonly StageSyntax[], names: Map<string, number>): number {
  if (target === undefined || target === "") return stages.length - 1;
  const byName = names.get(target.toLowerCase());
  if (byName !== undefined) return byName;
  const known = [...names.keys()];
  throw new DockerfileError(
    `target stage ${JSON.stringify(target)} could not be found${known.length ? ` (stages: ${known.join(", ")})` : " (no stage has a name: use FROM … AS name)"}`,
    undefined,
  );
}

/** Stages `target` needs, dependencies first; a cycle is an error naming the stage. */
function dependencyOrder(target: number, facts: readonly StageFacts[], lines: readonly string[]): number[] {
  const order: number[] = [];
  const state = new Map<number, "visiting" | "done">();
  const visit = (index: number) => {
    const s = state.get(index);
    if (s === "done") return;
    const fact = facts[index]!;
    if (s === "visiting") {
      throw positioned(fact.syntax.from.source, lines, `circular dependency detected on stage: ${fact.stage.name ?? index}`);
    }
    state.set(index, "visiting");
    for (const dep of fact.stage.dependsOn) visit(dep);
    state.set(index, "done");
    order.push(index);
  };
  visit(target);
  return order;
}

function positioned(node: InstructionNode, lines: readonly string[], message: string): DockerfileError {
  return new DockerfileError(message, node.range, lines[node.range.start.line - 1]);
}

function toMap(args: PlanOptions["buildArgs"]): Map<string, string> {
  if (args === undefined) return new Map();
  return args instanceof Map ? new Map(args) : new Map(Object.entries(args));
}
