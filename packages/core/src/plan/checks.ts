// Build checks in the spirit of BuildKit's: findings that do not stop a build
// unless `# check=error=true` says so. Rule names follow BuildKit's where one exists.
import { parseCheckDirective, DockerfileError, type DockerfileWarning, type InstructionNode } from "@tsbuild/dockerfile";
import type { StageFacts } from "./plan.js";
import type { BuildCheckFinding, BuildPlan } from "./types.js";

/** BuildKit's pattern for names that look like secrets, and the allowed exception. */
const secretName = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pass|pword|passwd|secret|token)(?:_|$)/i;
const publicName = /(?:_|^)public(?:_|$)/i;
/** Dependency installs that a preceding `COPY . …` re-runs on every source change. */
const dependencyInstall =
  /\b(npm (ci|install|i)\b|yarn( install)?\s*($|&&|;|--)|pnpm (install|i)\b|pip3? install\b.*-r\b|poetry install|go mod download|bundle install|composer install|cargo (fetch|build)|mvn .*dependency:|gradle .*dependencies|apt-get install|apk add)/;

export function runChecks(plan: BuildPlan, facts: readonly StageFacts[]): BuildCheckFinding[] {
  const { ast } = plan;
  let settings;
  try {
    settings = parseCheckDirective(ast.directives.check);
  } catch (error) {
    throw new DockerfileError((error as Error).message, ast.directives.ranges.check);
  }
  const findings: DockerfileWarning[] = [...ast.warnings];
  const add = (rule: string, message: string, node?: InstructionNode) =>
    findings.push({ rule, message, range: node?.range });

  // Keyword casing: each keyword all upper or all lower, and the file consistent.
  const nodes = ast.instructions.flatMap((n) => (n.inner ? [n, n.inner] : [n]));
  const upper = nodes.filter((n) => n.keywordAsWritten === n.keywordAsWritten.toUpperCase()).length;
  const majorityUpper = upper * 2 >= nodes.length;
  for (const n of nodes) {
    const written = n.keywordAsWritten;
    const expected = majorityUpper ? written.toUpperCase() : written.toLowerCase();
    if (written !== expected) {
      add("ConsistentInstructionCasing", `Command '${written}' should match the case of the command majority (${majorityUpper ? "uppercase" : "lowercase"})`, n);
    }
  }

  for (const fact of facts) {
    const { syntax, stage } = fact;
    const from = syntax.from.source;
    const stageLabel = stage.name ?? String(stage.index);
    if (syntax.from.stageName !== undefined) {
      if (syntax.from.stageName !== syntax.from.stageName.toLowerCase()) {
        add("StageNameCasing", `Stage name '${syntax.from.stageName}' should be lowercase`, from);
      }
      const asWord = from.args[1]!;
      const fromUpper = from.keywordAsWritten === from.keywordAsWritten.toUpperCase();
      if ((fromUpper && asWord !== asWord.toUpperCase()) || (!fromUpper && asWord !== asWord.toLowerCase())) {
        add("FromAsCasing", `'${asWord}' and '${from.keywordAsWritten}' keywords' casing do not match`, from);
      }
    }
    for (const name of fact.fromUndefined) {
      add("UndefinedArgInFrom", `FROM argument '${name}' is not declared`, from);
    }
    const platform = syntax.from.platform;
    if (platform !== undefined) {
      if (/^\$\{?TARGETPLATFORM\}?$/.test(platform)) {
        add("RedundantTargetPlatform", `Setting platform to predefined ${platform} in FROM is redundant as this is the default behavior`, from);
      } else if (!platform.includes("$")) {
        add("FromPlatformFlagConstDisallowed", `FROM --platform flag should not use constant value "${platform}"`, from);
      }
    }
    if (stage.baseEnvKnown) {
      const seen = new Set<string>();
      for (const ref of fact.undefinedReferences) {
        const key = `${ref.name}@${ref.node.range.start.line}`;
        if (seen.has(key)) continue;
        seen.add(key);
        add("UndefinedVar", `Usage of undefined variable '$${ref.name}'`, ref.node);
      }
    }

    let absoluteWorkdir = stage.base.kind !== "scratch";
    const counts = new Map<string, InstructionNode[]>();
    let copyAll: InstructionNode | undefined;
    for (const instruction of syntax.instructions) {
      const node = instruction.source;
      switch (instruction.kind) {
        case "cmd":
        case "entrypoint":
          if (instruction.command.form === "shell") {
            add("JSONArgsRecommended", `JSON arguments recommended for ${instruction.kind.toUpperCase()} to prevent unintended behavior related to OS signals`, node);
          }
          counts.set(instruction.kind, [...(counts.get(instruction.kind) ?? []), node]);
          break;
        case "healthcheck":
          counts.set("healthcheck", [...(counts.get("healthcheck") ?? []), node]);
          break;
        case "maintainer":
          add("MaintainerDeprecated", "Maintainer instruction is deprecated in favor of using label", node);
          break;
        case "env":
        case "label":
          if (instruction.legacyFormat) {
            add("LegacyKeyValueFormat", `"${instruction.kind.toUpperCase()} key=value" should be used instead of legacy "${instruction.kind.toUpperCase()} key value" format`, node);
          }
          if (instruction.kind === "env") {
            for (const { key } of instruction.pairs) checkSecretName(key, "ENV", node);
          }
          break;
        case "arg":
          for (const { name } of instruction.args) checkSecretName(name, "ARG", node);
          break;
        case "workdir":
          if (instruction.value.startsWith("/") || instruction.value.startsWith("$")) absoluteWorkdir = true;
          else if (!absoluteWorkdir) {
            add("WorkdirRelativePath", `Relative workdir "${instruction.value}" can have unexpected results if the base image changes`, node);
          }
          break;
        case "copy":
          if (instruction.from === undefined && instruction.sources.some((s) => s === "." || s === "./")) copyAll ??= node;
          break;
        case "run":
          if (copyAll && instruction.command.form === "shell" && dependencyInstall.test(instruction.command.script)) {
            add("CopyAllBeforeDependencyInstall", `'${copyAll.original.trim()}' (line ${copyAll.range.start.line}) comes before this dependency install, so any source change re-runs it: copy the dependency manifests first, install, then copy the rest`, node);
            copyAll = undefined;
          }
          break;
        default:
          break;
      }
    }
    for (const [kind, list] of counts) {
      for (const node of list.slice(0, -1)) {
        add("MultipleInstructionsDisallowed", `Multiple ${kind.toUpperCase()} instructions should not be used in the same stage because only the last one will be used (stage ${stageLabel})`, node);
      }
    }
  }

  function checkSecretName(name: string, kind: string, node: InstructionNode): void {
    if (secretName.test(name) && !publicName.test(name)) {
      add("SecretsUsedInArgOrEnv", `Do not use ARG or ENV instructions for sensitive data (${kind} "${name}")`, node);
    }
  }

  return findings
    .filter((f) => !settings.skipAll && !settings.skip.has(f.rule))
    .sort((a, b) => (a.range?.start.line ?? 0) - (b.range?.start.line ?? 0))
    .map((f) => ({ ...f, error: settings.error }));
}
