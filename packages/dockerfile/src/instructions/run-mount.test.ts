import { describe, expect, it } from "vitest";
import { parseRunMount, parseRunMounts, resolveRunMountTarget, RunMountError } from "./run-mount.js";

function failure(value: string): RunMountError {
  try {
    parseRunMount(value);
  } catch (error) {
    expect(error).toBeInstanceOf(RunMountError);
    return error as RunMountError;
  }
  throw new Error(`expected ${value} to fail`);
}

describe("parseRunMount: bind", () => {
  it("is the default type, read-only, from the root of the build context", () => {
    expect(parseRunMount("target=/src")).toEqual({ type: "bind", target: "/src", source: "/", readOnly: true });
  });

  it("takes target, dst and destination, source and src, from", () => {
    const expected = { type: "bind", target: "/app/src", from: "builder", source: "/out/bin", readOnly: true };
    expect(parseRunMount("type=bind,target=/app/src,from=builder,source=/out/bin")).toEqual(expected);
    expect(parseRunMount("type=bind,dst=/app/src,from=builder,src=out/bin")).toEqual(expected);
    expect(parseRunMount("destination=/app/src/,from=builder,src=./out/bin/")).toEqual(expected);
  });

  it("keeps the source inside its root", () => {
    expect(parseRunMount("target=/x,source=../../etc")).toMatchObject({ source: "/etc" });
    expect(parseRunMount("target=/x,source=a/../..")).toMatchObject({ source: "/" });
  });

  it("is writable with rw, readwrite, rw=true or ro=false; the last of ro and rw wins", () => {
    for (const flag of ["rw", "readwrite", "rw=true", "readwrite=1", "ro=false", "readonly=F"]) {
      expect(parseRunMount(`target=/x,${flag}`)).toMatchObject({ readOnly: false });
    }
    for (const flag of ["ro", "readonly", "ro=true", "rw=false", "readwrite=0"]) {
      expect(parseRunMount(`target=/x,${flag}`)).toMatchObject({ readOnly: true });
    }
    expect(parseRunMount("target=/x,rw,ro")).toMatchObject({ readOnly: true });
    expect(parseRunMount("target=/x,ro,rw")).toMatchObject({ readOnly: false });
    expect(parseRunMount("target=/x,readonly=true,rw=true")).toMatchObject({ readOnly: false });
  });

  it("reads keys and type case-insensitively, values as written", () => {
    expect(parseRunMount("TYPE=BIND,Target=/Src,FROM=Stage")).toEqual({ type: "bind", target: "/Src", from: "Stage", source: "/", readOnly: true });
  });

  it("keeps a relative target relative (the working directory applies), cleaned", () => {
    expect(parseRunMount("target=./src/../lib/")).toMatchObject({ target: "lib" });
  });

  it("treats an empty from as the build context", () => {
    expect(parseRunMount("target=/x,from=")).not.toHaveProperty("from");
  });

  it("ignores keys of other types, as BuildKit does", () => {
    expect(parseRunMount("target=/x,id=ignored,env=IGNORED")).toEqual({ type: "bind", target: "/x", source: "/", readOnly: true });
  });
});

describe("parseRunMount: cache", () => {
  it("defaults: id = target, shared, writable, empty, 0755 root:root", () => {
    expect(parseRunMount("type=cache,target=/root/.cache/")).toEqual({
      type: "cache",
      target: "/root/.cache",
      id: "/root/.cache",
      sharing: "shared",
      readOnly: false,
      source: "/",
      mode: 0o755,
      uid: 0,
      gid: 0,
    });
  });

  it("takes id, sharing, from, source, ro, mode, uid and gid", () => {
    expect(
      parseRunMount("type=cache,id=apt,target=/var/cache/apt,sharing=LOCKED,from=base,src=cache,ro,mode=0700,uid=1000,gid=100"),
    ).toEqual({
      type: "cache",
      target: "/var/cache/apt",
      id: "apt",
      sharing: "locked",
      readOnly: true,
      from: "base",
      source: "/cache",
      mode: 0o700,
      uid: 1000,
      gid: 100,
    });
    expect(parseRunMount("type=cache,target=/c,sharing=private")).toMatchObject({ sharing: "private" });
  });

  it("uses the cleaned target as written for the default id", () => {
    expect(parseRunMount("type=cache,target=go/cache/")).toMatchObject({ id: "go/cache" });
  });

  it("accepts the whole uid range and modes up to 7777", () => {
    expect(parseRunMount("type=cache,target=/c,uid=4294967295,gid=0,mode=7777")).toMatchObject({ uid: 4294967295, gid: 0, mode: 0o7777 });
  });
});

describe("parseRunMount: tmpfs", () => {
  it("is writable with the kernel's default size", () => {
    expect(parseRunMount("type=tmpfs,target=/tmp")).toEqual({ type: "tmpfs", target: "/tmp", readOnly: false });
    expect(parseRunMount("type=tmpfs,target=/tmp,size=0")).toEqual({ type: "tmpfs", target: "/tmp", readOnly: false });
  });

  it.each([
    ["32", 32],
    ["32b", 32],
    ["32B", 32],
    ["32k", 32 * 1024],
    ["32K", 32 * 1024],
    ["32kb", 32 * 1024],
    ["32KIB", 32 * 1024],
    ["64m", 64 * 1024 ** 2],
    ["64Mi", NaN],
    ["1g", 1024 ** 3],
    ["2Tb", 2 * 1024 ** 4],
    ["1p", 1024 ** 5],
    ["32.3", 32],
    ["32.3 mb", Math.trunc(32.3 * 1024 ** 2)],
    ["0.5m", 512 * 1024],
    ["1e3", 1000],
    ["", NaN],
    ["hello", NaN],
    ["-32", NaN],
    [" 32 ", NaN],
    ["32m b", NaN],
    ["32bm", NaN],
    ["32x", NaN],
    ["32kibb", NaN],
    ["1e400", NaN],
  ])("size=%s is %d bytes (NaN: an error)", (size, bytes) => {
    const value = `type=tmpfs,target=/t,size=${size}`;
    if (Number.isNaN(bytes)) {
      expect(failure(value).message).toBe(`--mount=${value}: invalid value for size: "${size}"; use bytes or a number with a unit (k, m, g, t, p: 64m, 1.5g)`);
    } else {
      expect(parseRunMount(value)).toEqual({ type: "tmpfs", target: "/t", readOnly: false, sizeBytes: bytes });
    }
  });

  it("can be read-only", () => {
    expect(parseRunMount("type=tmpfs,dst=/t,ro")).toMatchObject({ readOnly: true });
  });
});

describe("parseRunMount: secret", () => {
  it("mounts at /run/secrets/<id>, 0400 root:root, optional", () => {
    expect(parseRunMount("type=secret,id=npmrc")).toEqual({
      type: "secret",
      id: "npmrc",
      target: "/run/secrets/npmrc",
      required: false,
      mode: 0o400,
      uid: 0,
      gid: 0,
    });
  });

  it("takes its id from the basename of the target", () => {
    expect(parseRunMount("type=secret,target=/root/.aws/credentials/")).toMatchObject({ id: "credentials", target: "/root/.aws/credentials" });
  });

  it("takes source as another name for id", () => {
    expect(parseRunMount("type=secret,src=aws")).toMatchObject({ id: "aws", target: "/run/secrets/aws" });
  });

  it("uses the basename of a path-like id for the default target", () => {
    expect(parseRunMount("type=secret,id=dir/key")).toMatchObject({ id: "dir/key", target: "/run/secrets/key" });
  });

  it("with env has no file unless a target is given", () => {
    expect(parseRunMount("type=secret,id=API_KEY,env=API_KEY")).toEqual({
      type: "secret",
      id: "API_KEY",
      env: "API_KEY",
      required: false,
      mode: 0o400,
      uid: 0,
      gid: 0,
    });
    expect(parseRunMount("type=secret,id=k,env=K,target=/k")).toMatchObject({ env: "K", target: "/k" });
  });

  it("takes required (bare or boolean), mode, uid, gid; a relative target is rooted", () => {
    expect(parseRunMount("required,type=secret,id=k,target=run/k,mode=0440,uid=1000,gid=1000")).toEqual({
      type: "secret",
      id: "k",
      target: "/run/k",
      required: true,
      mode: 0o440,
      uid: 1000,
      gid: 1000,
    });
    expect(parseRunMount("type=secret,id=k,required=false")).toMatchObject({ required: false });
    expect(parseRunMount("type=secret,id=k,required=TRUE")).toMatchObject({ required: true });
  });
});

describe("parseRunMount: ssh", () => {
  it("defaults: id default, /run/buildkit/ssh_agent.0, 0600 root:root, optional", () => {
    expect(parseRunMount("type=ssh")).toEqual({
      type: "ssh",
      id: "default",
      target: "/run/buildkit/ssh_agent.0",
      required: false,
      mode: 0o600,
      uid: 0,
      gid: 0,
    });
  });

  it("takes id, target, required, mode, uid, gid", () => {
    expect(parseRunMount("type=ssh,id=gitlab,target=/ssh.sock,required,mode=0660,uid=1,gid=2")).toEqual({
      type: "ssh",
      id: "gitlab",
      target: "/ssh.sock",
      required: true,
      mode: 0o660,
      uid: 1,
      gid: 2,
    });
  });

  it("numbers default targets among the RUN's ssh mounts", () => {
    const mounts = parseRunMounts(["type=ssh", "type=cache,target=/c", "type=ssh,id=b,target=/b.sock", "type=ssh,id=c"]);
    expect(mounts.map((mount) => ("target" in mount ? mount.target : undefined))).toEqual([
      "/run/buildkit/ssh_agent.0",
      "/c",
      "/b.sock",
      "/run/buildkit/ssh_agent.2",
    ]);
  });
});

describe("parseRunMount: CSV", () => {
  it("unquotes quoted fields, with commas and doubled quotes inside", () => {
    expect(parseRunMount('type=bind,"target=/a,b","source=say ""hi"""')).toMatchObject({ target: "/a,b", source: '/say "hi"' });
  });

  it("allows one trailing newline", () => {
    expect(parseRunMount("type=tmpfs,target=/t\n")).toMatchObject({ target: "/t" });
  });

  it.each([
    ['target=/a"b', 'bare " in a field that is not quoted (column 10); quote the whole field: "key=value"'],
    ['"target=/a', "unterminated quoted field starting at column 1"],
    ['"target=/a"x', 'extraneous or missing " in a quoted field (column 11)'],
    ["", "the mount needs options, e.g. type=cache,target=/root/.cache"],
  ])("rejects %j", (value, message) => {
    expect(failure(value).message).toBe(`--mount=${value}: ${message}`);
  });
});

describe("parseRunMount: errors", () => {
  it.each([
    ["type=volume,target=/x", 'unsupported mount type "volume"; use one of bind, cache, tmpfs, secret, ssh'],
    ["type=cache,targt=/x", 'unknown key "targt" in "targt=/x"; cache mounts take target, id, sharing, source, from, ro, rw, mode, uid, gid'],
    ["target=/x,foo=1", 'unknown key "foo" in "foo=1"; bind mounts take target, source, from, ro, rw'],
    ["target=/x,shared", 'invalid field "shared": it must be a key=value pair'],
    ["type=cache,target=/x,", 'invalid field "": it must be a key=value pair'],
    ["target=/x,required", '"required" applies only to secret and ssh mounts, not bind'],
    ["type=cache,target=/x,required=true", '"required" applies only to secret and ssh mounts, not cache'],
    ["type=cache,target=/x,size=1m", '"size" applies only to tmpfs mounts, not cache'],
    ["target=/x,mode=0755", '"mode" is not allowed for bind mounts (only cache, secret and ssh)'],
    ["type=tmpfs,target=/x,uid=1", '"uid" is not allowed for tmpfs mounts (only cache, secret and ssh)'],
    ["type=tmpfs,target=/x,gid=1", '"gid" is not allowed for tmpfs mounts (only cache, secret and ssh)'],
    ["type=cache,target=/x,sharing=exclusive", 'unsupported sharing value "exclusive"; use one of shared, private, locked'],
    ["target=/x,sharing=locked", '"sharing" applies only to cache mounts, not bind'],
    ["type=secret,id=a,sharing=shared", '"sharing" applies only to cache mounts, not secret'],
    ["target=/x,ro=yes", 'invalid value for readonly: "yes"; use true or false'],
    ["target=/x,rw=", 'invalid value for readwrite: ""; use true or false'],
    ["type=ssh,required=maybe", 'invalid value for required: "maybe"; use true or false'],
    ["type=cache,target=/x,mode=0o755", 'invalid value for mode: "0o755"; use an octal mode from 0 to 7777'],
    ["type=cache,target=/x,mode=0789", 'invalid value for mode: "0789"; use an octal mode from 0 to 7777'],
    ["type=cache,target=/x,mode=10000", 'invalid value for mode: "10000"; use an octal mode from 0 to 7777'],
    ["type=cache,target=/x,uid=-1", 'invalid value for uid: "-1"; use a number from 0 to 4294967295'],
    ["type=cache,target=/x,uid=4294967296", 'invalid value for uid: "4294967296"; use a number from 0 to 4294967295'],
    ["type=secret,id=a,gid=root", 'invalid value for gid: "root"; use a number from 0 to 4294967295'],
    ["type=cache,target=/x,gid=", 'invalid value for gid: ""; use a number from 0 to 4294967295'],
    ["type=bind,source=/src", "bind mounts need a target: add target=/path/in/container"],
    ["type=cache,target=", "cache mounts need a target: add target=/path/in/container"],
    ["type=tmpfs", "tmpfs mounts need a target: add target=/path/in/container"],
    ["type=cache,target=/a/..", "cannot mount over the root directory (target=/a/..)"],
    ["type=secret,target=/", "cannot mount over the root directory (target=/)"],
    ["type=ssh,target=/..", "cannot mount over the root directory (target=/..)"],
    ["type=secret", "secret mounts need an id or a target (id=NAME or target=/path)"],
    ["type=secret,env=TOKEN", "secret mounts need an id or a target (id=NAME or target=/path)"],
    ["type=secret,id=a,env=", "env needs the name of an environment variable (env=NAME)"],
    ["type=secret,id=a,from=stage", "secret mounts cannot have a from"],
    ["type=secret,id=a,source=b", "set either id or source (they mean the same for secrets), not both"],
    ["type=ssh,source=/agent", "ssh mounts do not take a source; name the agent with id="],
  ])("rejects %s", (value, message) => {
    const error = failure(value);
    expect(error.message).toBe(`--mount=${value}: ${message}`);
    expect(error.value).toBe(value);
    expect(error.name).toBe("RunMountError");
  });
});

describe("resolveRunMountTarget", () => {
  it("takes a relative target from the working directory and keeps an absolute one", () => {
    expect(resolveRunMountTarget("node_modules", "/app")).toBe("/app/node_modules");
    expect(resolveRunMountTarget("../cache", "/app/src/")).toBe("/app/cache");
    expect(resolveRunMountTarget("/cache", "/app")).toBe("/cache");
  });

  it("refuses a target that resolves to /", () => {
    expect(() => resolveRunMountTarget("..", "/app")).toThrow(RunMountError);
    expect(() => resolveRunMountTarget(".", "/")).toThrow("cannot mount over the root directory (target . in working directory /)");
  });
});
