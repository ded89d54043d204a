/**
 * TCP workloads for gadget tests, inside busybox containers (each has its own network
 * namespace with only `lo`) or on the host: nc servers and clients whose pids are known, and
 * the sockets a process's network namespace has (/proc/PID/net/tcp, tcp6: readable without
 * ptrace rights, unlike /proc/PID/ns).
 *
 * The test containers share one rootfs (and so /tmp): the FIFOs and gate files here have
 * unique names and are removed as soon as they are used.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { RunningContainer, TestContainers } from "./containerd.js";

export interface ProcSocket {
  readonly localPort: number;
  readonly remotePort: number;
  /** /proc/net/tcp's state: 1 ESTABLISHED, 10 LISTEN... */
  readonly state: number;
}

/** The TCP sockets of process `pid`'s network namespace (IPv4 and IPv6). */
export function procSockets(pid: number): ProcSocket[] {
  const out: ProcSocket[] = [];
  for (const f of ["tcp", "tcp6"]) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${f}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const port = (s: string | undefined): number => parseInt(s?.split(":")[1] ?? "", 16);
      out.push({ localPort: port(cols[1]), remotePort: port(cols[2]), state: parseInt(cols[3] ?? "", 16) });
    }
  }
  return out;
}

async function until<T>(what: string, fn: () => T | undefined, ms = 10000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until `pid`'s namespace has a listener on `port`. */
export function waitListening(pid: number, port: number): Promise<true> {
  return until(`a listener on port ${port}`, () =>
    procSockets(pid).some((s) => s.localPort === port && s.state === 10) ? true : undefined,
  );
}

/** The local port of the established connection from `pid`'s namespace to `serverPort`. */
export function clientPort(pid: number, serverPort: number): Promise<number> {
  return until(
    `a connection to port ${serverPort}`,
    () => procSockets(pid).find((s) => s.remotePort === serverPort && s.state === 1)?.localPort,
  );
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

function ppid(pid: number): number {
  try {
    return Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** The container's process whose command line has `marker` and whose parent's has not (a
 * shell, not the subshells it forked). */
async function mainProcess(
  tc: TestContainers,
  c: RunningContainer,
  marker: (cmd: string) => boolean,
): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const hits = (await tc.pids(c)).filter((p) => marker(cmdline(p)));
    const top = hits.filter((p) => !hits.includes(ppid(p)));
    if (top.length === 1) return top[0] as number;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`container ${c.id}: no single process matches`);
}

/**
 * `nc -l -p PORT` in a container: its stdin is a FIFO held open by a sleeping writer, so it
 * sends `reply` bytes, then never reaches end of input: it exits when the peer closes.
 * Returns the server's pid (the shell execs nc). Waits until it listens. (/bin/nc, not nc:
 * busybox's shell runs a bare applet name by re-executing /proc/self/exe, and the applet
 * then renames itself with prctl, so its exec-time name would be "exe".)
 */
export async function ncServer(
  tc: TestContainers,
  c: RunningContainer,
  port: number,
  reply = 0,
): Promise<number> {
  const fifo = `/tmp/lanner-nc-${randomBytes(6).toString("hex")}`;
  const feed = `(rm ${fifo}; ${reply > 0 ? `head -c ${reply} /dev/zero; ` : ""}sleep 3600)`;
  const any = await tc.execDetached(c, [
    "/bin/sh",
    "-c",
    `mkfifo ${fifo}; ${feed} > ${fifo} & exec /bin/nc -l -p ${port} < ${fifo} > /dev/null`,
  ]);
  await waitListening(any, port);
  return mainProcess(tc, c, (cmd) => cmd === `/bin/nc -l -p ${port}`);
}

/**
 * `nc HOST PORT` in a container, once go() was called: sends `bytes` bytes,
 * keeps the connection `holdS` seconds (reading what the server sends), then closes it by
 * exiting. Returns the client's pid (the shell execs nc) and `go()`, which starts it.
 */
export async function ncClient(
  tc: TestContainers,
  c: RunningContainer,
  host: string,
  port: number,
  bytes: number,
  holdS: number,
): Promise<{ pid: number; go: () => Promise<void> }> {
  const tag = randomBytes(6).toString("hex");
  const fifo = `/tmp/lanner-nc-${tag}`;
  const gate = `/tmp/lanner-go-${tag}`;
  await tc.execDetached(c, [
    "/bin/sh",
    "-c",
    `mkfifo ${fifo}; (rm ${fifo}; head -c ${bytes} /dev/zero; sleep ${holdS}) > ${fifo} & ` +
      `while [ ! -e ${gate} ]; do sleep 0.05; done; rm ${gate}; exec /bin/nc ${host} ${port} < ${fifo} > /dev/null`,
  ]);
  const pid = await mainProcess(tc, c, (cmd) => cmd.includes(`exec /bin/nc ${host} ${port} <`));
  return { pid, go: async () => void (await tc.exec(c, ["/bin/touch", gate])) };
}
