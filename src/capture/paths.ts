/** Where the build puts the BPF objects. Read once; overridable for tests. */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository (or installed package) root: the folder holding package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "package.json"))) return dir;
    dir = resolve(dir, "..");
  }
  throw new Error("cannot find the Lanner package root from " + fileURLToPath(import.meta.url));
}

export function bpfObjectPath(name: string): string {
  const dir = process.env["LANNER_BPF_DIR"] ?? join(packageRoot(), "bpf", ".output");
  return join(dir, `${name}.bpf.o`);
}
