// Renders build events: `plain` (one line each, for CI logs), `json` (one event
// per line, the documented BuildEvent objects), `tty` (live step list).
import type { BuildEvent, LayerSummary } from "@tsbuild/core";

export type ProgressMode = "auto" | "tty" | "plain" | "json";

export interface ProgressRenderer {
  onEvent(event: BuildEvent): void;
  /** Stops live redrawing; called once the build ends. */
  close(): void;
}

export function createRenderer(mode: ProgressMode, out: NodeJS.WriteStream): ProgressRenderer {
  const chosen = mode === "auto" ? (out.isTTY ? "tty" : "plain") : mode;
  if (chosen === "json") return { onEvent: (e) => out.write(`${JSON.stringify(e)}\n`), close: () => undefined };
  if (chosen === "tty") return new TtyRenderer(out);
  return new PlainRenderer(out);
}

function stepLabel(e: { stage: string; step: number; total: number; instruction: string }): string {
  return `[${e.stage} ${e.step}/${e.total}] ${e.instruction}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export function formatSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)}${units[unit]}`;
}

/** The end-of-build summary: each layer's size and what the image shares with its base. */
export function layerSummary(layers: readonly LayerSummary[], sharedWithBase: number): string {
  const total = layers.reduce((sum, l) => sum + l.size, 0);
  const lines = layers.map((l) => `  ${formatSize(l.size).padStart(9)}  ${l.fromBase ? "(base) " : ""}${l.createdBy || l.diffID.slice(0, 19)}`);
  const share = total > 0 ? ` (${Math.round((sharedWithBase / total) * 100)}%)` : "";
  return `layers:\n${lines.join("\n")}\n  ${formatSize(total).padStart(9)}  total, ${formatSize(sharedWithBase)} shared with the base image${share}\n`;
}

class PlainRenderer implements ProgressRenderer {
  private readonly ids = new Map<string, number>();
  private readonly started = new Map<string, number>();
  constructor(private readonly out: NodeJS.WriteStream) {}

  private id(e: { stage: string; step: number }): number {
    const key = `${e.stage}/${e.step}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.ids.size + 1;
      this.ids.set(key, id);
    }
    return id;
  }

  onEvent(e: BuildEvent): void {
    const w = (line: string) => this.out.write(`${line}\n`);
    switch (e.type) {
      case "build-start":
        w(`building target ${e.target} (${e.stages} ${e.stages === 1 ? "stage" : "stages"}); store ${e.storeRoot}; snapshots: ${e.snapshotter}`);
        break;
      case "warning":
        w(`WARNING: ${e.file && e.line ? `${e.file}:${e.line}: ` : ""}${e.message}`);
        break;
      case "step-start":
        this.started.set(`${e.stage}/${e.step}`, Date.now());
        w(`#${this.id(e)} ${stepLabel(e)}`);
        break;
      case "cache-miss":
        w(`#${this.id(e)} cache miss: ${e.reason}`);
        break;
      case "step-output": {
        const elapsed = (Date.now() - (this.started.get(`${e.stage}/${e.step}`) ?? Date.now())) / 1000;
        for (const line of e.text.replace(/\n$/, "").split("\n")) w(`#${this.id(e)} ${elapsed.toFixed(3)} ${line}`);
        break;
      }
      case "step-cached":
        w(`#${this.id(e)} CACHED`);
        break;
      case "step-done":
        w(`#${this.id(e)} DONE ${seconds(e.durationMs)}${e.layer ? ` (layer ${formatSize(e.layer.size)})` : ""}`);
        break;
      case "export-start":
        w(`exporting to ${e.output}`);
        break;
      case "export-progress":
        break;
      case "export-done":
        w(`exported ${e.output} in ${seconds(e.durationMs)}${e.detail ? ` (${e.detail})` : ""}`);
        break;
      case "build-done":
        this.out.write(layerSummary(e.layers, e.sharedWithBase));
        w(`image ${e.imageId} built in ${seconds(e.durationMs)}`);
        break;
    }
  }

  close(): void {}
}

/** Live view: finished steps scroll up; running steps redraw in place with their elapsed time. */
class TtyRenderer implements ProgressRenderer {
  private readonly running = new Map<string, { label: string; since: number; lastLine: string }>();
  private drawn = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly out: NodeJS.WriteStream) {
    this.timer = setInterval(() => this.redraw(), 100);
    this.timer.unref();
  }

  private clear(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }

  private redraw(): void {
    this.clear();
    const width = this.out.columns ?? 100;
    for (const step of this.running.values()) {
      const line = `\x1b[36m=> ${step.label}\x1b[0m ${seconds(Date.now() - step.since)}`;
      this.out.write(`${line.slice(0, width + 9)}\n`);
      this.drawn++;
      if (step.lastLine) {
        this.out.write(`\x1b[2m   ${step.lastLine.slice(0, width - 4)}\x1b[0m\n`);
        this.drawn++;
      }
    }
  }

  private print(line: string): void {
    this.clear();
    this.out.write(`${line}\n`);
    this.redraw();
  }

  onEvent(e: BuildEvent): void {
    switch (e.type) {
      case "step-start":
        this.running.set(`${e.stage}/${e.step}`, { label: stepLabel(e), since: Date.now(), lastLine: "" });
        this.redraw();
        break;
      case "step-output": {
        const step = this.running.get(`${e.stage}/${e.step}`);
        const last = e.text.replace(/\n$/, "").split("\n").pop();
        if (step && last !== undefined) step.lastLine = last;
        break;
      }
      case "step-cached":
        this.running.delete(`${e.stage}/${e.step}`);
        this.print(`=> CACHED ${stepLabel(e)}`);
        break;
      case "step-done":
        this.running.delete(`${e.stage}/${e.step}`);
        this.print(`=> ${stepLabel(e)} ${seconds(e.durationMs)}${e.layer ? ` \x1b[2m${formatSize(e.layer.size)}\x1b[0m` : ""}`);
        break;
      case "cache-miss":
        this.print(`\x1b[2m   cache miss: ${e.reason}\x1b[0m`);
        break;
      case "warning":
        this.print(`\x1b[33mWARNING\x1b[0m ${e.file && e.line ? `${e.file}:${e.line}: ` : ""}${e.message}`);
        break;
      case "export-done":
        this.print(`=> exported ${e.output} ${seconds(e.durationMs)}`);
        break;
      case "build-done":
        this.print(layerSummary(e.layers, e.sharedWithBase).trimEnd());
        this.print(`=> image ${e.imageId} ${seconds(e.durationMs)}`);
        break;
      default:
        break;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.clear();
  }
}
