// Builds against a real registry (CNCF Distribution on 127.0.0.1): push, FROM a pushed image,
// cache shared across stores, pull/push/login, auth and TLS.
import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { busyboxBase } from "../support/busybox.js";
import { selfSignedCert, startRegistry } from "../support/registry.js";
import { makeScratchDir } from "../support/scratch.js";
import { runTsbuild } from "../support/tsbuild.js";
import { expectNoLeftovers, fromBusybox, writeTree } from "./helpers.js";

async function setup(files: Record<string, string>) {
  const dir = await makeScratchDir("tsbuild-registry-");
  const ctx = path.join(dir, "ctx");
  await writeTree(ctx, files);
  const env = { DOCKER_CONFIG: path.join(dir, "docker-config") };
  const tsbuild = (root: string, ...args: string[]) => runTsbuild(args, { root: path.join(dir, root), cwd: ctx, env });
  return { dir, ctx, tsbuild };
}

const skopeoConfig = (ref: string, ...flags: string[]) =>
  JSON.parse(execFileSync("skopeo", ["inspect", "--config", ...flags, `docker://${ref}`]).toString()) as { config: { Env?: string[]; Labels?: Record<string, string> }; rootfs: { diff_ids: string[] } };

describe("registries", () => {
  it("pushes a build, which skopeo and buildah read, and builds FROM an image tsbuild did not build", async () => {
    const registry = await startRegistry();
    const base = await busyboxBase();
    // skopeo puts the base into the registry: tsbuild never saw it.
    execFileSync("skopeo", ["copy", "--dest-tls-verify=false", `oci:${base}:latest`, `docker://${registry.host}/base/busybox:1`]);
    const { dir, tsbuild } = await setup({ Dockerfile: `FROM ${registry.host}/base/busybox:1\nRUN echo pushed > /pushed\nLABEL via=tsbuild\n` });
    const pushed = await tsbuild("store", "build", "--progress", "plain", "-t", `${registry.host}/apps/demo:1`, "--push", ".");
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toMatch(new RegExp(`exported registry:${registry.host.replace(/\./g, "\\.")}/apps/demo:1 in .* \\(sha256:[0-9a-f]{64}\\)`));
    const config = skopeoConfig(`${registry.host}/apps/demo:1`, "--tls-verify=false");
    expect(config.config.Labels).toEqual({ via: "tsbuild" });
    expect(config.rootfs.diff_ids).toHaveLength(2);
    const buildah = ["--root", `${dir}/buildah`, "--runroot", `${dir}/buildah-run`, "--storage-driver", "vfs"];
    expect(execFileSync("buildah", [...buildah, "pull", "-q", "--tls-verify=false", `docker://${registry.host}/apps/demo:1`]).toString().trim()).toMatch(/^[0-9a-f]{64}$/);
    execFileSync("buildah", [...buildah, "rmi", "--all", "--force"]);

    // pull into a fresh store, then push it elsewhere under another name.
    const pulled = await tsbuild("other", "pull", `${registry.host}/apps/demo:1`);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stdout).toMatch(/apps\/demo:1: sha256:/);
    const images = await tsbuild("other", "images");
    expect(images.stdout).toContain(`${registry.host}/apps/demo`);
    const copied = await tsbuild("other", "push", `${registry.host}/apps/demo:1`, `${registry.host}/copies/demo:2`);
    expect(copied.code, copied.stderr).toBe(0);
    expect(skopeoConfig(`${registry.host}/copies/demo:2`, "--tls-verify=false").rootfs.diff_ids).toEqual(config.rootfs.diff_ids);
    await expectNoLeftovers(path.join(dir, "store"));
  });

  it("keeps a pulled base under its name: later builds need no registry, --pull asks it again", async () => {
    const registry = await startRegistry();
    const base = await busyboxBase();
    const baseRef = `${registry.host}/base/busybox:1`;
    execFileSync("skopeo", ["copy", "--dest-tls-verify=false", `oci:${base}:latest`, `docker://${baseRef}`]);
    const { ctx, tsbuild } = await setup({ Dockerfile: `FROM ${baseRef}\nRUN test -e /moved && echo moved=$((1+1)) || echo moved=$((0))\n` });
    const first = await tsbuild("s", "build", "--progress", "plain", ".");
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain("moved=0");
    expect((await tsbuild("s", "images")).stdout).toMatch(new RegExp(`${registry.host.replace(/\./g, "\\.")}/base/busybox\\s+1\\s`));

    // The tag moves in the registry: a plain rebuild keeps the local base (all cached), --pull
    // takes the new one, so the RUN runs again on it.
    const moved = await setup({ Dockerfile: `FROM ${baseRef}\nRUN touch /moved\n` });
    expect((await moved.tsbuild("m", "build", "-t", baseRef, "--push", ".")).code).toBe(0);
    const kept = await tsbuild("s", "build", "--progress", "plain", ".");
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stderr).toMatch(/CACHED/);
    expect(kept.stdout.trim()).toBe(first.stdout.trim());
    const pulled = await tsbuild("s", "build", "--progress", "plain", "--pull", ".");
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stderr).toContain("moved=2");

    // A base pinned by digest is kept by digest.
    const digest = execFileSync("skopeo", ["inspect", "--tls-verify=false", "--format", "{{.Digest}}", `docker://${baseRef}`]).toString().trim();
    await writeFile(path.join(ctx, "Dockerfile"), `FROM ${registry.host}/base/busybox@${digest}\nRUN echo pinned\n`);
    expect((await tsbuild("s", "build", ".")).code).toBe(0);

    await registry.stop();
    const offline = await tsbuild("s", "build", "--progress", "plain", ".");
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stderr).toMatch(/CACHED/);
    const offlinePull = await tsbuild("s", "build", "--pull", ".");
    expect(offlinePull.code).toBe(1);
    expect(offlinePull.stderr).toContain(registry.host);
  });

  // mode=max exports the deps stage too, mode=min (the local one) only the final image's steps; no
  // step runs either way, and the deps stage not even its FROM: the COPY --from=deps hits.
  it("shares the build cache through a registry and a local directory: a fresh store runs no step", async () => {
    const registry = await startRegistry();
    const from = await fromBusybox();
    const { dir, tsbuild } = await setup({
      Dockerfile: [`${from} AS deps`, "RUN echo deps > /deps", from, "COPY app.txt /app.txt", "COPY --from=deps /deps /deps", "RUN cat /app.txt /deps > /both", ""].join("\n"),
      "app.txt": "app\n",
    });
    const cacheRef = `${registry.host}/cache/demo:main`;
    const first = await tsbuild("a", "build", "--progress", "plain", `--cache-to=type=registry,ref=${cacheRef},mode=max`, `--cache-to=type=local,dest=${dir}/cache-dir`, ".");
    expect(first.code, first.stderr).toBe(0);
    const imageId = first.stdout.trim();
    for (const [store, source] of [["b", `type=registry,ref=${cacheRef}`], ["c", `type=local,src=${dir}/cache-dir`]] as const) {
      const second = await tsbuild(store, "build", "--progress", "plain", `--cache-from=${source}`, "-o", `type=local,dest=${dir}/out-${store}`, ".");
      expect(second.code, second.stderr).toBe(0);
      expect(second.stderr, second.stderr).not.toMatch(/cache miss/);
      expect(second.stderr.match(/CACHED/g)).toHaveLength(3);
      expect(second.stderr).not.toMatch(/\[deps/);
      expect(second.stdout.trim()).toBe(imageId);
      expect(await readFile(path.join(dir, `out-${store}/both`), "utf8")).toBe("app\ndeps\n");
      await expectNoLeftovers(path.join(dir, store));
    }
    // A missing cache is a warning, not a failure.
    const none = await tsbuild("d", "build", "--progress", "plain", `--cache-from=type=registry,ref=${registry.host}/cache/none:x`, ".");
    expect(none.code, none.stderr).toBe(0);
    expect(none.stderr).toMatch(/has no cache yet/);
  });

  it("logs in over TLS with basic auth and names the registry, repository and cause of auth failures", async () => {
    const registry = await startRegistry({ auth: "htpasswd", tls: true });
    const base = await busyboxBase();
    execFileSync("skopeo", ["copy", "--dest-tls-verify=false", "--dest-creds", `${registry.username}:${registry.password}`, `oci:${base}:latest`, `docker://${registry.host}/private/busybox:1`]);
    const { tsbuild, ctx } = await setup({ Dockerfile: `FROM ${registry.host}/private/busybox:1\nRUN echo ok > /ok\n` });
    const ca = ["--registry-ca", registry.caFile!];
    const anonymous = await tsbuild("s", "build", ...ca, ".");
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(new RegExp(`${registry.host.replace(/\./g, "\\.")}.*private/busybox`));
    expect(anonymous.stderr).toMatch(/no credentials|unauthorized|authentication required/i);
    const wrong = await tsbuild("s", "login", registry.host, "-u", registry.username, "-p", "wrong-password", ...ca);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/denied|wrong credentials|unauthorized/i);
    const login = await tsbuild("s", "login", registry.host, "-u", registry.username, "--password-stdin", ...ca);
    expect(login.code).not.toBe(0); // no password on stdin: runTsbuild closes stdin at once
    const ok = await runTsbuild(["login", registry.host, "-u", registry.username, "--password-stdin", ...ca], { root: path.join(ctx, "..", "s"), cwd: ctx, input: `${registry.password}\n`, env: { DOCKER_CONFIG: path.join(ctx, "..", "docker-config") } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("Login Succeeded");
    const built = await tsbuild("s", "build", ...ca, "-t", `${registry.host}/private/app:1`, "--push", ".");
    expect(built.code, built.stderr).toBe(0);
    const logout = await tsbuild("s", "logout", registry.host);
    expect(logout.stdout).toContain(`Removed login credentials for ${registry.host}`);
    await writeFile(path.join(ctx, "Dockerfile"), `FROM ${registry.host}/private/app:1\n`);
    const afterLogout = await tsbuild("fresh", "build", ...ca, ".");
    expect(afterLogout.code).toBe(1);
  });

  it("trusts the CAs NODE_EXTRA_CA_CERTS names, for registries and ADD downloads, reading the file only for a verified connection", async () => {
    const registry = await startRegistry({ tls: true });
    const base = await busyboxBase();
    execFileSync("skopeo", ["copy", "--dest-tls-verify=false", `oci:${base}:latest`, `docker://${registry.host}/base/busybox:1`]);
    const { dir, ctx } = await setup({ Dockerfile: "" });
    const { cert, key } = await selfSignedCert(dir, "downloads");
    const server = https.createServer({ cert: await readFile(cert), key: await readFile(key) }, (req, res) => {
      if (req.url === "/moved") res.writeHead(302, { location: "/payload.txt" }).end();
      else if (req.url === "/payload.txt") res.writeHead(200, { "last-modified": "Tue, 01 Jan 2030 00:00:00 GMT" }).end("downloaded over TLS\n");
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    const bundle = path.join(dir, "extra-ca.pem");
    await writeFile(bundle, (await readFile(registry.caFile!, "utf8")) + (await readFile(cert, "utf8")));
    await writeFile(path.join(ctx, "Dockerfile"), `FROM ${registry.host}/base/busybox:1\nADD https://127.0.0.1:${port}/moved /srv/\nRUN cat /srv/moved && stat -c %Y /srv/moved\n`);
    const args = ["build", "--progress", "plain", "."];

    const untrusted = await runTsbuild(args, { root: path.join(dir, "untrusted"), cwd: ctx, env: { NODE_EXTRA_CA_CERTS: "" } });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(new RegExp(`certificate of ${registry.host.replace(/\./g, "\\.")} is not trusted`));
    const trusted = await runTsbuild(args, { root: path.join(dir, "trusted"), cwd: ctx, env: { NODE_EXTRA_CA_CERTS: bundle } });
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(trusted.stderr + trusted.stdout).toContain("downloaded over TLS");
    expect(trusted.stderr + trusted.stdout).toContain(String(Date.UTC(2030, 0, 1) / 1000));

    // Node would warn at start-up about an unreadable file if it loaded it then; tsbuild reads it
    // only when it verifies a certificate, which --version never does.
    const version = await runTsbuild(["--version"], { root: path.join(dir, "unused"), cwd: ctx, env: { NODE_EXTRA_CA_CERTS: path.join(dir, "missing.pem") } });
    expect(version.code).toBe(0);
    expect(version.stderr).toBe("");
  });
});
