/**
 * The packet gadgets' workloads (test/fixtures/packets.py) in containers and on the host,
 * with the host pids the gadgets report: a container's process is started detached (its
 * host pid found by `ctr task ps`), then told to go through a file in a directory shared
 * with the test, and writes what it did (ports, ids) back there.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../../src/capture/paths.js";
import type { ContainerSpec, RunningContainer, TestContainers } from "./containerd.js";
import { PYTHON } from "./kernel.js";

const FIXTURES = join(packageRoot(), "test/fixtures");

async function waitFile(path: string, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return readFileSync(path, "utf8");
}

export class PacketWorkloads {
  /** host directory shared with the containers (as /x) */
  readonly dir = mkdtempSync(join(tmpdir(), "lanner-packets-"));
  private readonly host: ChildProcess[] = [];

  constructor(private readonly tc: TestContainers) {}

  /** What a container needs to run the workloads: the host's python and these files. */
  get containerSpec(): Pick<ContainerSpec, "hostUsr" | "mounts"> {
    return {
      hostUsr: true,
      mounts: [
        { source: FIXTURES, destination: "/fixtures", readonly: true },
        { source: this.dir, destination: "/x" },
      ],
    };
  }

  private files(): { id: string; hostDir: string } {
    return { id: randomBytes(4).toString("hex"), hostDir: this.dir };
  }

  /** A long-running workload (a server) in `c` or on the host (c null): resolves to its host
   * pid once it says it listens. */
  async server(c: RunningContainer | null, cmd: string, ...args: string[]): Promise<number> {
    const { id } = this.files();
    const ready = `ready-${id}.json`;
    if (c === null) {
      const p = spawn(PYTHON, [join(FIXTURES, "packets.py"), cmd, ...args, join(this.dir, ready)], {
        stdio: "ignore",
      });
      this.host.push(p);
      await waitFile(join(this.dir, ready), 20_000);
      return p.pid as number;
    }
    const pid = await this.tc.execDetached(c, [
      "/usr/bin/python3",
      "/fixtures/packets.py",
      cmd,
      ...args,
      `/x/${ready}`,
    ]);
    await waitFile(join(this.dir, ready), 20_000);
    return pid;
  }

  /** A client workload (dns-client, tls-client) with its spec: its host pid and its report. */
  async client<T>(c: RunningContainer | null, cmd: string, spec: unknown): Promise<{ pid: number; out: T }> {
    const { id } = this.files();
    const out = `out-${id}.json`;
    const go = `go-${id}`;
    let pid: number;
    if (c === null) {
      const p = spawn(
        PYTHON,
        [join(FIXTURES, "packets.py"), cmd, join(this.dir, out), join(this.dir, go), JSON.stringify(spec)],
        {
          stdio: "ignore",
        },
      );
      this.host.push(p);
      pid = p.pid as number;
    } else {
      pid = await this.tc.execDetached(c, [
        "/usr/bin/python3",
        "/fixtures/packets.py",
        cmd,
        `/x/${out}`,
        `/x/${go}`,
        JSON.stringify(spec),
      ]);
    }
    writeFileSync(join(this.dir, go), "");
    const text = await waitFile(join(this.dir, out), 30_000);
    return { pid, out: JSON.parse(text) as T };
  }

  cleanup(): void {
    for (const p of this.host) if (p.exitCode === null) p.kill("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A loopback address of its own for this run's host workloads (127.x.y.z). */
export function hostLoopback(): string {
  const b = randomBytes(2);
  return `127.${80 + (process.pid % 40)}.${b[0] as number}.${1 + ((b[1] as number) % 250)}`;
}
