// `tsbuild images`, `rmi`, `save`, `prune` and `df` on a store filled by real builds through the CLI.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { openStore } from "@tsbuild/store";
import { beforeAll, describe, expect, it } from "vitest";
import { formatSize } from "../../packages/cli/src/progress.js";
import { makeScratchDir } from "../support/scratch.js";
import { runTsbuild, type TsbuildRun } from "../support/tsbuild.js";
import { fromBusybox, writeTree } from "./helpers.js";

let root: string;
let ctx: string;
const tsbuild = (...args: string[]) => runTsbuild(args, { root, cwd: ctx });
const build = (file: string, tag: string) => tsbuild("build", "--progress", "plain", "-f", file, "-t", tag, ".");

function ok(run: TsbuildRun): TsbuildRun {
  expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
  return run;
}

/** The diffIDs of a tagged image, from the manifest in the store (local manifests name layers by diffID). */
async function layersOf(tag: string): Promise<{ digest: string; size: number }[]> {
  const images = JSON.parse(await readFile(path.join(root, "images.json"), "utf8")) as { images: Record<string, { manifestDigest: string }> };
  const blob = (digest: string) => path.join(root, "blobs/sha256", digest.slice("sha256:".length));
  const manifest = JSON.parse(await readFile(blob(images.images[tag]!.manifestDigest), "utf8")) as { layers: { digest: string; size: number }[] };
  return manifest.layers;
}

/** Keys of the cache records whose layers pass `test`. */
async function cacheRecordsWhere(test: (layers: string[]) => boolean): Promise<string[]> {
  const keys: string[] = [];
  for (const name of await readdir(path.join(root, "cache"))) {
    const record = JSON.parse(await readFile(path.join(root, "cache", name), "utf8")) as { key: string; layers: string[] };
    if (test(record.layers)) keys.push(record.key);
  }
  return keys;
}
const cacheRecordsUsing = (diffID: string) => cacheRecordsWhere((layers) => layers.includes(diffID));

/** The lines of an output section: after `title:` up to the next empty line. */
function section(text: string, title: string): string[] {
  const lines = text.split("\n");
  const start = lines.indexOf(`${title}:`);
  if (start === -1) return [];
  const end = lines.indexOf("", start);
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

const sum = (layers: { size: number }[]) => layers.reduce((total, l) => total + l.size, 0);
const hex = (digest: string) => digest.slice("sha256:".length);
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const fileDigest = async (file: string) => sha256(await readFile(file));

beforeAll(async () => {
  const dir = await makeScratchDir("tsbuild-store-cmds-", { untilFileEnds: true });
  root = path.join(dir, "store");
  ctx = path.join(dir, "ctx");
  const from = await fromBusybox();
  const shared = "RUN head -c 300000 /dev/zero > /shared";
  await writeTree(ctx, {
    "a.Dockerfile": `${from}\n${shared}\nRUN head -c 200000 /dev/zero > /a\n`,
    "b.Dockerfile": `${from}\n${shared}\nRUN head -c 100000 /dev/zero > /b\n`,
    "c.Dockerfile": `${from}\nRUN head -c 400000 /dev/zero > /c\n`,
    "d.Dockerfile": `${from}\nRUN head -c 400001 /dev/zero > /d\n`,
  });
});

describe("store commands", () => {
  let imageA: string;
  let imageB: string;

  it("images lists both images of a shared base with their IDs and sizes; df -v shows what they share", async () => {
    imageA = ok(await build("a.Dockerfile", "demo:a")).stdout.trim();
    imageB = ok(await build("b.Dockerfile", "demo:b")).stdout.trim();
    const [a, b] = [await layersOf("demo:a"), await layersOf("demo:b")];
    expect(a.slice(0, 2)).toEqual(b.slice(0, 2)); // busybox and the shared RUN

    const images = ok(await tsbuild("images")).stdout.split("\n");
    expect(images[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    const row = (tag: string) => images.find((l) => l.startsWith("demo ") && l.split(/\s{2,}/)[1] === tag)?.split(/\s{2,}/);
    expect(row("a")).toEqual(["demo", "a", hex(imageA).slice(0, 12), expect.stringMatching(/ago$/), formatSize(sum(a))]);
    expect(row("b")).toEqual(["demo", "b", hex(imageB).slice(0, 12), expect.stringMatching(/ago$/), formatSize(sum(b))]);
    expect(images[1]).toMatch(/^demo\s+b\s/); // newest first
    expect(ok(await tsbuild("images", "-q")).stdout).toBe(`${hex(imageB).slice(0, 12)}\n${hex(imageA).slice(0, 12)}\n`);
    expect(ok(await tsbuild("images", "--digests", "demo:a")).stdout).toMatch(/^demo\s+a\s+sha256:[0-9a-f]{64}\s+[0-9a-f]{12}\s/m);

    const df = ok(await tsbuild("df", "-v")).stdout;
    expect(df).toMatch(new RegExp(`^Images\\s+2\\s+2\\s+${formatSize(sum(b) + a[2]!.size)}\\s`, "m"));
    const shared = formatSize(sum(a.slice(0, 2)));
    expect(df).toMatch(new RegExp(`^demo\\s+a\\s+${hex(imageA).slice(0, 12)}\\s+.* ago\\s+${formatSize(sum(a))}\\s+${shared}\\s+${formatSize(a[2]!.size)}$`, "m"));
    expect(df).toMatch(new RegExp(`^demo\\s+b\\s+${hex(imageB).slice(0, 12)}\\s+.* ago\\s+${formatSize(sum(b))}\\s+${shared}\\s+${formatSize(b[2]!.size)}$`, "m"));
    expect(df).toMatch(/^Layers\s+4\s+4\s.*\s0B \(0%\)$/m);
  });

  it("rmi then prune removes exactly the image's own layer, cache record and blobs; the other still builds fully cached", async () => {
    const aOnly = (await layersOf("demo:a"))[2]!.digest;
    const recordsOfA = await cacheRecordsUsing(aOnly);
    expect(recordsOfA).toHaveLength(1);
    const manifestA = JSON.parse(await readFile(path.join(root, "images.json"), "utf8")).images["demo:a"].manifestDigest as string;

    // Without -f prune asks, and no answer is no.
    const unanswered = await tsbuild("prune");
    expect(unanswered.code).toBe(1);
    expect(unanswered.stderr).toMatch(/Are you sure.*\n.*prune cancelled, nothing was removed/);

    const rmi = await tsbuild("rmi", "demo:a", "nothere:1");
    expect(rmi.code).toBe(1);
    expect(rmi.stdout).toBe("Untagged: demo:a\n");
    expect(rmi.stderr).toContain("no such image: nothere:1");
    expect(ok(await tsbuild("df")).stdout).toMatch(/^Layers\s+4\s+3\s/m);

    // Records that hold no layer (miss explanations) go too: they pin nothing a tag needs.
    const layerless = await cacheRecordsWhere((layers) => layers.length === 0);
    expect(layerless.length).toBeGreaterThan(0);
    const pruned = ok(await tsbuild("prune", "-f")).stdout;
    expect(section(pruned, "Deleted layers")).toEqual([aOnly]);
    expect(section(pruned, "Deleted build cache records").sort()).toEqual([...recordsOfA, ...layerless].sort());
    expect(section(pruned, "Deleted blobs").sort()).toEqual([manifestA, imageA].sort());
    expect(pruned).toMatch(/Total reclaimed space: \d/);
    expect(ok(await tsbuild("images", "-q")).stdout).toBe(`${hex(imageB).slice(0, 12)}\n`);
    expect(ok(await tsbuild("prune", "-f")).stdout).toBe("Total reclaimed space: 0B\n");

    const again = ok(await build("b.Dockerfile", "demo:b"));
    expect(again.stdout.trim()).toBe(imageB);
    expect(again.stderr.match(/^#\d+ CACHED$/gm)).toHaveLength(2);
    expect(again.stderr).not.toMatch(/cache miss/);
  });

  it("prune --keep-storage removes the least recently used first and keeps the newest within the limit", async () => {
    ok(await build("c.Dockerfile", "demo:c"));
    ok(await build("d.Dockerfile", "demo:d"));
    const [c, d] = [(await layersOf("demo:c"))[1]!, (await layersOf("demo:d"))[1]!];
    ok(await tsbuild("rmi", "demo:c", "demo:d"));
    const store = await openStore(root);
    const { totals } = await store.diskUsage();
    // Room for all but half of c's layer: removing c (the older) suffices.
    const limit = totals.totalBytes - Math.floor(c.size / 2);
    const pruned = await runTsbuild(["prune", "--keep-storage", String(limit)], { root, cwd: ctx, input: "y\n" });
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stderr).toContain(`until the store is at most ${formatSize(limit)}`);
    expect(section(pruned.stdout, "Deleted layers")).toEqual([c.digest]);
    expect(await store.hasLayer(d.digest)).toBe(true);
    expect((await store.diskUsage()).totals.totalBytes).toBeLessThanOrEqual(limit);
  });

  it("save writes a stored image without building: the same bytes as the build's outputs, to a file, a dir or stdout", async () => {
    const out = path.dirname(root);
    const saved = (name: string) => path.join(out, name);
    // First save of layers no export has compressed yet: the OCI layout makes and keeps their gzip blobs.
    ok(await tsbuild("save", "--format", "oci-archive", "-o", saved("saved-oci.tar"), "demo:b"));
    ok(await tsbuild("save", "-o", saved("saved-docker.tar"), "demo:b"));
    ok(await tsbuild("save", "--format", "oci-dir", "--output", saved("saved-layout"), "demo:b"));
    const toStdout = ok(await tsbuild("save", "demo:b"));
    const rebuilt = ok(await tsbuild("build", "-f", "b.Dockerfile", "-t", "demo:b", "-o", `type=oci,dest=${saved("built-oci.tar")}`, "-o", `type=docker,dest=${saved("built-docker.tar")}`, "."));
    expect(rebuilt.stdout.trim()).toBe(imageB);
    expect(await fileDigest(saved("saved-oci.tar"))).toBe(await fileDigest(saved("built-oci.tar")));
    expect(await fileDigest(saved("saved-docker.tar"))).toBe(await fileDigest(saved("built-docker.tar")));
    expect(sha256(toStdout.stdoutBytes)).toBe(await fileDigest(saved("built-docker.tar")));

    const index = JSON.parse(await readFile(path.join(saved("saved-layout"), "index.json"), "utf8")) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]!.annotations["org.opencontainers.image.ref.name"]).toBe("b");
    const manifest = JSON.parse(await readFile(path.join(saved("saved-layout"), "blobs/sha256", hex(index.manifests[0]!.digest)), "utf8")) as { config: { digest: string }; layers: { mediaType: string; digest: string }[] };
    expect(manifest.config.digest).toBe(imageB);
    expect(manifest.layers.map((l) => l.mediaType)).toEqual(manifest.layers.map(() => "application/vnd.oci.image.layer.v1.tar+gzip"));
    const blobs = await readdir(path.join(saved("saved-layout"), "blobs/sha256"));
    expect(blobs.sort()).toEqual([hex(index.manifests[0]!.digest), hex(imageB), ...manifest.layers.map((l) => hex(l.digest))].sort());

    // By digest the image has no name to carry: docker load then gives it none.
    const byDigest = await tsbuild("save", "-o", saved("by-digest.tar"), `demo@${index.manifests[0]!.digest}`);
    expect(ok(byDigest).stderr).toBe("");
    const archived = (file: string) => JSON.parse(execFileSync("tar", ["-xOf", file, "manifest.json"]).toString()) as { RepoTags: string[] }[];
    expect(archived(saved("by-digest.tar"))[0]!.RepoTags).toEqual([]);
    expect(archived(saved("saved-docker.tar"))[0]!.RepoTags).toEqual(["demo:b"]);
    const missing = await tsbuild("save", "-o", saved("missing.tar"), "demo:none");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`image "demo:none" is not in the local image store (${root})`);
    await expect(readdir(out)).resolves.not.toContain("missing.tar");
    const nowhere = path.join(out, "no-such-dir", "x.tar");
    const unwritable = await tsbuild("save", "-o", nowhere, "demo:b");
    expect(unwritable.code).toBe(1);
    expect(unwritable.stderr).toBe(`tsbuild: cannot write ${nowhere}: no such file or directory\n`);
  });

  it("gives exit 2 and a clear message for bad arguments, and each command has help", async () => {
    const usage: [string[], RegExp][] = [
      [["prune", "-f", "--keep-storage", "lots"], /--keep-storage expects a size such as 10GB, 500MB or 1.5GiB, got "lots"/],
      [["prune", "-f", "--keep-storage"], /--keep-storage needs a value/],
      [["images", "--all"], /unknown option --all/],
      [["images", "Demo"], /invalid image name "Demo"/],
      [["rmi"], /rmi needs <image\.\.\.>/],
      [["rmi", "demo:b", "Bad:Name"], /invalid image name "Bad:Name"/],
      [["df", "extra"], /unexpected argument: extra/],
      [["save", "--format", "oci-dir", "demo:b"], /--format oci-dir needs --output DIR/],
      [["save", "-o", "x.tar", "Bad:Name"], /invalid image name "Bad:Name"/],
      [["save", "--format", "tar", "demo:b"], /invalid value for --format: "tar" \(choose from docker-archive, oci-archive, oci-dir\)/],
    ];
    const runs = await Promise.all(usage.map(([args]) => tsbuild(...args)));
    usage.forEach(([args, message], i) => {
      expect(runs[i]!.code, `${args.join(" ")}: ${runs[i]!.stderr}`).toBe(2);
      expect(runs[i]!.stderr).toMatch(message);
    });
    // The bad name came last, yet nothing was untagged.
    expect(ok(await tsbuild("images", "-q")).stdout).toBe(`${hex(imageB).slice(0, 12)}\n`);
    const help: [string, string][] = [
      ["images", "List the images in the local store"],
      ["rmi", "Remove image names (tags)"],
      ["prune", "--keep-storage"],
      ["df", "SHARED SIZE"],
      ["save", "docker-archive (default; docker load reads it)"],
    ];
    const helps = await Promise.all(help.map(([command]) => tsbuild(command, "--help")));
    help.forEach(([, text], i) => expect(ok(helps[i]!).stdout).toContain(text));
  });
});
