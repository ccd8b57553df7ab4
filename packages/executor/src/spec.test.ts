import { describe, expect, it } from "vitest";
import { DEFAULT_CAPABILITIES, runtimeSpec, type ProcessSpec } from "./spec.js";

interface Spec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[] };
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  linux: { namespaces: { type: string }[]; maskedPaths: string[]; readonlyPaths: string[]; resources: unknown };
}

const base: ProcessSpec = {
  args: ["/bin/sh", "-c", "echo hi"],
  env: ["PATH=/usr/bin:/bin", "A=1"],
  cwd: "/work",
  user: { uid: 0, gid: 0, additionalGids: [] },
  network: "host",
};

const spec = (overrides: Partial<ProcessSpec> = {}): Spec => runtimeSpec("/snap/merged", { ...base, ...overrides }) as Spec;

describe("runtimeSpec", () => {
  it("carries the process: args, env, cwd, user, no terminal", () => {
    const { process, root } = spec({ user: { uid: 1000, gid: 100, additionalGids: [10, 20] } });
    expect(process.args).toEqual(["/bin/sh", "-c", "echo hi"]);
    expect(process.env).toEqual(["PATH=/usr/bin:/bin", "A=1"]);
    expect(process.cwd).toBe("/work");
    expect(process.user).toEqual({ uid: 1000, gid: 100, additionalGids: [10, 20] });
    expect(process.terminal).toBe(false);
    expect(root).toEqual({ path: "/snap/merged", readonly: false });
  });

  it("uses pid, ipc, uts and mount namespaces and shares the host network by default", () => {
    expect(spec().linux.namespaces.map((ns) => ns.type).sort()).toEqual(["ipc", "mount", "pid", "uts"]);
  });

  it("adds a network namespace for network none", () => {
    expect(spec({ network: "none" }).linux.namespaces.map((ns) => ns.type).sort()).toEqual(["ipc", "mount", "network", "pid", "uts"]);
  });

  it("gives root Docker's default capabilities", () => {
    const { capabilities } = spec().process;
    const expected = DEFAULT_CAPABILITIES.map((name) => `CAP_${name}`);
    expect(expected).toHaveLength(14);
    expect(expected).toContain("CAP_NET_BIND_SERVICE");
    expect(expected).not.toContain("CAP_SYS_ADMIN");
    expect(capabilities.bounding).toEqual(expected);
    expect(capabilities.effective).toEqual(expected);
    expect(capabilities.permitted).toEqual(expected);
  });

  it("leaves a non-root user only the bounding set", () => {
    const { capabilities } = spec({ user: { uid: 1000, gid: 1000, additionalGids: [] } }).process;
    expect(capabilities.bounding).toHaveLength(14);
    expect(capabilities.effective).toEqual([]);
    expect(capabilities.permitted).toEqual([]);
  });

  it("takes an explicit capability list, with or without the CAP_ prefix", () => {
    expect(spec({ capabilities: ["CHOWN", "CAP_SYS_ADMIN"] }).process.capabilities.bounding).toEqual(["CAP_CHOWN", "CAP_SYS_ADMIN"]);
  });

  it("mounts the kernel filesystems, /sys and cgroup read-only", () => {
    const mounts = new Map(spec().mounts.map((mount) => [mount.destination, mount]));
    expect(mounts.get("/proc")?.type).toBe("proc");
    expect(mounts.get("/dev")?.type).toBe("tmpfs");
    expect(mounts.get("/dev/pts")?.type).toBe("devpts");
    expect(mounts.get("/dev/shm")?.type).toBe("tmpfs");
    expect(mounts.get("/dev/mqueue")?.type).toBe("mqueue");
    expect(mounts.get("/sys")).toMatchObject({ type: "sysfs", options: expect.arrayContaining(["ro"]) });
    expect(mounts.get("/sys/fs/cgroup")).toMatchObject({ type: "cgroup", options: expect.arrayContaining(["ro"]) });
  });

  it("binds the host's resolv.conf and hosts read-only", () => {
    const binds = spec().mounts.filter((mount) => mount.type === "bind");
    expect(binds.map((mount) => [mount.destination, mount.source])).toEqual([
      ["/etc/resolv.conf", "/etc/resolv.conf"],
      ["/etc/hosts", "/etc/hosts"],
    ]);
    for (const bind of binds) expect(bind.options).toContain("ro");
  });

  it("appends extra bind and tmpfs mounts after the standard ones", () => {
    const mounts = spec({
      mounts: [
        { type: "bind", source: "/host/cache", destination: "/root/.cache", options: ["rw"] },
        { type: "bind", source: "/host/src", destination: "/src", options: ["bind", "ro"] },
        { type: "tmpfs", destination: "/tmp", options: ["size=67108864", "ro"] },
      ],
    }).mounts;
    expect(mounts.slice(-3)).toEqual([
      { destination: "/root/.cache", type: "bind", source: "/host/cache", options: ["rbind", "rw"] },
      { destination: "/src", type: "bind", source: "/host/src", options: ["bind", "ro"] },
      { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["size=67108864", "ro"] },
    ]);
  });

  it("binds a file mount (a secret) read-only, without exec, suid or devices", () => {
    const mounts = spec({
      mounts: [{ type: "file", source: "/tmp/secrets-x/npmrc", destination: "/run/secrets/npmrc", mode: 0o400, uid: 0, gid: 0 }],
    }).mounts;
    expect(mounts.at(-1)).toEqual({
      destination: "/run/secrets/npmrc",
      type: "bind",
      source: "/tmp/secrets-x/npmrc",
      options: ["rbind", "ro", "nosuid", "nodev", "noexec"],
    });
  });

  it("keeps the order of the extra mounts, so a later one can land inside an earlier one", () => {
    const mounts = spec({
      mounts: [
        { type: "tmpfs", destination: "/work", options: ["size=1048576"] },
        { type: "bind", source: "/run/agent.sock", destination: "/work/agent.sock", options: ["rw"] },
        { type: "file", source: "/s/token", destination: "/work/token", mode: 0o440, uid: 1000, gid: 1000 },
      ],
    }).mounts;
    expect(mounts.slice(-3).map((mount) => [mount.destination, mount.type])).toEqual([
      ["/work", "tmpfs"],
      ["/work/agent.sock", "bind"],
      ["/work/token", "bind"],
    ]);
  });

  it("rejects a relative mount destination of any kind", () => {
    expect(() => spec({ mounts: [{ type: "tmpfs", destination: "tmp", options: [] }] })).toThrow(/"tmp" must be an absolute path/);
    expect(() => spec({ mounts: [{ type: "bind", source: "/x", destination: "x", options: [] }] })).toThrow(/absolute/);
    expect(() => spec({ mounts: [{ type: "file", source: "/s", destination: "run/s", mode: 0o400, uid: 0, gid: 0 }] })).toThrow(/absolute/);
  });

  it("masks Docker's kernel paths, denies devices beyond runc's defaults and sets the hostname", () => {
    const result = spec();
    expect(result.linux.maskedPaths).toContain("/proc/kcore");
    expect(result.linux.readonlyPaths).toContain("/proc/sys");
    expect(result.linux.resources).toEqual({ devices: [{ allow: false, access: "rwm" }] });
    expect(result.hostname).toBe("tsbuild");
    expect(spec({ hostname: "box" }).hostname).toBe("box");
  });

  it("is a JSON document", () => {
    const result = spec({ network: "none" });
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
  });
});
