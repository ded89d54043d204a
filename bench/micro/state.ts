/**
 * State micro-benchmark (issue 3):
 *   1. table size and peak RSS with 10 000 live processes built from synthetic fork/exec
 *      records (argv, exe, cwd, 100 containers' worth of cgroup ids, a few fds each);
 *   2. event-path lookups per second (process, thread, fd, three ancestors);
 *   3. CPU per event of state updates relative to decoding alone, on raw records in the
 *      ring's batch framing (an openat/close/connect/fchmodat/setuid mix over the 10 000
 *      processes, with a realistic locality and with none, see pidAt):
 *        decode            walkBatch + decodeRecord                     (capture printing)
 *        decode+state      State.applyRecord + decodeRecord + process/thread/fd lookups
 *        applyRecord       walkBatch + State.applyRecord                (capture -o none)
 *      (decode+state / decode is reported as a strict proxy: it is not the target)
 *   4. the target (issue 3): with a real capture of an open/close loop (every record changes
 *      state), the capture's CPU per event with the state <= 1.20 x without (checked outside
 *      quick mode, when root: the full run exits 1 when it is missed). The capture's cost per
 *      event is what tracing adds to the loop (its time per syscall traced minus untraced,
 *      measured in the same round) plus the consumer's CPU; the state's cost is the consumer's
 *      CPU with the state minus without it, in the same round. Medians over the rounds. (The
 *      loop's own syscall time is not a cost of the capture: counting it diluted the ratio.)
 *
 *   node dist/bench/micro/state.js          (BENCH_QUICK=1: a few seconds)
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { promisify } from "node:util";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { LN_TAIL_KIND } from "../../src/capture/abi.generated.js";
import { bpfObjectPath, packageRoot } from "../../src/capture/paths.js";
import { decodeRecord } from "../../src/decode/event.js";
import { RecordView, walkBatch } from "../../src/decode/record-view.js";
import { syscallNr } from "../../src/decode/syscall-params.js";
import { State } from "../../src/state/state.js";
import {
  BatchWriter,
  cstrBytes,
  exec,
  fork,
  sockaddr4Bytes,
  syscall,
  tcp4Bytes,
} from "../../src/state/test-events.js";

const QUICK = process.env["BENCH_QUICK"] === "1";
const execFileP = promisify(execFile);
const PROCS = 10_000;
const CONTAINERS = 100;
const RECORDS = QUICK ? 60_000 : 400_000;
const RUNS = QUICK ? 2 : 5;
const TARGET = 1.2;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const noProc = mkdtempSync(join(tmpdir(), "lanner-bench-noproc-"));

function heapMiB(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

// --- 1. table size --------------------------------------------------------------------
function buildState(): State {
  const s = new State({ procRoot: noProc, maxEntries: 65536 });
  s.apply(exec(1, "/usr/lib/systemd/systemd", ["/sbin/init"], { ppid: 0, cwd: "/" }));
  for (let c = 0; c < CONTAINERS; c++) {
    // one shim per container, its processes below it
    const shim = 100_000 + c;
    s.apply(fork(1, shim));
    s.apply(
      exec(
        shim,
        "/usr/bin/containerd-shim-runc-v2",
        ["/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", `c${c}`],
        { ppid: 1 },
      ),
    );
  }
  for (let i = 0; i < PROCS; i++) {
    const pid = 200_000 + i;
    const c = i % CONTAINERS;
    const parent = i >= CONTAINERS * 2 ? 200_000 + i - CONTAINERS * 2 : 100_000 + c;
    const cgroupId = BigInt(5000 + c);
    s.apply(fork(parent, pid, { cgroupId }));
    s.apply(
      exec(
        pid,
        `/usr/local/bin/worker-${i % 37}`,
        [`worker-${i % 37}`, "--id", String(i), "--config", `/etc/app/${c}.yaml`],
        { ppid: parent, cgroupId, cwd: `/srv/app${c}` },
      ),
    );
    s.apply(
      syscall("openat", pid, { ret: 3, args: [-100, 0, 0o2000000], paths: [[1, `/var/log/app/${i}.log`]] }),
    );
    s.apply(syscall("socket", pid, { ret: 4, args: [2, 1, 6] }));
  }
  return s;
}

const heap0 = heapMiB();
const rss0 = process.memoryUsage().rss / 2 ** 20;
const t0 = process.hrtime.bigint();
let state = buildState();
const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
const heap1 = heapMiB();
const rss1 = process.memoryUsage().rss / 2 ** 20;
const st = state.stats();
const tableMiB = heap1 - heap0;

const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

// --- 2. lookups ---------------------------------------------------------------------------
function lookups(s: State, n: number): number {
  let sink = 0;
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const pid = 200_000 + ((i * 7919) % PROCS);
    const p = s.process(pid);
    if (p === undefined) continue;
    const th = s.thread(pid);
    const fd = p.fds.get(3);
    const a3 = s.procs.ancestor(p, 3);
    sink += (th?.vtid ?? 0) + (fd?.cloexec ? 1 : 0) + (a3?.pid ?? 0);
  }
  const secs = Number(process.hrtime.bigint() - t) / 1e9;
  if (sink === -1) console.log(sink);
  return n / secs;
}
const lookupsPerSec = med(Array.from({ length: RUNS }, () => lookups(state, QUICK ? 300_000 : 2_000_000)));

// --- 3. per-event CPU ------------------------------------------------------------------------
const NR = {
  openat: syscallNr("openat")!,
  close: syscallNr("close")!,
  connect: syscallNr("connect")!,
  fchmodat: syscallNr("fchmodat")!,
  setuid: syscallNr("setuid")!,
};

const cstr = cstrBytes;
const tuple = (lport: number, rport: number): Buffer =>
  tcp4Bytes([10, 0, 0, 5], lport, [10, 96, 0, 1], rport);
const sockaddr = (port: number): Buffer => sockaddr4Bytes([10, 96, 0, 1], port);

/**
 * `local`: syscalls come in bursts of 16 from one process, drawn from 500 busy processes
 * of the 10 000 (what a node looks like); `uniform`: every record from another process,
 * striding over all 10 000 (the worst case for the CPU caches).
 */
function pidAt(i: number, pattern: "local" | "uniform"): number {
  if (pattern === "uniform") return 200_000 + ((i * 7919) % PROCS);
  const burst = Math.floor(i / 16);
  return 200_000 + ((burst * 7919) % 500) * (PROCS / 500);
}

function buildBatch(n: number, pattern: "local" | "uniform"): BatchWriter {
  const w = new BatchWriter(n * 200);
  for (let i = 0; w.count < n; i++) {
    const pid = pidAt(i, pattern);
    const fd = 10 + (i % 8);
    switch (i % 10) {
      case 0:
      case 1:
      case 2:
        w.syscall(
          pid,
          NR.openat,
          fd,
          [-100, 0, 0o2000000, 0],
          [[LN_TAIL_KIND.LN_T_PATH, 1, cstr(`/srv/data/file-${i % 500}.json`)]],
        );
        break;
      case 3:
      case 4:
      case 5:
        w.syscall(pid, NR.close, 0, [fd], []);
        break;
      case 6:
        w.syscall(
          pid,
          NR.connect,
          0,
          [4],
          [
            [LN_TAIL_KIND.LN_T_SOCKADDR, 1, sockaddr(443)],
            [LN_TAIL_KIND.LN_T_TUPLE, 0, tuple(40000 + (i % 20000), 443)],
          ],
        );
        break;
      case 7:
      case 8:
        w.syscall(
          pid,
          NR.fchmodat,
          0,
          [-100, 0, 0o644],
          [[LN_TAIL_KIND.LN_T_PATH, 1, cstr(`/srv/data/file-${i % 500}.json`)]],
        );
        break;
      default:
        w.syscall(pid, NR.setuid, 0, [1000], []);
    }
  }
  return w;
}

const batches = { local: buildBatch(RECORDS, "local"), uniform: buildBatch(RECORDS, "uniform") };
let batch = batches.local;
const view = new RecordView();

function cpuNsPerEvent(fn: (v: RecordView) => void): number {
  const c = process.cpuUsage();
  walkBatch(view, batch.buf, batch.off, fn);
  const d = process.cpuUsage(c);
  return ((d.user + d.system) * 1000) / batch.count;
}

let sink = 0;
const decodeOnly = (v: RecordView): void => {
  const ev = decodeRecord(v);
  if (ev !== null) sink += ev.tgid;
};
/** As `lanner capture` does it: the state applied from the raw record, then the event decoded. */
const decodeAndState = (v: RecordView): void => {
  state.applyRecord(v, 1);
  const ev = decodeRecord(v);
  if (ev === null) return;
  // the event path's lookups: its process, thread and fd
  const p = state.procs.lookup(ev.tgid);
  const t = state.threads.get(ev.tid);
  if (p !== undefined && ev.kind === "syscall") {
    const fd = p.fds.get(ev.nr === NR.openat ? ev.ret : v.argInt(0));
    sink += fd?.cloexec ? 1 : 0;
  }
  sink += t?.vtid ?? 0;
};
const applyRecordOnly = (v: RecordView): void => state.applyRecord(v, 1);
const walkOnly = (v: RecordView): void => {
  sink += v.len;
};

interface PatternResult {
  walk: number;
  decode: number;
  decode_and_state: number;
  apply_record_only: number;
  state_over_decode: number;
}

function measure(pattern: "local" | "uniform"): PatternResult {
  batch = batches[pattern];
  // warm up every path, then alternate runs so drift on a shared machine hits all alike
  for (const f of [decodeOnly, decodeAndState, applyRecordOnly, walkOnly]) cpuNsPerEvent(f);
  const r = {
    decode: [] as number[],
    state: [] as number[],
    applyRecord: [] as number[],
    walk: [] as number[],
  };
  for (let i = 0; i < RUNS; i++) {
    r.decode.push(cpuNsPerEvent(decodeOnly));
    r.state.push(cpuNsPerEvent(decodeAndState));
    r.applyRecord.push(cpuNsPerEvent(applyRecordOnly));
    r.walk.push(cpuNsPerEvent(walkOnly));
  }
  const decode = med(r.decode);
  const withState = med(r.state);
  return {
    walk: +med(r.walk).toFixed(1),
    decode: +decode.toFixed(1),
    decode_and_state: +withState.toFixed(1),
    apply_record_only: +med(r.applyRecord).toFixed(1),
    state_over_decode: +(withState / decode).toFixed(3),
  };
}
const local = measure("local");
const uniform = measure("uniform");

// --- 4. the capture benchmark's CPU per event (root + make build): real records ----------
/**
 * loadgen's open+close loop (2 syscalls per op, both change state: the worst case) pinned to
 * CPU 0, untraced and then under a real capture whose consumer runs here, doing what
 * `lanner capture -o none` did before state (walk) and does now (walk + applyRecord + the
 * process/thread/fd lookups). Per round and per delivered record:
 *   kernel    the loop's time per syscall traced minus untraced (the programs' cost)
 *   consumer  this process's CPU
 *   capture   kernel + consumer
 *   state     consumer with state - consumer without (what the state adds)
 */
async function captureCpu(): Promise<Record<string, unknown> | string> {
  const loadgen = join(packageRoot(), "bench/.output/loadgen");
  if (process.getuid?.() !== 0 || !existsSync(loadgen) || !existsSync(bpfObjectPath("capture")))
    return "skipped (needs root and `make build`)";
  const { CaptureSession } = await import("../../src/capture/capture-session.js");
  const secs = QUICK ? 0.3 : 1.5;
  const pinned = cpus().length > 1;
  if (pinned) execFileSync("taskset", ["-a", "-p", "-c", "1", String(process.pid)], { stdio: "ignore" });
  const live = new State();
  live.seed(); // as lanner capture does at start: nothing is read from /proc on the event path
  const v = new RecordView();
  let delivered = 0;
  const consumers: Record<string, (r: RecordView) => void> = {
    walk: (r) => {
      delivered += r.len > 0 ? 1 : 0;
    },
    walk_state: (r) => {
      delivered++;
      live.applyRecord(r);
      const p = live.procs.lookup(r.tgid);
      const t = live.threads.get(r.tid);
      if (p !== undefined) sink += (p.fds.get(r.argInt(0))?.cloexec ? 1 : 0) + (t?.vtid ?? 0);
    },
  };
  const loopNs = async (): Promise<number> => {
    const args = [...(pinned ? ["-c", "0"] : []), loadgen, "openclose", String(secs)];
    const { stdout } = await execFileP(pinned ? "taskset" : loadgen, pinned ? args : args.slice(1));
    const loop = JSON.parse(stdout) as { syscalls: number; seconds: number };
    return (loop.seconds * 1e9) / loop.syscalls;
  };
  const rounds: { untraced: number; kernel: Record<string, number>; consumer: Record<string, number> }[] = [];
  for (let run = 0; run < (QUICK ? 2 : 5); run++) {
    const round = {
      untraced: await loopNs(),
      kernel: {} as Record<string, number>,
      consumer: {} as Record<string, number>,
    };
    for (const [name, fn] of Object.entries(consumers)) {
      delivered = 0;
      const session = CaptureSession.start({
        syscalls: ["openat", "close"],
        onBatch: (b, bytes) => walkBatch(v, b, bytes, fn),
      });
      try {
        const c0 = process.cpuUsage();
        const traced = await loopNs();
        await new Promise((r) => setTimeout(r, 50));
        session.drain();
        const c = process.cpuUsage(c0);
        round.kernel[name] = traced - round.untraced;
        round.consumer[name] = ((c.user + c.system) * 1000) / Math.max(1, delivered);
      } finally {
        session.close();
      }
    }
    rounds.push(round);
  }
  const r1 = (x: number): number => +x.toFixed(1);
  const m = (f: (r: (typeof rounds)[number]) => number): number => r1(med(rounds.map(f)));
  // one kernel cost per round for both consumers (the same programs ran): their mean
  const kernel = (r: (typeof rounds)[number]): number =>
    ((r.kernel["walk"] ?? 0) + (r.kernel["walk_state"] ?? 0)) / 2;
  const capture = (r: (typeof rounds)[number], k: string): number => kernel(r) + (r.consumer[k] ?? 0);
  return {
    loop: "openclose",
    rounds: rounds.length,
    per_event_ns: {
      untraced_loop_syscall: m((r) => r.untraced),
      kernel: m(kernel),
      consumer_before_state: m((r) => r.consumer["walk"] ?? 0),
      consumer_with_state: m((r) => r.consumer["walk_state"] ?? 0),
      capture_before_state: m((r) => capture(r, "walk")),
      capture_with_state: m((r) => capture(r, "walk_state")),
      state: m((r) => (r.consumer["walk_state"] ?? 0) - (r.consumer["walk"] ?? 0)),
    },
    state_over_capture: +med(rounds.map((r) => capture(r, "walk_state") / capture(r, "walk"))).toFixed(3),
  };
}
const capture = await captureCpu();

const peakRssMiB = process.resourceUsage().maxRSS / 1024;
const result = {
  quick: QUICK,
  processes: st.size,
  threads: st.threads,
  fds: st.fds,
  containers_cgroup_ids: CONTAINERS,
  build_ms: Math.round(buildMs),
  table_heap_mib: +tableMiB.toFixed(1),
  bytes_per_process: Math.round((tableMiB * 2 ** 20) / st.size),
  rss_before_table_mib: Math.round(rss0),
  rss_with_table_mib: Math.round(rss1),
  /** includes the benchmark's own record batches and the capture sessions */
  peak_rss_mib: Math.round(peakRssMiB),
  lookups_per_sec: Math.round(lookupsPerSec),
  records: batch.count,
  ns_per_event_local: local,
  ns_per_event_uniform: uniform,
  capture_cpu: capture,
  target: `<= ${TARGET}`,
  evictions: state.stats().evictions,
};
console.log(JSON.stringify(result, null, 2));
if (sink === -1) console.log(sink);
state = new State({ procRoot: noProc });
rmSync(noProc, { recursive: true, force: true });
if (typeof capture === "string") {
  console.log(
    `target: the capture's CPU per event with the state <= ${TARGET}x without: not checked, ${capture}`,
  );
} else {
  const ratio = capture["state_over_capture"] as number;
  const met = ratio <= TARGET;
  console.log(
    `target: the capture's CPU per event (kernel programs + consumer) with the state ${ratio}x without (target <= ${TARGET}): ${met ? "MET" : "NOT MET"}`,
  );
  if (!met && !QUICK) process.exitCode = 1;
}
