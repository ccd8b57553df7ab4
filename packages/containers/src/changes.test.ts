import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { classifyUpperEntry, containerChanges, formatChanges } from "./changes.js";

describe("classifyUpperEntry", () => {
  it("is D for a whiteout, C for a name the image has, A otherwise", () => {
    expect(classifyUpperEntry({ whiteout: true, inImage: false })).toBe("D");
    expect(classifyUpperEntry({ whiteout: false, inImage: true })).toBe("C");
    expect(classifyUpperEntry({ whiteout: false, inImage: false })).toBe("A");
  });

  it("formats sorted K /path lines", () => {
    expect(formatChanges([{ kind: "A", path: "/b" }, { kind: "C", path: "/a" }, { kind: "D", path: "/a/x" }])).toBe("C /a\nD /a/x\nA /b\n");
  });
});

describe("containerChanges", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reads an upper dir over layers: whiteouts, opaque dirs, new and changed names", async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "tsbuild-changes-"));
    const [base, top, upper] = ["base", "top", "upper"].map((d) => path.join(dir!, d));
    await mkdir(path.join(base, "etc"), { recursive: true });
    await writeFile(path.join(base, "etc/motd"), "");
    await writeFile(path.join(base, "etc/gone"), "");
    await mkdir(path.join(base, "opt/old"), { recursive: true });
    await writeFile(path.join(base, "opt/keep"), "");
    await mkdir(top, { recursive: true });
    execFileSync("mknod", [path.join(top, "etc-hidden"), "c", "0", "0"]); // a whiteout of a name base lacks
    await mkdir(path.join(upper, "etc"), { recursive: true });
    await writeFile(path.join(upper, "etc/motd"), "x");
    await writeFile(path.join(upper, "etc/new"), "x");
    execFileSync("mknod", [path.join(upper, "etc/gone"), "c", "0", "0"]);
    await mkdir(path.join(upper, "opt"));
    execFileSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", path.join(upper, "opt")]);
    await writeFile(path.join(upper, "opt/keep"), "x");
    const changes = await containerChanges(upper, [top, base]);
    expect(formatChanges(changes)).toBe(["C /etc", "D /etc/gone", "C /etc/motd", "A /etc/new", "C /opt", "C /opt/keep", "D /opt/old", ""].join("\n"));
  });
});
