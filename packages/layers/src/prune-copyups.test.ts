import { readdir } from "node:fs/promises";
import path from "node:path";
import { setXattr } from "@tsbuild/syscalls";
import { afterEach, describe, expect, it } from "vitest";
import { nativeSnapshotter } from "./native.js";
import { overlaySnapshotter } from "./overlay.js";
import { Scratch, sh } from "./test-support.js";

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

describe.each([
  ["overlay", overlaySnapshotter()],
  ["native", nativeSnapshotter()],
])("%s commit leaves out directories a step only passed through", (_name, snapshotter) => {
  it("drops a dir whose only change was a file created and removed again, keeps real changes", async () => {
    const root = await scratch.dir();
    const lower = path.join(root, "lower");
    sh(root, "mkdir -p lower/etc lower/keep lower/mode && echo x > lower/etc/passwd && chmod 755 lower/mode");
    const snapshot = scratch.track(await snapshotter.prepare([lower], root));
    sh(snapshot.rootfs, "touch etc/hosts && rm etc/hosts && touch keep/new && chmod 700 mode && mkdir fresh");
    const upper = await snapshot.commit();
    expect((await readdir(upper)).sort()).toEqual(["fresh", "keep", "mode"]);
    expect(await readdir(path.join(upper, "keep"))).toEqual(["new"]);
  });

  it("keeps a new empty dir that only a lower hidden by an opaque dir has", async () => {
    const root = await scratch.dir();
    sh(root, "mkdir -p newer/a older/a/b");
    setXattr(path.join(root, "newer", "a"), "trusted.overlay.opaque", Buffer.from("y"));
    const snapshot = scratch.track(await snapshotter.prepare([path.join(root, "newer"), path.join(root, "older")], root));
    sh(snapshot.rootfs, "test ! -e a/b && mkdir a/b");
    const upper = await snapshot.commit();
    expect(await readdir(path.join(upper, "a"))).toEqual(["b"]);
  });
});
