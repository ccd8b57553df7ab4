// The busybox base image (scripts/make-busybox-image.sh), built once per test file on demand.
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { makeScratchDir } from "./scratch.js";

const exec = promisify(execFile);
const script = fileURLToPath(new URL("../../scripts/make-busybox-image.sh", import.meta.url));

/** Reference of the image inside the layout the script writes. */
export const BUSYBOX_REF = "latest";

let layout: Promise<string> | undefined;

/**
 * Path of an OCI image layout holding the busybox base as reference `latest`. The first call
 * in a test file (one module instance per file, as vitest isolates files) builds it into a
 * scratch dir that is removed when the file ends; later calls share that build.
 */
export function busyboxBase(): Promise<string> {
  layout ??= (async () => {
    const dir = await makeScratchDir("tsbuild-busybox-", { untilFileEnds: true });
    await exec("sh", [script, dir]);
    return path.join(dir, "busybox");
  })();
  return layout;
}
