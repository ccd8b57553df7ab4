// Integration tests: real runc on overlay snapshots of the busybox image that
// scripts/make-busybox-image.sh builds.
import { cp, lstat, readdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveUser } from "./user.js";
import { RunFailedError, runInRootfs, runcVersion } from "./run.js";
import { busyboxImageScript, exec, exists, PATH, shell, useRuncFixture, whiteouts } from "./test-support.js";

const fixture = useRuncFixture();
const { snapshot, capture, runcContainers } = fixture;
let noEtcRootfs: string;

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
  noEtcRootfs = path.join(fixture.scratch, "noetc-rootfs");
  await cp(fixture.busyboxRootfs, noEtcRootfs, { recursive: true, verbatimSymlinks: true });
  await rm(path.join(noEtcRootfs, "etc"), { recursive: true });
});

describe("busybox base image", () => {
  it("is an OCI layout skopeo accepts, byte-identical when built again", async () => {
    const { stdout } = await exec("skopeo", ["inspect", "--config", `oci:${path.join(fixture.imageDir, "busybox")}:latest`]);
    const config = JSON.parse(stdout);
    expect(config.config.Cmd).toEqual(["sh"]);
    expect(config.config.Env).toEqual([PATH]);
    const again = path.join(fixture.scratch, "image-again");
    await exec(busyboxImageScript, [again]);
    const { stdout: diff } = await exec("diff", ["-r", path.join(fixture.imageDir, "busybox"), path.join(again, "busybox")]);
    expect(diff).toBe("");
  });

  it("has busybox applets, users and the standard directories", async () => {
    expect((await lstat(path.join(fixture.busyboxRootfs, "bin/sh"))).isSymbolicLink()).toBe(true);
    expect((await stat(path.join(fixture.busyboxRootfs, "tmp"))).mode & 0o7777).toBe(0o1777);
    expect((await stat(path.join(fixture.busyboxRootfs, "home/builder"))).uid).toBe(1000);
    const passwd = await readFile(path.join(fixture.busyboxRootfs, "etc/passwd"), "utf8");
    expect(passwd).toMatch(/^builder:x:1000:1000:/m);
    expect(passwd).toMatch(/^nobody:x:65534:/m);
  });
});

describe("runInRootfs with runc", () => {
  it("reports the runc version", async () => {
    expect(await runcVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("streams stdout and stderr and resolves with exit code 0", async () => {
    const { merged } = await snapshot(fixture.busyboxRootfs);
    const chunks: { stream: string; text: string }[] = [];
    const onOutput = (stream: string, chunk: Buffer) => chunks.push({ stream, text: chunk.toString() });
    const result = await runInRootfs(merged, shell("echo hello; echo oops >&2"), fixture.runOptions({ onOutput }));
    expect(result).toEqual({ exitCode: 0 });
    expect(chunks.filter((c) => c.stream === "stdout").map((c) => c.text).join("")).toBe("hello\n");
    expect(chunks.filter((c) => c.stream === "stderr").map((c) => c.text).join("")).toBe("oops\n");
  });

  it("throws RunFailedError with the exit code, the command and the last 20 lines", async () => {
    const { merged } = await snapshot(fixture.busyboxRootfs);
    const error = await runInRootfs(merged, shell("for i in $(seq 1 30); do echo line$i; done; exit 7"), fixture.runOptions()).catch(
      (caught: unknown) => caught,
    );
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
    const { merged } = await snapshot(fixture.busyboxRootfs);
    const error = await runInRootfs(merged, shell("", { args: ["no-such-program"] }), fixture.runOptions()).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(RunFailedError);
    expect((error as RunFailedError).startError).toMatch(/no-such-program.*not found/);
    expect((error as Error).message).toMatch(/could not start the process/);
  });

  it("runs as a USER resolved by name from the image's /etc/passwd, without effective capabilities", async () => {
    const { merged } = await snapshot(fixture.busyboxRootfs);
    const user = resolveUser(
      "builder",
      await readFile(path.join(merged, "etc/passwd"), "utf8"),
      await readFile(path.join(merged, "etc/group"), "utf8"),
    );
    const { stdout } = await capture(merged, shell("id -u; id -g; id -G; grep CapEff /proc/self/status", { user }));
    expect(stdout.split("\n")).toEqual(["1000", "1000", "1000 100", "CapEff:\t0000000000000000", ""]);
  });

  it("gives root Docker's default capabilities", async () => {
    const { merged } = await snapshot(fixture.busyboxRootfs);
    const { stdout } = await capture(merged, shell("grep CapEff /proc/self/status"));
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW
    // SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    expect(stdout).toBe("CapEff:\t00000000a80425fb\n");
  });

  it("creates the working directory, owned by the user, and applies env", async () => {
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
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
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
    await capture(merged, shell("echo data > /root/out.txt"));
    expect(await readFile(path.join(upper, "root/out.txt"), "utf8")).toBe("data\n");
  });

  it("with network none sees only lo, up; with host network the host's interfaces", async () => {
    const { merged } = await snapshot(fixture.busyboxRootfs);
    const none = await capture(merged, shell("cat /proc/net/dev; cat /sys/class/net/lo/flags", { network: "none" }));
    expect(interfaceNames(none.stdout.split("\n").slice(0, -2).join("\n"))).toEqual(["lo"]);
    // IFF_UP (0x1) | IFF_LOOPBACK (0x8)
    expect(Number(none.stdout.trim().split("\n").at(-1)) & 0x1).toBe(1);
    const host = await capture(merged, shell("cat /proc/net/dev"));
    expect(interfaceNames(host.stdout)).toEqual(await hostInterfaces());
  });

  it("mounts /proc and /sys readable, /sys read-only, and the default devices", async () => {
    const { merged } = await snapshot(fixture.busyboxRootfs);
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
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
    await capture(merged, shell("test -s /etc/resolv.conf"));
    expect(await exists(path.join(merged, "etc/resolv.conf"))).toBe(false);
    expect(await exists(path.join(merged, "etc/hosts"))).toBe(false);
    expect(await exists(path.join(merged, "etc/passwd"))).toBe(true);
    expect(await whiteouts(upper)).toEqual([]);
  });

  it("stops the container promptly on abort and leaves nothing behind", async () => {
    const { merged } = await snapshot(fixture.busyboxRootfs);
    const controller = new AbortController();
    const started = Date.now();
    const run = runInRootfs(merged, shell("echo started; sleep 100"), fixture.runOptions({
      signal: controller.signal,
      onOutput: (_stream, chunk) => {
        if (chunk.toString().includes("started")) controller.abort();
      },
    }));
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await runcContainers()).toEqual([]);
    expect(await readdir(fixture.bundleRoot)).toEqual([]);
    expect(await exists(path.join(merged, "etc/resolv.conf"))).toBe(false);
  });

  it("stops a container aborted before runc has created it", async () => {
    const { merged } = await snapshot(fixture.busyboxRootfs);
    const controller = new AbortController();
    const started = Date.now();
    const run = runInRootfs(merged, shell("sleep 100"), fixture.runOptions({ signal: controller.signal }));
    // Fires while runInRootfs prepares the rootfs, before runc starts.
    controller.abort();
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await runcContainers()).toEqual([]);
    expect(await readdir(fixture.bundleRoot)).toEqual([]);
  });

  it("rejects at once when the signal is already aborted", async () => {
    const { merged } = await snapshot(fixture.busyboxRootfs);
    await expect(
      runInRootfs(merged, shell("true"), fixture.runOptions({ signal: AbortSignal.abort() })),
    ).rejects.toMatchObject({ name: "AbortError" });
  });
});
