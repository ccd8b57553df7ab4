import { describe, expect, it } from "vitest";
import { InvalidUserError, resolveUser, UnknownUserError } from "./user.js";

const passwd = [
  "root:x:0:0:root:/root:/bin/sh",
  "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
  "builder:x:1000:1000:builder:/home/builder:/bin/sh",
  "# a comment line",
  "",
  "broken:x:notanumber:5:::",
  "short:x",
  "  spaced:x:1001:1001::/home/spaced:/bin/sh  ",
  "dup:x:2000:2000:::",
  "dup:x:2001:2001:::",
].join("\n");

const group = [
  "root:x:0:",
  "daemon:x:1:",
  "users:x:100:builder,spaced",
  "docker:x:999:builder",
  "builder:x:1000:",
  "staff:x:50:",
  "badgid:x:nope:builder",
].join("\n");

describe("resolveUser", () => {
  it("gives root for an empty USER", () => {
    expect(resolveUser("", passwd, group)).toEqual({ uid: 0, gid: 0, additionalGids: [] });
  });

  it("resolves a name to its uid, primary gid and the groups listing it as a member", () => {
    expect(resolveUser("builder", passwd, group)).toEqual({ uid: 1000, gid: 1000, additionalGids: [100, 999] });
  });

  it("resolves root by name without supplementary groups when it is in none", () => {
    expect(resolveUser("root", passwd, group)).toEqual({ uid: 0, gid: 0, additionalGids: [] });
  });

  it("resolves a bare uid through /etc/passwd when it has an entry", () => {
    expect(resolveUser("1000", passwd, group)).toEqual({ uid: 1000, gid: 1000, additionalGids: [100, 999] });
  });

  it("accepts a bare uid without an entry, with gid 0", () => {
    expect(resolveUser("4242", passwd, group)).toEqual({ uid: 4242, gid: 0, additionalGids: [] });
    expect(resolveUser("4242", undefined, undefined)).toEqual({ uid: 4242, gid: 0, additionalGids: [] });
  });

  it("takes uid:gid as given without reading the files", () => {
    expect(resolveUser("1000:50", passwd, group)).toEqual({ uid: 1000, gid: 50, additionalGids: [] });
    expect(resolveUser("5:6", undefined, undefined)).toEqual({ uid: 5, gid: 6, additionalGids: [] });
    expect(resolveUser("root:0", undefined, undefined)).toEqual({ uid: 0, gid: 0, additionalGids: [] });
  });

  it("resolves name:group, name:gid and uid:group, with no supplementary groups", () => {
    expect(resolveUser("builder:staff", passwd, group)).toEqual({ uid: 1000, gid: 50, additionalGids: [] });
    expect(resolveUser("builder:7", passwd, group)).toEqual({ uid: 1000, gid: 7, additionalGids: [] });
    expect(resolveUser("1000:docker", passwd, group)).toEqual({ uid: 1000, gid: 999, additionalGids: [] });
    expect(resolveUser("4242:users", undefined, group)).toEqual({ uid: 4242, gid: 100, additionalGids: [] });
  });

  it("treats an empty group part as no group", () => {
    expect(resolveUser("builder:", passwd, group)).toEqual({ uid: 1000, gid: 1000, additionalGids: [100, 999] });
  });

  it("trims lines and takes the first of duplicate entries", () => {
    expect(resolveUser("spaced", passwd, group)).toEqual({ uid: 1001, gid: 1001, additionalGids: [100] });
    expect(resolveUser("dup", passwd, group)).toEqual({ uid: 2000, gid: 2000, additionalGids: [] });
  });

  it("reports a user name with no passwd entry, naming it", () => {
    expect(() => resolveUser("nosuch", passwd, group)).toThrow(UnknownUserError);
    expect(() => resolveUser("nosuch", passwd, group)).toThrow(/no user named "nosuch" in the image's \/etc\/passwd/);
    // A line with a non-numeric uid cannot be matched.
    expect(() => resolveUser("broken", passwd, group)).toThrow(/no user named "broken"/);
  });

  it("says when the image has no /etc/passwd at all", () => {
    const error = (() => {
      try {
        resolveUser("builder", undefined, undefined);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(UnknownUserError);
    expect((error as UnknownUserError).missing).toBe("builder");
    expect((error as UnknownUserError).kind).toBe("user");
    expect((error as Error).message).toMatch(/the image has no \/etc\/passwd/);
  });

  it("reports a group name with no group entry, naming it", () => {
    expect(() => resolveUser("builder:nosuch", passwd, group)).toThrow(/no group named "nosuch" in the image's \/etc\/group/);
    expect(() => resolveUser("1000:wheel", passwd, undefined)).toThrow(/the image has no \/etc\/group/);
  });

  it("rejects ids out of runc's range and malformed values", () => {
    expect(() => resolveUser("2147483648", passwd, group)).toThrow(InvalidUserError);
    expect(() => resolveUser("1:2147483648", passwd, group)).toThrow(/out of range/);
    expect(resolveUser("2147483647", undefined, undefined).uid).toBe(2147483647);
    expect(() => resolveUser("a:b:c", passwd, group)).toThrow(InvalidUserError);
    expect(() => resolveUser("-1", passwd, group)).toThrow(UnknownUserError);
  });
});
