// Shared by this package's tests: a fresh store in a scratch dir for each test, removed after it.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach } from "vitest";
import { openStore, type Store } from "./store.js";

/** Registers beforeEach/afterEach hooks that hand each test a new store (and its scratch dir). */
export function useScratchStore(prefix: string, receive: (store: Store, scratch: string) => void): void {
  let scratch: string | undefined;
  beforeEach(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), prefix));
    receive(await openStore(path.join(scratch, "store")), scratch);
  });
  afterEach(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });
}
