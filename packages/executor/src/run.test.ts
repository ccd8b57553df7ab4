// Integration tests: real runc on overlay snapshots of the busybox image that
// scripts/make-busybox-image.sh builds.
import { execFile } from "node:child_process";
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, cp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resolveUser } from "./user.js";
import { RunFailedError, runInRootfs, runcVersion } from "./run.js";
import type { ProcessSpec } from "./spec.js";

const exec = promisify(execFile);
const script = fileURLToPath(new URL("../../../scripts/make-busybox-image.sh", import.meta.url));
const PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

let scratch: string;
let imageDir: string;
let busyboxRootfs: string;
let noEtcRootfs: string;
let runcRoot: string;
let bundleRoot: string;

interface Snapshot {
  merged: string;
  upper: string;
}
const mounted: string[] = [];

async function snapshot(lower: string): Promise<Snapshot> {
  const dir = await mkdtemp(path.join(scratch, "snap-"));
  const [upper, work, merged] = ["upper", "work", "merged"].map((name) => path.join(dir, name));
  for (const created of [upper, work, merged]) await mkdir(created);
  await exec("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
  mounted.push(merged);
  return { merged, upper };
}

function shell(command: string, overrides: Partial<ProcessSpec> = {}): ProcessSpec {
  return {
    args: ["/bin/sh", "-c", command],
    env: [PATH],
    cwd: "/",
    user: { uid: 0, gid: 0, additionalGids: [] },
    network: "host",
    ...overrides,
  };
}

async function capture(rootfs: string, process: ProcessSpec): Promise<{ stdout: string; stderr: string }> {
  const output = { stdout: "", stderr: "" };
  await runInRootfs(rootfs, process, {
    bundleRoot,
    runcRoot,
    onOutput: (stream, chunk) => (output[stream] += chunk.toString()),
  });
  return output;
}

async function runcContainers(): Promise<string[]> {
  const { stdout } = await exec("runc", ["--root", runcRoot, "list", "--quiet"]);
  return stdout.split("\n").filter((line) => line !== "");
}

// Whiteouts in an overlay upper dir are 0/0 character devices.
async function whiteouts(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true })) {
    const stats = await lstat(path.join(dir, entry));
    if (stats.isCharacterDevice() && stats.rdev === 0) found.push(entry);
  }
  return found;
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

async function hostInterfaces(): Promise<string[]> {
  return interfaceNames(await readFile("/proc/net/dev", "utf8"));
}

function interfaceNames(procNetDev: string): string[] {
  return procNetDev
    .split("\n")
    .slice(2)
    .map((line) => line.split(":")[0].trim())
    .filter((name) => name !== "")
    .sort();
}

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), "tsbuild-executor-"));
  imageDir = path.join(scratch, "image");
  runcRoot = path.join(scratch, "runc");
  bundleRoot = path.join(scratch, "bundles");
  await exec(script, [imageDir]);
  const layout = path.join(imageDir, "busybox");
  const blob = (digest: string) => path.join(layout, "blobs", ...digest.split(":"));
  const index = JSON.parse(await readFile(path.join(layout, "index.json"), "utf8"));
  const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), "utf8"));
  busyboxRootfs = path.join(scratch, "busybox-rootfs");
  await mkdir(busyboxRootfs);
  await exec("tar", ["-xzf", blob(manifest.layers[0].digest), "-C", busyboxRootfs, "--numeric-owner"]);
  noEtcRootfs = path.join(scratch, "noetc-rootfs");
  await cp(busyboxRootfs, noEtcRootfs, { recursive: true, verbatimSymlinks: true });
  await rm(path.join(noEtcRootfs, "etc"), { recursive: true });
});

afterEach(async () => {
  for (const id of await runcContainers().catch(() => [])) {
    await exec("runc", ["--root", runcRoot, "delete", "--force", id]).catch(() => undefined);
  }
  while (mounted.length > 0) await exec("umount", [mounted.pop()!]).catch(() => undefined);
});

afterAll(async () => {
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
});

describe("busybox base image", () => {
  it("is an OCI layout skopeo accepts, byte-identical when built again", async () => {
    const { stdout } = await exec("skopeo", ["inspect", "--config", `oci:${path.join(imageDir, "busybox")}:latest`]);
    const config = JSON.parse(stdout);
    expect(config.config.Cmd).toEqual(["sh"]);
    expect(config.config.Env).toEqual([PATH]);
    const again = path.join(scratch, "image-again");
    await exec(script, [again]);
    const { stdout: diff } = await exec("diff", ["-r", path.join(imageDir, "busybox"), path.join(again, "busybox")]);
    expect(diff).toBe("");
  });

  it("has busybox applets, users and the standard directories", async () => {
    expect((await lstat(path.join(busyboxRootfs, "bin/sh"))).isSymbolicLink()).toBe(true);
    expect((await stat(path.join(busyboxRootfs, "tmp"))).mode & 0o7777).toBe(0o1777);
    expect((await stat(path.join(busyboxRootfs, "home/builder"))).uid).toBe(1000);
    const passwd = await readFile(path.join(busyboxRootfs, "etc/passwd"), "utf8");
    expect(passwd).toMatch(/^builder:x:1000:1000:/m);
    expect(passwd).toMatch(/^nobody:x:65534:/m);
  });
});

describe("runInRootfs with runc", () => {
  it("reports the runc version", async () => {
    expect(await runcVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("streams stdout and stderr and resolves with exit code 0", async () => {
    const { merged } = await snapshot(busyboxRootfs);
    const chunks: { stream: string; text: string }[] = [];
    const result = await runInRootfs(merged, shell("echo hello; echo oops >&2"), {
      bundleRoot,
      runcRoot,
      onOutput: (stream, chunk) => chunks.push({ stream, text: chunk.toString() }),
    });
    expect(result).toEqual({ exitCode: 0 });
    expect(chunks.filter((c) => c.stream === "stdout").map((c) => c.text).join("")).toBe("hello\n");
    expect(chunks.filter((c) => c.stream === "stderr").map((c) => c.text).join("")).toBe("oops\n");
  });

  it("throws RunFailedError with the exit code, the command and the last 20 lines", async () => {
    const { merged } = await snapshot(busyboxRootfs);
    const error = await runInRootfs(merged, shell("for i in $(seq 1 30); do echo line$i; done; exit 7"), {
      bundleRoot,
      runcRoot,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RunFailedError);
    const failed = error as RunFailedError;
    expect(failed.exitCode).toBe(7);
    expect(failed.command).toContain("exit 7");
    expect(failed.lastLines).toHaveLength(20);
    expect(failed.lastLines[0]).toBe("line11");
    expect(failed.lastLines[19]).toBe("line30");
    expect(failed.startError).toBeUndefined();
    expect(failed.message).toMatch(/exited with code 7/);
  });

  it("says when runc cannot start the process", async () => {
    const { merged } = await snapshot(busyboxRootfs);
    const error = await runInRootfs(merged, shell("", { args: ["no-such-program"] }), { bundleRoot, runcRoot }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(RunFailedError);
    expect((error as RunFailedError).startError).toMatch(/no-such-program.*not found/);
    expect((error as Error).message).toMatch(/could not start the process/);
  });

  it("runs as a USER resolved by name from the image's /etc/passwd, without effective capabilities", async () => {
    const { merged } = await snapshot(busyboxRootfs);
    const user = resolveUser(
      "builder",
      await readFile(path.join(merged, "etc/passwd"), "utf8"),
      await readFile(path.join(merged, "etc/group"), "utf8"),
    );
    const { stdout } = await capture(merged, shell("id -u; id -g; id -G; grep CapEff /proc/self/status", { user }));
    expect(stdout.split("\n")).toEqual(["1000", "1000", "1000 100", "CapEff:\t0000000000000000", ""]);
  });

  it("gives root Docker's default capabilities", async () => {
    const { merged } = await snapshot(busyboxRootfs);
    const { stdout } = await capture(merged, shell("grep CapEff /proc/self/status"));
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW
    // SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    expect(stdout).toBe("CapEff:\t00000000a80425fb\n");
  });

  it("creates the working directory, owned by the user, and applies env", async () => {
    const { merged, upper } = await snapshot(busyboxRootfs);
    const user = { uid: 1000, gid: 1000, additionalGids: [] };
    const { stdout } = await capture(
      merged,
      shell('pwd; echo "$GREETING"', { cwd: "/work/deep/dir", env: [PATH, "GREETING=hello  world"], user }),
    );
    expect(stdout).toBe("/work/deep/dir\nhello  world\n");
    for (const dir of ["work", "work/deep", "work/deep/dir"]) {
      const stats = await stat(path.join(upper, dir));
      expect([stats.uid, stats.gid, stats.mode & 0o777]).toEqual([1000, 1000, 0o755]);
    }
  });

  it("writes files into the snapshot", async () => {
    const { merged, upper } = await snapshot(busyboxRootfs);
    await capture(merged, shell("echo data > /root/out.txt"));
    expect(await readFile(path.join(upper, "root/out.txt"), "utf8")).toBe("data\n");
  });

  it("with network none sees only lo, up; with host network the host's interfaces", async () => {
    const { merged } = await snapshot(busyboxRootfs);
    const none = await capture(merged, shell("cat /proc/net/dev; cat /sys/class/net/lo/flags", { network: "none" }));
    expect(interfaceNames(none.stdout.split("\n").slice(0, -2).join("\n"))).toEqual(["lo"]);
    // IFF_UP (0x1) | IFF_LOOPBACK (0x8)
    expect(Number(none.stdout.trim().split("\n").at(-1)) & 0x1).toBe(1);
    const host = await capture(merged, shell("cat /proc/net/dev"));
    expect(interfaceNames(host.stdout)).toEqual(await hostInterfaces());
  });

  it("mounts /proc and /sys readable, /sys read-only, and the default devices", async () => {
    const { merged } = await snapshot(busyboxRootfs);
    const { stdout } = await capture(
      merged,
      shell(
        [
          "head -n 1 /proc/self/status",
          "test -d /sys/class/net && echo sys-readable",
          "touch /sys/probe 2>/dev/null && echo sys-writable || echo sys-readonly",
          "grep -q ' /sys sysfs ro' /proc/mounts && echo sys-mounted-ro",
          "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; head -c 8 /dev/urandom | wc -c",
          "test -c /dev/full && test -c /dev/tty && test -c /dev/random && echo devices-present",
          "test -d /dev/shm && test -d /dev/pts && test -d /dev/mqueue && echo dev-dirs",
        ].join("; "),
      ),
    );
    expect(stdout.split("\n")).toEqual([
      "Name:\thead",
      "sys-readable",
      "sys-readonly",
      "sys-mounted-ro",
      "4",
      "null-ok",
      "8",
      "devices-present",
      "dev-dirs",
      "",
    ]);
  });

  it("binds the host's resolv.conf and hosts read-only and removes the stubs afterwards", async () => {
    const { merged, upper } = await snapshot(noEtcRootfs);
    const { stdout } = await capture(
      merged,
      shell("cat /etc/resolv.conf; cat /etc/hosts; echo x >> /etc/hosts 2>/dev/null && echo writable || echo readonly"),
    );
    const hostFiles = (await readFile("/etc/resolv.conf", "utf8")) + (await readFile("/etc/hosts", "utf8"));
    expect(stdout).toBe(`${hostFiles}readonly\n`);
    expect(await exists(path.join(merged, "etc"))).toBe(false);
    expect(await readdir(upper)).toEqual([]);
  });

  it("removes the stubs from an image /etc without leaving whiteouts", async () => {
    const { merged, upper } = await snapshot(busyboxRootfs);
    await capture(merged, shell("test -s /etc/resolv.conf"));
    expect(await exists(path.join(merged, "etc/resolv.conf"))).toBe(false);
    expect(await exists(path.join(merged, "etc/hosts"))).toBe(false);
    expect(await exists(path.join(merged, "etc/passwd"))).toBe(true);
    expect(await whiteouts(upper)).toEqual([]);
  });

  it("stops the container promptly on abort and leaves nothing behind", async () => {
    const { merged } = await snapshot(busyboxRootfs);
    const controller = new AbortController();
    const started = Date.now();
    const run = runInRootfs(merged, shell("echo started; sleep 100"), {
      bundleRoot,
      runcRoot,
      signal: controller.signal,
      onOutput: (_stream, chunk) => {
        if (chunk.toString().includes("started")) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await runcContainers()).toEqual([]);
    expect(await readdir(bundleRoot)).toEqual([]);
    expect(await exists(path.join(merged, "etc/resolv.conf"))).toBe(false);
  });

  it("stops a container aborted before runc has created it", async () => {
    const { merged } = await snapshot(busyboxRootfs);
    const controller = new AbortController();
    const started = Date.now();
    const run = runInRootfs(merged, shell("sleep 100"), { bundleRoot, runcRoot, signal: controller.signal });
    // Fires while runInRootfs prepares the rootfs, before runc starts.
    controller.abort();
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await runcContainers()).toEqual([]);
    expect(await readdir(bundleRoot)).toEqual([]);
  });

  it("rejects at once when the signal is already aborted", async () => {
    const { merged } = await snapshot(busyboxRootfs);
    await expect(
      runInRootfs(merged, shell("true"), { bundleRoot, runcRoot, signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: "AbortError" });
  });
});
