// The benchmark's workloads: build contexts generated deterministically (a seeded PRNG, no
// downloads) and one Dockerfile template each, whose `{{BASE}}` every builder fills in its own way.
import { createCipheriv } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";

/** mulberry32: a tiny seeded PRNG, so every run generates the same bytes. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  "module exports require function return const let var if else for while async await new this " +
  "class extends import from default export null undefined true false typeof instanceof object " +
  "string number value key options config callback error result data buffer stream promise then"
).split(" ");

/** 1 MiB of JavaScript-like text: compresses about as well as real node_modules sources. */
function javascriptCorpus(random) {
  const lines = [];
  let size = 0;
  while (size < 1024 * 1024) {
    const indent = "  ".repeat(Math.floor(random() * 4));
    const words = Array.from({ length: 3 + Math.floor(random() * 9) }, () => WORDS[Math.floor(random() * WORDS.length)]);
    const line = `${indent}${words.join(random() < 0.3 ? "." : " ")}${random() < 0.5 ? ";" : " {"} // ${Math.floor(random() * 1e6)}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join(""));
}

/**
 * A node_modules-like tree: `files` regular files (~7.5 KiB on average, JS-like text),
 * one package per ~31 files with 10 directories each (~6,400 dirs for 20,000 files), and
 * one `.bin/` symlink per 100 files (~200). Each package has package.json, index.js, README.md.
 */
async function nodeModulesTree(root, files) {
  const random = prng(20000);
  const corpus = javascriptCorpus(random);
  const packages = Math.max(10, Math.round(files / 31.25));
  const subdirs = ["lib", "lib/util", "lib/internal", "dist", "dist/esm", "dist/cjs", "test", "types", "docs"];
  const meanSize = 7680;
  await mkdir(path.join(root, ".bin"), { recursive: true });
  let written = 0;
  for (let p = 0; p < packages; p++) {
    const name = `pkg-${String(p).padStart(4, "0")}`;
    const dir = path.join(root, name);
    for (const sub of subdirs) await mkdir(path.join(dir, sub), { recursive: true });
    const count = Math.floor(((p + 1) * files) / packages) - Math.floor((p * files) / packages);
    for (let f = 0; f < count; f++) {
      const rel = f === 0 ? "package.json" : f === 1 ? "index.js" : f === 2 ? "README.md" : `${subdirs[f % subdirs.length]}/file-${f}.js`;
      // Log-uniform sizes between 200 B and ~56 KiB, mean ~7.5 KiB.
      const size = Math.round(200 * Math.exp(random() * Math.log(280)) * (meanSize / 9800));
      const offset = Math.floor(random() * (corpus.length - size - 1));
      const header = Buffer.from(`// ${name}/${rel}\n`);
      await writeFile(path.join(dir, rel), Buffer.concat([header, corpus.subarray(offset, offset + size)]));
      written++;
    }
    if (p < Math.round(files / 100)) await symlink(`../${name}/index.js`, path.join(root, ".bin", `${name}-cli`));
  }
  return written;
}

/** `size` bytes of AES-CTR keystream: incompressible, deterministic and fast to make. */
async function incompressibleFile(file, size) {
  const cipher = createCipheriv("aes-128-ctr", Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  const chunk = Buffer.alloc(1024 * 1024);
  async function* zeros() {
    for (let done = 0; done < size; done += chunk.length) yield chunk.subarray(0, Math.min(chunk.length, size - done));
  }
  await pipeline(zeros(), cipher, createWriteStream(file));
}

async function smallFiles(dir, count, prefix, extension) {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const name = `${prefix}${String(i).padStart(2, "0")}${extension}`;
    await writeFile(path.join(dir, name), `${name}\n${"x".repeat(512 + ((i * 37) % 1024))}\n`);
  }
}

const manyLayersInstructions = Array.from({ length: 40 }, (_, i) => {
  if (i % 3 === 0) return `ENV STEP_${i}=value-${i}`;
  if (i % 3 === 1) return `RUN mkdir -p /steps && echo ${i} > /steps/${i}`;
  return `COPY files/f${String(i).padStart(2, "0")}.txt /files/`;
});

/**
 * name: the workload; base: busybox | debian; generate(ctx, { smoke }): writes the context;
 * dockerfile: with `{{BASE}}`; changeFile: the small context file a line is appended to;
 * unusedStageMarker: printed by a stage the target does not need (it must not appear).
 */
export const WORKLOADS = [
  {
    name: "small-files",
    base: "busybox",
    describe: (smoke) => `COPY of a node_modules-like tree (${smoke ? 500 : 20000} files, ~1% symlinks), then a RUN that touches, appends to, edits and deletes a few`,
    generate: (ctx, { smoke }) => nodeModulesTree(path.join(ctx, "node_modules"), smoke ? 500 : 20000),
    dockerfile: `FROM {{BASE}}
COPY node_modules /app/node_modules
RUN cd /app/node_modules \\
 && touch pkg-0001/package.json pkg-0002/package.json \\
 && echo '// patched' >> pkg-0003/index.js \\
 && sed -i 's/module/MODULE/' pkg-0004/index.js \\
 && rm -f pkg-0005/index.js pkg-0006/README.md \\
 && rm -rf pkg-0008/dist
`,
    changeFile: "node_modules/pkg-0009/index.js",
  },
  {
    name: "big-file",
    base: "busybox",
    describe: () => "COPY of a 1 GiB incompressible file, a RUN appending to it (copy-up), COPY of a small file",
    generate: async (ctx) => {
      await incompressibleFile(path.join(ctx, "big.bin"), 1024 * 1024 * 1024);
      await writeFile(path.join(ctx, "note.txt"), "a small file after the big one\n");
    },
    dockerfile: `FROM {{BASE}}
COPY big.bin /data/big.bin
RUN echo appended >> /data/big.bin
COPY note.txt /data/note.txt
`,
    changeFile: "note.txt",
  },
  {
    name: "many-layers",
    base: "busybox",
    describe: () => "40 instructions: 14 ENV, 13 RUN, 13 COPY of small files",
    generate: (ctx) => smallFiles(path.join(ctx, "files"), 40, "f", ".txt"),
    dockerfile: `FROM {{BASE}}\n${manyLayersInstructions.join("\n")}\n`,
    changeFile: "files/f20.txt",
  },
  {
    name: "multi-stage",
    base: "busybox",
    describe: () => "builder stage RUN writes 5,000 files, a stage COPYs 50 files, the final stage COPYs from both; one unused stage",
    generate: async (ctx) => {
      await smallFiles(path.join(ctx, "assets"), 50, "a", ".txt");
      await writeFile(path.join(ctx, "app.txt"), "the app\n");
    },
    dockerfile: `FROM {{BASE}} AS builder
RUN mkdir -p /out && i=0 && while [ $i -lt 5000 ]; do echo "generated file $i" > /out/f$i.txt; i=$((i+1)); done
FROM {{BASE}} AS assets
COPY assets/ /assets/
FROM {{BASE}} AS unused
RUN echo UNUSED-STAGE-RAN && sleep 2 && touch /unused
FROM {{BASE}}
COPY --from=builder /out /app/generated
COPY --from=assets /assets /app/assets
COPY app.txt /app/app.txt
`,
    changeFile: "assets/a07.txt",
    unusedStageMarker: "UNUSED-STAGE-RAN",
  },
  {
    name: "whiteouts",
    base: "debian",
    describe: () => "Debian base: deletes directories and files of the base and re-creates directories (whiteouts, opaque dirs)",
    generate: (ctx) => writeFile(path.join(ctx, "notes.txt"), "notes\n"),
    dockerfile: `FROM {{BASE}}
RUN rm -rf /usr/share/doc /usr/share/man /usr/share/info \\
 && rm -f /etc/issue /etc/issue.net /etc/motd /etc/debian_version \\
 && rm -rf /usr/share/locale && mkdir -p /usr/share/locale/C && echo c > /usr/share/locale/C/README \\
 && mkdir -p /usr/share/doc && echo 'docs removed' > /usr/share/doc/README
RUN rm -rf /etc/apt && mkdir -p /etc/apt/sources.list.d && echo '# none' > /etc/apt/sources.list \\
 && rm -f /var/lib/dpkg/info/*.md5sums
COPY notes.txt /notes.txt
`,
    changeFile: "notes.txt",
  },
  {
    name: "debian-app",
    base: "debian",
    describe: () => "Debian base, COPY of an app (200 files), a RUN writing 2,000 files, a metadata tail",
    generate: async (ctx) => {
      await nodeModulesTree(path.join(ctx, "app", "node_modules"), 190);
      await smallFiles(path.join(ctx, "app", "src"), 10, "m", ".js");
      await writeFile(path.join(ctx, "app", "src", "main.js"), "console.log('main');\n");
      await writeFile(path.join(ctx, "app", "start.sh"), "#!/bin/sh\nexec echo started \"$@\"\n");
    },
    dockerfile: `FROM {{BASE}}
COPY app/ /app/
RUN mkdir -p /app/data && i=0 && while [ $i -lt 2000 ]; do echo "record $i" > /app/data/r$i.json; i=$((i+1)); done
ENV NODE_ENV=production APP_PORT=8080
LABEL org.opencontainers.image.title=bench-app
WORKDIR /app
EXPOSE 8080
USER 1000:1000
ENTRYPOINT ["/bin/sh", "/app/start.sh"]
CMD ["--port", "8080"]
`,
    changeFile: "app/src/main.js",
  },
];

/** Workloads for --smoke: small-files only (scaled down by generate's { smoke }). */
export const SMOKE_WORKLOADS = ["small-files"];
