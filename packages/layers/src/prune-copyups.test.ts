import { readdir } from "node:fs/promises";
import path from "node:path";
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
});
