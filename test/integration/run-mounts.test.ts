// RUN --mount, --network and --security in real builds; secrets never reach the image.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runTsbuild } from "../support/tsbuild.js";
import { buildSetup, expectNoLeftovers, fromBusybox } from "./helpers.js";

const setup = (files: Record<string, string>) => buildSetup("tsbuild-mounts-", files);

/** Every byte of an image: each layer tar, the config (with history) and the manifest, from a docker archive. */
async function imageBytes(archive: string, into: string): Promise<Buffer[]> {
  execFileSync("mkdir", ["-p", into]);
  execFileSync("tar", ["-xf", archive, "-C", into]);
  const out: Buffer[] = [];
  for (const name of await readdir(into)) out.push(await readFile(path.join(into, name)));
  return out;
}

describe("RUN --mount", () => {
  it("keeps cache mounts across builds and out of every layer", async () => {
    const from = await fromBusybox();
    const { build, dir, root } = await setup({
      Dockerfile: `${from}\nARG N=1\nRUN --mount=type=cache,target=/cache,id=demo echo run$N >> /cache/log && cp /cache/log /seen\n`,
    });
    expect((await build(".")).code).toBe(0);
    const second = await build("--build-arg", "N=2", "-o", `type=local,dest=${dir}/out`, ".");
    expect(second.code, second.stderr).toBe(0);
    expect(await readFile(path.join(dir, "out/seen"), "utf8")).toBe("run1\nrun2\n");
    expect(await readdir(path.join(dir, "out/cache")).catch(() => "absent")).toBe("absent");
    const pruned = await runTsbuild(["prune", "-f", "--cache-mounts"], { root, cwd: dir });
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(await readdir(path.join(root, "cache-mounts"))).toEqual([]);
    await expectNoLeftovers(root);
  });

  it("binds the context, a stage and tmpfs; rw bind writes are discarded", async () => {
    const from = await fromBusybox();
    const { build, dir, ctx } = await setup({
      Dockerfile: [
        `${from} AS data`,
        "RUN echo from-stage > /made",
        from,
        "RUN --mount=type=bind,source=conf,target=/conf cat /conf/app.conf > /copied",
        "RUN --mount=type=bind,from=data,source=/made,target=/m cat /m > /from-stage",
        "RUN --mount=type=bind,source=conf,target=/conf,rw echo scribble > /conf/app.conf",
        "RUN --mount=type=tmpfs,target=/scratch,size=1m echo t > /scratch/x && df /scratch | tail -1 > /tmpfs",
        "",
      ].join("\n"),
      "conf/app.conf": "setting=1\n",
    });
    const r = await build("-o", `type=local,dest=${dir}/out`, ".");
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(path.join(dir, "out/copied"), "utf8")).toBe("setting=1\n");
    expect(await readFile(path.join(dir, "out/from-stage"), "utf8")).toBe("from-stage\n");
    expect(await readFile(path.join(ctx, "conf/app.conf"), "utf8")).toBe("setting=1\n");
    expect(await readFile(path.join(dir, "out/tmpfs"), "utf8")).toMatch(/^tmpfs\s+1024\s/);
    for (const mountpoint of ["conf", "m", "scratch"]) {
      await expect(readdir(path.join(dir, "out", mountpoint))).rejects.toThrow(/ENOENT/);
    }
    // Changing the bound file reruns the step that binds it.
    await writeFile(path.join(ctx, "conf/app.conf"), "setting=2\n");
    const again = await build(".");
    expect(again.stderr).toMatch(/cache miss: .*conf\/app\.conf/);
  });

  it("hands secrets to RUN without putting them in any layer, the config or the history", async () => {
    const from = await fromBusybox();
    const secret = "s3cr3t-value-0123456789";
    const sha = createHash("sha256").update(secret).digest("hex");
    const { build, dir } = await setup({
      Dockerfile: [
        from,
        // Compared by hash, so that the Dockerfile itself does not hold the secret.
        `RUN --mount=type=secret,id=token test "$(sha256sum < /run/secrets/token | cut -c1-64)" = ${sha} && echo used > /used`,
        `RUN --mount=type=secret,id=token,env=TOKEN,required test "$(printf %s "$TOKEN" | sha256sum | cut -c1-64)" = ${sha}`,
        "RUN --mount=type=secret,id=token,target=/etc/app-token cat /etc/app-token | wc -c > /length",
        "",
      ].join("\n"),
      "secret.txt": secret,
      "required.Dockerfile": `${from}\nRUN --mount=type=secret,id=token,required true\n`,
    });
    const r = await build("--secret", "id=token,src=secret.txt", "-o", `type=docker,dest=${dir}/image.tar`, "-o", `type=local,dest=${dir}/out`, ".");
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(path.join(dir, "out/length"), "utf8")).toBe("23\n");
    await expect(readFile(path.join(dir, "out/etc/app-token"))).rejects.toThrow(/ENOENT/);
    const bytes = await imageBytes(path.join(dir, "image.tar"), path.join(dir, "unpacked"));
    expect(bytes.length).toBeGreaterThan(3);
    for (const b of bytes) expect(b.includes(Buffer.from(secret))).toBe(false);

    const missing = await build("-f", "required.Dockerfile", ".");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/secret token is required but was not given: pass --secret id=token/);
  });

  it("honours RUN --network=none and gates --security=insecure behind --allow", async () => {
    const from = await fromBusybox();
    const { build, dir } = await setup({
      Dockerfile: `${from}\nRUN --network=none ls /sys/class/net > /ifaces\nRUN --security=insecure grep CapEff /proc/self/status > /caps\n`,
    });
    const refused = await build(".");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/needs the build to be started with --allow security\.insecure/);
    const allowed = await build("--allow", "security.insecure", "-o", `type=local,dest=${dir}/out`, ".");
    expect(allowed.code, allowed.stderr).toBe(0);
    expect((await readFile(path.join(dir, "out/ifaces"), "utf8")).trim()).toBe("lo");
    // Privileged: every capability this process has (Docker's default set is far smaller).
    const ours = /^CapBnd:\s*(\S+)$/m.exec(await readFile("/proc/self/status", "utf8"))![1];
    expect((await readFile(path.join(dir, "out/caps"), "utf8")).trim()).toBe(`CapEff:\t${ours}`);
  });
});
