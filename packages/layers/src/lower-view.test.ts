import { lstat } from "node:fs/promises";
import path from "node:path";
import { setXattr } from "@tsbuild/syscalls";
import { afterEach, describe, expect, it } from "vitest";
import { mountOverlay, unmountOverlay } from "./overlay.js";
import { Scratch, sh } from "./test-support.js";
import { dirsAbove, onlyLayerOf } from "./lower-view.js";

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

/** Lowers newest first, made by shell scripts run in each (whiteouts are char devices 0/0). */
async function layers(...scripts: string[]): Promise<string[]> {
  const root = await scratch.dir();
  return scripts.map((script, i) => {
    const dir = path.join(root, `l${i}`);
    sh(root, `mkdir l${i}`);
    if (script) sh(dir, script);
    return dir;
  });
}

describe("dirsAbove", () => {
  it("gives the directories above a new path with the metadata overlayfs copies up", async () => {
    const lowers = await layers("mkdir -p srv && chown 1000:1001 srv && chmod 2750 srv", "mkdir -p srv/old && echo x > srv/old/f");
    expect(dirsAbove(lowers, "/srv/app/bin")).toEqual([{ rel: "srv", mode: 0o2750, uid: 1000, gid: 1001 }]);
    expect(dirsAbove(lowers, "/new")).toEqual([]);
    expect(dirsAbove(lowers, "/new/deeper/")).toEqual([]);
  });

  it("refuses a path that exists in any lower that shows through", async () => {
    const lowers = await layers("mkdir -p srv", "mkdir -p srv/app");
    expect(dirsAbove(lowers, "/srv/app")).toBeUndefined();
    expect(dirsAbove(lowers, "/srv")).toBeUndefined();
    expect(dirsAbove(lowers, "/")).toBeUndefined();
  });

  it("treats whited-out and opaque-hidden paths as absent, as the mounted view does", async () => {
    const whiteout = await layers("mknod app c 0 0", "mkdir -p app/x");
    expect(dirsAbove(whiteout, "/app/x")).toEqual([]);
    const opaque = await layers("mkdir srv", "mkdir -p srv/app");
    setXattr(path.join(opaque[0]!, "srv"), "trusted.overlay.opaque", Buffer.from("y"));
    expect(dirsAbove(opaque, "/srv/app")).toEqual([{ rel: "srv", mode: 0o755, uid: 0, gid: 0 }]);
    // A file in a middle lower ends the merge of the directory above it.
    const file = await layers("mkdir srv", "touch srv", "mkdir -p srv/app");
    expect(dirsAbove(file, "/srv/app")).toEqual([{ rel: "srv", mode: 0o755, uid: 0, gid: 0 }]);
    // Without either, the older lower's entry shows through.
    const merged = await layers("mkdir srv", "mkdir -p srv/app");
    expect(dirsAbove(merged, "/srv/app")).toBeUndefined();
  });

  it("leaves paths reached through a symlink, a file or an xattr to the mounted view", async () => {
    expect(dirsAbove(await layers("mkdir -p opt/app && ln -s opt/app app"), "/app/bin")).toBeUndefined();
    expect(dirsAbove(await layers("touch app"), "/app/bin")).toBeUndefined();
    const withXattr = await layers("mkdir srv");
    setXattr(path.join(withXattr[0]!, "srv"), "user.note", Buffer.from("kept"));
    expect(dirsAbove(withXattr, "/srv/app")).toBeUndefined();
  });

  it("with the names a step adds, takes a directory the lowers have when none of those names is there", async () => {
    const lowers = await layers("mkdir -p srv && chown 1000:1001 srv && chmod 2750 srv && touch srv/new-in-hidden", "mkdir -p srv/old && touch srv/kept");
    const srv = { rel: "srv", mode: 0o2750, uid: 1000, gid: 1001 };
    expect(dirsAbove(lowers, "/srv", ["app", "x.txt"])).toEqual([srv]);
    expect(dirsAbove(lowers, "/srv/app", ["x"])).toEqual([srv]);
    // A name any merged lower has, in the newest or an older one, needs the mounted view.
    expect(dirsAbove(lowers, "/srv", ["app", "kept"])).toBeUndefined();
    expect(dirsAbove(lowers, "/srv", ["old"])).toBeUndefined();
    // Without names (or with none) an existing path stays refused.
    expect(dirsAbove(lowers, "/srv")).toBeUndefined();
    expect(dirsAbove(lowers, "/srv", [])).toBeUndefined();
    expect(dirsAbove(lowers, "/srv", ["a/b"])).toBeUndefined();
  });

  it("with names, counts a whiteout as there, and looks no deeper than an opaque dir", async () => {
    expect(dirsAbove(await layers("mkdir srv && mknod srv/gone c 0 0", "mkdir -p srv/gone"), "/srv", ["gone"])).toBeUndefined();
    const opaque = await layers("mkdir srv", "mkdir -p srv/hidden");
    setXattr(path.join(opaque[0]!, "srv"), "trusted.overlay.opaque", Buffer.from("y"));
    expect(dirsAbove(opaque, "/srv", ["hidden"])).toEqual([{ rel: "srv", mode: 0o755, uid: 0, gid: 0 }]);
    // The path itself must be a plain directory without content xattrs.
    expect(dirsAbove(await layers("touch srv"), "/srv", ["x"])).toBeUndefined();
    const withXattr = await layers("mkdir srv");
    setXattr(path.join(withXattr[0]!, "srv"), "user.note", Buffer.from("kept"));
    expect(dirsAbove(withXattr, "/srv", ["x"])).toBeUndefined();
  });

  it("agrees with an overlay mount of the same lowers", async () => {
    const lowers = await layers("mkdir -p a/b && chmod 700 a && mknod gone c 0 0", "mkdir -p a/b/c gone/x && touch a/f");
    const root = await scratch.dir();
    const { merged } = await mountOverlay(lowers, root);
    try {
      for (const probe of ["/a/b/new", "/a/b/c", "/gone/x", "/a/f/x", "/a/new/deeper"]) {
        const shown = await lstat(path.join(merged, probe)).then(
          () => "exists",
          (error: NodeJS.ErrnoException) => error.code,
        );
        const dirs = dirsAbove(lowers, probe);
        if (shown === "exists" || shown === "ENOTDIR") expect(dirs, probe).toBeUndefined();
        else expect(dirs?.map((d) => d.rel), probe).toEqual(probe === "/gone/x" ? [] : ["a", "a/b"].filter((d) => probe.startsWith(`/${d}/`)));
      }
      expect(dirsAbove(lowers, "/a/b/new")?.[0]).toMatchObject({ rel: "a", mode: 0o700 });
    } finally {
      await unmountOverlay(merged);
    }
  });
});

describe("onlyLayerOf", () => {
  it("names the one layer that makes up a path, and no layer when several do", async () => {
    const lowers = await layers("mkdir -p out/sub && echo x > out/sub/f && mkdir -p shared/b", "mkdir -p shared/a && ln -s out link && echo y > file", "mkdir -p deep/out");
    expect(onlyLayerOf(lowers, "/out")).toBe(0);
    expect(onlyLayerOf(lowers, "out/sub/f")).toBe(0);
    expect(onlyLayerOf(lowers, "/file")).toBe(1);
    expect(onlyLayerOf(lowers, "/deep/out")).toBe(2);
    expect(onlyLayerOf(lowers, "/shared")).toBeUndefined();
    expect(onlyLayerOf(lowers, "/shared/a")).toBe(1);
    expect(onlyLayerOf(lowers, "/link")).toBeUndefined();
    expect(onlyLayerOf(lowers, "/link/sub")).toBeUndefined();
    expect(onlyLayerOf(lowers, "/missing")).toBeUndefined();
    expect(onlyLayerOf(lowers, "/")).toBeUndefined();
  });

  it("counts an opaque directory or a file below it as the end of the merge", async () => {
    const opaque = await layers("mkdir -p out && touch out/new", "mkdir -p out && touch out/old");
    expect(onlyLayerOf(opaque, "/out")).toBeUndefined();
    setXattr(path.join(opaque[0]!, "out"), "trusted.overlay.opaque", Buffer.from("y"));
    expect(onlyLayerOf(opaque, "/out")).toBe(0);
    expect(onlyLayerOf(await layers("mkdir -p out", "touch out"), "/out")).toBe(0);
    expect(onlyLayerOf(await layers("mknod out c 0 0", "mkdir -p out"), "/out")).toBeUndefined();
  });
});
