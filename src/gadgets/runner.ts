/**
 * Runs a gadget: its source, then the shared operators in a fixed order —
 *
 *   source -> enrich (process) -> select (container, pod; pending while metadata comes)
 *          -> enrich (container, pod, node) -> --filter -> sort / limit (top, snapshot) -> sink
 *
 * The CLI is one sink (tables, JSON, YAML on stdout); the agent can be another (a later
 * issue streams gadgets from every node). Everything a user can get wrong (gadget
 * parameters, columns, --filter fields, sort fields, selectors) is checked by `prepare`
 * before anything is attached.
 */
import { CaptureSession } from "../capture/capture-session.js";
import type { AgentTap } from "../engine/agent.js";
import { syscallNr } from "../capture/syscalls.js";
import {
  KIND_EXEC,
  KIND_EXIT,
  KIND_FORK,
  KIND_SYSCALL,
  RecordView,
  walkBatch,
} from "../decode/record-view.js";
import { SyscallView } from "../decode/syscall-view.js";
import { EventContext } from "../engine/fields/index.js";
import { LannerError, errorMessage } from "../errors.js";
import { clockOffsets } from "../native/index.js";
import type { CompiledFilter } from "../rules/index.js";
import { formatDiagnostic } from "../rules/diagnostics.js";
import { compileFilter } from "../rules/filter.js";
import { HOST_CONTAINER, type ContainerInfo } from "../state/containers/container-info.js";
import { IpServices } from "../state/ip-services.js";
import { ProcLive } from "../state/proc-live.js";
import { ProcessTable, type ProcessInfo } from "../state/process-table.js";
import { State } from "../state/state.js";
import {
  COMMON_BY_NAME,
  PLACED_COLUMNS,
  PROCESS_COLUMNS,
  type CommonColumn,
  type Placement,
} from "./common-columns.js";
import { ContainerFilter } from "./container-filter.js";
import type { GadgetEnvironment } from "./environment.js";
import {
  gadgetId,
  type CaptureFeed,
  type CaptureKernelFilter,
  type ColumnSpec,
  type GadgetRecord,
  type GadgetSpec,
  type ParamValues,
  type RunningSource,
  type SourceEvent,
} from "./gadget.js";
import { recordFields } from "./record-fields.js";
import { Selection, type SelectionOptions } from "./selection.js";

/** Bad input (unknown column, field, selector, parameter): exit 2 in the CLI. */
export class GadgetInputError extends LannerError {
  constructor(message: string) {
    super("EUSAGE", message);
  }
}

export interface SortKey {
  readonly field: string;
  readonly desc: boolean;
}

export interface GadgetRequest {
  readonly spec: GadgetSpec;
  readonly params: ParamValues;
  readonly selection: SelectionOptions;
  /** `--filter`: a condition in the rules language on the gadget's fields */
  readonly filter?: string | undefined;
  /** top and snapshot: `[-]field` */
  readonly sort?: readonly string[] | undefined;
  readonly maxRows?: number | undefined;
  /** top: seconds between tables */
  readonly intervalS?: number | undefined;
}

export interface Prepared {
  readonly spec: GadgetSpec;
  readonly params: ParamValues;
  readonly selection: Selection;
  /** every field of the gadget's records: common ones that apply, then its own */
  readonly fields: readonly ColumnSpec[];
  readonly filter: CompiledFilter | null;
  readonly sort: readonly SortKey[];
  readonly maxRows: number;
  readonly intervalS: number;
  /** warnings about the request (a --filter field this host cannot produce...) */
  readonly warnings: readonly string[];
}

/** Every field of a gadget's records, common ones first. */
export function gadgetFields(spec: GadgetSpec): ColumnSpec[] {
  const out: ColumnSpec[] = [];
  for (const n of spec.common) {
    const c = COMMON_BY_NAME.get(n);
    if (c === undefined) throw new Error(`gadget ${gadgetId(spec)}: ${n} is not a common column`);
    out.push(c);
  }
  for (const c of spec.columns) {
    if (COMMON_BY_NAME.has(c.name)) throw new Error(`gadget ${gadgetId(spec)}: ${c.name} is a common column`);
    out.push(c);
  }
  return out;
}

/** Checks a request; throws GadgetInputError naming what is wrong. */
export function prepare(req: GadgetRequest): Prepared {
  const spec = req.spec;
  const id = gadgetId(spec);
  const bad = spec.validate?.(req.params);
  if (bad !== undefined) throw new GadgetInputError(`${id}: ${bad}`);
  const fields = gadgetFields(spec);
  const names = new Set(fields.map((f) => f.name));
  const warnings: string[] = [];
  let filter: CompiledFilter | null = null;
  if (req.filter !== undefined) {
    const r = compileFilter(req.filter, { file: "--filter", fields: recordFields(fields) });
    if (!r.ok) {
      const msg = r.diagnostics.map((d) => formatDiagnostic(d)).join("\n");
      throw new GadgetInputError(`${msg}\n(fields of ${id}: ${[...names].join(", ")})`);
    }
    for (const d of r.diagnostics) warnings.push(formatDiagnostic(d));
    filter = r.filter;
  }
  const sortText = req.sort ?? spec.defaultSort ?? [];
  const sort: SortKey[] = [];
  for (const s of sortText) {
    const desc = s.startsWith("-");
    const field = desc || s.startsWith("+") ? s.slice(1) : s;
    if (!names.has(field))
      throw new GadgetInputError(
        `--sort: '${field}' is not a field of ${id} (fields: ${[...names].join(", ")})`,
      );
    sort.push({ field, desc });
  }
  const maxRows = req.maxRows ?? 20;
  if (!Number.isInteger(maxRows) || maxRows <= 0)
    throw new GadgetInputError(`--max-rows: expected a positive integer`);
  const intervalS = req.intervalS ?? 1;
  if (!(intervalS > 0)) throw new GadgetInputError(`--interval: expected a positive number of seconds`);
  return {
    spec,
    params: req.params,
    selection: new Selection(req.selection),
    fields,
    filter,
    sort,
    maxRows,
    intervalS,
    warnings,
  };
}

/** Where a run's output goes. */
export interface GadgetSink {
  /** a trace event */
  event?(r: GadgetRecord): void;
  /** a top interval's table or a snapshot */
  table?(rows: GadgetRecord[]): void;
  /** events lost, with why (never silent) */
  lost(n: number, why: string): void;
}

export interface RunStats {
  /** events or rows the source produced */
  readonly produced: number;
  /** delivered to the sink */
  readonly delivered: number;
  /** not selected (other containers) */
  readonly unselected: number;
  /** dropped by --filter */
  readonly filtered: number;
  /** lost, all causes */
  readonly lost: number;
}

interface Pending {
  readonly ev: SourceEvent;
  readonly rec: GadgetRecord;
  readonly since: number;
}

/** Events of containers whose metadata is coming wait this long at most (ms), counted from
 * when the environment (runtime clients, pods) finished loading: events that came before
 * wait for the load however long it takes. */
const PENDING_MS = 2000;
/** and at most this many in all. */
const PENDING_MAX = 20_000;
/** Top and snapshot rows wait this long at most for their cgroups to be found (ms). */
const ROW_PLACE_MS = 1000;

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "bigint" && typeof b === "bigint") return a < b ? -1 : 1;
  if ((typeof a === "bigint" || typeof a === "number") && (typeof b === "bigint" || typeof b === "number"))
    return Number(a) - Number(b);
  return String(a) < String(b) ? -1 : 1;
}

export function sortRows(rows: GadgetRecord[], keys: readonly SortKey[]): GadgetRecord[] {
  if (keys.length === 0) return rows;
  return rows.sort((x, y) => {
    for (const k of keys) {
      const c = compare(x[k.field], y[k.field]);
      if (c !== 0) return k.desc ? -c : c;
    }
    return 0;
  });
}

export class GadgetRun {
  private source: RunningSource | null = null;
  private session: CaptureSession | null = null;
  /** inside the agent: its capture, tapped (instead of a session of our own) */
  private tap: AgentTap | null = null;
  private readonly filterer: ContainerFilter;
  private readonly pending = new Map<string, Pending[]>();
  private pendingCount = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly offs: (() => void)[] = [];
  private stopped = false;
  private produced = 0;
  private delivered = 0;
  private unselected = 0;
  private filtered = 0;
  private lostTotal = 0;
  private lastSourceLost = 0;
  private lastCaptureLost = 0;
  private procs: ProcessTable;
  private readonly state: State | null;
  private bootToWallNs = 0n;
  /** when the environment finished loading (Date.now()); null while it loads */
  private loadedAt: number | null = null;
  private readonly handlers: ((ev: EventContext, type: string) => void)[] = [];
  /** the common columns the gadget declares: records carry those fields, no others */
  private readonly processColumns: readonly CommonColumn[];
  private readonly placedColumns: readonly CommonColumn[];
  summary = "";
  /** resolves when a snapshot has been delivered (never for trace and top until stop) */
  readonly done: Promise<void>;
  private finish!: () => void;

  private constructor(
    readonly prepared: Prepared,
    private readonly env: GadgetEnvironment,
    private readonly sink: GadgetSink,
  ) {
    this.filterer = new ContainerFilter(prepared.selection, env.services);
    const declared = new Set(prepared.spec.common);
    this.processColumns = PROCESS_COLUMNS.filter((c) => declared.has(c.name));
    this.placedColumns = PLACED_COLUMNS.filter((c) => declared.has(c.name));
    // inside the agent a capture gadget reads the agent's own state (AgentTap.procs)
    this.state = prepared.spec.capture !== undefined && env.captureFeed === undefined ? new State() : null;
    this.procs = this.state?.procs ?? new ProcessTable({ seedFds: false });
    const clock = clockOffsets();
    this.bootToWallNs = clock.realtimeNs - clock.boottimeNs;
    this.done = new Promise((r) => (this.finish = r));
  }

  /** Attaches the gadget's source and starts delivering; throws a LannerError on failure. */
  static async start(p: Prepared, env: GadgetEnvironment, sink: GadgetSink): Promise<GadgetRun> {
    const run = new GadgetRun(p, env, sink);
    try {
      await run.begin();
    } catch (e) {
      await run.stop();
      throw e;
    }
    return run;
  }

  private async begin(): Promise<void> {
    const spec = this.prepared.spec;
    const why = spec.unavailable?.();
    if (why !== undefined) throw new LannerError("ENOTSUP", `${gadgetId(spec)}: ${why}`);
    // the kernel side learns the host's verdict first, the containers' once they are known
    this.filterer.classify(HOST_CONTAINER);
    let capture: CaptureFeed | null = null;
    if (spec.capture !== undefined) {
      if (this.env.captureFeed !== undefined) this.tapCapture(this.env.captureFeed(spec.capture.syscalls));
      else this.startCapture(spec.capture.syscalls, spec.capture.kernel?.(this.prepared.params) ?? {});
      capture = { on: (fn) => this.handlers.push(fn) };
    }
    this.source = await spec.start({
      params: this.prepared.params,
      procs: this.procs,
      services: this.env.services,
      capture,
      sharedCapture: this.tap !== null,
      kernelFilter: this.filterer,
      emit: (ev) => this.accept(ev),
      lost: (n, why) => this.reportLost(n, why),
      bootToWallNs: this.bootToWallNs,
    });
    const parts = [`gadget=${gadgetId(spec)}`];
    if (this.session !== null) parts.push(`capture=${this.session.report.attached.length} programs`);
    if (this.tap !== null)
      parts.push(
        `capture=agent's (${this.tap.programs()} programs${this.tap.added.length > 0 ? `, +${this.tap.added.join(",")}` : ""})`,
      );
    if (this.source.summary !== undefined) parts.push(this.source.summary);
    parts.push(`node=${this.env.node}`);
    this.summary = parts.join(", ");
    if (this.state !== null) void this.state.seedAsync();
    // containers and pods: loaded now that the kernel side is attached (events wait for them)
    this.loaded = this.env.load().then(
      () => {
        this.loadedAt = Date.now();
        if (this.stopped) return;
        for (const c of this.env.containers()) this.filterer.classify(c);
        this.filterer.classifyHost();
        this.offs.push(this.env.onContainer((c) => this.onContainer(c)));
        for (const k of [...this.pending.keys()]) this.release(k, false);
      },
      (e: unknown) => {
        this.loadedAt = Date.now();
        this.reportLost(0, `loading container metadata: ${errorMessage(e)}`);
      },
    );
    this.every(1000, () => this.pollLost());
    this.every(250, () => this.expirePending());
    if (spec.category === "top") this.every(this.prepared.intervalS * 1000, () => void this.tick());
    // a snapshot's rows are placed once, for good: they wait for the containers (and the
    // kernel side for their verdicts), or every row would be dropped as "not known yet"
    if (spec.category === "snapshot") void this.tick().then(() => this.finish());
  }

  /** Settles once containers and pods are loaded and classified (or failed to load). */
  private loaded: Promise<void> = Promise.resolve();

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    this.timers.push(t);
  }

  private startCapture(syscalls: readonly string[], kernel: CaptureKernelFilter): void {
    const state = this.state as State;
    const wanted = new Uint8Array(1024);
    const sys: string[] = [];
    let lifecycle = 0;
    for (const n of syscalls) {
      if (n === "procexec") lifecycle |= 1 << KIND_EXEC;
      else if (n === "procfork") lifecycle |= 1 << KIND_FORK;
      else if (n === "procexit") lifecycle |= 1 << KIND_EXIT;
      else {
        const nr = syscallNr(n);
        if (nr === undefined) throw new Error(`gadget capture: unknown syscall ${n}`);
        wanted[nr] = 1;
        sys.push(n);
      }
    }
    const ctx = new EventContext({
      procs: state.procs,
      hostname: this.env.node,
      state: this.env.services,
      fdNameChanged: () => state.fdNameChanged(),
      live: new ProcLive(),
      ipServices: new IpServices(),
    });
    const view = new RecordView();
    const sysView = new SyscallView();
    const handlers = this.handlers;
    let num = 0;
    const onRecord = (v: RecordView): void => {
      state.applyRecord(v);
      num++;
      if (v.kind === KIND_SYSCALL) {
        if (wanted[v.nr & 1023] !== 1) return;
        const ev = sysView.set(v);
        if (ev === null) return;
        ctx.set(ev, ev.type, num);
      } else {
        if ((lifecycle & (1 << v.kind)) === 0 || state.lastLifecycle === null) return;
        const type = v.kind === KIND_EXEC ? "procexec" : v.kind === KIND_FORK ? "procfork" : "procexit";
        ctx.set(state.lastLifecycle, type, num);
      }
      for (const h of handlers) h(ctx, ctx.type);
    };
    this.session = CaptureSession.start({
      syscalls: sys,
      cgroupFilter: this.filterer.active,
      ...(kernel.openPrefixes !== undefined ? { openPrefixes: kernel.openPrefixes } : {}),
      ringBytes: 16 << 20,
      pollMs: 10,
      onBatch: (batch, bytes) => walkBatch(view, batch, bytes, onRecord),
    });
    const session = this.session;
    ctx.bootToWallNs = session.bootToWallNs;
    this.offs.push(
      this.filterer.onVerdict((cg, pass) =>
        session.setCgroupVerdict(cg, pass === undefined ? "forget" : pass ? "pass" : "drop"),
      ),
    );
  }

  /**
   * Inside the agent: the agent's events (its state applied them, its rules saw them) for
   * the gadget's syscalls; the container selection's verdicts scope, in the kernel, the
   * syscalls the tap added to the agent's capture.
   */
  private tapCapture(tap: AgentTap): void {
    this.tap = tap;
    this.procs = tap.procs;
    this.bootToWallNs = tap.bootToWallNs;
    const handlers = this.handlers;
    tap.on((ctx, type) => {
      for (const h of handlers) h(ctx, type);
    });
    this.offs.push(
      this.filterer.onVerdict((cg, pass) =>
        tap.setCgroupVerdict(cg, pass === undefined ? "forget" : pass ? "pass" : "drop"),
      ),
    );
    if (tap.slot === 0 && tap.added.length > 0)
      this.warnings.push(
        `no free kernel slot for this gadget: ${tap.added.join(", ")} captured for every process while it runs`,
      );
  }

  /** warnings about the run (the node API sends them after Ready) */
  readonly warnings: string[] = [];

  /** A source event: process columns now, then selection (maybe pending), then the rest. */
  private accept(ev: SourceEvent): void {
    if (this.stopped) return;
    this.produced++;
    const rec = this.enrichProcess(ev);
    this.decide(ev, rec, false);
  }

  private enrichProcess(ev: SourceEvent): GadgetRecord {
    const rec: GadgetRecord = {};
    const procs = this.procs;
    // the process table is read only for a column the source did not fill
    let proc: ProcessInfo | undefined | null = null;
    const placement: Placement = {
      ev,
      get proc(): ProcessInfo | undefined {
        if (proc === null) proc = ev.pid > 0 ? procs.lookup(ev.pid) : undefined;
        return proc;
      },
      procs,
      container: undefined,
      pod: null,
      node: this.env.node,
      bootToWallNs: this.bootToWallNs,
    };
    for (const c of this.processColumns) {
      const own = ev.fields[c.name];
      rec[c.name] = own !== undefined && own !== null ? own : c.get(placement);
    }
    for (const k in ev.fields) {
      const v = ev.fields[k];
      if (v !== undefined && v !== null) rec[k] = v;
      else if (!(k in rec)) rec[k] = null;
    }
    return rec;
  }

  /** Selection: deliver, drop (and tell the kernel), or wait for the container's metadata. */
  private decide(ev: SourceEvent, rec: GadgetRecord, final: boolean, since = Date.now()): void {
    const placed = ev.pid > 0 || ev.cgroupId !== undefined ? this.filterer.place(ev.pid, ev.cgroupId) : null;
    let verdict = placed === null ? this.prepared.selection.opts.host : placed.verdict;
    const c = placed?.container;
    // another node's container (agents sharing a kernel): never reported, never told to the
    // kernel (its pod may yet be found on this node)
    if (c !== undefined && c !== HOST_CONTAINER && this.env.ownsContainer?.(c) === false) {
      this.unselected++;
      return;
    }
    // an incomplete container: wait a little for its names, even when selected anyway
    const waitNames = c !== undefined && c !== HOST_CONTAINER && !c.complete && !final;
    if ((verdict === undefined || waitNames) && !final) {
      this.park(ev, rec, c, since);
      return;
    }
    // a verdict from metadata that never came is not told to the kernel: it may come later
    const definitive = verdict !== undefined;
    // metadata that never came: only a selection that keeps everything keeps the event
    if (verdict === undefined) verdict = this.prepared.selection.everything;
    if (definitive && placed !== null && ev.cgroupId !== undefined) this.filterer.note(ev.cgroupId, verdict);
    if (!verdict) {
      this.unselected++;
      return;
    }
    this.place(rec, ev, placed?.container, placed?.pod ?? null);
    if (this.prepared.filter !== null && !this.prepared.filter.predicate(rec, "")) {
      this.filtered++;
      return;
    }
    this.deliver(rec);
  }

  private place(
    rec: GadgetRecord,
    ev: SourceEvent,
    container: ContainerInfo | undefined,
    pod: Placement["pod"],
  ): void {
    const placement: Placement = {
      ev,
      proc: undefined,
      procs: this.procs,
      container,
      pod,
      node: this.env.node,
      bootToWallNs: this.bootToWallNs,
    };
    for (const c of this.placedColumns) if (rec[c.name] === undefined) rec[c.name] = c.get(placement);
  }

  private rows: GadgetRecord[] | null = null;

  private deliver(rec: GadgetRecord): void {
    if (this.rows !== null) {
      this.rows.push(rec);
      return;
    }
    this.delivered++;
    this.sink.event?.(rec);
  }

  private park(ev: SourceEvent, rec: GadgetRecord, c: ContainerInfo | undefined, since: number): void {
    if (this.pendingCount >= PENDING_MAX) {
      this.reportLost(1, "waiting for container metadata: queue full");
      return;
    }
    const key = c !== undefined ? c.fullId : `cg:${ev.cgroupId ?? 0n}:${ev.pid}`;
    const list = this.pending.get(key) ?? [];
    list.push({ ev, rec, since });
    this.pending.set(key, list);
    this.pendingCount++;
  }

  /** Decides again on a container's waiting events (they may wait again, keeping their age). */
  private release(key: string, final: boolean): void {
    const list = this.pending.get(key);
    if (list === undefined) return;
    this.pending.delete(key);
    this.pendingCount -= list.length;
    const now = Date.now();
    for (const p of list) this.decide(p.ev, p.rec, final || this.waited(p.since, now) > PENDING_MS, p.since);
  }

  private onContainer(c: ContainerInfo): void {
    this.filterer.classify(c);
    // a container's update may complete another's verdict (a sandbox brings its pod's labels)
    for (const k of [...this.pending.keys()]) this.release(k, false);
  }

  private expirePending(): void {
    const now = Date.now();
    for (const [k, list] of [...this.pending]) {
      if (list.length > 0 && this.waited((list[0] as Pending).since, now) > PENDING_MS / 4)
        this.release(k, false);
    }
  }

  /** How long an event parked at `since` has waited for metadata (none while loading). */
  private waited(since: number, now: number): number {
    return this.loadedAt === null ? 0 : now - Math.max(since, this.loadedAt);
  }

  /** A row whose container (or pod) is not known yet: its verdict is still undecided. */
  private unplaced(r: SourceEvent): boolean {
    return (
      (r.pid > 0 || r.cgroupId !== undefined) && this.filterer.place(r.pid, r.cgroupId).verdict === undefined
    );
  }

  /** top and snapshot: one table from the source's rows. */
  private async tick(): Promise<void> {
    // one table at a time: intervals that pass while one waits are folded into the next
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.table();
    } finally {
      this.ticking = false;
    }
  }

  private ticking = false;

  private async table(): Promise<void> {
    const src = this.source;
    if (src?.collect === undefined || this.stopped) return;
    let rows: SourceEvent[];
    try {
      // rows are decided at once (final): the first table waits for the containers' metadata
      // (bounded), else every container's rows would be dropped as unknown
      await Promise.race([this.loaded, new Promise((r) => setTimeout(r, PENDING_MS).unref())]);
      if (this.stopped) return;
      rows = await src.collect();
    } catch (e) {
      this.reportLost(0, `collecting rows: ${errorMessage(e)}`);
      return;
    }
    // a row whose cgroup the container store does not know yet (its first lookup starts a
    // cgroup walk) waits for it a little (ROW_PLACE_MS): rows are decided at once (final), and
    // a process gone since has no /proc/PID/cgroup to fall back on
    const until = Date.now() + ROW_PLACE_MS;
    while (Date.now() < until && !this.stopped && rows.some((r) => this.unplaced(r)))
      await new Promise((r) => setTimeout(r, 100).unref());
    if (this.stopped) return;
    this.rows = [];
    for (const r of rows) {
      this.produced++;
      this.decide(r, this.enrichProcess(r), true);
    }
    const out = sortRows(this.rows, this.prepared.sort);
    this.rows = null;
    const shown = this.prepared.spec.category === "top" ? out.slice(0, this.prepared.maxRows) : out;
    this.delivered += shown.length;
    this.sink.table?.(shown);
  }

  private reportLost(n: number, why: string): void {
    this.lostTotal += n;
    this.sink.lost(n, why);
  }

  private pollLost(): void {
    const s = this.source?.lost?.() ?? 0;
    if (s > this.lastSourceLost) {
      this.reportLost(s - this.lastSourceLost, "kernel ring buffer full");
      this.lastSourceLost = s;
    }
    const st = this.session?.stats();
    const c = st !== undefined ? st.dropRing + st.dropScratch : (this.tap?.lost() ?? 0);
    if (c > this.lastCaptureLost) {
      this.reportLost(
        c - this.lastCaptureLost,
        this.tap !== null
          ? "the agent's capture ring buffer full (all its records)"
          : "capture ring buffer full",
      );
      this.lastCaptureLost = c;
    }
  }

  stats(): RunStats {
    return {
      produced: this.produced,
      delivered: this.delivered,
      unselected: this.unselected,
      filtered: this.filtered,
      lost: this.lostTotal,
    };
  }

  /** Delivers what is pending, detaches everything. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.session?.drain();
    this.source?.drain?.();
    this.pollLost();
    for (const k of [...this.pending.keys()]) this.release(k, true);
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const off of this.offs) off();
    try {
      await this.source?.stop();
    } finally {
      this.session?.close();
      this.session = null;
      this.tap?.close();
      this.tap = null;
      this.finish();
    }
  }
}
