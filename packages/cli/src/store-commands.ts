// `tsbuild images`, `rmi`, `save`, `prune` and `df`: looking at, writing out and tidying the local store.
// The store root is `--root`, else TSBUILD_ROOT, else the default of DESIGN.md.
// The store (and, for containers, @tsbuild/containers) is loaded by the handlers (`await import`).
import type { ContainerRecord, ContainerUsage, VolumeUsage } from "@tsbuild/containers";
import { formatContainerSize } from "./container-commands.js";
import type { DiskUsage, ImageUsage, PruneResult, Store } from "@tsbuild/store";
import { defineCommand, type GlobalArgs } from "./args.js";
import { UsageError } from "./command-line.js";
import { formatSize } from "./progress.js";
import { table } from "./table.js";

export async function storeRoot(args: GlobalArgs): Promise<string> {
  if (args.root === "") throw new UsageError("--root needs a directory");
  if (args.root !== undefined) return args.root;
  const { defaultStoreRoot } = await import("@tsbuild/store");
  return defaultStoreRoot(process.env, process.getuid?.() ?? 0);
}

/** Reads need no writable store and create nothing: a store that does not exist yet is empty. */
async function readStore(args: GlobalArgs): Promise<Store> {
  const root = await storeRoot(args);
  const { Store } = await import("@tsbuild/store");
  return new Store(root);
}

const SIZE = /^(\d+(?:\.\d+)?) ?(?:([kmgtp])(i)?)?b?$/i;

/** `10GB` (10^10 bytes), `500mb`, `1.5GiB` (1.5 * 2^30), `4096` (bytes). */
export function parseSize(text: string, flag: string): number {
  const match = SIZE.exec(text.trim());
  if (!match) throw new UsageError(`${flag} expects a size such as 10GB, 500MB or 1.5GiB, got ${JSON.stringify(text)}`);
  const power = match[2] ? "kmgtp".indexOf(match[2].toLowerCase()) + 1 : 0;
  return Math.floor(Number(match[1]) * (match[3] ? 1024 : 1000) ** power);
}

/** How long ago, in docker's words (go-units HumanDuration): "About a minute ago", "3 days ago". */
export function timeAgo(iso: string | undefined, now: number): string {
  const then = iso === undefined ? NaN : Date.parse(iso);
  if (Number.isNaN(then)) return "N/A";
  const ms = now - then;
  const seconds = Math.floor(ms / 1000);
  const minutes = Math.floor(ms / 60_000);
  const hours = Math.round(ms / 3_600_000);
  let text: string;
  if (seconds < 1) text = "Less than a second";
  else if (seconds === 1) text = "1 second";
  else if (seconds < 60) text = `${seconds} seconds`;
  else if (minutes === 1) text = "About a minute";
  else if (minutes < 60) text = `${minutes} minutes`;
  else if (hours === 1) text = "About an hour";
  else if (hours < 48) text = `${hours} hours`;
  else if (hours < 24 * 7 * 2) text = `${Math.floor(hours / 24)} days`;
  else if (hours < 24 * 30 * 2) text = `${Math.floor(hours / 24 / 7)} weeks`;
  else if (hours < 24 * 365 * 2) text = `${Math.floor(hours / 24 / 30)} months`;
  else text = `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
  return `${text} ago`;
}

/** `sha256:abc…` -> its first 12 hex digits, as docker shows IDs. */
export const shortId = (digest: string) => digest.slice(digest.indexOf(":") + 1, digest.indexOf(":") + 13);

/** `me/app:1` -> ["me/app", "1"]; normalised names always carry a tag after the last `/`. */
function splitName(name: string): [repository: string, tag: string] {
  const colon = name.lastIndexOf(":");
  return [name.slice(0, colon), name.slice(colon + 1)];
}

async function imageName(name: string): Promise<string> {
  const { InvalidImageNameError, normalizeImageName } = await import("@tsbuild/store");
  try {
    return normalizeImageName(name);
  } catch (error) {
    if (error instanceof InvalidImageNameError) throw new UsageError(error.message);
    throw error;
  }
}

/** Keeps images matching `REPOSITORY[:TAG]` (without a tag: every tag of the repository). */
async function matchingImages(images: readonly ImageUsage[], reference: string | undefined): Promise<ImageUsage[]> {
  if (reference === undefined) return [...images];
  const [repository, tag] = splitName(await imageName(reference));
  const hasTag = reference.lastIndexOf(":") > reference.lastIndexOf("/");
  return images.filter((i) => {
    const [r, t] = splitName(i.name);
    return r === repository && (!hasTag || t === tag);
  });
}

const newestFirst = <T>(created: (x: T) => string | undefined) => (a: T, b: T) =>
  (Date.parse(created(b) ?? "") || 0) - (Date.parse(created(a) ?? "") || 0);

export interface ImagesView {
  quiet: boolean;
  digests: boolean;
  noTrunc: boolean;
}

export function renderImages(images: readonly ImageUsage[], view: ImagesView, now: number): string {
  const sorted = [...images].sort((a, b) => newestFirst<ImageUsage>((i) => i.created)(a, b) || a.name.localeCompare(b.name));
  const id = (i: ImageUsage) => (i.configDigest ? (view.noTrunc ? i.configDigest : shortId(i.configDigest)) : "<incomplete>");
  if (view.quiet) return sorted.filter((i) => i.configDigest).map((i) => `${id(i)}\n`).join("");
  const header = ["REPOSITORY", "TAG", ...(view.digests ? ["DIGEST"] : []), "IMAGE ID", "CREATED", "SIZE"];
  const rows = sorted.map((i) => [...splitName(i.name), ...(view.digests ? [i.manifestDigest] : []), id(i), timeAgo(i.created, now), formatSize(i.size)]);
  return `${table(header, rows).join("\n")}\n`;
}

export function renderPrune(result: PruneResult): string {
  const out: string[] = [];
  const section = (title: string, ids: readonly string[]) => {
    if (ids.length > 0) out.push(`${title}:`, ...ids, "");
  };
  section("Deleted layers", result.layers);
  section("Deleted build cache records", result.cacheRecords);
  section("Deleted blobs", result.blobs);
  out.push(`Total reclaimed space: ${formatSize(result.bytesFreed)}`);
  return `${out.join("\n")}\n`;
}

const withShare = (part: number, whole: number) => `${formatSize(part)} (${whole > 0 ? Math.floor((part * 100) / whole) : 0}%)`;

/** Containers' writable layers and volumes, which `df -v` lists after the store's own usage. */
export function renderContainerUsage(usage: { containers: readonly ContainerUsage[]; volumes: readonly VolumeUsage[] }, now: number): string {
  return [
    "Containers space usage:",
    "",
    ...table(
      ["CONTAINER ID", "NAME", "IMAGE", "CREATED", "SIZE", "MOUNTED"],
      usage.containers.map((c) => [c.id.slice(0, 12), c.name, c.image, timeAgo(c.createdAt, now), formatContainerSize(c.size, c.virtualSize), c.mounted ? "yes" : "no"]),
    ),
    "",
    "Local Volumes space usage:",
    "",
    ...table(
      ["VOLUME NAME", "LINKS", "SIZE"],
      usage.volumes.map((v) => [v.name, String(v.links), formatSize(v.size)]),
    ),
    "",
  ].join("\n");
}

export function renderDiskUsage(du: DiskUsage, verbose: boolean, now: number): string {
  const t = du.totals;
  const layersAndBlobs = t.totalBytes - t.cacheBytes;
  const summary = table(
    ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
    [
      // Tags are what prune keeps: an image is reclaimed only after `rmi`.
      ["Images", String(t.images), String(t.images), formatSize(t.imagesBytes), withShare(0, t.imagesBytes)],
      ["Layers", String(t.layers), String(du.layers.filter((l) => l.images > 0 || l.roots > 0).length), formatSize(layersAndBlobs), withShare(t.reclaimable.layers + t.reclaimable.blobs, layersAndBlobs)],
      ["Build Cache", String(t.cacheRecords), String(du.cacheRecords.filter((c) => c.shared).length), formatSize(t.cacheBytes), withShare(t.reclaimable.cacheRecords, t.cacheBytes)],
    ],
  );
  if (!verbose) return `${summary.join("\n")}\n`;
  const images = [...du.images].sort((a, b) => newestFirst<ImageUsage>((i) => i.created)(a, b) || a.name.localeCompare(b.name));
  const layers = [...du.layers].sort(newestFirst((l) => l.createdAt));
  const records = [...du.cacheRecords].sort(newestFirst((c) => c.lastUsedAt));
  return [
    ...summary,
    "",
    "Images space usage:",
    "",
    ...table(
      ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE"],
      images.map((i) => [...splitName(i.name), i.configDigest ? shortId(i.configDigest) : "<incomplete>", timeAgo(i.created, now), formatSize(i.size), formatSize(i.sharedSize), formatSize(i.uniqueSize)]),
    ),
    "",
    "Layers space usage:",
    "",
    ...table(
      ["LAYER ID", "SIZE", "CREATED", "IMAGES", "CACHE RECORDS"],
      layers.map((l) => [shortId(l.diffID), formatSize(l.size), timeAgo(l.createdAt, now), String(l.images), String(l.cacheRecords)]),
    ),
    "",
    `Build cache usage: ${formatSize(t.cacheBytes)}`,
    "",
    ...table(
      ["CACHE ID", "SIZE", "CREATED", "LAST USED", "SHARED"],
      records.map((c) => [shortId(c.key), formatSize(c.size), timeAgo(c.createdAt, now), timeAgo(c.lastUsedAt, now), String(c.shared)]),
    ),
    "",
  ].join("\n");
}

/** Asks on the terminal; anything but y/yes (including no answer: stdin at its end) is no. */
async function confirm(question: string): Promise<boolean> {
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const noAnswer = new Promise<undefined>((resolve) => rl.once("close", () => resolve(undefined)));
  const answer = await Promise.race([rl.question(question).catch(() => undefined), noAnswer]);
  if (answer === undefined) process.stderr.write("\n"); // end the prompt's line
  rl.close();
  return /^y(es)?$/i.test(answer?.trim() ?? "");
}

export const imagesCommand = defineCommand({
  name: "images",
  describe: "List the images in the local store",
  positionals: [{ name: "reference", describe: "Only images of this REPOSITORY[:TAG]" }],
  options: {
    quiet: { type: "boolean", short: "q", describe: "Only print image IDs" },
    digests: { type: "boolean", describe: "Show the manifest digests" },
    "no-trunc": { type: "boolean", describe: "Show full image IDs (sha256:…)" },
  },
  epilog:
    "IMAGE ID is the digest of the image config (short: 12 hex digits); SIZE is the sum of its layers, uncompressed. " +
    "The store is --root, else TSBUILD_ROOT, else /var/lib/tsbuild (root) or $XDG_DATA_HOME/tsbuild.",
  run: async (args) => {
    const store = await readStore(args);
    const { images } = await store.diskUsage();
    const view = { quiet: args.quiet, digests: args.digests, noTrunc: args["no-trunc"] };
    process.stdout.write(renderImages(await matchingImages(images, args.reference), view, Date.now()));
  },
});

/**
 * `docker save`: a stored image to a file, or to standard output when that is not a terminal.
 * No build runs: the layers are read from the store (and compressed once for an OCI layout).
 */
export const saveCommand = defineCommand({
  name: "save",
  describe: "Write an image of the local store to a docker archive (docker load) or an OCI layout",
  positionals: [{ name: "image", required: true, describe: "NAME[:TAG] or NAME@sha256:… of an image (see tsbuild images)" }],
  options: {
    output: { type: "string", short: "o", describe: "Write to this file (a directory for oci-dir) instead of standard output" },
    format: {
      type: "string",
      choices: ["docker-archive", "oci-archive", "oci-dir"],
      describe: "docker-archive (default; docker load reads it), oci-archive (OCI layout tar, gzip layers) or oci-dir",
    },
  },
  run: async (args) => {
    const format = args.format ?? "docker-archive";
    if (args.output === "") throw new UsageError("--output needs a path");
    if (args.output === undefined && format === "oci-dir") throw new UsageError("--format oci-dir needs --output DIR");
    if (args.output === undefined && process.stdout.isTTY) {
      throw new UsageError("refusing to write an archive to a terminal: use --output FILE or redirect standard output");
    }
    if (!args.image.includes("@")) await imageName(args.image); // a bad name is a usage error, not a missing image
    const root = await storeRoot(args);
    const { openStore } = await import("@tsbuild/store");
    const { saveImage } = await import("@tsbuild/core");
    await saveImage(await openStore(root), args.image, format, args.output ?? process.stdout);
  },
});

/** Docker's words for untagging the last name of an image a container stands on. */
export function rmiConflictMessage(name: string, users: readonly ContainerRecord[]): string {
  const which = users.map((c) => `${c.name} (${c.id.slice(0, 12)})`).join(", ");
  return (
    `conflict: unable to remove repository reference "${name}" (must force) - ` +
    `container${users.length > 1 ? "s" : ""} ${which} ${users.length > 1 ? "are" : "is"} using its referenced image ${shortId(users[0]!.imageId)}; ` +
    `'tsbuild rm' ${users.length > 1 ? "them" : "it"} first, or pass -f to untag anyway (the layers stay until the last container of the image is removed)`
  );
}

/**
 * `rmi` reports a missing image, or one whose last name a working container still needs (without
 * -f), and goes on with the others; the exit code is then 1.
 */
export const rmiCommand = defineCommand({
  name: "rmi",
  describe: "Remove image names (tags) from the local store",
  positionals: [{ name: "image", required: true, variadic: true, describe: "NAME[:TAG] of an image (see tsbuild images)" }],
  options: { force: { type: "boolean", short: "f", describe: "Untag even the last name of an image a working container uses" } },
  epilog: "The image's layers and build cache stay until `tsbuild prune` removes what no remaining image or working container uses.",
  run: async (args) => {
    // Every name is checked before anything is untagged: a typo leaves the store as it was.
    const names: string[] = [];
    for (const image of args.image) names.push(await imageName(image));
    const root = await storeRoot(args);
    const { openStore, Store } = await import("@tsbuild/store");
    const store = new Store(root);
    // Opened for writing (which creates its directories) only once there is something to untag.
    let writable: Store | undefined;
    let exitCode = 0;
    for (const name of names) {
      const digest = await store.resolveTag(name);
      if (digest !== undefined && !args.force && (await isLastTag(store, name, digest))) {
        const { listContainers } = await import("@tsbuild/containers");
        const users = (await listContainers(store)).filter((c) => c.imageDigest === digest);
        if (users.length > 0) {
          process.stderr.write(`tsbuild: ${rmiConflictMessage(name, users)}\n`);
          exitCode = 1;
          continue;
        }
      }
      // untag says false when another process removed the name in between.
      if (digest !== undefined && (await (writable ??= await openStore(root)).untag(name))) {
        process.stdout.write(`Untagged: ${name}\n`);
      } else {
        process.stderr.write(`tsbuild: no such image: ${name} (tsbuild images lists them)\n`);
        exitCode = 1;
      }
    }
    return exitCode;
  },
});

/** Whether untagging `name` leaves its manifest without any tag. */
async function isLastTag(store: Store, name: string, manifestDigest: string): Promise<boolean> {
  return !(await store.listImages()).some((i) => i.name !== name && i.manifestDigest === manifestDigest);
}

export const pruneCommand = defineCommand({
  name: "prune",
  describe: "Remove layers, blobs and build cache that no tagged image or working container uses",
  options: {
    "keep-storage": {
      type: "string",
      describe: "Stop once the store is at most this size (e.g. 10GB, 500MB, 1.5GiB; kB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024); the least recently used go first",
    },
    force: { type: "boolean", short: "f", describe: "Do not ask for confirmation" },
    "cache-mounts": { type: "boolean", describe: "Also empty the RUN --mount=type=cache directories" },
  },
  epilog:
    "Tagged images, the layers of working containers and the build cache of those layers are kept; `tsbuild rmi` an image (and `tsbuild rm` its containers) first to let prune reclaim it.",
  run: async (args) => {
    const keepStorage = args["keep-storage"] === undefined ? undefined : parseSize(args["keep-storage"], "--keep-storage");
    const root = await storeRoot(args);
    if (!args.force) {
      const what = keepStorage === undefined ? "all" : `the least recently used, until the store is at most ${formatSize(keepStorage)}, of the`;
      process.stderr.write(`WARNING! This will remove ${what} layers, blobs and build cache records that no tagged image or working container uses (store: ${root}).\n`);
      if (!(await confirm("Are you sure you want to continue? [y/N] "))) throw new Error("prune cancelled, nothing was removed (pass -f to prune without asking)");
    }
    const { openStore } = await import("@tsbuild/store");
    const store = await openStore(root);
    process.stdout.write(renderPrune(await store.prune({ keepStorage })));
    if (args["cache-mounts"]) process.stdout.write(`Cache mounts removed: ${formatSize(await store.pruneCacheMounts())}\n`);
  },
});

export const dfCommand = defineCommand({
  name: "df",
  describe: "Show the store's disk usage: images, layers and build cache",
  options: { verbose: { type: "boolean", short: "v", describe: "Also list each image, layer and cache record" } },
  epilog: [
    "Images: tagged images and their layers (uncompressed), each layer counted once; tagged images are never pruned.",
    "Layers: every stored layer with its blobs, and the other blobs (manifests, configs); ACTIVE are used by a tagged image or a working container.",
    "Build Cache: the cache records themselves (their layers count under Layers); ACTIVE records only use layers of tagged images, so prune keeps them.",
    "RECLAIMABLE is what `tsbuild prune` would free. With -v, SHARED SIZE is the part of an image that another image also uses.",
  ].join("\n"),
  run: async (args) => {
    const store = await readStore(args);
    process.stdout.write(renderDiskUsage(await store.diskUsage(), args.verbose, Date.now()));
    if (args.verbose) {
      const { containerDiskUsage } = await import("@tsbuild/containers");
      process.stdout.write(renderContainerUsage(await containerDiskUsage(store), Date.now()));
    }
  },
});
