/**
 * lanner.v1.Node in the agent: runs gadgets and bpftrace for `kubectl lanner` and says what
 * the agent is (Status). Registered on the agent's gRPC server (unix socket, or TCP with
 * mutual TLS), beside the alert API.
 *
 * Every stream is written with grpc-js backpressure through a bounded queue: when the client
 * reads too slowly the queue fills, and what does not fit is counted and reported to that
 * client as Lost (never held in memory). A cancelled call, a timeout, a delivered snapshot or
 * the server stopping ends the gadget and frees everything it attached.
 */
import { release as kernelRelease } from "node:os";
import {
  status as Status,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from "@grpc/grpc-js";
import type { BpftraceOptions, BpftraceSink } from "../bpftrace/index.js";
import type { CaptureReport } from "../capture/capture-session.js";
import { probeAll } from "../capture/features.js";
import type { AgentStats } from "../engine/agent.js";
import { LannerError, errorMessage } from "../errors.js";
import type { ParamValue } from "../gadgets/gadget.js";
import type { GadgetEnvironment } from "../gadgets/environment.js";
import { findGadget, gadgetId, gadgetsOf } from "../gadgets/index.js";
import {
  GadgetInputError,
  GadgetRun,
  prepare,
  type GadgetSink,
  type Prepared,
  type RunStats,
} from "../gadgets/runner.js";
import { stderrLogger, type Logger } from "../outputs/logger.js";
import { MalformedRequest } from "../outputs/grpc/proto.js";
import type { GrpcServer } from "../outputs/grpc/server.js";
import {
  bpftraceCallFromProto,
  CodecError,
  gadgetCallFromProto,
  recordToProto,
  statsToProto,
  statusToProto,
  type Msg,
} from "./codec.js";
import type { BpftraceCall, GadgetCall, KernelFeatureStatus, NodeStatus } from "./node-types.js";

/** A running bpftrace, as src/bpftrace/index.ts's BpftraceRun is. */
export interface BpftraceRunning {
  /** bpftrace's exit code, once its output was delivered */
  readonly done: Promise<number>;
  stop(): void;
}

/** Starts bpftrace (BpftraceRun.start); rejects with BpftraceInputError (code EUSAGE) for bad input. */
export type BpftraceStarter = (
  opts: BpftraceOptions,
  env: GadgetEnvironment,
  sink: BpftraceSink,
) => Promise<BpftraceRunning>;

/** What Status reads from the agent (src/engine/agent.ts's Agent has it). */
export interface AgentStatusSource {
  stats(): AgentStats;
  readonly report: CaptureReport | null;
  readonly ruleCount: number;
}

export interface NodeServiceOptions {
  /** this node's name (k8s.node.name) */
  readonly node: string;
  readonly version: string;
  /** containers and pods (the agent's own, shared by every run; the service does not close it) */
  readonly env: GadgetEnvironment;
  /** the agent whose capture, rules and counters Status reports (absent: no capture) */
  readonly agent?: AgentStatusSource;
  /** bpftrace (src/bpftrace/): without it Bpftrace answers UNIMPLEMENTED */
  readonly bpftrace?: BpftraceStarter;
  /** the kernel features Status lists (default: the probes `lanner doctor` runs, once) */
  readonly features?: () => readonly KernelFeatureStatus[];
  readonly logger?: Logger;
  /** messages one stream may queue for a slow client before it loses events (default 4096) */
  readonly queueMessages?: number;
  /** gadgets and bpftrace runs at once (default 16): more is RESOURCE_EXHAUSTED */
  readonly maxRuns?: number;
}

/**
 * A server stream's writer: a bounded queue in front of call.write, which stops on false
 * and resumes on 'drain'. Data beyond the cap is counted (`dropped`) and reported through
 * `onDropped`; control messages (ready, lost, warnings, stats) always go.
 */
class StreamWriter {
  private readonly queue: Msg[] = [];
  private waiting = false;
  private started = false;
  private endAfter = false;
  private closed = false;
  /** data messages that did not fit, not reported yet / in all */
  private unreported = 0;
  dropped = 0;

  constructor(
    private readonly call: ServerWritableStream<unknown, Msg>,
    private readonly cap: number,
    private readonly lostMessage: (n: number) => Msg,
  ) {
    call.on("close", () => (this.closed = true));
  }

  /** A data message (event, table, output): dropped and counted when the queue is full. */
  data(m: Msg, weight = 1): void {
    if (this.closed) return;
    if (this.queue.length >= this.cap) {
      this.unreported += weight;
      this.dropped += weight;
      return;
    }
    this.queue.push(m);
    this.pump();
  }

  control(m: Msg): void {
    if (this.closed) return;
    this.queue.push(m);
    this.pump();
  }

  /** Writing starts with this message (queued data follows it). */
  start(first: Msg): void {
    this.queue.unshift(first);
    this.started = true;
    this.pump();
  }

  /** Ends the stream once everything queued is written. */
  end(): void {
    this.endAfter = true;
    this.pump();
  }

  private pump(): void {
    if (!this.started || this.waiting || this.closed) return;
    for (;;) {
      if (this.unreported > 0 && this.queue.length < this.cap) {
        this.queue.push(this.lostMessage(this.unreported));
        this.unreported = 0;
      }
      const m = this.queue.shift();
      if (m === undefined) break;
      if (!this.call.write(m)) {
        this.waiting = true;
        this.call.once("drain", () => {
          this.waiting = false;
          this.pump();
        });
        return;
      }
    }
    if (this.endAfter && !this.closed) {
      this.closed = true;
      this.call.end();
    }
  }
}

interface Running {
  /** ends the run (the server stops) */
  stop(): void;
}

const QUEUE_DEFAULT = 4096;
const MAX_RUNS_DEFAULT = 16;

export class NodeService {
  private readonly runs = new Set<Running>();
  private readonly startedAt = Date.now();
  private readonly logger: Logger;
  private features: readonly KernelFeatureStatus[] | null = null;
  private closing = false;

  constructor(readonly opts: NodeServiceOptions) {
    this.logger = opts.logger ?? stderrLogger;
  }

  /** Gadgets and bpftrace runs in progress. */
  get running(): number {
    return this.runs.size;
  }

  /** Serves lanner.v1.Node on `server` (before or after it started). */
  register(server: GrpcServer): void {
    server.addService(
      server.definitions.node,
      {
        RunGadget: (call: ServerWritableStream<unknown, Msg>) => void this.runGadget(call),
        Bpftrace: (call: ServerWritableStream<unknown, Msg>) => void this.bpftrace(call),
        Status: (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) =>
          this.statusCall(call, cb),
      },
      () => this.close(),
    );
  }

  /** Ends every run (their streams end after their stats); resolves once they are freed (or after `waitMs`). */
  async close(waitMs = 3000): Promise<void> {
    this.closing = true;
    for (const r of [...this.runs]) r.stop();
    const until = Date.now() + waitMs;
    while (this.runs.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }

  /**
   * A request as `lanner <category> <gadget>` would have checked it: the gadget, its
   * parameters (absent ones take their default), the selection (--host implied on a node
   * without containers, and for node-wide gadgets without a selector), then `prepare`.
   * Throws GadgetInputError with the message the CLI prints after `lanner <gadget>: `.
   */
  prepareCall(call: GadgetCall): Prepared {
    const spec = findGadget(call.category, call.name);
    if (spec === undefined)
      throw new GadgetInputError(
        `unknown gadget '${call.name}' (${call.category} gadgets: ${gadgetsOf(call.category)
          .map((g) => g.name)
          .join(", ")})`,
      );
    const id = gadgetId(spec);
    const params: Record<string, ParamValue> = {};
    for (const k of Object.keys(call.params)) {
      if (!spec.params.some((p) => p.name === k))
        throw new GadgetInputError(
          `unknown parameter --${k} (parameters of ${id}: ${spec.params.map((p) => `--${p.name}`).join(", ") || "none"})`,
        );
    }
    for (const p of spec.params) {
      const v = call.params[p.name];
      if (v === undefined) {
        params[p.name] = p.type === "boolean" ? false : p.default;
        continue;
      }
      const ok =
        p.type === "boolean"
          ? typeof v === "boolean"
          : p.type === "int"
            ? typeof v === "number" && Number.isInteger(v)
            : p.type === "list"
              ? Array.isArray(v)
              : typeof v === "string";
      if (!ok)
        throw new GadgetInputError(
          `--${p.name}: expected ${p.type === "int" ? "an integer" : p.type === "list" ? "a list" : `a ${p.type}`}`,
        );
      params[p.name] = v;
    }
    const s = call.selection;
    if (s.allNamespaces && s.namespaces.length > 0)
      throw new GadgetInputError("--all-namespaces and --namespace exclude each other");
    const selecting =
      s.namespaces.length > 0 || s.pods.length > 0 || s.containers.length > 0 || s.labels.length > 0;
    const host = s.host || (spec.nodeWide === true && !selecting) || this.opts.env.hostOnly;
    return prepare({
      spec,
      params,
      selection: { ...s, host },
      filter: call.filter,
      sort: call.sort,
      maxRows: call.maxRows,
      intervalS: call.intervalS,
    });
  }

  private refuse(call: ServerWritableStream<unknown, Msg>, code: Status, details: string): void {
    this.logger("warn", `grpc: ${call.getPeer() || "unix socket"}: ${details}`);
    call.emit("error", { code, details });
  }

  private async runGadget(call: ServerWritableStream<unknown, Msg>): Promise<void> {
    let prepared: Prepared;
    let timeoutS: number | undefined;
    try {
      if (call.request instanceof MalformedRequest)
        throw new CodecError(`malformed request: ${call.request.error.message}`);
      const c = gadgetCallFromProto(call.request);
      timeoutS = c.timeoutS;
      prepared = this.prepareCall(c);
    } catch (e) {
      if (e instanceof CodecError || e instanceof GadgetInputError)
        return this.refuse(call, Status.INVALID_ARGUMENT, e.message);
      return this.refuse(call, Status.INTERNAL, `preparing the gadget: ${errorMessage(e)}`);
    }
    if (this.closing) return this.refuse(call, Status.UNAVAILABLE, "the agent is stopping");
    const max = this.opts.maxRuns ?? MAX_RUNS_DEFAULT;
    if (this.runs.size >= max)
      return this.refuse(call, Status.RESOURCE_EXHAUSTED, `${max} gadgets are running on this node already`);

    const out = new StreamWriter(call, this.opts.queueMessages ?? QUEUE_DEFAULT, (n) => ({
      lost: { count: String(n), reason: "node API stream queue full (the client reads too slowly)" },
    }));
    let wake!: () => void;
    const ended = new Promise<void>((r) => (wake = r));
    let cancelled = false;
    const entry: Running = { stop: () => wake() };
    this.runs.add(entry);
    call.on("cancelled", () => {
      cancelled = true;
      wake();
    });
    const sink: GadgetSink = {
      event: (r) => out.data({ event: recordToProto(r) }),
      table: (rows) => out.data({ table: { rows: rows.map(recordToProto) } }, rows.length),
      lost: (n, why) => out.control({ lost: { count: String(n), reason: why } }),
    };
    let run: GadgetRun;
    try {
      run = await GadgetRun.start(prepared, this.opts.env, sink);
    } catch (e) {
      this.runs.delete(entry);
      if (cancelled) return;
      const code =
        e instanceof LannerError && e.code === "ENOTSUP" ? Status.FAILED_PRECONDITION : Status.INTERNAL;
      return this.refuse(call, code, errorMessage(e));
    }
    const timer = timeoutS !== undefined ? setTimeout(wake, timeoutS * 1000) : null;
    if (prepared.spec.category === "snapshot") void run.done.then(wake);
    if (!cancelled) {
      out.start({ ready: { summary: run.summary, node: this.opts.node } });
      for (const w of [...prepared.warnings, ...run.warnings]) out.control({ warning: w });
    }
    await ended;
    if (timer !== null) clearTimeout(timer);
    try {
      await run.stop();
    } catch (e) {
      out.control({ warning: `stopping the gadget: ${errorMessage(e)}` });
    }
    this.runs.delete(entry);
    if (cancelled) return;
    const st: RunStats = run.stats();
    out.control({
      stats: statsToProto({ ...st, delivered: st.delivered - out.dropped, lost: st.lost + out.dropped }),
    });
    out.end();
  }

  private async bpftrace(call: ServerWritableStream<unknown, Msg>): Promise<void> {
    const start = this.opts.bpftrace;
    if (start === undefined)
      return this.refuse(call, Status.UNIMPLEMENTED, "bpftrace is not available in this agent");
    let c: BpftraceCall;
    try {
      if (call.request instanceof MalformedRequest)
        throw new CodecError(`malformed request: ${call.request.error.message}`);
      c = bpftraceCallFromProto(call.request);
    } catch (e) {
      if (e instanceof CodecError) return this.refuse(call, Status.INVALID_ARGUMENT, e.message);
      throw e;
    }
    if (this.closing) return this.refuse(call, Status.UNAVAILABLE, "the agent is stopping");
    const max = this.opts.maxRuns ?? MAX_RUNS_DEFAULT;
    if (this.runs.size >= max)
      return this.refuse(call, Status.RESOURCE_EXHAUSTED, `${max} gadgets are running on this node already`);
    const out = new StreamWriter(call, this.opts.queueMessages ?? QUEUE_DEFAULT, (n) => ({
      stderr: `lanner: ${n} output chunks of bpftrace dropped: the client reads too slowly\n`,
    }));
    let cancelled = false;
    let running: BpftraceRunning | null = null;
    let stopRequested = false;
    const entry: Running = {
      stop: () => {
        stopRequested = true;
        running?.stop();
      },
    };
    this.runs.add(entry);
    call.on("cancelled", () => {
      cancelled = true;
      entry.stop();
    });
    let readySent = false;
    const sink: BpftraceSink = {
      ready: (summary) => {
        if (readySent) return;
        readySent = true;
        out.start({ ready: { summary, node: this.opts.node } });
      },
      stdout: (text) => out.data({ stdout: text }),
      stderr: (text) => out.data({ stderr: text }),
    };
    const opts: BpftraceOptions = {
      program: c.program,
      programName: c.programName,
      pod: c.pod,
      namespace: c.namespace,
      container: c.container,
      format: c.format,
      timeoutS: c.timeoutS,
    };
    try {
      running = await start(opts, this.opts.env, sink);
    } catch (e) {
      this.runs.delete(entry);
      if (cancelled) return;
      const code =
        e instanceof LannerError
          ? e.code === "EUSAGE"
            ? Status.INVALID_ARGUMENT
            : e.code === "ENOTSUP"
              ? Status.FAILED_PRECONDITION
              : Status.INTERNAL
          : Status.INTERNAL;
      return this.refuse(call, code, errorMessage(e));
    }
    if (cancelled || stopRequested) running.stop();
    let code: number;
    try {
      code = await running.done;
    } catch (e) {
      out.control({ stderr: `lanner: bpftrace: ${errorMessage(e)}\n` });
      code = 1;
    }
    this.runs.delete(entry);
    if (cancelled) return;
    // output before an early exit (a program bpftrace refused) still comes after a Ready
    if (!readySent) out.start({ ready: { summary: "", node: this.opts.node } });
    out.control({ exit_code: code });
    out.end();
  }

  /** What this node's agent is and does. */
  status(): NodeStatus {
    const a = this.opts.agent;
    const st = a?.stats();
    const report = a?.report ?? null;
    this.features ??= this.opts.features?.() ?? defaultFeatures();
    return {
      node: this.opts.node,
      version: this.opts.version,
      kernel: kernelRelease(),
      features: this.features,
      captureMode: report?.mode ?? "",
      capturePrograms: report?.attached.length ?? 0,
      rules: a?.ruleCount ?? 0,
      events: st?.capture.delivered ?? 0,
      alerts: st?.alerts ?? 0,
      drops: st !== undefined ? st.capture.dropRing + st.capture.dropScratch : 0,
      gadgetsRunning: this.runs.size,
      uptimeSeconds: (Date.now() - this.startedAt) / 1000,
    };
  }

  private statusCall(call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>): void {
    if (call.request instanceof MalformedRequest) {
      cb({ code: Status.INVALID_ARGUMENT, details: `malformed request: ${call.request.error.message}` });
      return;
    }
    try {
      cb(null, statusToProto(this.status()));
    } catch (e) {
      cb({ code: Status.INTERNAL, details: `reading the agent's status: ${errorMessage(e)}` });
    }
  }
}

/** The probes `lanner doctor` prints (BTF, mounts, program and map types), as Status features. */
function defaultFeatures(): KernelFeatureStatus[] {
  const out: KernelFeatureStatus[] = [];
  for (const p of probeAll())
    out.push({ name: p.id, available: p.ok, detail: p.ok ? p.use : (p.reason ?? "") });
  return out;
}
