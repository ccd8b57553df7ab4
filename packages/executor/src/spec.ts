// The OCI runtime-spec config.json for one RUN process, shaped like the one Docker gives runc.
import type { ResolvedUser } from "./user.js";

/**
 * An extra mount for the process; RUN --mount builds on these. A destination that does not
 * exist in the rootfs is created by runc and removed again after the run (see runInRootfs), so
 * mounts never leave a trace in the layer.
 */
export type ExecMount = ExecBindMount | ExecTmpfsMount | ExecFileMount;

/**
 * A host directory, file or socket. Options are runc's: "ro" or "rw" (writes go to the host
 * path, so for `RUN --mount=type=bind,rw` bind a throwaway copy of the context dir, never the
 * context itself), "nosuid", "nodev", …; "rbind" is added unless "bind" or "rbind" is given.
 * An ssh agent socket is a bind of the socket file.
 */
export interface ExecBindMount {
  type: "bind";
  source: string;
  /** Absolute path inside the container. */
  destination: string;
  options: string[];
}

/** A fresh tmpfs; options as runc takes them: "size=67108864", "mode=1777", "ro", "nosuid", … */
export interface ExecTmpfsMount {
  type: "tmpfs";
  destination: string;
  options: string[];
}

/**
 * A host regular file the process sees read-only with this mode and owner: a secret.
 * runInRootfs sets the mode and owner on `source` itself before the run (it must not be a
 * symlink), so the caller hands over a file of its own: write the secret with mode 0600 into a
 * fresh directory of mode 0700 (fs.mkdtemp under a root-only directory, preferably on a tmpfs
 * such as /dev/shm so it never reaches a disk), never inside the rootfs or the snapshot, and
 * remove that directory once runInRootfs settles, whether it resolved or threw.
 * `RUN --mount=type=secret,env=NAME` needs no mount: put `NAME=value` in ProcessSpec.env.
 */
export interface ExecFileMount {
  type: "file";
  source: string;
  destination: string;
  mode: number;
  uid: number;
  gid: number;
}

export interface ProcessSpec {
  /** Already in exec form: the caller turns shell form into [...shell, command]. */
  args: string[];
  /** "KEY=value" entries. */
  env: string[];
  /** Absolute working directory; created if missing, as Docker does for RUN. */
  cwd: string;
  user: ResolvedUser;
  network: "host" | "none";
  hostname?: string;
  mounts?: ExecMount[];
  /** Capability names without the CAP_ prefix; defaults to Docker's default set. */
  capabilities?: string[];
}

/** Docker's default capability set (moby oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CHOWN",
  "DAC_OVERRIDE",
  "FSETID",
  "FOWNER",
  "MKNOD",
  "NET_RAW",
  "SETGID",
  "SETUID",
  "SETFCAP",
  "SETPCAP",
  "NET_BIND_SERVICE",
  "SYS_CHROOT",
  "KILL",
  "AUDIT_WRITE",
];

export const DEFAULT_HOSTNAME = "tsbuild";

/** Host files every RUN sees read-only at the same path; they never become part of a layer. */
export const HOST_FILE_MOUNTS: readonly string[] = ["/etc/resolv.conf", "/etc/hosts"];

// Docker's defaults (moby oci/defaults.go): kernel interfaces a build has no business reading or
// changing.
const MASKED_PATHS = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];
const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

const STANDARD_MOUNTS: OciMount[] = [
  { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
  { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
  {
    destination: "/dev/pts",
    type: "devpts",
    source: "devpts",
    options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
  },
  { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
  { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
  { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
  { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] },
];

// A secret is mounted like the host files: nothing in it runs, and nothing can be written to it.
const FILE_MOUNT_OPTIONS = ["rbind", "ro", "nosuid", "nodev", "noexec"];

function toOciMount(mount: ExecMount): OciMount {
  if (!mount.destination.startsWith("/")) {
    throw new Error(`mount destination "${mount.destination}" must be an absolute path`);
  }
  switch (mount.type) {
    case "bind": {
      const options = mount.options.some((option) => option === "bind" || option === "rbind")
        ? mount.options
        : ["rbind", ...mount.options];
      return { destination: mount.destination, type: "bind", source: mount.source, options };
    }
    case "file":
      return { destination: mount.destination, type: "bind", source: mount.source, options: FILE_MOUNT_OPTIONS };
    case "tmpfs":
      return { destination: mount.destination, type: "tmpfs", source: "tmpfs", options: mount.options };
  }
}

/** The OCI runtime-spec config.json object for `process` in `rootfs` (an absolute path). */
export function runtimeSpec(rootfs: string, process: ProcessSpec): object {
  const capabilities = (process.capabilities ?? DEFAULT_CAPABILITIES).map((name) =>
    name.startsWith("CAP_") ? name : `CAP_${name}`,
  );
  // As with Docker, a non-root user keeps the bounding set but starts with no effective or
  // permitted capabilities (runc would otherwise carry them across the uid change).
  const active = process.user.uid === 0 ? capabilities : [];
  const namespaces = [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }];
  if (process.network === "none") namespaces.push({ type: "network" });

  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: process.user.uid, gid: process.user.gid, additionalGids: process.user.additionalGids },
      args: process.args,
      env: process.env,
      cwd: process.cwd,
      capabilities: { bounding: capabilities, effective: active, permitted: active },
      noNewPrivileges: false,
    },
    root: { path: rootfs, readonly: false },
    hostname: process.hostname ?? DEFAULT_HOSTNAME,
    mounts: [
      ...STANDARD_MOUNTS,
      ...HOST_FILE_MOUNTS.map((path) => ({ destination: path, type: "bind", source: path, options: FILE_MOUNT_OPTIONS })),
      ...(process.mounts ?? []).map(toOciMount),
    ],
    linux: {
      namespaces,
      // Deny every device but the defaults runc itself creates and allows (null, zero, full,
      // random, urandom, tty, ptmx and the pts).
      resources: { devices: [{ allow: false, access: "rwm" }] },
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}
