// mkdir -p without fs.mkdir({recursive}), which can spin forever on some pseudo file systems
// (seen under /proc on Node 20). Each missing level is created with `mode`.

import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";

export async function mkdirp(dir: string, mode = 0o755, depth = 0): Promise<void> {
  try {
    await mkdir(dir, { mode });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    const parent = dirname(dir);
    if (code !== "ENOENT" || parent === dir || depth > 64) throw err;
    await mkdirp(parent, mode, depth + 1);
    try {
      await mkdir(dir, { mode });
    } catch (err2) {
      if ((err2 as NodeJS.ErrnoException).code !== "EEXIST") throw err2;
    }
  }
}
