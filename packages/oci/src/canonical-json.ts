// Canonical JSON bytes for image configs, manifests and indexes.
//
// The bytes are what Go's encoding/json writes for the same documents (as Docker, BuildKit and
// containerd do), so a digest does not depend on how a caller built the object:
// - no whitespace;
// - fields of the known document types in the order the spec lists them (Go struct order);
//   fields we do not know are kept, after the known ones, in sorted order;
// - maps (Labels, annotations, ExposedPorts, Volumes) with sorted keys, as Go sorts map keys;
// - undefined fields dropped; `<`, `>`, `&`, U+2028 and U+2029 escaped as \u003c etc.
//   (Go's HTML-safe escaping: `RUN a > b` in created_by hashes the same as BuildKit's).
import type { ImageConfig, ImageIndex, ImageManifest } from "./types.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A field order for an object type; nested[field] orders that field's value. */
interface Shape {
  fields: readonly string[];
  nested?: Record<string, Shape | "map" | { arrayOf: Shape }>;
}

const platformShape: Shape = { fields: ["architecture", "os", "os.version", "os.features", "variant"] };
const descriptorShape: Shape = {
  fields: ["mediaType", "digest", "size", "urls", "annotations", "platform", "artifactType"],
  nested: { annotations: "map", platform: platformShape },
};
const manifestShape: Shape = {
  fields: ["schemaVersion", "mediaType", "artifactType", "config", "layers", "subject", "annotations"],
  nested: {
    config: descriptorShape,
    layers: { arrayOf: descriptorShape },
    subject: descriptorShape,
    annotations: "map",
  },
};
const indexShape: Shape = {
  fields: ["schemaVersion", "mediaType", "artifactType", "manifests", "subject", "annotations"],
  nested: { manifests: { arrayOf: descriptorShape }, subject: descriptorShape, annotations: "map" },
};
const healthShape: Shape = { fields: ["Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"] };
const containerConfigShape: Shape = {
  fields: [
    "User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels",
    "StopSignal", "ArgsEscaped", "Healthcheck", "OnBuild", "Shell",
  ],
  nested: { ExposedPorts: "map", Volumes: "map", Labels: "map", Healthcheck: healthShape },
};
const configShape: Shape = {
  fields: [
    "created", "author", "architecture", "os", "os.version", "os.features", "variant",
    "config", "rootfs", "history",
  ],
  nested: {
    config: containerConfigShape,
    rootfs: { fields: ["type", "diff_ids"] },
    history: { arrayOf: { fields: ["created", "created_by", "author", "comment", "empty_layer"] } },
  },
};

function orderBy(value: unknown, shape: Shape | "map" | { arrayOf: Shape }): unknown {
  if (value === null || typeof value !== "object") return value;
  if (typeof shape === "object" && "arrayOf" in shape) return Array.isArray(value) ? value.map((v) => orderBy(v, shape.arrayOf)) : value;
  const obj = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (shape === "map") {
    for (const key of Object.keys(obj).sort()) out[key] = obj[key];
    return out;
  }
  for (const key of shape.fields) {
    if (obj[key] !== undefined) out[key] = shape.nested?.[key] ? orderBy(obj[key], shape.nested[key]) : obj[key];
  }
  for (const key of Object.keys(obj).sort()) {
    if (!shape.fields.includes(key) && obj[key] !== undefined) out[key] = obj[key];
  }
  return out;
}

function goJsonBytes(value: unknown): Buffer {
  const text = JSON.stringify(value as Json).replace(/[<>&\u2028\u2029]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
  return Buffer.from(text, "utf8");
}

export function configBytes(config: ImageConfig): Buffer {
  return goJsonBytes(orderBy(config, configShape));
}

export function manifestBytes(manifest: ImageManifest): Buffer {
  return goJsonBytes(orderBy(manifest, manifestShape));
}

export function indexBytes(index: ImageIndex): Buffer {
  return goJsonBytes(orderBy(index, indexShape));
}
