/**
 * `lanner capture`: stream enriched kernel events, one per line (the sysdig of Lanner).
 */
import { parseArgs } from "node:util";
import { CaptureSession, resolveSyscalls, type CaptureStats } from "../../capture/capture-session.js";
import { decodeRecord, type ProcEvent } from "../../decode/event.js";
import { ContainerStore } from "../../state/containers/index.js";
import { K8sMetadata } from "../../state/k8s/k8s-metadata.js";
import { UserResolver } from "../../state/users/index.js";
import { KIND_SYSCALL, RecordView, walkBatch } from "../../decode/record-view.js";
import { SUPPORTED_SYSCALLS } from "../../decode/syscall-params.js";
import { eventRecord, type EventRecord } from "../../engine/event-record.js";
import { EventContext, SYSCALL_FIELDS } from "../../engine/fields/index.js";
import { IpServices } from "../../state/ip-services.js";
import { ProcLive } from "../../state/proc-live.js";
import { createStateServices } from "../../state/services.js";
import { State } from "../../state/state.js";
import { errorMessage } from "../../errors.js";
import { hostname } from "node:os";
import { syscallNr } from "../../capture/syscalls.js";
import { compileFilter, formatDiagnostic, isAllTypes, type CompiledFilter } from "../../rules/index.js";
import { UsageError, type CliIO } from "../io.js";

export const CAPTURE_HELP = `Usage: lanner capture [options]

Streams kernel events (syscalls and process lifecycle) of the whole node, one per line.

Options:
  -o, --output FORMAT   json | text (default) | none (count only; with --stats)
  -t, --types LIST      syscalls to capture, comma-separated (default: every syscall
                        Lanner decodes); 'all' captures every syscall of the node;
                        add procfork,procexec,procexit to print lifecycle records
      --pid N           only process N (and nothing else)
      --comm NAME       only processes whose name is NAME
      --duration S      stop after S seconds
      --count N         stop after N events
      --filter COND     only events matching COND (the rules language, e.g.
                        "evt.type=openat and fd.name startswith /etc")
      --stats           print capture statistics (kernel drops per CPU, delivered) at the end
      --ring-mib N      ring buffer size in MiB (power of two, default 16)
  -h, --help            this help

The readiness line 'lanner: ready ...' goes to stderr once programs are attached.
`;

const LIFECYCLE = new Set(["procfork", "procexec", "procexit"]);
/** stdout bytes we let pile up before dropping lines (and counting them) */
const MAX_PENDING_OUTPUT = 64 << 20;

export interface CaptureArgs {
  output: "json" | "text" | "none";
  types: "all" | string[];
  lifecycle: Set<string>;
  pid: number;
  comm: string | null;
  durationS: number | null;
  count: number | null;
  stats: boolean;
  ringMiB: number;
  filter: string | null;
}

function positiveInt(flag: string, v: string | undefined): number | null {
  if (v === undefined) return null;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag}: expected a positive number, got '${v}'`);
  return n;
}

export function parseCaptureArgs(argv: string[]): CaptureArgs | "help" {
  const { values } = parseArgs({
    args: argv,
    options: {
      output: { type: "string", short: "o" },
      types: { type: "string", short: "t" },
      pid: { type: "string" },
      comm: { type: "string" },
      duration: { type: "string" },
      count: { type: "string" },
      stats: { type: "boolean" },
      filter: { type: "string" },
      "ring-mib": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return "help";
  const output = values.output ?? "text";
  if (output !== "json" && output !== "text" && output !== "none") {
    throw new UsageError(`--output: expected json, text or none, got '${output}'`);
  }
  let types: "all" | string[] = [...SUPPORTED_SYSCALLS];
  const lifecycle = new Set<string>();
  if (values.types !== undefined) {
    const list = values.types
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
    if (list.length === 0) throw new UsageError("--types: empty list");
    if (list.includes("all")) types = "all";
    else {
      const sys = list.filter((n) => !LIFECYCLE.has(n));
      try {
        resolveSyscalls(sys);
      } catch (e) {
        throw new UsageError(`--types: ${errorMessage(e)}`);
      }
      types = sys;
    }
    for (const n of list) if (LIFECYCLE.has(n)) lifecycle.add(n);
  }
  const ringMiB = positiveInt("--ring-mib", values["ring-mib"]) ?? 16;
  if ((ringMiB & (ringMiB - 1)) !== 0)
    throw new UsageError(`--ring-mib: must be a power of two, got ${ringMiB}`);
  return {
    output,
    types,
    lifecycle,
    pid: positiveInt("--pid", values.pid) ?? 0,
    comm: values.comm ?? null,
    durationS: positiveInt("--duration", values.duration),
    count: positiveInt("--count", values.count),
    stats: values.stats ?? false,
    ringMiB,
    filter: values.filter ?? null,
  };
}

/** Text line in the spirit of sysdig: `num time cpu name (tid) < type k=v ...`. */
export function formatText(f: EventRecord): string {
  const parts: string[] = [
    String(f["evt.num"]),
    String(f["evt.time"]),
    String(f["evt.cpu"]),
    `${f["proc.name"] ?? "<NA>"} (${f["thread.tid"]})`,
    "<",
    String(f["evt.type"]),
  ];
  for (const [k, v] of Object.entries(f)) {
    if (k.startsWith("evt.arg.") || k.startsWith("evt.arg[")) parts.push(`${k.slice(8)}=${fmt(v)}`);
  }
  for (const k of ["fd.name", "fs.path.name", "proc.exepath", "proc.cmdline"]) {
    if (
      f[k] !== undefined &&
      f[k] !== null &&
      (k.startsWith("fd") || k.startsWith("fs") || f["evt.type"]?.toString().startsWith("exec"))
    )
      parts.push(`${k}=${fmt(f[k] ?? null)}`);
  }
  if (f["evt.res"] !== undefined)
    parts.push(`res=${f["evt.res"] === "SUCCESS" ? f["evt.rawres"] : f["evt.res"]}`);
  return parts.join(" ");
}

function fmt(v: EventRecord[string] | undefined): string {
  if (v === null || v === undefined) return "<NA>";
  if (Array.isArray(v)) return v.join(" ");
  return String(v);
}

export function formatStats(s: CaptureStats, outputDropped: number, printed: number): string {
  return (
    `lanner: stats delivered=${s.delivered} printed=${printed} ` +
    `dropped_ring=${s.dropRing} dropped_ring_by_cpu=[${s.dropRingByCpu.join(",")}] ` +
    `dropped_scratch=${s.dropScratch} dropped_output=${outputDropped} truncated=${s.truncated} corrupt=${s.corrupt} ` +
    `read_failures=${s.readFailures} enter_misses=${s.enterMisses} batches=${s.batches}\n`
  );
}

export async function captureCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCaptureArgs(argv);
  if (args === "help") {
    io.stdout(CAPTURE_HELP);
    return 0;
  }
  // processes, threads and fds behind every event; seeded from /proc once attached
  const state = new State();
  const procs = state.procs;
  // --filter: compiled once; its event types narrow what the kernel sends
  let filter: CompiledFilter | null = null;
  if (args.filter !== null) {
    const r = compileFilter(args.filter, { file: "--filter", fields: SYSCALL_FIELDS });
    if (!r.ok) {
      for (const d of r.diagnostics) io.stderr(`lanner capture: ${formatDiagnostic(d)}\n`);
      return 2;
    }
    for (const d of r.diagnostics) io.stderr(`lanner capture: ${formatDiagnostic(d)}\n`);
    filter = r.filter;
    if (!isAllTypes(filter.eventTypes) && !filter.eventTypes.neg) {
      const only = [...filter.eventTypes.names];
      const sys = only.filter((n) => !LIFECYCLE.has(n) && syscallNr(n) !== undefined);
      args.types = args.types === "all" ? sys : args.types.filter((t) => sys.includes(t));
      for (const n of only) if (LIFECYCLE.has(n)) args.lifecycle.add(n);
      if (args.types.length === 0 && args.lifecycle.size === 0) {
        io.stderr("lanner capture: --filter matches none of the captured event types\n");
        return 2;
      }
    }
  }
  // containers (runtime API + its event stream), pods (CRI labels) and users
  const containers = new ContainerStore({});
  containers.start();
  const k8s = new K8sMetadata({ containers });
  const ctx = new EventContext({
    procs,
    hostname: hostname(),
    state: createStateServices({ containers, k8s, users: new UserResolver() }),
    fdNameChanged: () => state.fdNameChanged(),
    live: new ProcLive(),
    ipServices: new IpServices(),
  });

  // Fast per-record filter state (numbers only; no allocation for filtered records).
  const wanted = new Uint8Array(1024);
  if (args.types === "all") wanted.fill(1);
  else for (const nr of resolveSyscalls(args.types)) wanted[nr] = 1;
  const comm = args.comm;
  const limit = args.count ?? Infinity;
  let num = 0;
  let outputDropped = 0;
  let printed = 0;
  let lines: string[] = [];
  let session: CaptureSession | null = null;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let stopping = false;
  const stop = (): void => {
    if (!stopping) {
      stopping = true;
      done();
    }
  };

  /** `ctx` points at the event: print it */
  const emit = (): void => {
    if (args.output === "none") return;
    const fields = eventRecord(ctx);
    lines.push(args.output === "json" ? JSON.stringify(fields) : formatText(fields));
  };

  const onRecord = (v: RecordView): void => {
    if (num >= limit) return;
    if (v.kind === KIND_SYSCALL) {
      if (
        wanted[v.nr] !== 1 ||
        (args.pid !== 0 && v.tgid !== args.pid) ||
        (comm !== null && procs.lookup(v.tgid)?.comm !== comm)
      ) {
        state.applyRecord(v);
        return;
      }
      num++;
      state.applyRecord(v);
      if (args.output !== "none" || filter !== null) {
        const ev = decodeRecord(v);
        if (ev && ev.kind === "syscall") {
          ctx.set(ev, ev.type, num);
          if (filter !== null && !filter.predicate(ctx, ev.type)) {
            num--;
            return;
          }
          emit();
        }
      }
    } else {
      const ev = decodeRecord(v) as ProcEvent | null;
      if (!ev) return;
      state.apply(ev);
      const type = ev.kind === "fork" ? "procfork" : ev.kind === "exec" ? "procexec" : "procexit";
      if (!args.lifecycle.has(type)) return;
      if (args.pid !== 0 && ev.tgid !== args.pid) return;
      if (comm !== null && ev.comm !== comm) return;
      ctx.set(ev, type, num + 1);
      if (filter !== null && !filter.predicate(ctx, type)) return;
      num++;
      emit();
    }
    if (num >= limit) setImmediate(stop);
  };

  const view = new RecordView();
  try {
    session = CaptureSession.start({
      syscalls: args.types === "all" ? "all" : args.types,
      filterPid: args.pid,
      ringBytes: args.ringMiB << 20,
      onBatch: (batch, bytes) => walkBatch(view, batch, bytes, onRecord),
    });
  } catch (e) {
    io.stderr(`lanner: ${errorMessage(e)}\n`);
    k8s.close();
    await containers.close();
    return 1;
  }
  ctx.bootToWallNs = session.bootToWallNs;
  await state.seedAsync(); // in slices: the ring keeps being drained meanwhile
  const purgeTimer = setInterval(() => state.purge(Date.now()), 1000);
  const flush = (): void => {
    if (lines.length === 0) return;
    const chunk = lines.join("\n") + "\n";
    const n = lines.length;
    lines = [];
    if (process.stdout.writableLength > MAX_PENDING_OUTPUT) {
      outputDropped += n;
      return;
    }
    printed += n;
    io.stdout(chunk);
  };
  const flushTimer = setInterval(flush, 20);
  // Report kernel drops as they happen (never silently), at most once a second.
  let lastDrops = 0;
  const dropTimer = setInterval(() => {
    const s = session?.stats();
    if (s && s.dropRing + s.dropScratch > lastDrops) {
      io.stderr(
        `lanner: ${s.dropRing + s.dropScratch - lastDrops} events dropped by the kernel (ring buffer full: per CPU [${s.dropRingByCpu.join(",")}])\n`,
      );
      lastDrops = s.dropRing + s.dropScratch;
    }
  }, 1000);
  const r = session.report;
  io.stderr(
    `lanner: ready (mode=${r.mode}, syscalls=${r.syscalls === "all" ? "all" : r.syscalls.length}, ` +
      `programs=${r.attached.length}, ring=${r.ringBytes >> 20}MiB${r.fallbacks.length ? `, fallbacks=${r.fallbacks.length}` : ""})\n`,
  );
  const onSignal = (): void => stop();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const durTimer = args.durationS !== null ? setTimeout(stop, args.durationS * 1000) : null;
  await finished;
  if (durTimer) clearTimeout(durTimer);
  clearInterval(dropTimer);
  clearInterval(flushTimer);
  clearInterval(purgeTimer);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  session.drain();
  const stats = session.stats();
  session.close();
  flush();
  k8s.close();
  await containers.close();
  if (args.stats || stats.dropRing + stats.dropScratch > lastDrops)
    io.stderr(formatStats(stats, outputDropped, printed));
  if (args.stats) {
    const st = state.stats();
    io.stderr(
      `lanner: state processes=${st.size} threads=${st.threads} fds=${st.fds} evictions=${st.evictions} ` +
        `thread_evictions=${st.threadEvictions} purged=${st.purged} seed_errors=${st.seedErrors} lazy_reads=${st.lazyReads}\n`,
    );
  }
  return 0;
}
