/**
 * test/fixtures/snapshot-workload.c built static into a temporary directory, to bind-mount
 * into busybox test containers (at /run, a directory the test rootfs has and leaves empty):
 * threads and UDP sockets that busybox applets cannot make.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileP = promisify(execFile);

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "test", "fixtures", "snapshot-workload.c"))) return dir;
    dir = dirname(dir);
  }
  throw new Error("snapshot-workload: repository root not found");
}

export interface SnapshotWorkload {
  /** the directory to mount */
  readonly dir: string;
  /** where the binary is inside a container that mounts `dir` at /run */
  readonly inContainer: string;
  /** the binary on the host */
  readonly hostPath: string;
  remove(): void;
}

/** Builds the workload; a string says why it cannot be built here (a skip reason). */
export async function buildSnapshotWorkload(): Promise<SnapshotWorkload | string> {
  if (!existsSync("/usr/bin/gcc")) return "gcc is missing (apt-get install gcc libc6-dev)";
  const dir = mkdtempSync(join(tmpdir(), "lanner-snapshot-workload-"));
  const hostPath = join(dir, "snapshot-workload");
  try {
    await execFileP(
      "/usr/bin/gcc",
      ["-O2", "-static", "-pthread", "-o", hostPath, join(repoRoot(), "test/fixtures/snapshot-workload.c")],
      { timeout: 60_000 },
    );
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    return `building test/fixtures/snapshot-workload.c static failed: ${(e as { stderr?: string }).stderr ?? String(e)}`;
  }
  return {
    dir,
    inContainer: "/run/snapshot-workload",
    hostPath,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
