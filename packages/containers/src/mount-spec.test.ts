import { describe, expect, it } from "vitest";
import { hostPathRefusal, mergeEnv, parseEnvFlags, parseMountFlag, RunFlagError } from "./mount-spec.js";

describe("parseMountFlag", () => {
  it("parses binds and volumes with docker's field names", () => {
    expect(parseMountFlag("type=bind,src=data,dst=/in,readonly", "/work")).toEqual({ type: "bind", source: "/work/data", destination: "/in", readonly: true });
    expect(parseMountFlag("type=bind,source=/h,target=/in/../x/", "/")).toEqual({ type: "bind", source: "/h", destination: "/x/", readonly: false });
    expect(parseMountFlag("type=volume,src=cache,dst=/var/cache,ro=false", "/")).toEqual({ type: "volume", name: "cache", destination: "/var/cache", readonly: false });
    expect(parseMountFlag("src=v1,destination=/v", "/")).toMatchObject({ type: "volume", name: "v1" });
  });

  it.each([
    ["type=bind,dst=/x", /a bind mount needs src=HOST_PATH/],
    ["type=volume,dst=/x", /a volume mount needs src=VOLUME_NAME/],
    ["type=volume,src=-bad,dst=/x", /not a valid volume name/],
    ["type=bind,src=/h", /needs dst=\/PATH/],
    ["type=bind,src=/h,dst=rel", /dst must be an absolute path/],
    ["type=bind,src=/h,dst=/", /cannot mount over the container's root/],
    ["type=tmpfs,dst=/x", /unsupported type=tmpfs/],
    ["type=bind,src=/h,dst=/x,bogus=1", /unknown field "bogus"/],
    ["type=bind,src=/h,src=/i,dst=/x", /source is given twice/],
    ["type=bind,src=/h,dst=/x,readonly=maybe", /readonly=maybe: expected true or false/],
  ])("rejects %s", (text, message) => {
    expect(() => parseMountFlag(text, "/")).toThrow(RunFlagError);
    expect(() => parseMountFlag(text, "/")).toThrow(message);
  });
});

describe("hostPathRefusal", () => {
  it("refuses system dirs and kernel trees, allows data paths and single files", () => {
    for (const p of ["/", "/etc", "/usr", "/var/lib", "/proc/1", "/sys/fs/cgroup", "/dev/sda", "/boot/grub"]) expect(hostPathRefusal(p), p).toBeDefined();
    for (const p of ["/tmp/x", "/etc/hosts", "/home/me/project", "/var/lib/app", "/srv/data"]) expect(hostPathRefusal(p), p).toBeUndefined();
  });
});

describe("env flags", () => {
  it("takes NAME=VALUE, or NAME from the host when set there", () => {
    expect(parseEnvFlags(["A=1", "B=", "HOME", "UNSET_HERE"], { HOME: "/root" })).toEqual(["A=1", "B=", "HOME=/root"]);
    expect(() => parseEnvFlags(["=x"], {})).toThrow(/expected NAME=VALUE/);
  });

  it("replaces the image's value in place and appends new names", () => {
    expect(mergeEnv(["PATH=/bin", "A=1"], ["A=2", "B=3"])).toEqual(["PATH=/bin", "A=2", "B=3"]);
  });
});
