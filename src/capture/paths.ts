/** Where the build puts the BPF objects. Read once; overridable for tests. */
import { join } from "node:path";
import { packageRoot } from "../package.js";

export { packageRoot } from "../package.js";

export function bpfObjectPath(name: string): string {
  const dir = process.env["LANNER_BPF_DIR"] ?? join(packageRoot(), "bpf", ".output");
  return join(dir, `${name}.bpf.o`);
}
