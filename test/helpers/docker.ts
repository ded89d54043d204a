/**
 * Docker test helpers: whether the engine answers, a busybox image imported from the shared
 * test rootfs (no registry), and containers that are always removed.
 */
import { execFile } from "node:child_process";
import { request } from "node:http";
import { promisify } from "node:util";
import { busyboxRootfs } from "./containerd.js";

const execFileP = promisify(execFile);

export const DOCKER_SOCKET = "/var/run/docker.sock";
export const DOCKER_IMAGE = "lanner/busybox:test";

/** Resolves "" when the engine answers GET /_ping on the socket, else why not. */
function ping(socketPath: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/_ping", method: "GET", timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? "" : `GET /_ping answered HTTP ${res.statusCode ?? 0}`);
    });
    req.on("timeout", () => {
      req.destroy();
      resolve(`${socketPath} did not answer within ${timeoutMs} ms`);
    });
    req.on("error", (err) => resolve(`${socketPath}: ${err.message}`));
    req.end();
  });
}

let ready: Promise<string> | null = null;

/** "" when Docker containers can run here (engine answers, test image present), else why not. */
export function dockerUnavailable(): Promise<string> {
  ready ??= (async (): Promise<string> => {
    if (process.getuid?.() !== 0) return "docker tests need root";
    const why = await ping(DOCKER_SOCKET, 3000);
    if (why !== "") return why;
    try {
      await execFileP("docker", ["image", "inspect", DOCKER_IMAGE], { timeout: 15_000 });
      return "";
    } catch {
      // not imported yet
    }
    try {
      const rootfs = busyboxRootfs();
      await execFileP(
        "bash",
        ["-c", `set -o pipefail; tar -C '${rootfs}' -c . | docker import - ${DOCKER_IMAGE}`],
        { timeout: 60_000 },
      );
    } catch (err) {
      return `importing ${DOCKER_IMAGE}: ${(err as { stderr?: string }).stderr ?? String(err)}`;
    }
    return "";
  })();
  return ready;
}

export async function docker(args: readonly string[], timeoutMs = 30_000): Promise<string> {
  const { stdout } = await execFileP("docker", [...args], { timeout: timeoutMs });
  return stdout.trim();
}

export interface DockerContainer {
  readonly fullId: string;
  readonly name: string;
  readonly pid: number;
}

/** Tracks started containers so one cleanup removes them all (also after a failure). */
export class DockerContainers {
  private readonly names = new Set<string>();

  /** `docker run -d --network none` with the given options, then the image and command. */
  async run(
    name: string,
    opts: readonly string[],
    cmd: readonly string[] = ["/bin/sleep", "60"],
  ): Promise<DockerContainer> {
    this.names.add(name);
    await docker(["rm", "-f", name]).catch(() => "");
    const fullId = await docker([
      "run",
      "-d",
      "--network",
      "none",
      "--name",
      name,
      ...opts,
      DOCKER_IMAGE,
      ...cmd,
    ]);
    const pid = Number(await docker(["inspect", "-f", "{{.State.Pid}}", fullId]));
    return { fullId, name, pid };
  }

  /** `docker create --network none` (not started): full id. */
  async create(
    name: string,
    opts: readonly string[],
    cmd: readonly string[] = ["/bin/sleep", "60"],
  ): Promise<string> {
    this.names.add(name);
    await docker(["rm", "-f", name]).catch(() => "");
    return docker(["create", "--network", "none", "--name", name, ...opts, DOCKER_IMAGE, ...cmd]);
  }

  async cleanup(): Promise<void> {
    await Promise.all([...this.names].map((n) => docker(["rm", "-f", n]).catch(() => "")));
    this.names.clear();
  }
}
