import { describe, expect, it } from "vitest";
import { formatContainerSize, formatHistory, formatTable, humanAgo } from "./container-commands.js";

describe("container command output", () => {
  it("shows ps sizes with the same units as the build summary", () => {
    expect(formatContainerSize(0, 1_990_000)).toBe("0B (virtual 1.99MB)");
    expect(formatContainerSize(1500, 2_001_500)).toBe("1.50kB (virtual 2.00MB)");
  });

  it("says how long ago as docker does", () => {
    expect(humanAgo(400)).toBe("Less than a second ago");
    expect(humanAgo(5_000)).toBe("5 seconds ago");
    expect(humanAgo(70_000)).toBe("About a minute ago");
    expect(humanAgo(3 * 3600_000)).toBe("3 hours ago");
    expect(humanAgo(3 * 86_400_000)).toBe("3 days ago");
  });

  it("pads table columns three spaces past the widest cell", () => {
    expect(formatTable([["A", "BB"], ["long", "x"]])).toBe("A      BB\nlong   x\n");
  });

  it("prints history newest first with <missing> for inherited rows and cut commands", () => {
    const now = Date.parse("2024-01-01T00:01:00Z");
    const rows = [
      { id: "sha256:0123456789abcdef", created: "2024-01-01T00:00:58Z", createdBy: "tsbuild run sh -c 'echo a very long command that goes on'", size: 1500, comment: "msg" },
      { created: undefined, createdBy: "ADD rootfs", size: undefined, comment: "" },
    ];
    expect(formatHistory(rows, now, false).split("\n")).toEqual([
      "IMAGE          CREATED         CREATED BY                                     SIZE     COMMENT",
      "0123456789ab   2 seconds ago   tsbuild run sh -c 'echo a very long command…   1.50kB   msg",
      "<missing>      N/A             ADD rootfs                                     N/A",
      "",
    ]);
  });
});
