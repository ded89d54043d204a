/**
 * The agent's engine: capture → decode → state → rules → alerts.
 *
 * The syscall set pushed to the kernel is the union of the event types the enabled rules
 * can match and what state tracking needs. Per record: the event type is looked up in the
 * rule index by number; records no rule wants and state does not need are dropped before
 * decoding; the rest are decoded once, applied to state, and evaluated.
 */
import { hostname as osHostname } from "node:os";
import {
  CaptureSession,
  GADGET_SLOTS,
  type CaptureReport,
  type CaptureStats,
} from "../capture/capture-session.js";
import { syscallName, syscallNr } from "../capture/syscalls.js";
import {
  KIND_EXEC,
  KIND_EXIT,
  KIND_FORK,
  KIND_SYSCALL,
  RecordView,
  walkBatch,
} from "../decode/record-view.js";
import { SUPPORTED_SYSCALLS } from "../decode/syscall-params.js";
import { SyscallView } from "../decode/syscall-view.js";
import { clockOffsets } from "../native/clock.js";
import { LannerError } from "../errors.js";
import { domainNamesIn, isAllTypes, type CompiledRule, type RuleSet } from "../rules/index.js";
import { IpServices } from "../state/ip-services.js";
import { ProcLive } from "../state/proc-live.js";
import type { ProcessTable } from "../state/process-table.js";
import type { StateServices } from "../state/services.js";
import { State, stateSyscalls } from "../state/state.js";
import type { Alert, OutputFieldValue, Priority } from "./alert.js";
import { EventContext } from "./fields/index.js";

export interface AgentOptions {
  readonly ruleset: RuleSet;
  /** called for every alert, synchronously on the event path: must not block */
  readonly onAlert: (alert: Alert) => void;
  readonly hostname?: string;
  /** containers, pods, users, domain names; without it those fields are unknown */
  readonly services?: StateServices;
  readonly ringBytes?: number;
  /** ring drain period (ms): the bound on alert latency added by batching; default 5 */
  readonly pollMs?: number;
  /** see CaptureOptions.stashEntries */
  readonly stashEntries?: number;
  /** see CaptureOptions.snaplen (evt.buffer) */
  readonly snaplen?: number;
  /** syscalls to capture besides what rules and state need (base_syscalls.custom_set) */
  readonly extraSyscalls?: readonly string[];
  /** syscalls not to capture even when rules ask for them (custom_set `!name`); never state's */
  readonly excludeSyscalls?: readonly string[];
}

export interface AgentStats {
  capture: CaptureStats;
  /** events decoded and applied to state */
  decoded: number;
  /** events evaluated against at least one rule */
  evaluated: number;
  alerts: number;
  alertsByRule: Map<string, number>;
  processes: number;
  /** wall-clock now minus the time of the last event read (0 before the first) */
  lagSeconds: number;
}

/**
 * A gadget's view of the agent's capture (Agent.tap): the agent's own decoded events, after
 * its state applied them and its rules saw them, for the syscalls and lifecycle kinds the
 * tap asked for. No second capture: syscalls the agent already captures cost nothing more;
 * the others are added to the kernel's selection, made only for the cgroups the tap's slot
 * does not drop (setCgroupVerdict), and removed again on close().
 */
export interface AgentTap {
  /** called for each wanted event, on the agent's event path (must not block or throw) */
  on(fn: (ev: EventContext, type: string) => void): void;
  /** the agent's process table (what the events were applied to) */
  readonly procs: ProcessTable;
  readonly bootToWallNs: bigint;
  /** the kernel slot (1..7) that scopes this tap's extra syscalls; 0: none was free (those
   * syscalls are captured for every process while the tap is open) */
  readonly slot: number;
  /** the syscalls added to the capture for this tap (ones the agent did not capture) */
  readonly added: readonly string[];
  /** programs the agent's capture has attached */
  programs(): number;
  /** the kernel's verdict for a cgroup: "drop" stops this tap's extra syscalls there */
  setCgroupVerdict(cgroupId: bigint, verdict: "pass" | "drop" | "forget"): void;
  /** capture records the kernel lost (ring full) since the tap opened */
  lost(): number;
  /** handler exceptions (counted, never thrown into the agent) */
  readonly errors: number;
  close(): void;
}

/** What the agent counts about its taps. */
export interface TapStats {
  open: number;
  /** taps opened since the start */
  opened: number;
  /** taps that found no free kernel slot (their extra syscalls captured for every process) */
  slotless: number;
}

interface Tap {
  readonly nrs: Uint8Array;
  readonly lifecycle: number;
  readonly handlers: ((ev: EventContext, type: string) => void)[];
  errors: number;
}

/** Syscalls state tracking needs whatever the rules say. */
export const STATE_SYSCALLS: readonly string[] = [
  ...new Set([...stateSyscalls(), "execve", "execveat", "fork", "vfork", "clone", "clone3"]),
];

const NO_RULES: readonly CompiledRule[] = [];

const LIFECYCLE_TYPES: Readonly<Record<number, string>> = {
  [KIND_FORK]: "procfork",
  [KIND_EXEC]: "procexec",
  [KIND_EXIT]: "procexit",
};

/** The syscall names the rules can match that this machine can capture. */
export function syscallsForRules(rules: readonly CompiledRule[]): { names: string[]; matchesAll: string[] } {
  const names = new Set<string>();
  const matchesAll: string[] = [];
  for (const r of rules) {
    if (!r.enabled) continue;
    // "every type" or "every type but ...": such rules see the selected syscalls only
    if (isAllTypes(r.eventTypes) || r.eventTypes.neg) {
      matchesAll.push(r.name);
      continue;
    }
    for (const t of r.eventTypes.names) if (syscallNr(t) !== undefined) names.add(t);
  }
  return { names: [...names], matchesAll };
}

export class Agent {
  private session: CaptureSession | null = null;
  private readonly state = new State();
  private readonly ctx: EventContext;
  private readonly view = new RecordView();
  private readonly sysView = new SyscallView();
  /** per syscall number: the rules that can match it (index by number, not by name) */
  private rulesByNr: (readonly CompiledRule[])[] = [];
  private readonly typeByNr: string[] = [];
  private num = 0;
  /** wall clock for state's exit bookkeeping, refreshed by the purge timer */
  private nowMs = Date.now();
  private lastTs = 0;
  private decoded = 0;
  private evaluated = 0;
  private alerts = 0;
  private readonly alertsByRule = new Map<string, number>();
  private purgeTimer: NodeJS.Timeout | null = null;
  syscalls: readonly string[] = [];
  rulesMatchingAll: readonly string[] = [];
  private ruleset: RuleSet;
  /** open taps; per syscall number / lifecycle kind the taps that want it (null: none) */
  private readonly taps = new Set<Tap>();
  private tapsByNr: (Tap[] | null)[] = [];
  private tapsByKind: (Tap[] | null)[] = [];
  private tapping = false;
  /** slot -> the tap's syscalls that the rules do not capture */
  private readonly slots = new Map<number, readonly string[]>();
  /** syscalls of slotless taps (captured for every process while they are open) */
  private readonly slotless = new Map<Tap, readonly string[]>();
  private readonly tapCounters = { opened: 0, slotless: 0 };

  private constructor(private readonly opts: AgentOptions) {
    this.ruleset = opts.ruleset;
    for (let nr = 0; nr < 1024; nr++) this.typeByNr[nr] = syscallName(nr);
    this.index(opts.ruleset);
    const state = this.state;
    this.ctx = new EventContext({
      procs: state.procs,
      hostname: opts.hostname ?? osHostname(),
      state: opts.services ?? null,
      fdNameChanged: () => state.fdNameChanged(),
      live: new ProcLive(),
      ipServices: new IpServices(),
    });
  }

  /** Computes the syscall set and the by-number rule index of a rule set. */
  private index(ruleset: RuleSet): void {
    const { names, matchesAll } = syscallsForRules(ruleset.rules);
    const all = new Set([...names, ...(this.opts.extraSyscalls ?? [])]);
    for (const x of this.opts.excludeSyscalls ?? []) all.delete(x);
    for (const x of STATE_SYSCALLS) all.add(x);
    const rulesByNr: (readonly CompiledRule[])[] = [];
    for (let nr = 0; nr < 1024; nr++) rulesByNr[nr] = ruleset.rulesFor(this.typeByNr[nr] ?? "");
    // swap only when everything is computed: the event path sees the old or the new rules
    this.rulesMatchingAll = matchesAll;
    this.syscalls = [...all].filter((n) => syscallNr(n) !== undefined);
    this.rulesByNr = rulesByNr;
    this.ruleset = ruleset;
    this.opts.services?.watchDomains(domainNamesIn(ruleset.rules.map((r) => r.bound)));
  }

  /**
   * Replaces the rules of a running agent (reload). The kernel selection is widened or
   * narrowed to the new rules' syscalls; events already in the ring are evaluated by the
   * rules in force when they are read, so nothing in flight is lost.
   */
  setRuleset(ruleset: RuleSet): { added: string[]; removed: string[] } {
    const prev = {
      syscalls: this.syscalls,
      rulesByNr: this.rulesByNr,
      ruleset: this.ruleset,
      all: this.rulesMatchingAll,
    };
    this.index(ruleset);
    try {
      const r = this.session?.select(this.everyProcessSyscalls()) ?? { added: [], removed: [] };
      this.reslot();
      return r;
    } catch (e) {
      this.syscalls = prev.syscalls;
      this.rulesByNr = prev.rulesByNr;
      this.ruleset = prev.ruleset;
      this.rulesMatchingAll = prev.all;
      throw e;
    }
  }

  /** Seeds state, loads and attaches the kernel programs; throws a LannerError on failure. */
  static start(opts: AgentOptions): Agent {
    const a = new Agent(opts);
    a.state.seed();
    a.session = CaptureSession.start({
      syscalls: a.syscalls.length ? a.syscalls : [...SUPPORTED_SYSCALLS],
      ...(opts.ringBytes !== undefined ? { ringBytes: opts.ringBytes } : {}),
      pollMs: opts.pollMs ?? 5,
      ...(opts.stashEntries !== undefined ? { stashEntries: opts.stashEntries } : {}),
      ...(opts.snaplen !== undefined ? { snaplen: opts.snaplen } : {}),
      onBatch: (batch, bytes) => walkBatch(a.view, batch, bytes, a.onRecord),
    });
    a.ctx.bootToWallNs = a.session.bootToWallNs;
    a.ctx.startTs = Number(clockOffsets().boottimeNs);
    a.purgeTimer = setInterval(() => {
      a.nowMs = Date.now();
      a.state.purge(a.nowMs);
    }, 1000);
    a.purgeTimer.unref();
    return a;
  }

  /**
   * An agent fed by recorded batches instead of the kernel (`feed`): replays and benchmarks of
   * the per-event path. Nothing is attached; state starts empty apart from /proc lookups.
   */
  static offline(opts: AgentOptions, bootToWallNs = 0n): Agent {
    const a = new Agent(opts);
    a.ctx.bootToWallNs = bootToWallNs;
    return a;
  }

  /** Processes one batch in the ring's framing (see CaptureOptions.onBatch); returns how many records were corrupt. */
  feed(batch: Buffer, bytes: number): number {
    return walkBatch(this.view, batch, bytes, this.onRecord);
  }

  /** What the kernel captures for every process: the rules' and state's, and slotless taps'. */
  private everyProcessSyscalls(): string[] {
    const all = new Set(this.syscalls);
    for (const names of this.slotless.values()) for (const n of names) all.add(n);
    return [...all];
  }

  /** The slots' syscalls minus what every process gives already (after a rules reload). */
  private reslot(): void {
    const s = this.session;
    if (s === null) return;
    const every = new Set(this.syscalls);
    for (const [slot, names] of this.slots)
      s.selectForSlot(
        slot,
        names.filter((n) => !every.has(n)),
      );
  }

  /**
   * Delivers the agent's events of `syscalls` (names; "procexec", "procfork", "procexit"
   * for lifecycle) to a gadget, without a second capture. Syscalls the agent does not
   * capture are added, scoped in the kernel to the cgroups the tap does not drop (its
   * slot's setCgroupVerdict) while one of the kernel's slots is free. Throws on unknown names.
   */
  tap(syscalls: readonly string[]): AgentTap {
    const session = this.session;
    const nrs = new Uint8Array(1024);
    let lifecycle = 0;
    const names: string[] = [];
    for (const n of syscalls) {
      if (n === "procexec") lifecycle |= 1 << KIND_EXEC;
      else if (n === "procfork") lifecycle |= 1 << KIND_FORK;
      else if (n === "procexit") lifecycle |= 1 << KIND_EXIT;
      else {
        const nr = syscallNr(n);
        if (nr === undefined)
          throw new LannerError("EUNKNOWNSYSCALL", `tapping the agent's capture: unknown syscall ${n}`);
        nrs[nr] = 1;
        names.push(n);
      }
    }
    // a successful execveat's exit comes as execve's (see CaptureSession.start)
    if (nrs[syscallNr("execveat") ?? 0] === 1) nrs[syscallNr("execve") ?? 0] = 1;
    const tap: Tap = { nrs, lifecycle, handlers: [], errors: 0 };
    const every = new Set(this.syscalls);
    const extra = names.filter((n) => !every.has(n));
    let slot = 0;
    if (session !== null && extra.length > 0) {
      // (a tap without a container selection drops no cgroup: its slot passes everything)
      for (let k = 1; k <= GADGET_SLOTS && slot === 0; k++) if (!this.slots.has(k)) slot = k;
      if (slot !== 0) {
        session.selectForSlot(slot, extra);
        this.slots.set(slot, names);
      } else {
        this.tapCounters.slotless++;
        this.slotless.set(tap, extra);
        session.select(this.everyProcessSyscalls());
      }
    }
    this.taps.add(tap);
    this.tapCounters.opened++;
    this.indexTaps();
    const dropsAtOpen = this.drops();
    let closed = false;
    return {
      on: (fn) => {
        tap.handlers.push(fn);
      },
      procs: this.state.procs,
      bootToWallNs: this.ctx.bootToWallNs,
      slot,
      added: extra,
      programs: () => this.session?.report.attached.length ?? 0,
      setCgroupVerdict: (cg, verdict) => {
        if (slot !== 0 && !closed) this.session?.setSlotCgroup(slot, cg, verdict === "drop");
      },
      lost: () => this.drops() - dropsAtOpen,
      get errors() {
        return tap.errors;
      },
      close: () => {
        if (closed) return;
        closed = true;
        this.taps.delete(tap);
        this.indexTaps();
        if (slot !== 0) {
          this.slots.delete(slot);
          this.session?.freeSlot(slot);
        } else if (this.slotless.delete(tap)) {
          this.session?.select(this.everyProcessSyscalls());
        }
      },
    };
  }

  private drops(): number {
    const st = this.session?.stats();
    return st === undefined ? 0 : st.dropRing + st.dropScratch;
  }

  /** Rebuilds the by-number and by-kind tap index (the event path sees the old or the new). */
  private indexTaps(): void {
    const byNr: (Tap[] | null)[] = [];
    const byKind: (Tap[] | null)[] = [];
    for (let nr = 0; nr < 1024; nr++) {
      const l = [...this.taps].filter((t) => t.nrs[nr] === 1);
      byNr[nr] = l.length > 0 ? l : null;
    }
    for (const k of [KIND_FORK, KIND_EXEC, KIND_EXIT]) {
      const l = [...this.taps].filter((t) => (t.lifecycle & (1 << k)) !== 0);
      byKind[k] = l.length > 0 ? l : null;
    }
    this.tapsByNr = byNr;
    this.tapsByKind = byKind;
    this.tapping = this.taps.size > 0;
  }

  tapStats(): TapStats {
    return { open: this.taps.size, ...this.tapCounters };
  }

  get report(): CaptureReport | null {
    return this.session?.report ?? null;
  }

  private readonly onRecord = (v: RecordView): void => {
    // State first (cheap for records that change nothing: one table load); a close takes
    // effect at the next record, so the close event itself still names what it closed.
    this.state.applyRecord(v, this.nowMs);
    this.num++;
    const kind = v.kind;
    let type: string;
    let rules: readonly CompiledRule[];
    // gadgets tapping the capture (checked only while one is open)
    let taps: Tap[] | null = null;
    if (kind === KIND_SYSCALL) {
      const nr = v.nr & 1023;
      rules = this.rulesByNr[nr] ?? NO_RULES;
      if (this.tapping) taps = this.tapsByNr[nr] ?? null;
      if (rules.length === 0 && taps === null) return;
      type = this.typeByNr[nr] ?? "";
    } else {
      type = LIFECYCLE_TYPES[kind] ?? "";
      rules = this.ruleset.rulesFor(type);
      if (this.tapping) taps = this.tapsByKind[kind] ?? null;
      if (rules.length === 0 && taps === null) return;
    }
    // a syscall is read through a view (tails decoded when a field needs them); lifecycle
    // records were decoded to be applied to state: the same event serves the rules
    const ev = kind === KIND_SYSCALL ? this.sysView.set(v) : this.state.lastLifecycle;
    if (!ev) return;
    this.decoded++;
    const ctx = this.ctx;
    ctx.set(ev, type, this.num);
    ctx.prevTs = this.lastTs;
    this.lastTs = ev.ts;
    if (rules.length > 0) {
      this.evaluated++;
      const matched = this.ruleset.match(ctx, type);
      for (let i = 0; i < matched.length; i++) this.raise(matched[i] as CompiledRule, type);
    }
    if (taps !== null) this.deliverToTaps(taps, ctx, type);
  };

  /** The rules have seen the event: the gadgets get the same context. */
  private deliverToTaps(taps: Tap[], ctx: EventContext, type: string): void {
    for (let i = 0; i < taps.length; i++) {
      const t = taps[i] as Tap;
      for (let j = 0; j < t.handlers.length; j++) {
        try {
          (t.handlers[j] as (ev: EventContext, type: string) => void)(ctx, type);
        } catch {
          t.errors++;
        }
      }
    }
  }

  private raise(rule: CompiledRule, type: string): void {
    const r = this.ctx;
    const fields = rule.output.values(r, type, { "evt.time": r.wallNs() }) as Record<
      string,
      OutputFieldValue
    >;
    const alert: Alert = {
      timeNs: r.wallNs(),
      rule: rule.name,
      priority: rule.priority as Priority,
      source: rule.source,
      hostname: r.hostname,
      message: rule.output.render(r, type),
      outputFields: fields,
      tags: rule.tags,
    };
    this.alerts++;
    this.alertsByRule.set(rule.name, (this.alertsByRule.get(rule.name) ?? 0) + 1);
    this.opts.onAlert(alert);
  }

  get ruleCount(): number {
    return this.ruleset.rules.length;
  }

  /** Priority of a rule of the current rule set (for metrics labels). */
  priorityOf(rule: string): string {
    return this.ruleset.rules.find((r) => r.name === rule)?.priority ?? "";
  }

  stats(): AgentStats {
    return {
      capture: this.session?.stats() ?? emptyCaptureStats(),
      decoded: this.decoded,
      evaluated: this.evaluated,
      alerts: this.alerts,
      alertsByRule: new Map(this.alertsByRule),
      processes: this.state.stats().size,
      lagSeconds:
        this.lastTs === 0
          ? 0
          : Math.max(
              0,
              Date.now() / 1e3 - Number(BigInt(Math.round(this.lastTs)) + this.ctx.bootToWallNs) / 1e9,
            ),
    };
  }

  /** Delivers what is pending in the ring, then detaches everything. Idempotent. */
  stop(): void {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    this.purgeTimer = null;
    this.session?.close();
    this.session = null;
  }
}

function emptyCaptureStats(): CaptureStats {
  return {
    dropRingByCpu: [],
    dropRing: 0,
    dropScratch: 0,
    truncated: 0,
    readFailures: 0,
    enterMisses: 0,
    wakeups: 0,
    delivered: 0,
    batches: 0,
    corrupt: 0,
  };
}
