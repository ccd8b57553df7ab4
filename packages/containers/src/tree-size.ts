// Bytes of a tree, counted as Docker's directory.Size counts them.
import { lstat, readdir } from "node:fs/promises";
import path from "node:path";

/** Bytes of the files under dir (directories not counted, hard links once); 0 for a missing dir. */
export async function treeSize(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const visit = async (p: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(p);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    for (const name of names) {
      const child = path.join(p, name);
      const st = await lstat(child, { bigint: true });
      if (st.isDirectory()) {
        await visit(child);
        continue;
      }
      const inode = `${st.dev}:${st.ino}`;
      if (st.size === 0n || seen.has(inode)) continue;
      seen.add(inode);
      total += Number(st.size);
    }
  };
  await visit(dir);
  return total;
}
