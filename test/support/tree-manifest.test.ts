// treeManifest on a tree made with coreutils, so the differential tests compare what they claim to.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { makeScratchDir } from "./scratch.js";
import { treeManifest } from "./tree-manifest.js";

const exec = promisify(execFile);
const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

describe("treeManifest", () => {
  it("records type, mode bits, owner, content, link target, hardlink groups, devices and xattrs", async () => {
    const dir = await makeScratchDir();
    const long = "n".repeat(150);
    await exec("sh", [
      "-euc",
      `cd "$1"
       mkdir -p sub sticky sgid
       printf one > sub/file && chown 1000:100 sub/file && chmod 4755 sub/file # chown clears setuid
       ln sub/file hard && ln sub/file sub/hard2
       ln -s sub/file link
       chmod 1777 sticky && chmod 2775 sgid && chown 0:100 sgid
       mkfifo sgid/fifo && chmod 0600 sgid/fifo
       mknod sticky/null c 1 3 && chmod 0666 sticky/null
       printf '' > "${long}" && chmod 0640 "${long}"
       setfattr -n user.note -v hi "${long}"`,
      "sh",
      dir,
    ]);
    const dirMode = (await exec("stat", ["-c", "%a", path.join(dir, "sub")])).stdout.trim().padStart(4, "0"); // depends on umask
    const group = ["/hard", "/sub/file", "/sub/hard2"];
    const one = { type: "file", mode: "4755", uid: 1000, gid: 100, size: 3, sha256: sha256("one"), hardlinks: group };
    expect(await treeManifest(dir)).toEqual([
      { path: "/hard", ...one },
      { path: "/link", type: "symlink", mode: "0777", uid: 0, gid: 0, target: "sub/file" },
      { path: `/${long}`, type: "file", mode: "0640", uid: 0, gid: 0, size: 0, sha256: sha256(""), xattrs: { "user.note": "0x6869" } },
      { path: "/sgid", type: "dir", mode: "2775", uid: 0, gid: 100 },
      { path: "/sgid/fifo", type: "fifo", mode: "0600", uid: 0, gid: 100 },
      { path: "/sticky", type: "dir", mode: "1777", uid: 0, gid: 0 },
      { path: "/sticky/null", type: "char", mode: "0666", uid: 0, gid: 0, rdev: "1:3" },
      { path: "/sub", type: "dir", mode: dirMode, uid: 0, gid: 0 },
      { path: "/sub/file", ...one },
      { path: "/sub/hard2", ...one },
    ]);
  });

  it("does not group a file with names outside the tree", async () => {
    const dir = await makeScratchDir();
    await exec("sh", ["-euc", 'mkdir "$1/in" && echo x > "$1/in/a" && ln "$1/in/a" "$1/outside"', "sh", dir]);
    const [entry] = await treeManifest(path.join(dir, "in"));
    expect(entry).toEqual({ path: "/a", type: "file", mode: "0644", uid: 0, gid: 0, size: 2, sha256: sha256("x\n") });
  });
});
