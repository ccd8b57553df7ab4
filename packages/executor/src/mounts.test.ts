// Integration tests: RUN's extra mounts (bind, tmpfs, secret file, ssh socket) with real runc
// on overlay snapshots of the busybox image; none of them may leave a trace in the upper dir.
import { lstat, mkdtemp, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RunFailedError, runInRootfs } from "./run.js";
import { exec, exists, shell, useRuncFixture, whiteouts } from "./test-support.js";

const fixture = useRuncFixture();
const { snapshot, capture } = fixture;
const builder = { uid: 1000, gid: 1000, additionalGids: [] };

const servers: net.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** A directory on the host with `files` in it, under the fixture's scratch. */
async function hostDir(files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(path.join(fixture.scratch, "host-"));
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content);
  return dir;
}

/**
 * What the run changed in the upper dir: every entry but the directories overlayfs copied up
 * from the image on the way to a mount point (the snapshot prunes those when it commits).
 */
async function layerChanges(upper: string): Promise<string[]> {
  const changes: string[] = [];
  for (const entry of (await readdir(upper, { recursive: true })).sort()) {
    const inUpper = await lstat(path.join(upper, entry));
    const inImage = await lstat(path.join(fixture.busyboxRootfs, entry)).catch(() => undefined);
    if (!(inUpper.isDirectory() && inImage?.isDirectory())) changes.push(entry);
  }
  return changes;
}

describe("RUN mounts with runc", () => {
  it("a read-only bind shows the host dir and refuses writes with EROFS", async () => {
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
    const source = await hostDir({ "hello.txt": "from the host\n" });
    const { stdout } = await capture(
      merged,
      shell("cat /src/hello.txt; { echo x > /src/new.txt; } 2>&1; rm /src/hello.txt 2>&1; true", {
        mounts: [{ type: "bind", source, destination: "/src", options: ["ro"] }],
      }),
    );
    expect(stdout).toBe(
      "from the host\n" +
        "/bin/sh: can't create /src/new.txt: Read-only file system\n" +
        "rm: can't remove '/src/hello.txt': Read-only file system\n",
    );
    expect(await readdir(source)).toEqual(["hello.txt"]);
    expect(await layerChanges(upper)).toEqual([]);
  });

  it("a read-write bind writes through to the host dir, not to the layer", async () => {
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
    const source = await hostDir({ "in.txt": "input\n" });
    await capture(
      merged,
      shell("cat /work/in.txt > /work/out.txt; echo more >> /work/out.txt; mkdir /work/sub", {
        mounts: [{ type: "bind", source, destination: "/work", options: ["rw"] }],
      }),
    );
    expect(await readFile(path.join(source, "out.txt"), "utf8")).toBe("input\nmore\n");
    expect((await stat(path.join(source, "sub"))).isDirectory()).toBe(true);
    expect(await layerChanges(upper)).toEqual([]);
  });

  it("binds a single host file at a path missing in the image and removes the stub", async () => {
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
    const source = await hostDir({ "config.json": "{}\n" });
    const { stdout } = await capture(
      merged,
      shell("cat /opt/app/config.json", {
        mounts: [{ type: "bind", source: path.join(source, "config.json"), destination: "/opt/app/config.json", options: ["ro"] }],
      }),
    );
    expect(stdout).toBe("{}\n");
    expect(await exists(path.join(merged, "opt"))).toBe(false);
    expect(await layerChanges(upper)).toEqual([]);
  });

  it("a tmpfs starts empty, is limited to its size and is gone after the run", async () => {
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
    const { stdout } = await capture(
      merged,
      shell(
        [
          "ls -A /scratch | wc -l",
          "grep ' /scratch ' /proc/mounts | grep -o 'size=[0-9]*k'",
          "head -c 1048576 /dev/zero > /scratch/fits && echo fits",
          "head -c 2097152 /dev/zero > /scratch/too-big 2>/dev/null || echo full",
        ].join("; "),
        { mounts: [{ type: "tmpfs", destination: "/scratch", options: [`size=${2 * 1024 * 1024 - 4096}`, "mode=1777"] }] },
      ),
    );
    expect(stdout).toBe("0\nsize=2044k\nfits\nfull\n");
    expect(await exists(path.join(merged, "scratch"))).toBe(false);
    expect(await layerChanges(upper)).toEqual([]);
  });

  it("a tmpfs over an image directory hides its files and leaves no whiteout", async () => {
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
    const { stdout } = await capture(
      merged,
      shell("ls -A /etc | wc -l; touch /etc/passwd", { mounts: [{ type: "tmpfs", destination: "/etc", options: [] }] }),
    );
    expect(stdout).toBe("0\n");
    expect(await readFile(path.join(merged, "etc/passwd"), "utf8")).toMatch(/^root:/);
    expect(await whiteouts(upper)).toEqual([]);
    expect(await layerChanges(upper)).toEqual([]);
  });

  it("a secret file is readable at its target with its mode and owner, read-only, and leaves nothing behind", async () => {
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
    const secrets = await hostDir();
    const source = path.join(secrets, "token");
    await writeFile(source, "s3cr3t", { mode: 0o600 });
    const { stdout } = await capture(
      merged,
      shell(
        [
          "cat /run/secrets/token; echo",
          "stat -c '%a %u %g' /run/secrets/token",
          "echo x > /run/secrets/token 2>/dev/null || echo not-writable",
          "grep ' /run/secrets/token ' /proc/mounts | grep -o 'ro,nosuid,nodev,noexec'",
        ].join("; "),
        { user: builder, mounts: [{ type: "file", source, destination: "/run/secrets/token", mode: 0o440, uid: 0, gid: 1000 }] },
      ),
    );
    expect(stdout).toBe("s3cr3t\n440 0 1000\nnot-writable\nro,nosuid,nodev,noexec\n");
    expect(await exists(path.join(merged, "run"))).toBe(false);
    expect(await layerChanges(upper)).toEqual([]);
    expect(await exec("grep", ["-r", "-l", "s3cr3t", upper]).catch((error: { code: number }) => error.code)).toBe(1);
    expect(await readFile(source, "utf8")).toBe("s3cr3t");
  });

  it("a secret with mode 0400 root:root is not readable by another user", async () => {
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
    const source = path.join(await hostDir(), "key");
    await writeFile(source, "k");
    const { stdout } = await capture(
      merged,
      shell("cat /tmp/key 2>/dev/null || echo denied", {
        user: builder,
        mounts: [{ type: "file", source, destination: "/tmp/key", mode: 0o400, uid: 0, gid: 0 }],
      }),
    );
    expect(stdout).toBe("denied\n");
    expect(await exists(path.join(merged, "tmp/key"))).toBe(false);
    expect(await whiteouts(upper)).toEqual([]);
    expect(await layerChanges(upper)).toEqual([]);
  });

  it("refuses a secret source that is a symlink, before runc starts", async () => {
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
    const dir = await hostDir({ real: "x" });
    await symlink(path.join(dir, "real"), path.join(dir, "link"));
    const process = shell("true", {
      mounts: [{ type: "file", source: path.join(dir, "link"), destination: "/run/secrets/link", mode: 0o400, uid: 0, gid: 0 }],
    });
    await expect(runInRootfs(merged, process, fixture.runOptions())).rejects.toThrow(
      /^cannot prepare the file mounted at \/run\/secrets\/link from .*\/link: ELOOP/,
    );
    expect(await layerChanges(upper)).toEqual([]);
  });

  it("an ssh agent socket is visible at its target", async () => {
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
    const agent = path.join(await hostDir(), "agent.sock");
    const server = net.createServer((socket) => socket.end());
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(agent, resolve));
    const target = "/run/buildkit/ssh_agent.0";
    const { stdout } = await capture(
      merged,
      shell(`test -S ${target} && echo socket; echo "$SSH_AUTH_SOCK"`, {
        env: ["PATH=/bin", `SSH_AUTH_SOCK=${target}`],
        mounts: [{ type: "bind", source: agent, destination: target, options: ["rw"] }],
      }),
    );
    expect(stdout).toBe(`socket\n${target}\n`);
    expect(await exists(path.join(merged, "run"))).toBe(false);
    expect(await layerChanges(upper)).toEqual([]);
  });

  it("removes nested mount points, and keeps what the process wrote next to them", async () => {
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
    const source = await hostDir({ "a.txt": "a\n" });
    const secret = path.join(await hostDir(), "s");
    await writeFile(secret, "s");
    await capture(
      merged,
      shell("cat /app/cache/src/a.txt /app/cache/secret > /app/out.txt", {
        cwd: "/app",
        mounts: [
          { type: "tmpfs", destination: "/app/cache", options: [] },
          { type: "bind", source, destination: "/app/cache/src", options: ["ro"] },
          { type: "file", source: secret, destination: "/app/cache/secret", mode: 0o400, uid: 0, gid: 0 },
          { type: "tmpfs", destination: "/app/deep/er/dir", options: [] },
        ],
      }),
    );
    // /app is the working directory, which a RUN creates in the layer, as Docker does.
    expect(await layerChanges(upper)).toEqual(["app", path.join("app", "out.txt")]);
    expect(await readFile(path.join(upper, "app/out.txt"), "utf8")).toBe("a\ns");
  });

  it("removes the mount points when the process fails", async () => {
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
    const source = await hostDir();
    const run = capture(
      merged,
      shell("exit 3", {
        mounts: [
          { type: "bind", source, destination: "/mnt/data", options: ["ro"] },
          { type: "tmpfs", destination: "/var/cache/x", options: [] },
        ],
      }),
    );
    await expect(run).rejects.toBeInstanceOf(RunFailedError);
    expect(await exists(path.join(merged, "mnt"))).toBe(false);
    expect(await exists(path.join(merged, "var/cache"))).toBe(false);
    expect(await layerChanges(upper)).toEqual([]);
  });

  it("keeps a mount point's directory the process filled through a parent path", async () => {
    const { merged, upper } = await snapshot(fixture.busyboxRootfs);
    await capture(
      merged,
      shell("echo kept > /data/log.txt", { mounts: [{ type: "tmpfs", destination: "/data/tmp", options: [] }] }),
    );
    expect(await layerChanges(upper)).toEqual(["data", path.join("data", "log.txt")]);
  });
});
