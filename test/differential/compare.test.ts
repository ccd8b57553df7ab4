// The comparison rules on hand-made manifests: a difference is found, and only documented ones are excused.
import { describe, expect, it } from "vitest";
import type { TreeEntry } from "../support/tree-manifest.js";
import { compareConfigs, compareTrees, withoutBuildahRunStubs } from "./compare.js";

const file = (path: string, fields: Partial<TreeEntry> = {}): TreeEntry => ({ path, type: "file", mode: "0644", uid: 0, gid: 0, size: 1, sha256: "aa", ...fields });
const dir = (path: string, fields: Partial<TreeEntry> = {}): TreeEntry => ({ path, type: "dir", mode: "0755", uid: 0, gid: 0, ...fields });

describe("compareTrees", () => {
  it("reports each differing field and each path present on one side only", () => {
    expect(compareTrees([file("/a", { mode: "4755" }), file("/only-ours")], [file("/a", { uid: 1 }), dir("/only-theirs")])).toEqual([
      { path: "/a", field: "mode", tsbuild: "4755", buildah: "0644" },
      { path: "/a", field: "uid", tsbuild: 0, buildah: 1 },
      { path: "/only-ours", field: "exists", tsbuild: "file 0644 0:0 1B", buildah: "(absent)" },
      { path: "/only-theirs", field: "exists", tsbuild: "(absent)", buildah: "dir 0755 0:0" },
    ]);
  });

  it("holds tsbuild to the reference where buildah differs, and notices when buildah stops differing", () => {
    const known = [{ kind: "buildah-differs" as const, path: "/w", tsbuild: { type: "dir" as const, uid: 1000 }, why: "test" }];
    expect(compareTrees([dir("/w", { uid: 1000 })], [], known)).toEqual([]);
    expect(compareTrees([dir("/w")], [], known)).toEqual([{ path: "/w", field: "uid", tsbuild: 0, buildah: '(not compared; reference: 1000)' }]);
    expect(compareTrees([dir("/w", { uid: 1000 })], [dir("/w", { uid: 1000 })], known)[0].field).toMatch(/known difference gone/);
  });

  it("ignores only the named fields of the named paths", () => {
    const known = [{ kind: "ignore-fields" as const, path: "/a", fields: ["hardlinks" as const], why: "test" }];
    const ours = [file("/a", { hardlinks: ["/a", "/b"] }), file("/b", { hardlinks: ["/a", "/b"] })];
    expect(compareTrees(ours, [file("/a"), file("/b")], known)).toEqual([{ path: "/b", field: "hardlinks", tsbuild: ["/a", "/b"], buildah: undefined }]);
  });
});

describe("withoutBuildahRunStubs", () => {
  it("drops buildah's empty mount-point stubs but not real files at those paths", () => {
    const stubs = [file("/etc/hosts", { mode: "0755", size: 0 }), file("/etc/resolv.conf", { mode: "0755", size: 0 }), dir("/run")];
    expect(withoutBuildahRunStubs([...stubs, file("/etc/hostname", { mode: "0755", size: 4 })]).map((e) => e.path)).toEqual(["/etc/hostname"]);
    expect(withoutBuildahRunStubs([dir("/run"), file("/run/x")]).map((e) => e.path)).toEqual(["/run", "/run/x"]);
  });
});

describe("compareConfigs", () => {
  it("treats unset, empty and null alike, drops buildah's version label, and compares the rest", () => {
    expect(compareConfigs({ Cmd: ["sh"] }, { Cmd: ["sh"], Entrypoint: [], Volumes: {}, WorkingDir: "", Labels: { "io.buildah.version": "1.28.2" } })).toEqual([]);
    expect(compareConfigs({ User: "builder", Labels: { a: "1" } }, { User: "1000", Labels: { a: "2" } })).toEqual([
      { path: "(config)", field: "User", tsbuild: "builder", buildah: "1000" },
      { path: "(config)", field: "Labels", tsbuild: { a: "1" }, buildah: { a: "2" } },
    ]);
  });
});
