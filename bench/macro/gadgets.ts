/**
 * Gadget parity benchmark: Lanner's trace gadgets against bpftrace on the same workload, in
 * one run.
 *
 * The workload (bench/gadget-workload.c, static) runs inside a real containerd container
 * with the kubelet's CRI labels and does N execs, opens, TCP connects and accepts, signals
 * and binds, each with a key (an argument, a path, a port). For each kind, in turn:
 *   - untraced,
 *   - traced by the Lanner gadget (`lanner trace <kind> -c bench-wl -o json`: the container
 *     selected in the kernel by its cgroup),
 *   - traced by the equivalent bpftrace script (a predicate on the same cgroup id),
 * and compares the two tools' reports of the workload's events as sets of keys, and the
 * workload's own time (measured inside it) as ratios to untraced. Then start-up, while execs
 * happen every 20 ms: from spawn to `lanner: ready` (programs attached) and to the first event
 * printed for `lanner trace exec`, and to the first event of the equivalent bpftrace one-liner.
 *
 * Targets (the full run fails when one is missed): the same set of events from both tools
 * for every kind; `lanner trace exec` ready in < 0.5 s (median). BENCH_QUICK=1: a short
 * smoke run (CI), targets printed, not enforced.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../src/capture/paths.js";
import { findCgroup2Mount } from "../../src/state/containers/cgroup-resolver.js";
import { containerdAvailable, TestContainers, type RunningContainer } from "../../test/helpers/containerd.js";

const QUICK = process.env["BENCH_QUICK"] === "1";
const N = QUICK ? 100 : 2000;
const ROUNDS = QUICK ? 1 : 3;
const STARTS = QUICK ? 2 : 5;
const ROOT = packageRoot();
const LANNER = join(ROOT, "bin/lanner");
const WORKLOAD = join(ROOT, "bench/.output/gadget-workload");
const PORT = 31000;

type Json = Record<string, unknown>;

/** One kind of event: how each tool is asked for it and how its report maps to keys. */
interface Kind {
  readonly name: string;
  /** `lanner trace <gadget> ...` */
  readonly gadget: readonly string[];
  /** the key of a Lanner event of the workload, or null for events of something else */
  readonly lannerKey: (e: Json) => string | null;
  /** the bpftrace program; CG is replaced by the container's cgroup directory */
  readonly bpftrace: string;
  /** the key of one bpftrace output line, or null */
  readonly bpftraceKey: (line: string) => string | null;
}

const KINDS: readonly Kind[] = [
  {
    name: "exec",
    gadget: ["exec"],
    lannerKey: (e) => {
      const m = /^true (gw-exec-\d+)$/.exec(String(e["exec.args"] ?? ""));
      return m !== null && e["evt.rawres"] === 0 ? (m[1] ?? null) : null;
    },
    bpftrace: `
tracepoint:syscalls:sys_enter_execve /cgroup == cgroupid("CG")/ { @arg[tid] = str(args->argv[1]); }
tracepoint:syscalls:sys_exit_execve /@arg[tid] != ""/ {
  if (args->ret == 0) { printf("exec %s\\n", @arg[tid]); }
  delete(@arg[tid]);
}`,
    bpftraceKey: (l) => /^exec (gw-exec-\d+)$/.exec(l)?.[1] ?? null,
  },
  {
    name: "open",
    gadget: ["open"],
    lannerKey: (e) => {
      const m = /\/(gw-open-\d+)$/.exec(String(e["fd.name"] ?? ""));
      return m !== null && typeof e["evt.rawres"] === "number" && e["evt.rawres"] >= 0
        ? (m[1] ?? null)
        : null;
    },
    bpftrace: `
tracepoint:syscalls:sys_enter_openat /cgroup == cgroupid("CG")/ { @path[tid] = str(args->filename); }
tracepoint:syscalls:sys_exit_openat /@path[tid] != ""/ {
  if (args->ret >= 0) { printf("open %s\\n", @path[tid]); }
  delete(@path[tid]);
}`,
    bpftraceKey: (l) => /^open \S*\/(gw-open-\d+)$/.exec(l)?.[1] ?? null,
  },
  {
    // connects to the workload's listener: no key per event but the port, so the sets
    // compared are of (port, ordinal): the same count of the same connections
    name: "connect",
    gadget: ["tcp", "--connect-only"],
    lannerKey: (e) =>
      e["tcp.type"] === "connect" && e["fd.rport"] === PORT && e["evt.rawres"] === 0
        ? `connect-${PORT}`
        : null,
    bpftrace: `
tracepoint:syscalls:sys_enter_connect /cgroup == cgroupid("CG")/ {
  $sa = (struct sockaddr_in *)args->uservaddr;
  @port[tid] = bswap($sa->sin_port);
}
tracepoint:syscalls:sys_exit_connect /@port[tid] != 0/ {
  if (args->ret == 0) { printf("connect %d\\n", @port[tid]); }
  delete(@port[tid]);
}`,
    bpftraceKey: (l) => (l === `connect ${PORT}` ? `connect-${PORT}` : null),
  },
  {
    name: "accept",
    gadget: ["tcp", "--accept-only"],
    // the client resets each connection (SO_LINGER 0): one reset before its accept returns has
    // no local port left in the kernel (a closed socket gives its port back), so 0 counts
    lannerKey: (e) =>
      e["tcp.type"] === "accept" &&
      typeof e["evt.rawres"] === "number" &&
      e["evt.rawres"] >= 0 &&
      (e["fd.lport"] === PORT || e["fd.lport"] === 0)
        ? "accept"
        : null,
    bpftrace: `
tracepoint:syscalls:sys_exit_accept4 /cgroup == cgroupid("CG") && args->ret >= 0/ { printf("accept\\n"); }`,
    bpftraceKey: (l) => (l === "accept" ? "accept" : null),
  },
  {
    name: "signal",
    gadget: ["signal"],
    lannerKey: (e) =>
      e["signal.num"] === 10 && e["evt.rawres"] === 0 && e["evt.type"] === "kill" ? "SIGUSR1" : null,
    bpftrace: `
tracepoint:syscalls:sys_enter_kill /cgroup == cgroupid("CG")/ { @sig[tid] = args->sig; }
tracepoint:syscalls:sys_exit_kill /@sig[tid] != 0/ {
  if (args->ret == 0) { printf("kill %d\\n", @sig[tid]); }
  delete(@sig[tid]);
}`,
    bpftraceKey: (l) => (l === "kill 10" ? "SIGUSR1" : null),
  },
  {
    name: "bind",
    gadget: ["bind"],
    lannerKey: (e) => {
      const port = e["bind.port"];
      return typeof port === "number" && port > PORT && e["evt.rawres"] === 0 ? `bind-${port}` : null;
    },
    bpftrace: `
tracepoint:syscalls:sys_enter_bind /cgroup == cgroupid("CG")/ {
  $sa = (struct sockaddr_in *)args->umyaddr;
  @port[tid] = bswap($sa->sin_port);
}
tracepoint:syscalls:sys_exit_bind /@port[tid] != 0/ {
  if (args->ret == 0) { printf("bind %d\\n", @port[tid]); }
  delete(@port[tid]);
}`,
    bpftraceKey: (l) => {
      const m = /^bind (\d+)$/.exec(l);
      return m !== null && Number(m[1]) > PORT ? `bind-${m[1]}` : null;
    },
  },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[Math.floor((s.length - 1) / 2)] as number);
}

/** Spawns a tracer and resolves once it says it is attached. */
async function startTracer(
  cmd: string,
  args: readonly string[],
  ready: RegExp,
): Promise<{ child: ChildProcess; out: () => string; err: () => string; readyMs: number }> {
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const readyMs = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${cmd} not ready after 30 s: ${err}`)), 30000);
    const check = (): void => {
      if (ready.test(out) || ready.test(err)) {
        clearTimeout(t);
        resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    };
    child.stdout?.on("data", check);
    child.stderr?.on("data", check);
    child.on("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`${cmd} exited (${code}) before ready: ${err}`));
    });
  });
  return { child, out: () => out, err: () => err, readyMs };
}

/**
 * Stops a tracer: SIGINT (both print what they hold and exit), then SIGTERM and SIGKILL if it
 * has not exited within 10 s each, so a tracer that missed its signal cannot hang the run.
 */
async function stopTracer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<boolean>((r) => child.once("exit", () => r(true)));
  for (const sig of ["SIGINT", "SIGTERM", "SIGKILL"] as const) {
    child.kill(sig);
    const done = await Promise.race([exited, new Promise<boolean>((r) => setTimeout(() => r(false), 10000))]);
    if (done) return;
    console.log(`  (${child.spawnargs[0] ?? "tracer"} did not exit on ${sig} within 10 s)`);
  }
}

/**
 * Start-up as a user sees it: from spawn until the tracer prints its first event, while this
 * process execs /bin/true every 20 ms. The same measure for both tools.
 */
async function timeToFirstEvent(
  cmd: string,
  args: readonly string[],
  event: RegExp,
  ready?: RegExp,
): Promise<{ firstMs: number; readyMs: number }> {
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let readyMs = NaN;
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
    if (ready !== undefined && Number.isNaN(readyMs) && ready.test(err)) {
      readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
    }
  });
  const poke = setInterval(() => spawn("/bin/true", [], { stdio: "ignore" }).on("error", () => {}), 20);
  try {
    const firstMs = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${cmd} saw no event in 30 s: ${err}`)), 30000);
      child.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
        if (event.test(out)) {
          clearTimeout(t);
          resolve(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      });
      child.on("exit", (code) => {
        clearTimeout(t);
        reject(new Error(`${cmd} exited (${code}) before its first event: ${err}`));
      });
    });
    return { firstMs, readyMs };
  } finally {
    clearInterval(poke);
    await stopTracer(child);
  }
}

async function runWorkload(tc: TestContainers, c: RunningContainer, dir: string): Promise<number> {
  const out = await tc.exec(c, ["/bench/gadget-workload", String(N), dir, String(PORT)]);
  const r = JSON.parse(out.trim().split("\n").pop() ?? "{}") as { seconds?: number; ops?: number };
  if (r.ops !== N || typeof r.seconds !== "number") throw new Error(`workload: unexpected output ${out}`);
  return r.seconds;
}

/**
 * The keys of a tool's report as a set; a key seen again is counted (`key#2`...), so events
 * without a unique key (signals, connects to one port) compare as a multiset.
 */
function keysOf<T>(items: readonly T[], key: (x: T) => string | null): Set<string> {
  const s = new Set<string>();
  const seen = new Map<string, number>();
  for (const x of items) {
    const k = key(x);
    if (k === null) continue;
    const n = (seen.get(k) ?? 0) + 1;
    seen.set(k, n);
    s.add(n === 1 ? k : `${k}#${n}`);
  }
  return s;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.log("SKIP gadget parity benchmark: needs root (BPF, containers)");
    return 0;
  }
  if (!existsSync(WORKLOAD)) {
    console.log(`SKIP gadget parity benchmark: ${WORKLOAD} is not built (make tools)`);
    return 0;
  }
  const avail = await containerdAvailable();
  if (!avail.ok) {
    console.log(`SKIP gadget parity benchmark: ${avail.reason}`);
    return 0;
  }
  let bpftraceOk = true;
  try {
    execFileSync("bpftrace", ["--version"], { stdio: "ignore" });
  } catch {
    bpftraceOk = false;
  }
  const tc = new TestContainers();
  let fail = false;
  try {
    const pod = await tc.startPod({ name: "bench-wl-pod", namespace: "bench", labels: { app: "bench" } });
    const c = await tc.start({
      name: "bench-wl",
      pod,
      mounts: [{ source: join(ROOT, "bench/.output"), destination: "/bench", readonly: true }],
    });
    // the cgroup v2 directory (on hybrid hosts under /sys/fs/cgroup/unified)
    const root = findCgroup2Mount(readFileSync("/proc/self/mountinfo", "utf8")) ?? "/sys/fs/cgroup";
    const cg = `${root}${c.cgroupPath}`;
    console.log(
      `gadget parity: ${N} of each event per run, ${ROUNDS} round(s), medians; workload in container ${c.id.slice(0, 12)} (${cg})`,
    );
    console.log(
      "kind     untraced s  lanner s  bpftrace s  lanner speed  bpftrace speed  lanner events  bpftrace events  same set",
    );
    // BENCH_GADGET_KINDS=exec,open: only these kinds (all by default)
    const only = process.env["BENCH_GADGET_KINDS"]?.split(",");
    for (const kind of KINDS.filter((k) => only === undefined || only.includes(k.name))) {
      const base: number[] = [];
      const lan: number[] = [];
      const bt: number[] = [];
      let lanKeys = new Set<string>();
      let btKeys = new Set<string>();
      let same = true;
      let lanStats = "";
      for (let r = 0; r < ROUNDS; r++) {
        const dir = `/tmp/gw-${kind.name}-${r}`;
        await tc.exec(c, ["/bin/mkdir", "-p", dir]);
        base.push(await runWorkload(tc, c, dir));

        const l = await startTracer(
          process.execPath,
          [LANNER, "trace", ...kind.gadget, "-c", "bench-wl", "-o", "json"],
          /lanner: ready/,
        );
        await new Promise((res) => setTimeout(res, 500));
        lan.push(await runWorkload(tc, c, dir));
        await new Promise((res) => setTimeout(res, 300));
        await stopTracer(l.child);
        const events = l
          .out()
          .split("\n")
          .filter((x) => x.startsWith("{"))
          .map((x) => JSON.parse(x) as Json);
        lanKeys = keysOf(events, kind.lannerKey);
        lanStats = /lanner: stats .*/.exec(l.err())?.[0] ?? "(no stats line)";

        if (bpftraceOk) {
          const b = await startTracer(
            "bpftrace",
            ["-e", kind.bpftrace.replaceAll("CG", cg)],
            /Attaching \d+ probe/,
          );
          await new Promise((res) => setTimeout(res, 500));
          bt.push(await runWorkload(tc, c, dir));
          await new Promise((res) => setTimeout(res, 300));
          await stopTracer(b.child);
          btKeys = keysOf(b.out().split("\n"), kind.bpftraceKey);
        }
        const expected = N;
        const r1 =
          lanKeys.size === expected &&
          (!bpftraceOk || (btKeys.size === expected && [...lanKeys].every((k) => btKeys.has(k))));
        if (!r1) same = false;
      }
      const mb = median(base);
      const ml = median(lan);
      const mt = bpftraceOk ? median(bt) : NaN;
      console.log(
        `${kind.name.padEnd(8)} ${mb.toFixed(3).padStart(10)} ${ml.toFixed(3).padStart(9)} ${bpftraceOk ? mt.toFixed(3).padStart(11) : "     (none)"}` +
          ` ${(mb / ml).toFixed(2).padStart(13)} ${bpftraceOk ? (mb / mt).toFixed(2).padStart(15) : "            n/a"}` +
          ` ${String(lanKeys.size).padStart(14)} ${bpftraceOk ? String(btKeys.size).padStart(16) : "             n/a"}  ${same ? "yes" : "NO"}`,
      );
      if (!same) {
        fail = true;
        const missing = [...btKeys].filter((k) => !lanKeys.has(k)).slice(0, 5);
        const extra = [...lanKeys].filter((k) => !btKeys.has(k)).slice(0, 5);
        console.log(
          `  ${kind.name}: expected ${N} keys; missing from Lanner: ${missing.join(" ")}; only in Lanner: ${extra.join(" ")}; ${lanStats}`,
        );
      }
    }
    console.log("speed: the workload's own time untraced / traced (1.00 = no slowdown)");

    // start-up: spawn to the first event printed
    const lReady: number[] = [];
    const lFirst: number[] = [];
    const bFirst: number[] = [];
    for (let i = 0; i < STARTS; i++) {
      const l = await timeToFirstEvent(
        process.execPath,
        [LANNER, "trace", "exec", "--host", "-o", "json"],
        /^\{/m,
        /lanner: ready/,
      );
      lReady.push(l.readyMs);
      lFirst.push(l.firstMs);
      if (bpftraceOk) {
        const b = await timeToFirstEvent(
          "bpftrace",
          [
            "-B",
            "none",
            "-e",
            'tracepoint:syscalls:sys_exit_execve { printf("exit %d %d\\n", pid, args->ret); }',
          ],
          /^exit \d+ /m,
        );
        bFirst.push(b.firstMs);
      }
    }
    const lr = median(lReady);
    const lf = median(lFirst);
    const bf = median(bFirst);
    const s3 = (ms: number): string => (ms / 1000).toFixed(3);
    console.log(
      `start-up (median of ${STARTS}, execs every 20 ms): lanner trace exec ready (programs attached) after ${s3(lr)} s, first event printed after ${s3(lf)} s; ` +
        `bpftrace's one-liner: first event after ${bpftraceOk ? `${s3(bf)} s (first event, lanner/bpftrace ${(lf / bf).toFixed(2)})` : "n/a (bpftrace missing)"}`,
    );
    const metStart = lr < 500;
    console.log(`target: lanner trace exec ready in < 0.5 s: ${s3(lr)} s: ${metStart ? "MET" : "NOT MET"}`);
    console.log(
      `target: the same set of events from Lanner and bpftrace for every kind: ${fail ? "NOT MET" : "MET"}`,
    );
    if (!metStart) fail = true;
  } finally {
    await tc.cleanup();
  }
  return fail && !QUICK ? 1 : 0;
}

process.exitCode = await main();
