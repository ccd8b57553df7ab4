// The three builders driven the same way: a fresh store, a cold build (the base pulled from the
// run's local registry inside the build), rebuilds, exports. Each returns runMeasured() results.
import { spawn } from "node:child_process";
import { existsSync, openSync, closeSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { removeTree, run, runMeasured, spawnCollect, tail } from "./measure.mjs";

const TAG = (workload) => `bench/${workload.name}:latest`;

/** tsbuild from this repository's dist (`npm run build` first), one store per cold build. */
export class Tsbuild {
  name = "tsbuild";

  constructor(repo) {
    this.cli = path.join(repo, "packages", "cli", "bin", "tsbuild.cjs");
  }

  async prepare() {
    if (!existsSync(path.join(path.dirname(this.cli), "..", "dist", "tsbuild.cjs"))) {
      throw new Error("tsbuild is not built: run `npm run build` first");
    }
  }

  async version() {
    return (await run(this.cli, ["--version"])).trim();
  }

  async freshStore(dir) {
    this.root = dir;
    await mkdir(dir, { recursive: true });
  }

  cold(workload, scratchDir) {
    return this.build(workload, scratchDir);
  }

  build(workload, scratchDir) {
    const args = ["build", "--root", this.root, "--progress", "plain", "-f", workload.dockerfiles.tsbuild, "-t", TAG(workload)];
    // The program as users run it (its #! line), not `node FILE`: see docs/decisions/0008.
    return runMeasured(this.cli, [...args, workload.context], { scratchDir });
  }

  /** `tsbuild save` of the stored image, as buildah pushes and docker saves theirs: no build runs. */
  exportOci(workload, dest, scratchDir) {
    return this.save(workload, dest, "oci-archive", scratchDir);
  }

  exportDocker(workload, dest, scratchDir) {
    return this.save(workload, dest, "docker-archive", scratchDir);
  }

  save(workload, dest, format, scratchDir) {
    return runMeasured(this.cli, ["save", "--root", this.root, "--format", format, "-o", dest, TAG(workload)], { scratchDir });
  }

  daemonPeakMiB() {
    return null;
  }

  async dropStore() {
    await removeTree(this.root);
  }

  async stop() {}
}

/**
 * buildah (Debian's), overlay storage in a private --root/--runroot, `--layers`, runc as the OCI
 * runtime, host network (RUN steps need none; it spares both builders network namespace set-up).
 */
export class Buildah {
  name = "buildah";

  constructor(work) {
    this.dir = path.join(work, "buildah");
  }

  async prepare() {
    await mkdir(this.dir, { recursive: true });
    this.policy = path.join(this.dir, "policy.json");
    await writeFile(this.policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
    await run("buildah", ["--version"]);
  }

  async version() {
    return (await run("buildah", ["--version"])).trim();
  }

  async freshStore(dir) {
    this.storage = dir;
    this.graphRoot = path.join(dir, "root");
    this.runRoot = path.join(dir, "runroot");
    await mkdir(this.graphRoot, { recursive: true });
    await mkdir(this.runRoot, { recursive: true });
    const conf = path.join(dir, "storage.conf");
    await writeFile(conf, `[storage]\ndriver = "overlay"\ngraphroot = "${this.graphRoot}"\nrunroot = "${this.runRoot}"\n`);
    this.env = { ...process.env, CONTAINERS_STORAGE_CONF: conf };
  }

  /** The storage is empty: the build pulls the base from the registry. */
  cold(workload, scratchDir) {
    return this.build(workload, scratchDir);
  }

  /**
   * buildah's default pull policy (`--pull=true`: pull when missing or newer, so a rebuild asks the
   * registry too); plain HTTP to the local registry needs --tls-verify=false.
   */
  build(workload, scratchDir) {
    return this.buildah(
      [
        "bud", "--layers", "--runtime", "/usr/sbin/runc", "--network", "host", "--tls-verify=false", "--signature-policy", this.policy,
        "-f", workload.dockerfiles.buildah, "-t", TAG(workload), workload.context,
      ],
      scratchDir,
    );
  }

  exportOci(workload, dest, scratchDir) {
    return this.buildah(["push", "--quiet", TAG(workload), `oci-archive:${dest}`], scratchDir);
  }

  exportDocker(workload, dest, scratchDir) {
    return this.buildah(["push", "--quiet", TAG(workload), `docker-archive:${dest}:${TAG(workload)}`], scratchDir);
  }

  daemonPeakMiB() {
    return null;
  }

  buildah(args, scratchDir) {
    return runMeasured("buildah", ["--root", this.graphRoot, "--runroot", this.runRoot, "--storage-driver", "overlay", ...args], {
      env: this.env,
      scratchDir,
    });
  }

  async dropStore() {
    await spawnCollect("buildah", ["--root", this.graphRoot, "--runroot", this.runRoot, "--storage-driver", "overlay", "rm", "--all"], { env: this.env });
    await removeTree(this.storage);
  }

  async stop() {}
}

/**
 * Docker's BuildKit through Debian's docker.io: a private dockerd (own data root, exec root,
 * containerd namespace and unix socket under the work dir; no iptables, no bridge), stopped at
 * the end. Builds use the host network (there is no bridge). The builder's memory is dockerd's
 * (BuildKit runs inside it): VmHWM, reset per workload with /proc/PID/clear_refs.
 */
export class Docker {
  name = "docker";

  constructor(work) {
    this.dir = path.join(work, "docker");
    this.socket = path.join(this.dir, "docker.sock");
    this.env = { ...process.env, DOCKER_HOST: `unix://${this.socket}`, DOCKER_BUILDKIT: "1", DOCKER_CONFIG: path.join(this.dir, "client") };
    // Debian's client, not another docker CLI earlier in PATH (a newer one wants buildx for BuildKit).
    this.client = "/usr/bin/docker";
  }

  async prepare() {
    if (!existsSync("/usr/sbin/dockerd") || !existsSync(this.client)) {
      throw new Error("dockerd is not installed (apt-get install docker.io)");
    }
    await mkdir(path.join(this.dir, "client"), { recursive: true });
    const logFile = path.join(this.dir, "dockerd.log");
    const log = openSync(logFile, "a");
    const namespace = `tsbuild-bench-${process.pid}`;
    this.daemon = spawn(
      "/usr/sbin/dockerd",
      [
        "--data-root", path.join(this.dir, "data"),
        "--exec-root", path.join(this.dir, "exec"),
        "--pidfile", path.join(this.dir, "dockerd.pid"),
        "-H", `unix://${this.socket}`,
        "--iptables=false", "--ip6tables=false", "--bridge=none",
        "--containerd-namespace", namespace,
        "--containerd-plugins-namespace", `${namespace}-plugins`,
      ],
      { stdio: ["ignore", log, log] },
    );
    closeSync(log);
    const exited = new Promise((resolve) => this.daemon.on("exit", (code) => resolve(code)));
    this.daemonExit = exited;
    for (let waited = 0; waited < 60; waited++) {
      const ready = await Promise.race([spawnCollect(this.client, ["version"], { env: this.env }), exited.then((code) => ({ exited: code }))]);
      if ("exited" in ready) break;
      if (ready.code === 0) return;
      await sleep(500);
    }
    const output = await readFile(logFile, "utf8").catch(() => "");
    await this.stop();
    throw new Error(`dockerd did not start:\n${tail(output, 8)}`);
  }

  async version() {
    return (await run(this.client, ["version", "--format", "docker.io {{.Server.Version}} (BuildKit in dockerd)"], { env: this.env })).trim();
  }

  /**
   * Empties the image store and build cache (the daemon stays), so that the cold build pulls its
   * base again, and resets dockerd's peak RSS.
   */
  async freshStore() {
    await run(this.client, ["system", "prune", "--all", "--force"], { env: this.env });
    await run(this.client, ["builder", "prune", "--all", "--force"], { env: this.env });
    const pid = this.daemon.pid;
    await writeFile(`/proc/${pid}/clear_refs`, "5").catch(() => {});
  }

  /** The image store and build cache are empty: BuildKit pulls the base from the registry. */
  cold(workload, scratchDir) {
    return this.build(workload, scratchDir);
  }

  build(workload, scratchDir) {
    return runMeasured(
      this.client,
      ["build", "--network", "host", "--progress", "plain", "-f", workload.dockerfiles.docker, "-t", TAG(workload), workload.context],
      { env: this.env, scratchDir },
    );
  }

  /** dockerd 20.10's BuildKit has no OCI exporter (`exporter "oci" could not be found`). */
  exportOci() {
    return null;
  }

  exportDocker(workload, dest, scratchDir) {
    return runMeasured(this.client, ["save", "-o", dest, TAG(workload)], { env: this.env, scratchDir });
  }

  async daemonPeakMiB() {
    const status = await readFile(`/proc/${this.daemon.pid}/status`, "utf8").catch(() => "");
    const kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    return Number.isFinite(kib) && kib > 0 ? kib / 1024 : null;
  }

  async dropStore() {}

  async stop() {
    if (this.daemon && this.daemon.exitCode === null) {
      this.daemon.kill("SIGTERM");
      const stopped = await Promise.race([this.daemonExit.then(() => true), sleep(30000).then(() => false)]);
      if (!stopped) {
        this.daemon.kill("SIGKILL");
        await this.daemonExit;
      }
    }
    await removeTree(this.dir);
  }
}
