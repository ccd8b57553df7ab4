// Exclusive locks between processes sharing a store (tag changes, garbage collection).
//
// Scheme: the lock is the file locks/<name>.lock, created with open(O_CREAT|O_EXCL) ("wx"), so
// exactly one process can create it. It holds {"pid", "start"}: the holder's pid and its start
// time from /proc/<pid>/stat, so a pid reused by an unrelated process does not keep a dead
// holder's lock alive. Release deletes the file.
//
// A waiter that finds the lock held polls with backoff up to a timeout (StoreLockTimeoutError,
// naming the holder). If the holder is dead the lock is stale and is broken; breaking is done
// under a second lock file, <name>.lock.break, and re-reads the lock under it, so two waiters
// cannot both break it and the second cannot delete the lock the first has just taken. A
// .break file is held for microseconds; one older than BREAK_STALE_MS is from a crashed
// breaker and is removed.
//
// Blob and layer writes take no lock: they are atomic renames of content-addressed names.
import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StoreLockTimeoutError } from "./errors.js";

const BREAK_STALE_MS = 10_000;
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

interface LockOwner {
  pid: number;
  start: string | undefined;
}

/** Field 22 of /proc/<pid>/stat: the process start time in clock ticks since boot. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may contain spaces; fields follow the last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

export function isProcessAlive(pid: number, start?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  if (start === undefined) return true;
  const now = processStartTime(pid);
  return now === undefined || now === start;
}

const self: LockOwner = { pid: process.pid, start: processStartTime(process.pid) };

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as Partial<LockOwner>;
    return typeof parsed.pid === "number" ? { pid: parsed.pid, start: parsed.start } : undefined;
  } catch {
    return undefined;
  }
}

async function tryCreate(file: string): Promise<boolean> {
  try {
    const fh = await open(file, "wx");
    try {
      await fh.writeFile(JSON.stringify(self));
    } finally {
      await fh.close();
    }
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
}

/** Removes `file` if it still names the dead owner `stale` (pid -1: still has no readable owner). */
async function breakStaleLock(file: string, stale: LockOwner): Promise<void> {
  const breaker = `${file}.break`;
  if (!(await tryCreate(breaker))) {
    const age = await stat(breaker).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > BREAK_STALE_MS) await rm(breaker, { force: true });
    return;
  }
  try {
    const current = await readOwner(file);
    const stillStale =
      stale.pid === -1 ? current === undefined : current?.pid === stale.pid && current.start === stale.start;
    if (stillStale) await rm(file, { force: true });
  } finally {
    await rm(breaker, { force: true });
  }
}

export interface LockOptions {
  timeoutMs?: number;
}

/** Runs `fn` holding the exclusive lock `name` of the store whose lock directory is `locksDir`. */
export async function withLock<T>(locksDir: string, name: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const file = path.join(locksDir, `${name}.lock`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const started = Date.now();
  let delay = 5;
  await mkdir(locksDir, { recursive: true });
  for (;;) {
    if (await tryCreate(file)) break;
    const owner = await readOwner(file);
    if (owner && !isProcessAlive(owner.pid, owner.start)) {
      await breakStaleLock(file, owner);
      continue;
    }
    if (owner === undefined) {
      // Created but not yet written, or written by a crashed process mid-write: judge by age.
      const age = await stat(file).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > BREAK_STALE_MS) await breakStaleLock(file, { pid: -1, start: undefined });
    }
    const waited = Date.now() - started;
    if (waited >= timeoutMs) throw new StoreLockTimeoutError(file, owner?.pid, waited);
    await sleep(Math.min(delay, timeoutMs - waited));
    delay = Math.min(delay * 2, 200);
  }
  try {
    return await fn();
  } finally {
    await rm(file, { force: true });
  }
}
