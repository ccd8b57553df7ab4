// Real builds through the CLI: runc, overlayfs, the busybox base made offline.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cp, readFile, readdir, rm, writeFile, lstat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { treeManifest } from "../support/tree-manifest.js";
import { runTsbuild } from "../support/tsbuild.js";
import { buildSetup, expectNoLeftovers, fromBusybox, mountsUnder, processesWith, storeContents } from "./helpers.js";

const setup = (files: Record<string, string>) => buildSetup("tsbuild-build-", files);

const stepLines = (stderr: string, word: string) => stderr.split("\n").filter((l) => l.includes(word)).length;

/** Builds NAME.Dockerfile with SOURCE_DATE_EPOCH into dir/out-NAME: its layers' diffIDs and tree. */
async function reproducibleBuild(root: string, ctx: string, dir: string, name: string): Promise<{ layers: string[]; tree: unknown; out: string }> {
  const out = path.join(dir, `out-${name}`);
  const env = { SOURCE_DATE_EPOCH: "1700000000" };
  const r = await runTsbuild(["build", "--progress", "json", "-f", `${name}.Dockerfile`, "-o", `type=local,dest=${out}`, "."], { root, cwd: ctx, env });
  expect(r.code, r.stderr).toBe(0);
  const done = r.stderr.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; layers?: { diffID: string }[] }).find((e) => e.type === "build-done");
  return { layers: done!.layers!.map((l) => l.diffID), tree: await treeManifest(out), out };
}

/**
 * Builds `dockerfile(chown)` twice: with --chown=root, which reads the image's /etc/passwd and so
 * copies through the overlay mount, and with --chown=0:0, which may write the layer dir directly.
 * Same files, same metadata: the same layers and tree. Returns the second build's output dir.
 */
async function sameLayerMountedOrNot(dockerfile: (chown: string) => string, files: Record<string, string>): Promise<string> {
  const { dir, root, ctx } = await setup({ "named.Dockerfile": dockerfile("root"), "numeric.Dockerfile": dockerfile("0:0"), ...files });
  const mounted = await reproducibleBuild(root, ctx, dir, "named");
  const direct = await reproducibleBuild(root, ctx, dir, "numeric");
  expect(direct.layers).toEqual(mounted.layers);
  expect(direct.tree).toEqual(mounted.tree);
  await expectNoLeftovers(root);
  return direct.out;
}

/** /srv as the tests' RUN made it: owned by 1000:1001, set-group-ID, 0750. */
async function expectSrvKept(out: string): Promise<void> {
  const srv = await lstat(path.join(out, "srv"));
  expect([srv.mode & 0o7777, srv.uid, srv.gid]).toEqual([0o2750, 1000, 1001]);
}

describe("building images", () => {
  it("builds RUN, COPY, WORKDIR, USER and ENV into a real image, and a no-op rebuild runs nothing", async () => {
    const from = await fromBusybox();
    const { ctx, root, build, dir } = await setup({
      Dockerfile: [
        from,
        "WORKDIR /app",
        "COPY greeting.txt ./",
        "COPY src/ ./src/",
        "RUN echo built > built.txt && rm /etc/group && mkdir -p /data && chown builder /data",
        "USER builder",
        "RUN id -u > /data/uid && touch /data/mine",
        "ENV GREETING=hi",
        'CMD ["cat", "/app/greeting.txt"]',
        "",
      ].join("\n"),
      "greeting.txt": "hello\n",
      "src/a.js": "a\n",
      "src/lib/b.js": "b\n",
    });
    const first = await build("-t", "demo:1", "-o", `type=local,dest=${dir}/rootfs`, ".");
    expect(first.code, first.stderr).toBe(0);
    const rootfs = path.join(dir, "rootfs");
    expect(await readFile(path.join(rootfs, "app/built.txt"), "utf8")).toBe("built\n");
    expect(await readFile(path.join(rootfs, "app/src/lib/b.js"), "utf8")).toBe("b\n");
    expect(await readFile(path.join(rootfs, "data/uid"), "utf8")).toBe("1000\n");
    expect((await lstat(path.join(rootfs, "data/mine"))).uid).toBe(1000);
    await expect(lstat(path.join(rootfs, "etc/group"))).rejects.toThrow(/ENOENT/);
    // /etc/hosts and /etc/resolv.conf are bind mounts at run time, never part of a layer.
    await expect(lstat(path.join(rootfs, "etc/hosts"))).rejects.toThrow(/ENOENT/);
    const imageId = first.stdout.trim();
    expect(imageId).toMatch(/^sha256:[0-9a-f]{64}$/);

    const again = await build("-t", "demo:1", ".");
    expect(again.code, again.stderr).toBe(0);
    expect(stepLines(again.stderr, "CACHED")).toBe(5);
    expect(again.stdout.trim()).toBe(imageId);

    // Changing one context file reruns from the first step that reads it, and says why.
    await writeFile(path.join(ctx, "src/a.js"), "a2\n");
    const changed = await build(".");
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stderr).toMatch(/cache miss: 1 file changed: src\/a\.js/);
    expect(stepLines(changed.stderr, "CACHED")).toBe(2);
    await expectNoLeftovers(root);
  });

  it("takes an unchanged COPY's key from its sources' stats, and still notices and explains a change of the same size", async () => {
    const from = await fromBusybox();
    const { ctx, root, build } = await setup({
      Dockerfile: `${from}\nCOPY src/ /app/src/\nRUN cat /app/src/a.js > /copied\n`,
      "src/a.js": "a1\n",
      "src/lib/b.js": "b\n",
    });
    expect((await build(".")).code).toBe(0);
    const statcache = path.join(root, "statcache");
    const [perFile] = (await readdir(statcache)).filter((name) => name.endsWith(".bin"));
    expect((await readdir(statcache)).filter((name) => name.endsWith(".selections"))).toHaveLength(1);

    // Without the per-file entries, a rebuild that looked up the files would hash and record them again.
    await rm(path.join(statcache, perFile!));
    const again = await build(".");
    expect(again.code, again.stderr).toBe(0);
    expect(stepLines(again.stderr, "CACHED")).toBe(2);
    expect(await readdir(statcache)).not.toContain(perFile);

    // A step that runs lists its files for a later explanation, known key or not.
    const noCache = await build("--no-cache", ".");
    expect(noCache.code, noCache.stderr).toBe(0);
    expect(await readdir(statcache)).toContain(perFile);

    // The same size and mtime (to the nanosecond: touch -r): the ctime tells.
    const file = path.join(ctx, "src/a.js");
    const times = path.join(root, "..", "times-of-a");
    execFileSync("touch", ["-r", file, times]);
    await writeFile(file, "a2\n");
    execFileSync("touch", ["-m", "-r", times, file]);
    expect((await lstat(file, { bigint: true })).mtimeNs).toBe((await lstat(times, { bigint: true })).mtimeNs);
    const changed = await build(".");
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stderr).toMatch(/cache miss: 1 file changed: src\/a\.js/);
    expect(stepLines(changed.stderr, "CACHED")).toBe(0);
    await expectNoLeftovers(root);
  });

  it("shares layers between Dockerfiles with the same first instructions", async () => {
    const from = await fromBusybox();
    const { build } = await setup({
      "one.Dockerfile": `${from}\nRUN echo shared > /shared\nRUN echo one > /one\n`,
      "two.Dockerfile": `${from}\nRUN echo shared > /shared\nRUN echo two > /two\n`,
    });
    expect((await build("-f", "one.Dockerfile", ".")).code).toBe(0);
    const second = await build("-f", "two.Dockerfile", ".");
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/#2 CACHED/);
    expect(stepLines(second.stderr, "CACHED")).toBe(1);
    const noCache = await build("-f", "two.Dockerfile", "--no-cache", ".");
    expect(noCache.code, noCache.stderr).toBe(0);
    expect(stepLines(noCache.stderr, "CACHED")).toBe(0);
  });

  it("builds only the stages the target needs, in parallel where independent", async () => {
    const from = await fromBusybox();
    const { build, dir } = await setup({
      Dockerfile: [
        `${from} AS a`,
        "RUN sleep 1 && echo a > /a",
        `${from} AS b`,
        "RUN sleep 1 && echo b > /b",
        `${from} AS broken`,
        "RUN exit 3",
        "FROM scratch",
        "COPY --from=a /a /from-a",
        "COPY --from=1 /b /from-b",
        "",
      ].join("\n"),
    });
    const result = await build("-o", `type=local,dest=${dir}/out`, ".");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/exit 3/);
    expect((await readdir(path.join(dir, "out"))).sort()).toEqual(["from-a", "from-b"]);
    // Independent stages overlap: both RUNs start before either finishes.
    const lines = result.stderr.split("\n");
    const starts = lines.flatMap((l, i) => (/\[(a|b) 2\/2\] RUN sleep/.test(l) ? [{ i, id: l.split(" ")[0] }] : []));
    expect(starts).toHaveLength(2);
    const firstDone = Math.min(...starts.map((s) => lines.findIndex((l) => l.startsWith(`${s.id} DONE`))));
    expect(Math.max(...starts.map((s) => s.i))).toBeLessThan(firstDone);
  });

  it("reports a failing RUN with its command, exit code and last output, and leaves the store as it was", async () => {
    const from = await fromBusybox();
    const { build, root } = await setup({ Dockerfile: `${from}\nRUN echo ok > /ok\n` });
    expect((await build(".")).code).toBe(0);
    const before = await storeContents(root);
    await writeFile(path.join(root, "..", "ctx", "Dockerfile"), `${from}\nRUN echo ok > /ok\nRUN echo first line; echo oops >&2; exit 42\n`);
    const failed = await build(".");
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/Dockerfile:3: RUN echo first line; echo oops >&2; exit 42: process "\/bin\/sh -c echo first line; echo oops >&2; exit 42" did not complete successfully: exit code 42/);
    expect(failed.stderr).toMatch(/oops/);
    expect(await storeContents(root)).toEqual(before);
    await expectNoLeftovers(root);
  });

  it("gives positioned errors for bad Dockerfiles and refuses sources outside the context", async () => {
    const from = await fromBusybox();
    const { build, root, ctx } = await setup({ Dockerfile: `${from}\nCOPPY a b\n` });
    const syntax = await build(".");
    expect(syntax.code).toBe(1);
    expect(syntax.stderr).toContain("Dockerfile:2:1: unknown instruction: COPPY (did you mean COPY?)");
    await writeFile(path.join(ctx, "Dockerfile"), `${from}\nCOPY ../secret /x\n`);
    const outside = await build(".");
    expect(outside.code).toBe(1);
    expect(outside.stderr).toMatch(/\.\.\/secret: forbidden path outside the build context/);
    await writeFile(path.join(ctx, "Dockerfile"), `${from}\nCOPY missing.txt /x\n`);
    const missing = await build(".");
    expect(missing.stderr).toMatch(/missing\.txt: not found in the build context/);
    expect(await storeContents(root).then((c) => c.filter((e) => e.startsWith("cache/")))).toEqual([]);
    await expectNoLeftovers(root);
  });

  it("resolves FROM --platform for that platform", async () => {
    const from = await fromBusybox();
    const { build } = await setup({ Dockerfile: `${from.replace("FROM ", "FROM --platform=linux/s390x ")}\nRUN true\n` });
    const r = await build(".");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/linux\/s390x/);
  });

  it("honours .dockerignore, with Dockerfile-specific ignore files taking precedence", async () => {
    const from = await fromBusybox();
    const { build, dir } = await setup({
      "Dockerfile": `${from}\nCOPY . /ctx/\n`,
      "app.Dockerfile": `${from}\nCOPY . /ctx/\n`,
      "app.Dockerfile.dockerignore": "*.log\n",
      ".dockerignore": "secret*\nnode_modules\n!node_modules/keep\n",
      "secret.txt": "x",
      "debug.log": "x",
      "node_modules/drop/index.js": "x",
      "node_modules/keep/index.js": "x",
    });
    expect((await build("-o", `type=local,dest=${dir}/one`, ".")).code).toBe(0);
    expect((await readdir(path.join(dir, "one/ctx"))).sort()).toEqual([".dockerignore", "Dockerfile", "app.Dockerfile", "app.Dockerfile.dockerignore", "debug.log", "node_modules"]);
    expect(await readdir(path.join(dir, "one/ctx/node_modules"))).toEqual(["keep"]);
    expect((await build("-f", "app.Dockerfile", "-o", `type=local,dest=${dir}/two`, ".")).code).toBe(0);
    expect(await readdir(path.join(dir, "two/ctx"))).toContain("secret.txt");
    expect(await readdir(path.join(dir, "two/ctx"))).not.toContain("debug.log");
  });

  it("runs heredocs in RUN and writes them with COPY", async () => {
    const from = await fromBusybox();
    const { build, dir } = await setup({
      Dockerfile: [
        from,
        "ARG WHO=world",
        "RUN <<EOF",
        "echo hello > /from-run",
        "EOF",
        "RUN cat > /two <<A && cat > /three <<'B'",
        "two $WHO",
        "A",
        "three $WHO",
        "B",
        "COPY <<EOF /etc/greeting",
        "hi ${WHO}",
        "EOF",
        "RUN <<EOF",
        "#!/bin/sh",
        "echo shebang > /from-shebang",
        "EOF",
        "",
      ].join("\n"),
    });
    const result = await build("-o", `type=local,dest=${dir}/out`, ".");
    expect(result.code, result.stderr).toBe(0);
    const read = (p: string) => readFile(path.join(dir, "out", p), "utf8");
    expect(await read("from-run")).toBe("hello\n");
    expect(await read("two")).toBe("two world\n");
    expect(await read("three")).toBe("three $WHO\n");
    expect(await read("etc/greeting")).toBe("hi world\n");
    expect(await read("from-shebang")).toBe("shebang\n");
  });

  it("writes OCI layouts and docker archives that skopeo reads, and FROM finds images tagged in the store", async () => {
    const from = await fromBusybox();
    const { build, dir, ctx } = await setup({ Dockerfile: `${from}\nRUN echo v1 > /version\nLABEL org.example=yes\n` });
    const result = await build("-t", "base:v1", "--label", "extra=1", "-o", `type=oci,dest=${dir}/img.tar`, "-o", `type=oci,dest=${dir}/layout,tar=false`, "-o", `type=docker,dest=${dir}/docker.tar`, "--iidfile", `${dir}/iid`, "--metadata-file", `${dir}/meta.json`, ".");
    expect(result.code, result.stderr).toBe(0);
    const inspect = (ref: string) => JSON.parse(execFileSync("skopeo", ["inspect", "--config", ref]).toString()) as { config: { Labels: Record<string, string> }; rootfs: { diff_ids: string[] } };
    for (const ref of [`oci-archive:${dir}/img.tar`, `oci:${dir}/layout:v1`, `docker-archive:${dir}/docker.tar`]) {
      const config = inspect(ref);
      expect(config.config.Labels).toEqual({ "org.example": "yes", extra: "1" });
      expect(config.rootfs.diff_ids).toHaveLength(2);
    }
    // umoci and buildah read the same outputs.
    execFileSync("umoci", ["unpack", "--image", `${dir}/layout:v1`, `${dir}/bundle`]);
    expect(await readFile(path.join(dir, "bundle/rootfs/version"), "utf8")).toBe("v1\n");
    // buildah names an oci: image after its path, which must be lowercase (mkdtemp's is not).
    const lowercase = path.join(os.tmpdir(), `tsbuild-lc-${randomBytes(6).toString("hex")}`);
    try {
      await cp(path.join(dir, "layout"), lowercase, { recursive: true });
      const buildah = ["--root", `${dir}/buildah`, "--runroot", `${dir}/buildah-run`, "--storage-driver", "vfs"];
      for (const ref of [`oci:${lowercase}:v1`, `docker-archive:${dir}/docker.tar`]) {
        expect(execFileSync("buildah", [...buildah, "pull", "-q", ref]).toString().trim()).toMatch(/^[0-9a-f]{64}$/);
      }
      execFileSync("buildah", [...buildah, "rmi", "--all", "--force"]);
    } finally {
      await rm(lowercase, { recursive: true, force: true });
    }
    expect(await readFile(path.join(dir, "iid"), "utf8")).toBe(result.stdout.trim());
    const meta = JSON.parse(await readFile(path.join(dir, "meta.json"), "utf8")) as Record<string, unknown>;
    expect(meta["containerimage.config.digest"]).toBe(result.stdout.trim());
    expect(meta["containerimage.digest"]).toMatch(/^sha256:/);

    await writeFile(path.join(ctx, "Dockerfile"), "FROM base:v1\nRUN cat /version > /copied\n");
    const child = await build("-o", `type=local,dest=${dir}/child`, ".");
    expect(child.code, child.stderr).toBe(0);
    expect(await readFile(path.join(dir, "child/copied"), "utf8")).toBe("v1\n");
  });

  it("runs ONBUILD triggers when an image is used as a base", async () => {
    const from = await fromBusybox();
    const { build, dir, ctx } = await setup({ Dockerfile: `${from}\nONBUILD COPY app.txt /app.txt\nONBUILD RUN echo triggered > /triggered\n`, "app.txt": "app\n" });
    expect((await build("-t", "onbuild-base:1", ".")).code).toBe(0);
    await writeFile(path.join(ctx, "Dockerfile"), "FROM onbuild-base:1\nRUN cat /triggered /app.txt > /both\n");
    const child = await build("-o", `type=local,dest=${dir}/out`, ".");
    expect(child.code, child.stderr).toBe(0);
    expect(await readFile(path.join(dir, "out/both"), "utf8")).toBe("triggered\napp\n");
  });

  it("gives the same layers with the native (copying) snapshotter as with overlay", async () => {
    const from = await fromBusybox();
    const { dir, root, ctx } = await setup({
      Dockerfile: `${from}\nCOPY f /f\nRUN echo x > /x && rm /etc/group && chmod 700 /home/builder\n`,
      "recreate.Dockerfile": `${from}\nRUN rm -rf /home && mkdir /home && echo new > /home/n\n`,
      f: "content",
    });
    const env = { SOURCE_DATE_EPOCH: "1700000000" };
    const layers: string[][] = [];
    const trees: unknown[] = [];
    for (const driver of ["overlay", "native"]) {
      const r = await runTsbuild(["build", "--no-cache", "--storage-driver", driver, "--progress", "json", "."], { root, cwd: ctx, env });
      expect(r.code, r.stderr).toBe(0);
      const done = r.stderr.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; layers?: { diffID: string }[] }).find((e) => e.type === "build-done");
      layers.push(done!.layers!.map((l) => l.diffID));
      // A recreated directory may become an opaque dir or per-entry whiteouts (the native differ
      // cannot always tell a recreated dir by its inode): the merged trees must agree either way.
      const out = path.join(dir, `recreate-${driver}`);
      const recreate = await runTsbuild(["build", "--no-cache", "--storage-driver", driver, "-f", "recreate.Dockerfile", "-o", `type=local,dest=${out}`, "."], { root, cwd: ctx, env });
      expect(recreate.code, recreate.stderr).toBe(0);
      trees.push((await treeManifest(out)).map(({ path: p, type, mode, uid, gid, sha256 }) => ({ p, type, mode, uid, gid, sha256 })));
    }
    expect(layers[0]).toHaveLength(3);
    expect(layers[1]).toEqual(layers[0]);
    expect(trees[1]).toEqual(trees[0]);
    await expectNoLeftovers(root);
  });

  it("writes a COPY into a new path without a mount, with the layer a mounted COPY makes", async () => {
    const from = await fromBusybox();
    const dockerfile = (chown: string) =>
      [from, "RUN mkdir -p /srv && chown 1000:1001 /srv && chmod 2750 /srv", `COPY --chown=${chown} a/ b/ /srv/app/`, `COPY --chown=${chown} a/x /srv/one/x`, ""].join("\n");
    const out = await sameLayerMountedOrNot(dockerfile, { "a/x": "from a\n", "a/y": "y\n", "b/x": "from b\n" });
    // The later source wins a name both have; /srv keeps its owner and set-group-ID mode.
    expect(await readFile(path.join(out, "srv/app/x"), "utf8")).toBe("from b\n");
    await expectSrvKept(out);
  });

  it("writes a COPY of new names into an existing directory without a mount, with the layer a mounted COPY makes", async () => {
    const from = await fromBusybox();
    // /srv exists in the image; a/ adds x and y to it, c adds /srv/c; b/ holds a name /srv has
    // (kept) and so copies through the mount either way. Named --chown always mounts.
    const dockerfile = (chown: string) =>
      [
        from,
        "RUN mkdir -p /srv && echo old > /srv/kept && chown 1000:1001 /srv && chmod 2750 /srv",
        `COPY --chown=${chown} a/ c /srv/`,
        `COPY --chown=${chown} b/ /srv/`,
        `COPY --chown=${chown} a/x /srv`,
        "",
      ].join("\n");
    const out = await sameLayerMountedOrNot(dockerfile, { "a/x": "x\n", "a/y": "y\n", c: "c\n", "b/kept": "new\n" });
    expect(await readFile(path.join(out, "srv/kept"), "utf8")).toBe("new\n");
    expect(await readFile(path.join(out, "srv/c"), "utf8")).toBe("c\n");
    await expectSrvKept(out);
  });

  it("runs on an image that holds the same layer twice (two steps that made the same change)", async () => {
    const from = await fromBusybox();
    // With SOURCE_DATE_EPOCH the two COPYs make byte-identical layers: the RUN's overlay must
    // take that layer's dir once (overlayfs refuses a lower dir given twice).
    const { dir, root, ctx } = await setup({ "same.Dockerfile": [from, "COPY a.txt /etc/", "COPY a.txt /etc/", "RUN cat /etc/a.txt > /copied", ""].join("\n"), "a.txt": "a\n" });
    const built = await reproducibleBuild(root, ctx, dir, "same");
    expect(built.layers[2]).toBe(built.layers[1]);
    expect(await readFile(path.join(built.out, "copied"), "utf8")).toBe("a\n");
    await expectNoLeftovers(root);
  });

  it("reads a COPY --from path that one layer alone has from that layer, with the tree a mounted view gives", async () => {
    const from = await fromBusybox();
    // A wildcard source is matched in a mounted view of the stage; a plain path that only the RUN
    // layer has is read from that layer's dir. Same files, owners, modes and links: same layer.
    const dockerfile = (source: string) =>
      [
        `${from} AS builder`,
        "RUN mkdir -p /out/sub && echo a > /out/a && ln /out/a /out/a-link && ln -s a /out/a-sym && echo s > /out/sub/s && chown -R 1000:1001 /out/sub && chmod 700 /out/sub",
        from,
        `COPY --from=builder ${source} /app/`,
        "",
      ].join("\n");
    const { dir, root, ctx } = await setup({ "glob.Dockerfile": dockerfile("/ou?"), "path.Dockerfile": dockerfile("/out") });
    const mounted = await reproducibleBuild(root, ctx, dir, "glob");
    const direct = await reproducibleBuild(root, ctx, dir, "path");
    expect(direct.layers).toEqual(mounted.layers);
    expect(direct.tree).toEqual(mounted.tree);
    const out = direct.out;
    expect((await lstat(path.join(out, "app/a-link"))).ino).toBe((await lstat(path.join(out, "app/a"))).ino);
    const sub = await lstat(path.join(out, "app/sub"));
    expect([sub.mode & 0o7777, sub.uid, sub.gid]).toEqual([0o700, 1000, 1001]);
    await expectNoLeftovers(root);
  });

  it("hashes COPY layers written into new paths as it writes them: each layer's tar has its diffID", async () => {
    const from = await fromBusybox();
    const { build, dir, ctx } = await setup({
      Dockerfile: [from, "COPY src/ /app/", "COPY big.bin /data/", "COPY --chown=7:8 --chmod=640 src/a.txt /one/a.txt", "COPY src/a.txt src/lib/b.js /two/", ""].join("\n"),
      ".dockerignore": "src/*.log\n",
      "src/a.txt": "a\n",
      "src/lib/b.js": "b\n",
      "src/skip.log": "left out\n",
    });
    execFileSync("sh", ["-euc", "ln src/a.txt src/lib/a-link; ln -s ../a.txt src/lib/a-sym; head -c 1200000 /dev/urandom > big.bin"], { cwd: ctx });
    const result = await build("-o", `type=docker,dest=${dir}/docker.tar`, ".");
    expect(result.code, result.stderr).toBe(0);
    // The docker archive's layer tars are made from the layer dirs anew.
    const unpacked = path.join(dir, "unpacked");
    execFileSync("mkdir", ["-p", unpacked]);
    execFileSync("tar", ["-xf", `${dir}/docker.tar`, "-C", unpacked]);
    const [manifest] = JSON.parse(await readFile(path.join(unpacked, "manifest.json"), "utf8")) as { Config: string; Layers: string[] }[];
    const config = JSON.parse(await readFile(path.join(unpacked, manifest!.Config), "utf8")) as { rootfs: { diff_ids: string[] } };
    const tarDigests = manifest!.Layers.map((layer) => `sha256:${execFileSync("sha256sum", [path.join(unpacked, layer)]).toString().split(" ")[0]}`);
    expect(tarDigests).toHaveLength(5);
    expect(tarDigests).toEqual(config.rootfs.diff_ids);
    const listing = execFileSync("tar", ["-tvf", path.join(unpacked, manifest!.Layers[1]!)]).toString();
    expect(listing).toMatch(/app\/lib\/a-link link to app\/a\.txt/);
    expect(listing).not.toMatch(/skip\.log/);
  });

  it("prune unmounts and removes the snapshot and temp dirs of a build that was killed mid-RUN", async () => {
    const from = await fromBusybox();
    const { root, ctx } = await setup({ Dockerfile: `${from}\nRUN sleep 987\n` });
    // runTsbuild kills the CLI (SIGKILL) when its time is up: well into the RUN, whose container lives on.
    const killed = await runTsbuild(["build", "--progress", "plain", "."], { root, cwd: ctx, timeoutMs: 6000 });
    // runc's command line names the store; the container's, its command.
    const containerGone = () => processesWith(root).length === 0;
    try {
      expect(killed.signal, killed.stderr).toBe("SIGKILL");
      expect(mountsUnder(path.join(root, "snapshots"))).toHaveLength(1);
      expect(await readdir(path.join(root, "snapshots"))).toEqual([expect.stringMatching(/^snapshot-\d+-/)]);
    } finally {
      for (const pid of processesWith("sleep 987")) process.kill(pid, "SIGKILL");
      for (let waited = 0; !containerGone() && waited < 100; waited++) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const pruned = await runTsbuild(["prune", "-f"], { root, cwd: ctx });
    expect(pruned.code, pruned.stderr).toBe(0);
    await expectNoLeftovers(root);
  });

  it("lets several builds share one store at once", async () => {
    const from = await fromBusybox();
    const { root, ctx } = await setup({ "a.Dockerfile": `${from}\nRUN echo a > /a\n`, "b.Dockerfile": `${from}\nRUN echo b > /b\n` });
    const runs = await Promise.all(["a", "b", "a"].map((n, i) => runTsbuild(["build", "-f", `${n}.Dockerfile`, "-t", `shared:${i}`, "."], { root, cwd: ctx })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    await expectNoLeftovers(root);
  });

  it("makes byte-identical images from the same inputs with SOURCE_DATE_EPOCH", async () => {
    const from = await fromBusybox();
    const { dir, root, ctx } = await setup({ Dockerfile: `${from}\nCOPY f /f\nRUN echo x > /x\n`, f: "content" });
    const env = { SOURCE_DATE_EPOCH: "1700000000" };
    const digests: string[] = [];
    for (const name of ["a", "b"]) {
      const r = await runTsbuild(["build", "--no-cache", "-o", `type=oci,dest=${dir}/${name}.tar`, "."], { root, cwd: ctx, env });
      expect(r.code, r.stderr).toBe(0);
      digests.push(execFileSync("sha256sum", [`${dir}/${name}.tar`]).toString().split(" ")[0]!);
    }
    expect(digests[0]).toBe(digests[1]);
  });
});
