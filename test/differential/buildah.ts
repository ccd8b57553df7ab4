// The second opinion: builds Dockerfiles with buildah (Debian's 1.28) in a private, throwaway
// storage, and exports an image's merged rootfs and config for comparison with tsbuild's.
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { removeScratchDir } from "../support/scratch.js";

const exec = promisify(execFile);

/** What fixture Dockerfiles' `{{BASE}}` becomes for buildah: the busybox base, copied in by skopeo. */
export const BUILDAH_BASE_IMAGE = "localhost/tsbuild-base:latest";

/** The image config fields the differential test compares (Docker's names and JSON shapes). */
export interface ContainerConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
}

export interface BuildahBuild {
  contextDir: string;
  dockerfile: string;
  tag: string;
  target?: string;
}

/**
 * A buildah storage (vfs driver, root and runroot) inside dir, isolated from the host's
 * /etc/containers/storage.conf, holding the busybox base as BUILDAH_BASE_IMAGE.
 * Nothing is mounted on the host: vfs layers are plain directories and `--isolation chroot`
 * mounts only in the RUN process's own mount namespace. remove() deletes it all.
 */
export class BuildahStorage {
  private readonly graphRoot: string;
  private readonly runRoot: string;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(readonly dir: string) {
    this.graphRoot = path.join(dir, "root");
    this.runRoot = path.join(dir, "runroot");
    this.env = { ...process.env, CONTAINERS_STORAGE_CONF: path.join(dir, "storage.conf"), BUILDAH_ISOLATION: "chroot" };
  }

  /**
   * Creates the storage in dir (an empty scratch dir) and copies the base in from its OCI layout.
   * skopeo, not `buildah pull oci:PATH`: buildah names the pulled image after PATH and rejects
   * the upper-case letters mkdtemp puts in it.
   */
  static async create(dir: string, baseLayout: string, baseRef: string): Promise<BuildahStorage> {
    const storage = new BuildahStorage(dir);
    await mkdir(storage.graphRoot);
    await mkdir(storage.runRoot);
    await writeFile(
      path.join(dir, "storage.conf"),
      `[storage]\ndriver = "vfs"\ngraphroot = "${storage.graphRoot}"\nrunroot = "${storage.runRoot}"\n`,
    );
    const policy = path.join(dir, "policy.json");
    await writeFile(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
    await storage.run("skopeo", [
      "copy",
      "--quiet",
      "--policy",
      policy,
      `oci:${baseLayout}:${baseRef}`,
      `containers-storage:[vfs@${storage.graphRoot}+${storage.runRoot}]${BUILDAH_BASE_IMAGE}`,
    ]);
    return storage;
  }

  /** `buildah bud` with layer caching, Docker-format config (keeps HEALTHCHECK) and runc. */
  async build(build: BuildahBuild): Promise<void> {
    const args = ["bud", "--runtime", "/usr/sbin/runc", "--isolation", "chroot", "--format", "docker", "--layers", "--pull=never"];
    if (build.target) args.push("--target", build.target);
    args.push("-f", build.dockerfile, "-t", build.tag, build.contextDir);
    await this.buildah(args);
  }

  /** Copies image's merged rootfs to rootfsDir (cp -a as root: owners, modes, hardlinks, xattrs) and returns its config. */
  async exportImage(image: string, rootfsDir: string): Promise<ContainerConfig> {
    const container = `export-${image.replace(/[^a-z0-9]/g, "-")}`;
    await this.buildah(["from", "--pull-never", "--name", container, image]);
    try {
      const mountPoint = (await this.buildah(["mount", container])).trim();
      try {
        await mkdir(rootfsDir, { recursive: true });
        await this.run("cp", ["-a", `${mountPoint}/.`, rootfsDir]);
      } finally {
        await this.buildah(["umount", container]);
      }
    } finally {
      await this.buildah(["rm", container]);
    }
    const inspected = JSON.parse(await this.buildah(["inspect", "--type", "image", image])) as { Docker: { config: ContainerConfig } };
    return inspected.Docker.config;
  }

  /** Unmounts and removes every container, checks nothing under dir is still mounted, deletes dir. */
  async remove(): Promise<void> {
    try {
      await this.buildah(["umount", "--all"]);
      await this.buildah(["rm", "--all"]);
    } finally {
      const mounts = await mountsUnder(this.dir);
      if (mounts.length > 0) throw new Error(`buildah left mounts under ${this.dir}: ${mounts.join(", ")}; unmount them by hand`);
      await removeScratchDir(this.dir);
    }
  }

  private buildah(args: readonly string[]): Promise<string> {
    return this.run("buildah", ["--root", this.graphRoot, "--runroot", this.runRoot, "--storage-driver", "vfs", ...args]);
  }

  private async run(command: string, args: readonly string[]): Promise<string> {
    try {
      const { stdout } = await exec(command, args, { env: this.env, maxBuffer: 64 * 1024 * 1024 });
      return stdout;
    } catch (error) {
      const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
      const output = `${stdout}${stderr}`.trimEnd().split("\n").slice(-30).join("\n");
      throw new Error(`${command} ${args.join(" ")} failed:\n${output}`);
    }
  }
}

/** Mount points at or below dir, from /proc/mounts (octal escapes decoded). */
async function mountsUnder(dir: string): Promise<string[]> {
  const table = await readFile("/proc/mounts", "utf8");
  return table
    .split("\n")
    .map((line) => line.split(" ")[1]?.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((mountPoint): mountPoint is string => mountPoint !== undefined && (mountPoint === dir || mountPoint.startsWith(`${dir}/`)));
}
