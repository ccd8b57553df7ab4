// Working containers through the CLI: real overlay mounts, runc, the busybox base made offline.
import { execFileSync } from "node:child_process";
import { lstat, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { makeScratchDir } from "../support/scratch.js";
import { runTsbuild, type TsbuildRun } from "../support/tsbuild.js";
import { fromBusybox, mountsUnder, writeTree } from "./helpers.js";

let dir: string;
let root: string;

const tsbuild = (...args: string[]) => runTsbuild(args, { root, cwd: dir });

/** `tsbuild run CONTAINER -- sh -c SCRIPT`, the store from TSBUILD_ROOT (a `--root` after `--` would join the command). */
const runIn = (container: string, script: string, ...flags: string[]) =>
  runTsbuild(["run", ...flags, container, "--", "sh", "-c", script], { root, cwd: dir, rootVia: "env" });

function ok(result: TsbuildRun): string {
  expect(result.code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(0);
  return result.stdout;
}

/** A container from base:1, removed when the test ends (pass or fail). */
async function container(name: string, image = "base:1"): Promise<string> {
  expect(ok(await tsbuild("from", image, "--name", name)).trim()).toBe(name);
  onTestFinished(async () => {
    await tsbuild("umount", name);
    await tsbuild("rm", name);
  });
  return name;
}

beforeAll(async () => {
  dir = await makeScratchDir("tsbuild-containers-", { untilFileEnds: true });
  root = path.join(dir, "store");
  const ctx = path.join(dir, "ctx");
  await writeTree(ctx, {
    Dockerfile: `${await fromBusybox()}\nRUN mkdir -p /data && echo seed > /data/seed.txt && echo orig > /etc/motd\n`,
  });
  const built = await runTsbuild(["build", "--progress", "plain", "-t", "base:1", ctx], { root, cwd: dir });
  expect(built.code, built.stderr).toBe(0);
});

afterEach(async () => {
  // No overlay may stay mounted after a run, cp or diff (tests that mount unmount themselves).
  expect(mountsUnder(root)).toEqual([]);
});

describe("working containers", { timeout: 120_000 }, () => {
  it("gives each container its own writable layer over shared image layers; rm leaves the image and the other", async () => {
    const a = await container("box-a");
    const b = await container("box-b");
    ok(await runIn(a, "echo from-a > /mine && echo a >> /etc/motd"));
    ok(await runIn(b, "echo from-b > /mine"));
    expect(ok(await runIn(a, "cat /mine /etc/motd"))).toBe("from-a\norig\na\n");
    expect(ok(await runIn(b, "cat /mine /etc/motd"))).toBe("from-b\norig\n");

    // Both containers' lowers are the store's one copy of each image layer.
    const [ia, ib] = JSON.parse(ok(await tsbuild("inspect", a, b))) as { GraphDriver: { Data: Record<string, string> } }[];
    expect(ia!.GraphDriver.Data.LowerDir).toBe(ib!.GraphDriver.Data.LowerDir);
    for (const lower of ia!.GraphDriver.Data.LowerDir!.split(":")) expect(lower.startsWith(path.join(root, "layers"))).toBe(true);

    expect(ok(await tsbuild("rm", a)).trim()).toBe(a);
    await expect(lstat(path.dirname(ia!.GraphDriver.Data.UpperDir!))).rejects.toThrow(/ENOENT/);
    expect(ok(await runIn(b, "cat /mine"))).toBe("from-b\n");
    expect(ok(await tsbuild("history", "base:1"))).toMatch(/mkdir -p \/data/);
    const psLines = ok(await tsbuild("ps")).trim().split("\n");
    expect(psLines.filter((l) => l.endsWith(" box-a"))).toEqual([]);
    expect(psLines.filter((l) => l.endsWith(" box-b"))).toHaveLength(1);
    const fresh = await container("box-c");
    expect(ok(await runIn(fresh, "cat /etc/motd; ls /mine 2>&1 || true"))).toMatch(/^orig\nls: \/mine: No such file or directory\n$/);
  });

  it("diff lists exactly what a run added, changed and deleted", async () => {
    const c = await container("box-diff");
    expect(ok(await tsbuild("diff", c))).toBe("");
    ok(await runIn(c, "mkdir -p /new/sub && echo x > /new/sub/f && echo more >> /etc/motd && rm /data/seed.txt"));
    expect(ok(await tsbuild("diff", c))).toBe(["C /data", "D /data/seed.txt", "C /etc", "C /etc/motd", "A /new", "A /new/sub", "A /new/sub/f", ""].join("\n"));
  });

  it("commit makes an image of the writable layer that a new container sees, with a history line", async () => {
    const c = await container("box-commit");
    ok(await runIn(c, "echo committed > /c.txt && rm /data/seed.txt"));
    const imageId = ok(await tsbuild("commit", c, "committed:1", "-m", "my change")).trim();
    expect(imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The container keeps working on its own layer after the commit.
    ok(await runIn(c, "echo later > /later.txt"));

    const d = await container("box-from-commit", "committed:1");
    expect(ok(await runIn(d, "cat /c.txt; ls /data; ls /later.txt 2>/dev/null || echo no-later"))).toBe("committed\nno-later\n");
    expect(ok(await tsbuild("diff", d))).toBe("");

    const history = ok(await tsbuild("history", "committed:1")).trim().split("\n");
    expect(history[0]).toMatch(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    expect(history[1]).toMatch(new RegExp(`^${imageId.slice(7, 19)}\\s+.*seconds? ago\\s+tsbuild run sh -c 'echo committed.*\\s10B\\s+my change$`));
    expect(history[2]).toMatch(/^<missing>\s+.*RUN \/bin\/sh -c mkdir -p \/data.*\s10B\s+buildkit/);
    expect(history).toHaveLength(4);
  });

  it("copies an image dir into a new empty volume, keeps volume data out of layers and after rm", async () => {
    const c = await container("box-vol");
    // The volume does not exist: mounting it creates it, seeded from the image's /data.
    expect(ok(await runIn(c, "cat /data/seed.txt && echo written > /data/w.txt", "--mount", "type=volume,src=vol-a,dst=/data"))).toBe("seed\n");
    onTestFinished(async () => void (await tsbuild("volume", "rm", "vol-a")));
    const [volume] = JSON.parse(ok(await tsbuild("volume", "inspect", "vol-a"))) as { Mountpoint: string; Name: string; Driver: string }[];
    expect(volume).toMatchObject({ Name: "vol-a", Driver: "local", Mountpoint: path.join(root, "volumes", "vol-a", "_data") });
    expect((await readdir(volume!.Mountpoint)).sort()).toEqual(["seed.txt", "w.txt"]);
    // Writes to the volume are not in the writable layer: no diff, nothing committed.
    expect(ok(await tsbuild("diff", c))).toBe("");
    ok(await tsbuild("commit", c, "vol-commit:1"));
    const d = await container("box-vol-check", "vol-commit:1");
    expect(ok(await runIn(d, "ls /data"))).toBe("seed.txt\n");
    // The volume stays attached: the next run sees it without --mount.
    expect(ok(await runIn(c, "cat /data/w.txt"))).toBe("written\n");


    const inUse = await tsbuild("volume", "rm", "vol-a");
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(/volume vol-a: it is in use by container box-vol/);
    ok(await tsbuild("rm", c));
    expect(await readFile(path.join(volume!.Mountpoint, "w.txt"), "utf8")).toBe("written\n");
    expect(ok(await tsbuild("volume", "ls"))).toMatch(/^DRIVER\s+VOLUME NAME\nlocal\s+vol-a\n$/);
    // A named volume survives a plain prune; prune --all takes it once no container uses it.
    expect(ok(await tsbuild("volume", "prune"))).toBe("Total reclaimed space: 0B\n");
    expect(ok(await tsbuild("volume", "prune", "--all"))).toBe("Deleted Volumes:\nvol-a\n\nTotal reclaimed space: 13B\n");
    expect(ok(await tsbuild("volume", "ls", "-q"))).toBe("");
  });

  it("seeds an empty volume made with volume create, and leaves a volume with data as it is", async () => {
    expect(ok(await tsbuild("volume", "create", "vol-b"))).toBe("vol-b\n");
    onTestFinished(async () => void (await tsbuild("volume", "rm", "vol-b")));
    const c = await container("box-vol-b");
    expect(ok(await runIn(c, "ls /data && rm /data/seed.txt && echo mine > /data/own.txt", "--mount", "type=volume,src=vol-b,dst=/data"))).toBe("seed.txt\n");
    const d = await container("box-vol-b2");
    expect(ok(await runIn(d, "ls /data", "--mount", "type=volume,src=vol-b,dst=/data"))).toBe("own.txt\n");
  });

  it("makes read-only binds read-only and refuses host system paths without --allow host-paths", async () => {
    const host = await makeScratchDir("tsbuild-bind-");
    await writeFile(path.join(host, "in.txt"), "from host\n");
    const c = await container("box-bind");
    const ro = await runIn(c, "cat /h/in.txt && touch /h/new", "--mount", `type=bind,src=${host},dst=/h,readonly`);
    expect(ro.code).toBe(1);
    expect(ro.stdout).toBe("from host\n");
    expect(ro.stderr).toMatch(/Read-only file system/);
    ok(await runIn(c, "echo back > /h/rw.txt", "--mount", `type=bind,src=${host},dst=/h`));
    expect(await readFile(path.join(host, "rw.txt"), "utf8")).toBe("back\n");

    const refused = await runIn(c, "true", "--mount", "type=bind,src=/,dst=/host");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refusing to bind \/ at \/host: \/ is a host system directory.*--allow host-paths/);
    expect(ok(await runIn(c, "test -d /host/proc && echo yes", "--mount", "type=bind,src=/,dst=/host,readonly", "--allow", "host-paths"))).toBe("yes\n");
    // Nothing that went through the binds is in the layer; at most the mountpoints runc made.
    for (const line of ok(await tsbuild("diff", c)).split("\n").filter(Boolean)) expect(line).toMatch(/^A \/(h|host)$/);
  });

  it("copies files both ways, and into a volume through the container", async () => {
    const host = await makeScratchDir("tsbuild-cp-");
    await writeTree(path.join(host, "src"), { "a.txt": "a\n", "sub/b.txt": "b\n" });
    const c = await container("box-cp");
    ok(await tsbuild("cp", path.join(host, "src"), `${c}:/copied`));
    ok(await tsbuild("cp", path.join(host, "src", "a.txt"), `${c}:/etc/`));
    expect(ok(await runIn(c, "cat /copied/a.txt /copied/sub/b.txt /etc/a.txt && stat -c %u /copied/sub/b.txt"))).toBe("a\nb\na\n0\n");
    expect(ok(await tsbuild("diff", c))).toBe("A /copied\nA /copied/a.txt\nA /copied/sub\nA /copied/sub/b.txt\nC /etc\nA /etc/a.txt\n");

    ok(await tsbuild("cp", `${c}:/etc/motd`, path.join(host, "motd")));
    expect(await readFile(path.join(host, "motd"), "utf8")).toBe("orig\n");
    ok(await tsbuild("cp", `${c}:/copied`, path.join(host, "out")));
    expect(await readFile(path.join(host, "out", "sub", "b.txt"), "utf8")).toBe("b\n");

    ok(await runIn(c, "true", "--mount", "type=volume,src=vol-cp,dst=/data"));
    onTestFinished(async () => void (await tsbuild("volume", "rm", "vol-cp")));
    ok(await tsbuild("cp", path.join(host, "src", "a.txt"), `${c}:/data/`));
    expect(await readFile(path.join(root, "volumes", "vol-cp", "_data", "a.txt"), "utf8")).toBe("a\n");
    ok(await tsbuild("cp", `${c}:/data/seed.txt`, path.join(host, "seed")));
    expect(await readFile(path.join(host, "seed"), "utf8")).toBe("seed\n");
    expect(ok(await tsbuild("diff", c))).not.toMatch(/\/data/);

    const missing = await tsbuild("cp", `${c}:/nope`, host);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no such file or directory/);
  });

  it("ps -s shows the writable layer's size and the virtual size with the image's layers", async () => {
    const c = await container("box-size");
    const before = ok(await tsbuild("ps", "-s")).split("\n").find((l) => l.endsWith(" box-size"))!;
    const [, virtualBefore] = /0B \(virtual ([0-9.]+MB)\)/.exec(before)!;
    ok(await runIn(c, "head -c 1500 /dev/zero > /blob"));
    const ps = ok(await tsbuild("ps", "-s"));
    expect(ps.split("\n")[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+CREATED\s+MOUNTED\s+SIZE\s+NAMES$/);
    const row = ps.split("\n").find((l) => l.endsWith(" box-size"))!;
    expect(row).toMatch(/^[0-9a-f]{12}\s+base:1\s+.* ago\s+no\s+1.50kB \(virtual [0-9.]+MB\)\s+box-size$/);
    expect(virtualBefore).toMatch(/^1\.99MB$/);
  });

  it("inspect shows config, layers and the GraphDriver paths; mount and umount expose the merged rootfs", async () => {
    const c = await container("box-inspect");
    const [info] = JSON.parse(ok(await tsbuild("inspect", c))) as {
      Id: string;
      Name: string;
      Config: { Env: string[] };
      RootFS: { Layers: string[] };
      GraphDriver: { Name: string; Data: { LowerDir: string; UpperDir: string; MergedDir: string; WorkDir: string } };
    }[];
    const cdir = path.join(root, "containers", info!.Id);
    expect(info!.Name).toBe(c);
    expect(info!.RootFS.Layers).toHaveLength(2);
    expect(info!.GraphDriver).toEqual({
      Name: "overlay",
      Data: {
        LowerDir: [...info!.RootFS.Layers].reverse().map((d) => path.join(root, "layers", d.slice(7), "diff")).join(":"),
        UpperDir: path.join(cdir, "upper"),
        MergedDir: path.join(cdir, "merged"),
        WorkDir: path.join(cdir, "work"),
      },
    });
    const [image] = JSON.parse(ok(await tsbuild("inspect", "base:1"))) as { RepoTags: string[]; RootFS: { Layers: string[] } }[];
    expect(image!.RepoTags).toEqual(["base:1"]);
    expect(image!.RootFS.Layers).toEqual(info!.RootFS.Layers);

    expect(ok(await tsbuild("mount", c)).trim()).toBe(info!.GraphDriver.Data.MergedDir);
    try {
      expect(await readFile(path.join(info!.GraphDriver.Data.MergedDir, "etc/motd"), "utf8")).toBe("orig\n");
      // A run while mounted leaves it mounted.
      ok(await runIn(c, "echo hi > /hi"));
      expect(await readFile(path.join(info!.GraphDriver.Data.MergedDir, "hi"), "utf8")).toBe("hi\n");
      expect(ok(await tsbuild("ps"))).toMatch(/yes\s+box-inspect/);
    } finally {
      ok(await tsbuild("umount", c));
    }
    expect(mountsUnder(root)).toEqual([]);
  });

  it("info names the storage driver and why, the store root and runc's version", async () => {
    const runc = /^runc version (\S+)/m.exec(execFileSync("runc", ["--version"]).toString())![1]!;
    const info = ok(await tsbuild("info"));
    expect(info).toMatch(/^Storage Driver: overlay\n Reason: overlayfs mounts in .*\n/);
    expect(info).toContain(`Store Root: ${root}\n`);
    expect(info).toContain(`runc version: ${runc}\n`);
  });

  it("each command has --help, and bad arguments exit 2 with a clear message", async () => {
    for (const command of [["from"], ["run"], ["diff"], ["commit"], ["cp"], ["ps"], ["rm"], ["mount"], ["umount"], ["inspect"], ["history"], ["info"], ["volume"], ["volume", "create"], ["volume", "prune"]]) {
      const help = await tsbuild(...command, "--help");
      expect(help.code, command.join(" ")).toBe(0);
      expect(help.stdout).toContain(`tsbuild ${command.join(" ")}`);
    }
    const c = await container("box-usage");
    const cases: [string[], RegExp][] = [
      [["from"], /from needs <image>/],
      [["run", c], /run needs a command: tsbuild run CONTAINER -- COMMAND/],
      [["run", "--mount", "type=tmpfs,dst=/x", c, "--", "true"], /unsupported type=tmpfs \(supported: bind, volume\)/],
      [["run", "--mount", "type=volume,dst=/x", c, "--", "true"], /a volume mount needs src=VOLUME_NAME/],
      [["run", "--mount", "type=bind,src=/tmp,dst=rel", c, "--", "true"], /dst must be an absolute path/],
      [["run", "--workdir", "rel", c, "--", "true"], /--workdir rel: must be an absolute path/],
      [["cp", "a", "b"], /exactly one of SRC and DEST must be CONTAINER:PATH/],
      [["ps", "--bogus"], /unknown option --bogus/],
      [["volume"], /volume needs a subcommand/],
    ];
    for (const [args, message] of cases) {
      const result = await runTsbuild(args, { root, cwd: dir, rootVia: "env" });
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    const unknown = await tsbuild("diff", "no-such-box");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no such container: no-such-box/);
  });
});
