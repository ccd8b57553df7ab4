// The store as the blob and layer-tar source of the exporters in @tsbuild/oci.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { assembleImage, writeDockerArchive, writeOciLayout, type ImageConfig } from "@tsbuild/oci";
import { pack as tarPack } from "tar-stream";
import { expect, it } from "vitest";
import type { Store } from "./store.js";
import { useScratchStore } from "./test-support.js";

const run = promisify(execFile);
let scratch: string;
let store: Store;
useScratchStore("tsbuild-export-", (s, dir) => {
  store = s;
  scratch = dir;
});

it("exports a stored image as an OCI layout and a docker archive that skopeo reads", async () => {
  const pack = tarPack();
  pack.entry({ name: "hello.txt", mtime: new Date(0) }, "hello\n");
  pack.finalize();
  const ingested = await store.ingestLayerTar(pack as unknown as NodeJS.ReadableStream, { compress: true });
  const dir = await store.tempDir("diff");
  await writeFile(path.join(dir, "hello.txt"), "hello\n");
  await store.commitLayerDir(dir, { diffID: ingested.diffID, size: ingested.size, blobs: [ingested.blob!] });
  const config: ImageConfig = { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [ingested.diffID] } };
  const image = assembleImage(config, [{ diffID: ingested.diffID, descriptor: ingested.blob! }]);

  const layoutDir = path.join(scratch, "layout");
  await writeOciLayout(image, store, layoutDir, { tar: false, refName: "latest" });
  const oci = JSON.parse((await run("skopeo", ["inspect", `oci:${layoutDir}:latest`])).stdout) as { Digest: string };
  expect(oci.Digest).toBe(image.manifestDigest);

  const archive = path.join(scratch, "docker.tar");
  await writeDockerArchive(image, store, archive, { repoTags: ["hello:latest"] });
  const docker = JSON.parse((await run("skopeo", ["inspect", `docker-archive:${archive}`])).stdout) as { Layers: string[] };
  expect(docker.Layers).toEqual([ingested.diffID]);
});
