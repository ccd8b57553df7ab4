import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Scratch, sh } from "./test-support.js";
import { prepareUpperSnapshot } from "./upper-snapshot.js";

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

describe("prepareUpperSnapshot", () => {
  it("makes the copied-up directories in an unmounted upper dir that commit hands over", async () => {
    const root = await scratch.dir();
    const snapshot = scratch.track(await prepareUpperSnapshot(root, [{ rel: "srv", mode: 0o2750, uid: 1000, gid: 1001 }, { rel: "srv/app", mode: 0o755, uid: 0, gid: 0 }]));
    expect(snapshot.rootfs).toBe(snapshot.upperDir);
    const srv = await lstat(path.join(snapshot.rootfs, "srv"));
    expect([srv.mode & 0o7777, srv.uid, srv.gid]).toEqual([0o2750, 1000, 1001]);
    sh(snapshot.rootfs, "echo hi > srv/app/f");
    expect(await snapshot.commit()).toBe(snapshot.upperDir);
    await snapshot.remove();
    expect(await readdir(root)).toEqual([]);
  });
});
