import type { DiskUsage, ImageUsage } from "@tsbuild/store";
import { describe, expect, it } from "vitest";
import { UsageError } from "./command-line.js";
import { parseSize, renderDiskUsage, renderImages, renderPrune, timeAgo } from "./store-commands.js";

describe("parseSize", () => {
  it("reads decimal and binary units, case-insensitively, and plain bytes", () => {
    expect(parseSize("10GB", "--x")).toBe(10_000_000_000);
    expect(parseSize("500mb", "--x")).toBe(500_000_000);
    expect(parseSize("1.5GiB", "--x")).toBe(1.5 * 2 ** 30);
    expect(parseSize("64k", "--x")).toBe(64_000);
    expect(parseSize("2 KiB", "--x")).toBe(2048);
    expect(parseSize("4096", "--x")).toBe(4096);
    expect(parseSize("0B", "--x")).toBe(0);
  });

  it("rejects anything else as a usage error naming the flag", () => {
    for (const bad of ["", "abc", "-5GB", "1.5.2GB", "10XB", "GB", "1iB", "1e3"]) {
      expect(() => parseSize(bad, "--keep-storage"), bad).toThrow(UsageError);
    }
    expect(() => parseSize("ten", "--keep-storage")).toThrow(/--keep-storage expects a size such as 10GB.*"ten"/);
  });
});

describe("timeAgo", () => {
  const now = Date.parse("2024-06-01T12:00:00Z");
  const ago = (ms: number) => timeAgo(new Date(now - ms).toISOString(), now);
  it("speaks as docker does", () => {
    expect(ago(200)).toBe("Less than a second ago");
    expect(ago(1000)).toBe("1 second ago");
    expect(ago(45_000)).toBe("45 seconds ago");
    expect(ago(90_000)).toBe("About a minute ago");
    expect(ago(10 * 60_000)).toBe("10 minutes ago");
    expect(ago(65 * 60_000)).toBe("About an hour ago");
    expect(ago(5 * 3_600_000)).toBe("5 hours ago");
    expect(ago(3 * 86_400_000)).toBe("3 days ago");
    expect(ago(21 * 86_400_000)).toBe("3 weeks ago");
    expect(ago(90 * 86_400_000)).toBe("3 months ago");
    expect(ago(3 * 365 * 86_400_000)).toBe("3 years ago");
    expect(timeAgo(undefined, now)).toBe("N/A");
  });
});

const image = (name: string, config: string, created: string, size: number): ImageUsage => ({
  name,
  manifestDigest: `sha256:${"m".repeat(63)}${config}`,
  configDigest: `sha256:${config.repeat(64)}`,
  created,
  size,
  sharedSize: 0,
  uniqueSize: size,
  layers: 1,
  incomplete: false,
});

describe("renderImages", () => {
  const now = Date.parse("2024-06-01T12:00:00Z");
  const images = [image("me/app:1", "a", "2024-06-01T11:00:00Z", 2_500_000), image("app:latest", "b", "2024-06-01T11:59:00Z", 1234)];

  it("lists newest first with short IDs, relative times and sizes", () => {
    expect(renderImages(images, { quiet: false, digests: false, noTrunc: false }, now).split("\n")).toEqual([
      "REPOSITORY   TAG      IMAGE ID       CREATED              SIZE",
      "app          latest   bbbbbbbbbbbb   About a minute ago   1.23kB",
      "me/app       1        aaaaaaaaaaaa   About an hour ago    2.50MB",
      "",
    ]);
  });

  it("prints only IDs with -q (full with --no-trunc), and the manifest digest with --digests", () => {
    expect(renderImages(images, { quiet: true, digests: false, noTrunc: false }, now)).toBe("bbbbbbbbbbbb\naaaaaaaaaaaa\n");
    expect(renderImages(images, { quiet: true, digests: false, noTrunc: true }, now)).toBe(`sha256:${"b".repeat(64)}\nsha256:${"a".repeat(64)}\n`);
    const withDigests = renderImages(images, { quiet: false, digests: true, noTrunc: false }, now).split("\n");
    expect(withDigests[0]).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(withDigests[1]).toContain(`sha256:${"m".repeat(63)}b`);
  });
});

describe("renderPrune", () => {
  it("lists what went and the total, leaving out empty sections", () => {
    const text = renderPrune({ layers: ["sha256:l1"], blobs: [], cacheRecords: ["sha256:c1", "sha256:c2"], bytesFreed: 2_048_000 });
    expect(text).toBe("Deleted layers:\nsha256:l1\n\nDeleted build cache records:\nsha256:c1\nsha256:c2\n\nTotal reclaimed space: 2.05MB\n");
    expect(renderPrune({ layers: [], blobs: [], cacheRecords: [], bytesFreed: 0 })).toBe("Total reclaimed space: 0B\n");
  });
});

describe("renderDiskUsage", () => {
  const now = Date.parse("2024-06-01T12:00:00Z");
  const du: DiskUsage = {
    images: [{ ...image("app:1", "a", "2024-06-01T11:00:00Z", 3000), sharedSize: 2000, uniqueSize: 1000 }],
    layers: [
      { diffID: `sha256:${"1".repeat(64)}`, size: 2000, createdAt: "2024-06-01T11:00:00Z", images: 1, roots: 0, cacheRecords: 1 },
      { diffID: `sha256:${"2".repeat(64)}`, size: 1000, createdAt: "2024-06-01T11:30:00Z", images: 0, roots: 0, cacheRecords: 1 },
    ],
    cacheRecords: [
      { key: `sha256:${"c".repeat(64)}`, createdAt: "2024-06-01T11:00:00Z", lastUsedAt: "2024-06-01T11:58:00Z", size: 1000, shared: false },
      { key: `sha256:${"d".repeat(64)}`, createdAt: "2024-06-01T11:00:00Z", lastUsedAt: "2024-06-01T11:00:00Z", size: 2000, shared: true },
    ],
    totals: {
      images: 1,
      layers: 2,
      cacheRecords: 2,
      blobsBytes: 1000,
      layersBytes: 3000,
      cacheBytes: 400,
      totalBytes: 4400,
      imagesBytes: 3000,
      reclaimableBytes: 1300,
      reclaimable: { layers: 1000, blobs: 100, cacheRecords: 200 },
    },
  };

  it("summarises images, layers (with blobs) and cache records with what prune would free", () => {
    expect(renderDiskUsage(du, false, now).split("\n")).toEqual([
      "TYPE          TOTAL   ACTIVE   SIZE     RECLAIMABLE",
      "Images        1       1        3.00kB   0B (0%)",
      "Layers        2       1        4.00kB   1.10kB (27%)",
      "Build Cache   2       1        400B     200B (50%)",
      "",
    ]);
  });

  it("counts a layer only a working container's GC root keeps as active", () => {
    const kept = { ...du, layers: du.layers.map((l) => ({ ...l, roots: 1 })) };
    expect(renderDiskUsage(kept, false, now).split("\n")[2]).toMatch(/^Layers\s+2\s+2\s/);
  });

  it("with -v lists each image with its shared and unique size, each layer and each cache record", () => {
    const text = renderDiskUsage(du, true, now);
    expect(text).toMatch(/^app\s+1\s+aaaaaaaaaaaa\s+About an hour ago\s+3.00kB\s+2.00kB\s+1.00kB$/m);
    expect(text).toMatch(/^222222222222\s+1.00kB\s+30 minutes ago\s+0\s+1$/m);
    expect(text).toMatch(/Build cache usage: 400B\n\nCACHE ID\s+SIZE\s+CREATED\s+LAST USED\s+SHARED\ncccccccccccc\s+1.00kB\s+About an hour ago\s+2 minutes ago\s+false\ndddddddddddd/);
  });
});
