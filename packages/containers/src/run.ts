// `tsbuild run`: one process in a working container, with runc, on its mounted overlay. Changes
// land in the container's writable layer (overlayfs copies a lower file up on first write);
// volumes and binds are runc bind mounts, so what is written there never enters the layer.
import { readFile, realpath } from "node:fs/promises";
import { resolveInRoot, resolveUser, runInRootfs, RunFailedError, type ExecMount } from "@tsbuild/executor";
import type { Store } from "@tsbuild/store";
import { hostPathRefusal, mergeEnv, type MountRequest } from "./mount-spec.js";
import { getContainer, saveContainer, type ContainerRecord, type VolumeAttachment } from "./records.js";
import { withContainerLock, withRootfs } from "./rootfs.js";
import { createVolume, seedVolume, volumeData } from "./volumes.js";

/** A bind of a host system path without `--allow host-paths`. */
export class HostPathRefusedError extends Error {
  override readonly name = "HostPathRefusedError";
}

export interface ContainerRunOptions {
  args: string[];
  /** NAME=VALUE entries over the image's Env. */
  env: string[];
  /** Overrides the image's USER. */
  user?: string;
  /** Overrides the image's WORKDIR. */
  workdir?: string;
  mounts: MountRequest[];
  /** Allow binding host system directories (/, /etc, /proc/…). */
  allowHostPaths: boolean;
  onOutput?: (stream: "stdout" | "stderr", chunk: Buffer) => void;
}

// Docker's default PATH for a container whose image sets none.
const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

async function readInRoot(rootfs: string, file: string): Promise<string | undefined> {
  try {
    return await readFile(await resolveInRoot(rootfs, file), "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw error;
  }
}

/** Checks every bind source before anything is mounted: it must exist and not be a host system path. */
async function checkBinds(mounts: readonly MountRequest[], allowHostPaths: boolean): Promise<Map<MountRequest, string>> {
  const sources = new Map<MountRequest, string>();
  for (const mount of mounts) {
    if (mount.type !== "bind") continue;
    let real: string;
    try {
      real = await realpath(mount.source);
    } catch {
      throw new Error(`bind source path does not exist: ${mount.source} (for --mount dst=${mount.destination}); create it first`);
    }
    const refusal = allowHostPaths ? undefined : hostPathRefusal(real);
    if (refusal !== undefined) {
      throw new HostPathRefusedError(
        `refusing to bind ${mount.source}${real === mount.source ? "" : ` (${real})`} at ${mount.destination}: ${refusal}; ` +
          "a container could change the host through it. Pass --allow host-paths if that is what you want",
      );
    }
    sources.set(mount, real);
  }
  return sources;
}

/** The container's volume attachments after this run's: one per destination, the newest wins. */
function attach(existing: readonly VolumeAttachment[], added: readonly VolumeAttachment[]): VolumeAttachment[] {
  const byDestination = new Map(existing.map((v) => [v.destination, v]));
  for (const volume of added) byDestination.set(volume.destination, volume);
  return [...byDestination.values()];
}

async function updateRecord(store: Store, record: ContainerRecord, change: (fresh: ContainerRecord) => void): Promise<ContainerRecord> {
  return withContainerLock(store, record, async () => {
    const fresh = await getContainer(store, record.id);
    change(fresh);
    await saveContainer(store, fresh);
    return fresh;
  });
}

/** Shell-like rendering of an argv, for history entries and messages. */
export function describeArgs(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

/** Runs a process in the container and returns its exit code (non-zero codes are results, not errors). */
export async function runInContainer(store: Store, containerRef: string, options: ContainerRunOptions): Promise<number> {
  if (options.args.length === 0) throw new Error("tsbuild run needs a command: tsbuild run CONTAINER -- COMMAND [ARG...]");
  let record = await getContainer(store, containerRef);
  const bindSources = await checkBinds(options.mounts, options.allowHostPaths);
  const addedVolumes: VolumeAttachment[] = [];
  for (const mount of options.mounts) {
    if (mount.type !== "volume") continue;
    await createVolume(store, mount.name); // a volume that does not exist is created, as Docker does
    addedVolumes.push({ name: mount.name, destination: mount.destination, readonly: mount.readonly });
  }
  if (addedVolumes.length > 0) record = await updateRecord(store, record, (r) => (r.volumes = attach(r.volumes, addedVolumes)));
  const binds = options.mounts.filter((m) => m.type === "bind");
  const bindDestinations = new Set(binds.map((b) => b.destination));

  const exitCode = await withRootfs(store, record, async (rootfs) => {
    const mounts: ExecMount[] = [];
    for (const volume of record.volumes) {
      if (bindDestinations.has(volume.destination)) continue; // this run's bind there takes its place
      await seedVolume(store, volume.name, await resolveInRoot(rootfs, volume.destination));
      mounts.push({ type: "bind", source: volumeData(store, volume.name), destination: volume.destination, options: ["rbind", volume.readonly ? "ro" : "rw"] });
    }
    for (const bind of binds) {
      mounts.push({ type: "bind", source: bindSources.get(bind)!, destination: bind.destination, options: ["rbind", bind.readonly ? "ro" : "rw"] });
    }
    // Parents before children, so a mount inside another one's destination lands on top of it.
    mounts.sort((a, b) => a.destination.split("/").length - b.destination.split("/").length);

    const config = record.config.config ?? {};
    const user = resolveUser(options.user ?? config.User ?? "", await readInRoot(rootfs, "/etc/passwd"), await readInRoot(rootfs, "/etc/group"));
    const baseEnv = config.Env ?? [];
    const env = mergeEnv(baseEnv.some((e) => e.startsWith("PATH=")) ? baseEnv : [DEFAULT_PATH, ...baseEnv], options.env);
    try {
      await runInRootfs(
        rootfs,
        { args: options.args, env, cwd: options.workdir ?? (config.WorkingDir || "/"), user, network: "host", mounts },
        { bundleRoot: store.paths.tmp, onOutput: options.onOutput },
      );
      return 0;
    } catch (error) {
      if (error instanceof RunFailedError && error.startError === undefined) return error.exitCode;
      throw error;
    }
  });
  await updateRecord(store, record, (r) => r.changes.push(`run ${describeArgs(options.args)}`));
  return exitCode;
}
