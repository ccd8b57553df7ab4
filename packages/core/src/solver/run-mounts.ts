// RUN --mount: what each mount type becomes for runc, and what of it goes into
// the step's cache key (the mount spec and its sources' identities, never the
// contents of cache mounts or secrets). Nothing mounted ever reaches the layer:
// the executor removes the mount points it had to create.
import { createHash } from "node:crypto";
import { chmod, chown, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseRunMounts, resolveRunMountTarget, type RunMount } from "@tsbuild/dockerfile";
import type { ExecMount } from "@tsbuild/executor";
import { copyTree } from "@tsbuild/layers";
import { withLock, type Store } from "@tsbuild/store";

/** Where a mount's `from=` (or the build context) is readable while the step runs. */
export interface MountSource {
  dir: string;
  release(): Promise<void>;
}

/** What identifies a mount source's content for the cache key: a stage's key or an image's digest, or context file digests. */
export type IdentifyMountSource = (from: string | undefined, sourcePath: string) => Promise<{ identity?: string; files?: Record<string, string> }>;

export interface RunMountOptions {
  store: Store;
  workdir: string;
  /** `--secret id=…`: the secret's value by id, read when a RUN asks for it. */
  secrets: ReadonlyMap<string, SecretSource>;
  /** `--ssh id=SOCKET`. */
  ssh: ReadonlyMap<string, string>;
  /** Opens what `from=` names (a stage, image or named context), or the build context. */
  openSource(from: string | undefined, sourcePath: string): Promise<MountSource>;
}

export type SecretSource = { file: string } | { env: string };

export interface PreparedMounts {
  mounts: ExecMount[];
  env: string[];
  /** Runs `fn` with the mounts in place (locks held), then removes every temporary copy. */
  use<T>(fn: () => Promise<T>): Promise<T>;
}

/**
 * The cache-key part of a RUN's mounts: the specs with their sources' identities, and the digests
 * of the context files bind mounts show (so a miss can name them). Never cache or secret contents.
 */
export async function mountKey(values: readonly string[], workdir: string, identify: IdentifyMountSource): Promise<{ specs: unknown[]; files: Record<string, string> }> {
  const specs: unknown[] = [];
  const files: Record<string, string> = {};
  for (const m of parseMounts(values, workdir)) {
    if (m.type === "bind" || (m.type === "cache" && m.from !== undefined)) {
      const source = await identify(m.from, m.source);
      specs.push({ ...m, content: source.identity });
      for (const [name, digest] of Object.entries(source.files ?? {})) files[`${m.target} <- ${name}`] = digest;
    } else specs.push(m);
  }
  return { specs, files };
}

export function parseMounts(values: readonly string[], workdir: string): RunMount[] {
  return parseRunMounts(values).map((m) => ("target" in m && m.target !== undefined && m.type !== "secret" && m.type !== "ssh" ? { ...m, target: resolveRunMountTarget(m.target, workdir) } : m));
}

export async function prepareMounts(values: readonly string[], options: RunMountOptions): Promise<PreparedMounts> {
  const mounts: ExecMount[] = [];
  const env: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const locks: string[] = [];
  const privateDir = async () => {
    const dir = await options.store.tempDir("mount");
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };
  try {
    for (const m of parseMounts(values, options.workdir)) {
      switch (m.type) {
        case "bind": {
          const source = await options.openSource(m.from, m.source);
          cleanups.push(() => source.release());
          let hostPath = source.dir;
          if (!m.readOnly) {
            // Writes to a rw bind are discarded: they go to a copy, never to the source.
            hostPath = path.join(await privateDir(), "rw");
            await copyTree(source.dir, hostPath);
          }
          mounts.push({ type: "bind", source: hostPath, destination: m.target, options: ["rbind", m.readOnly ? "ro" : "rw"] });
          break;
        }
        case "cache": {
          const shared = path.join(options.store.paths.cacheMounts, createHash("sha256").update(m.id).digest("hex").slice(0, 32));
          let dir = shared;
          if (m.sharing === "locked") locks.push(`cache-mount-${path.basename(shared)}`);
          if (m.sharing === "private") dir = path.join(await privateDir(), "cache");
          if (!(await exists(dir))) await createCacheDir(dir, m, options);
          mounts.push({ type: "bind", source: dir, destination: m.target, options: ["rbind", m.readOnly ? "ro" : "rw"] });
          break;
        }
        case "tmpfs":
          mounts.push({ type: "tmpfs", destination: m.target, options: ["nosuid", "nodev", ...(m.sizeBytes !== undefined ? [`size=${m.sizeBytes}`] : [])] });
          break;
        case "secret": {
          const source = options.secrets.get(m.id);
          if (!source) {
            if (m.required) throw new Error(`secret ${m.id} is required but was not given: pass --secret id=${m.id},src=FILE (or env=VAR)`);
            break;
          }
          const value = "file" in source ? await readFile(source.file) : Buffer.from(process.env[source.env] ?? "");
          if (m.env !== undefined) env.push(`${m.env}=${value.toString("utf8")}`);
          if (m.target !== undefined || m.env === undefined) {
            const file = path.join(await privateDir(), "secret");
            await writeFile(file, value, { mode: 0o600 });
            mounts.push({ type: "file", source: file, destination: m.target ?? `/run/secrets/${m.id}`, mode: m.mode, uid: m.uid, gid: m.gid });
          }
          break;
        }
        case "ssh": {
          const socket = options.ssh.get(m.id);
          if (!socket) {
            if (m.required) throw new Error(`ssh agent ${m.id} is required but was not given: pass --ssh ${m.id}=$SSH_AUTH_SOCK`);
            break;
          }
          mounts.push({ type: "bind", source: socket, destination: m.target, options: ["rbind", "rw"] });
          if (!env.some((e) => e.startsWith("SSH_AUTH_SOCK="))) env.push(`SSH_AUTH_SOCK=${m.target}`);
          break;
        }
      }
    }
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await cleanup();
    throw error;
  }
  return {
    mounts,
    env,
    async use(fn) {
      const run = locks.reduceRight<() => Promise<Awaited<ReturnType<typeof fn>>>>(
        (inner, name) => () => withLock(options.store.paths.locks, name, inner, { timeoutMs: 3_600_000 }),
        fn as () => Promise<Awaited<ReturnType<typeof fn>>>,
      );
      try {
        return await run();
      } finally {
        for (const cleanup of cleanups.reverse()) await cleanup();
      }
    },
  };
}

/** A new cache dir: seeded from `from=`'s `source` when given, else empty with mode/uid/gid. */
async function createCacheDir(dir: string, m: Extract<RunMount, { type: "cache" }>, options: RunMountOptions): Promise<void> {
  await mkdir(path.dirname(dir), { recursive: true });
  const temp = `${dir}.new-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  if (m.from !== undefined) {
    const source = await options.openSource(m.from, m.source);
    try {
      await copyTree(source.dir, temp);
    } finally {
      await source.release();
    }
  } else {
    await mkdir(temp);
    await chmod(temp, m.mode);
    await chown(temp, m.uid, m.gid);
  }
  await rename(temp, dir).catch(async (error: NodeJS.ErrnoException) => {
    // Another build made it first: use theirs.
    await rm(temp, { recursive: true, force: true });
    if (error.code !== "ENOTEMPTY" && error.code !== "EEXIST") throw error;
  });
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
