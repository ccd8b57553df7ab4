// `tsbuild cp`: files between the host and a container, either way, with docker cp's rules. The
// container side goes through its mounted overlay (so copy-up and deletions are overlayfs's own),
// or into an attached volume when the path is under the volume's destination.
import { lstat, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { resolveInRoot } from "@tsbuild/executor";
import { copyTree } from "@tsbuild/layers";
import type { Store } from "@tsbuild/store";
import { getContainer, saveContainer, type ContainerRecord } from "./records.js";
import { withContainerLock, withRootfs } from "./rootfs.js";
import { volumeData } from "./volumes.js";

export type CopyEndpoint = { kind: "host"; path: string } | { kind: "container"; container: string; path: string };

/** `CONTAINER:PATH` names a container path (a colon before any slash); anything else is a host path. */
export function parseCopyEndpoint(text: string): CopyEndpoint {
  const match = /^([^:/]+):(.*)$/.exec(text);
  if (!match) return { kind: "host", path: text };
  const inside = match[2] === "" ? "/" : match[2]!;
  return { kind: "container", container: match[1]!, path: inside.startsWith("/") ? inside : `/${inside}` };
}

async function statOrNull(p: string) {
  return lstat(p).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT" || error.code === "ENOTDIR") return null;
    throw error;
  });
}

/** Copies src onto dest: a dir merges into an existing dir, anything else replaces what is there. */
async function mergeInto(src: string, dest: string, owner: { uid: number; gid: number }): Promise<void> {
  const [s, d] = [await lstat(src), await statOrNull(dest)];
  if (d === null) return copyTree(src, dest, { owner });
  if (s.isDirectory() && d.isDirectory()) {
    for (const name of (await readdir(src)).sort()) await mergeInto(path.join(src, name), path.join(dest, name), owner);
    return;
  }
  if (s.isDirectory()) throw new Error(`cannot copy the directory ${src} over the file ${dest}`);
  await rm(dest, { recursive: true, force: true });
  await copyTree(src, dest, { owner });
}

/**
 * docker cp's destination rules: into an existing dir as SRC's base name (or its contents with
 * SRC ending in "/."), else as DEST itself, whose parent must exist.
 */
async function copyWithDockerRules(src: string, srcSpec: string, dest: string, destSpec: string, owner: { uid: number; gid: number }): Promise<void> {
  const s = await statOrNull(src);
  if (s === null) throw new Error(`cannot copy ${srcSpec}: no such file or directory`);
  const d = await statOrNull(dest);
  const contentsOnly = s.isDirectory() && /\/\.$/.test(srcSpec);
  if (d?.isDirectory()) return mergeInto(src, contentsOnly ? dest : path.join(dest, path.basename(src)), owner);
  if (destSpec.endsWith("/") && d === null) throw new Error(`cannot copy to ${destSpec}: the destination directory does not exist`);
  if (d !== null && s.isDirectory()) throw new Error(`cannot copy the directory ${srcSpec} to ${destSpec}: it is a file`);
  if ((await statOrNull(path.dirname(dest)))?.isDirectory() !== true) throw new Error(`cannot copy to ${destSpec}: its parent directory does not exist`);
  return mergeInto(src, dest, owner);
}

/** The host path of a container path: in an attached volume when it is under one, else in the rootfs. */
async function containerPathOnHost(store: Store, record: ContainerRecord, rootfs: string, inside: string): Promise<{ host: string; volume?: { name: string; readonly: boolean } }> {
  const normalized = path.posix.normalize(inside);
  const volume = [...record.volumes]
    .sort((a, b) => b.destination.length - a.destination.length)
    .find((v) => normalized === v.destination || normalized.startsWith(`${v.destination}/`));
  if (volume) {
    const host = await resolveInRoot(volumeData(store, volume.name), normalized.slice(volume.destination.length) || "/");
    return { host, volume };
  }
  return { host: await resolveInRoot(rootfs, normalized) };
}

/** Keeps "/." and a trailing "/" (they change docker cp's meaning) on a resolved host path. */
function withSuffix(resolved: string, spec: string): string {
  if (spec.endsWith("/.")) return `${resolved}/.`;
  return spec.endsWith("/") ? `${resolved}/` : resolved;
}

/** `tsbuild cp SRC DEST`: exactly one of them is CONTAINER:PATH. */
export async function copyFiles(store: Store, from: CopyEndpoint, to: CopyEndpoint): Promise<void> {
  if ((from.kind === "container") === (to.kind === "container")) {
    throw new Error("tsbuild cp copies between the host and a container: exactly one of SRC and DEST must be CONTAINER:PATH");
  }
  const side = (from.kind === "container" ? from : to) as Extract<CopyEndpoint, { kind: "container" }>;
  const record = await getContainer(store, side.container);
  await withRootfs(store, record, async (rootfs) => {
    const target = await containerPathOnHost(store, record, rootfs, side.path);
    if (to.kind === "container") {
      if (target.volume?.readonly) throw new Error(`cannot copy into ${side.path}: volume ${target.volume.name} is attached read-only there`);
      // As docker cp does, files copied in belong to root in the container.
      await copyWithDockerRules(path.resolve(from.path), from.path, target.host, withSuffix(target.host, to.path), { uid: 0, gid: 0 });
      if (!target.volume) {
        await withContainerLock(store, record, async () => {
          const fresh = await getContainer(store, record.id);
          fresh.changes.push(`cp ${path.basename(from.path)} ${to.path}`);
          await saveContainer(store, fresh);
        });
      }
    } else {
      const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
      await copyWithDockerRules(target.host, withSuffix(target.host, from.path), path.resolve(to.path), to.path, owner);
    }
  });
}
