/**
 * What `top file` and `top process` cost, in one run on this machine.
 *
 * top file: `dd bs=1` copies a file to /dev/null (one read and one write per byte); the
 * CPU time of dd (user + system: the kernel programs run in its syscalls) is measured
 * untraced, under `top file --host` (its file reads counted, its /dev/null writes looked at
 * and left out), `--all-files` (both counted), a selection that excludes the host (dropped
 * in the kernel at entry), and bpftrace counting the same calls per process and fd from the
 * same tracepoints (the peer; no file resolution). Printed: dd's CPU, the ratio to
 * untraced, and the cost per syscall.
 *
 * top process: with N sleeping processes on the node (bench/workload.c sleepers), the
 * gadget's own CPU per second at --interval 1 and the tables it printed, reading every
 * process (--host; default 20 rows, then every row printed) and reading none (a namespace
 * without pods: the cgroup walk only). A table that takes longer than the interval delays
 * the next one (fewer than 1 table/s).
 *
 * BENCH_QUICK=1: short runs (CI smoke). No targets: the figures go to the gadgets' READMEs.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../../src/capture/paths.js";

const QUICK = process.env["BENCH_QUICK"] === "1";
const ROUNDS = QUICK ? 1 : 3;
const BYTES = QUICK ? 100_000 : 1_000_000;
const SLEEPERS = QUICK ? 1_000 : 10_000;
const WINDOW_S = QUICK ? 3 : 10;
const ROOT = packageRoot();
const LANNER = join(ROOT, "bin/lanner");
const WORKLOAD = join(ROOT, "bench/.output/workload");
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const f = (n: number, d = 2): string => n.toFixed(d);

/** CPU seconds (user + system) of a command run to its end, by /usr/bin/time. */
function timed(cmd: string[]): number {
  const r = spawnSync("/usr/bin/time", ["-f", "lanner-time %U %S", ...cmd], {
    encoding: "utf8",
    stdio: ["ignore", "ignore", "pipe"],
  });
  const m = /lanner-time ([\d.]+) ([\d.]+)/.exec(r.stderr);
  if (r.status !== 0 || m === null) throw new Error(`${cmd.join(" ")}: ${r.stderr}`);
  return Number(m[1]) + Number(m[2]);
}

/** Starts a tracer and resolves once it says it is attached. */
async function startTracer(
  cmd: string,
  args: string[],
  ready: RegExp,
  onReady?: (line: string) => void,
): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${cmd}: not ready after 30 s: ${out}`)), 30000);
    const check = (d: Buffer): void => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(t);
        onReady?.(out.split("\n").find((l) => ready.test(l)) ?? "");
        resolve();
      }
    };
    child.stdout?.on("data", check);
    child.stderr?.on("data", check);
    child.on("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`${cmd} exited (${code}) before ready: ${out}`));
    });
  });
  // keep draining its output
  child.stdout?.on("data", () => undefined);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.on("exit", r));
  child.kill("SIGINT");
  await exited;
}

function cpuTicks(pid: number): number {
  const f2 = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return Number(f2[11]) + Number(f2[12]);
}

const BPFTRACE = `
tracepoint:syscalls:sys_enter_read { @rfd[tid] = args->fd + 1; }
tracepoint:syscalls:sys_exit_read /@rfd[tid]/ {
  if (args->ret >= 0) { @reads[pid, @rfd[tid]] = count(); @rbytes[pid, @rfd[tid]] = sum(args->ret); }
  delete(@rfd[tid]);
}
tracepoint:syscalls:sys_enter_write { @wfd[tid] = args->fd + 1; }
tracepoint:syscalls:sys_exit_write /@wfd[tid]/ {
  if (args->ret >= 0) { @writes[pid, @wfd[tid]] = count(); @wbytes[pid, @wfd[tid]] = sum(args->ret); }
  delete(@wfd[tid]);
}
interval:s:1 { print(@reads); print(@rbytes); print(@writes); print(@wbytes);
  clear(@reads); clear(@rbytes); clear(@writes); clear(@wbytes); }
`;

async function topFile(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "lanner-bench-top-"));
  const file = join(dir, "data");
  writeFileSync(file, Buffer.alloc(BYTES, 7));
  const dd = ["/bin/dd", `if=${file}`, "of=/dev/null", "bs=1", `count=${BYTES}`];
  const syscalls = 2 * BYTES;
  const modes: { name: string; start: (() => Promise<ChildProcess>) | null }[] = [
    { name: "untraced", start: null },
    {
      name: "top file --host",
      start: () => startTracer(LANNER, ["top", "file", "--host", "-o", "json"], /lanner: ready/),
    },
    {
      name: "top file --host --all-files",
      start: () =>
        startTracer(LANNER, ["top", "file", "--host", "--all-files", "-o", "json"], /lanner: ready/),
    },
    {
      name: "top file, host not selected",
      start: () =>
        startTracer(LANNER, ["top", "file", "-n", "lanner-bench-nothing", "-o", "json"], /lanner: ready/),
    },
  ];
  if (existsSync("/usr/bin/bpftrace"))
    modes.push({
      name: "bpftrace (peer)",
      start: () => startTracer("/usr/bin/bpftrace", ["-e", BPFTRACE], /Attaching \d+ probe/),
    });
  const results = new Map<string, number[]>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const m of modes) {
        const tracer = m.start === null ? null : await m.start();
        try {
          if (tracer !== null) await sleep(QUICK ? 300 : 1500); // metadata loaded, host classified
          results.set(m.name, [...(results.get(m.name) ?? []), timed(dd)]);
        } finally {
          if (tracer !== null) await stop(tracer);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const base = median(results.get("untraced") ?? []);
  console.log(
    `top file: dd bs=1 count=${BYTES} (${syscalls} read/write syscalls), median CPU of ${ROUNDS} round(s)`,
  );
  console.log(
    `${"mode".padEnd(30)} ${"dd CPU s".padStart(9)} ${"ratio".padStart(6)} ${"ns/syscall".padStart(11)}`,
  );
  for (const m of modes) {
    const cpu = median(results.get(m.name) ?? []);
    const per = ((cpu - base) / syscalls) * 1e9;
    console.log(
      `${m.name.padEnd(30)} ${f(cpu, 3).padStart(9)} ${f(cpu / base).padStart(6)} ${(m.start === null ? "-" : f(per, 0)).padStart(11)}`,
    );
  }
}

async function topProcess(): Promise<void> {
  if (!existsSync(WORKLOAD)) {
    console.log(`top process: ${WORKLOAD} missing (make tools): skipped`);
    return;
  }
  const kids = spawn(WORKLOAD, ["sleepers", String(SLEEPERS)], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  kids.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => kids.on("exit", () => r()));
  try {
    const deadline = Date.now() + 120_000;
    while (!out.includes("ready")) {
      if (kids.exitCode !== null || Date.now() > deadline) throw new Error(`sleepers: not ready: ${out}`);
      await sleep(100);
    }
    const procs = execFileSync("sh", ["-c", "ls /proc | grep -c '^[0-9]'"], { encoding: "utf8" }).trim();
    console.log(
      `top process: ${procs} processes on the node (${SLEEPERS} sleepers), CPU of the gadget over ${WINDOW_S} s`,
    );
    console.log(
      `${"mode".padEnd(36)} ${"CPU ms per s".padStart(13)} ${"tables/s".padStart(9)} ${"rows/s".padStart(7)}`,
    );
    for (const [name, args] of [
      ["every process (--host)", ["top", "process", "--host", "-o", "json"]],
      ["every process, every row printed", ["top", "process", "--host", "-m", "100000", "-o", "json"]],
      [
        "no process (a namespace without pods)",
        ["top", "process", "-n", "lanner-bench-nothing", "-o", "json"],
      ],
    ] as const) {
      let readyLine = "";
      const g = await startTracer(LANNER, [...args], /lanner: ready/, (l) => (readyLine = l));
      // rows are lines; tables are the distinct evt.time values
      let rows = 0;
      const times = new Set<string>();
      let partial = "";
      g.stdout?.on("data", (d: Buffer) => {
        const lines = (partial + d.toString()).split("\n");
        partial = lines.pop() ?? "";
        for (const l of lines) {
          rows++;
          times.add(/"evt.time":(\d+)/.exec(l)?.[1] ?? "");
        }
      });
      try {
        await sleep(2500); // the first tables (metadata loaded, host classified)
        const pid = g.pid as number;
        const t0 = cpuTicks(pid);
        const r0 = rows;
        const n0 = times.size;
        await sleep(WINDOW_S * 1000);
        const ms = ((cpuTicks(pid) - t0) / CLK_TCK) * 1000;
        console.log(
          `${name.padEnd(36)} ${f(ms / WINDOW_S, 1).padStart(13)} ${f((times.size - n0) / WINDOW_S, 1).padStart(9)} ${f((rows - r0) / WINDOW_S, 0).padStart(7)}   (${readyLine.replace(/^lanner: /, "")})`,
        );
      } finally {
        await stop(g);
      }
    }
  } finally {
    kids.stdin.end();
    await exited;
  }
}

await topFile();
await topProcess();
