// `tsbuild commit CONTAINER IMAGE`: the writable layer becomes the image's new top layer. The
// layer is a copy of the upper dir (the container keeps working on its own upper), hashed as a
// changeset tar from that copy, so the stored dir and the diffID describe the same bytes.
import { execFile } from "node:child_process";
import { rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { exportImage } from "@tsbuild/core";
import { changesetTar } from "@tsbuild/layers";
import type { ImageConfig } from "@tsbuild/oci";
import type { Store } from "@tsbuild/store";
import { containerStorage, getContainer } from "./records.js";
import { withContainerLock } from "./rootfs.js";

const exec = promisify(execFile);

export interface CommitOptions {
  /** The history entry's comment (docker commit -m). */
  message?: string;
  author?: string;
}

export interface CommitResult {
  imageId: string;
  manifestDigest: string;
  tag: string;
  diffID: string;
}

/** The committed image's config: the container's image plus one layer and its history entry. */
export function commitConfig(base: ImageConfig, diffID: string, createdBy: string, options: CommitOptions, now: Date): ImageConfig {
  const created = now.toISOString();
  return {
    ...base,
    created,
    ...(options.author ? { author: options.author } : {}),
    rootfs: { type: "layers", diff_ids: [...base.rootfs.diff_ids, diffID] },
    history: [
      ...(base.history ?? []),
      { created, created_by: createdBy, ...(options.author ? { author: options.author } : {}), ...(options.message ? { comment: options.message } : {}) },
    ],
  };
}

export async function commitContainer(store: Store, containerRef: string, imageName: string, options: CommitOptions = {}): Promise<CommitResult> {
  const record = await getContainer(store, containerRef);
  // Under the container's lock no mount or unmount (and so no copy-up pruning) runs meanwhile.
  return withContainerLock(store, record, async () => {
    const fresh = await getContainer(store, record.id);
    const staging = await store.tempDir("commit");
    const copy = path.join(staging, "diff");
    try {
      // cp -a keeps everything a layer dir needs: owners, modes, times, hard links, whiteout
      // devices and the trusted.overlay.opaque marks (copyTree leaves trusted.* out).
      await exec("cp", ["-a", "--reflink=auto", "--", containerStorage(store, fresh).upper, copy]);
      const ingested = await store.ingestLayerTar(changesetTar(copy), { compress: false });
      await store.commitLayerDir(copy, { diffID: ingested.diffID, size: ingested.size });
      const createdBy = fresh.changes.length > 0 ? `tsbuild ${fresh.changes.join(" && ")}` : "tsbuild commit";
      const config = commitConfig(fresh.config, ingested.diffID, createdBy, options, new Date());
      const result = await exportImage({ store, config, diffIDs: config.rootfs.diff_ids, tags: [imageName], outputs: [], emit: () => undefined });
      return { imageId: result.configDigest, manifestDigest: result.manifestDigest, tag: result.tags[0]!, diffID: ingested.diffID };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  });
}
