/**
 * The agent's engine: capture → decode → state → rules → alerts.
 *
 * The syscall set pushed to the kernel is the union of the event types the enabled rules
 * can match and what state tracking needs. Per record: the event type is looked up in the
 * rule index by number; records no rule wants and state does not need are dropped before
 * decoding; the rest are decoded once, applied to state, and evaluated.
 */
import { hostname as osHostname } from "node:os";
import { CaptureSession, type CaptureReport, type CaptureStats } from "../capture/capture-session.js";
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
import { domainNamesIn, isAllTypes, type CompiledRule, type RuleSet } from "../rules/index.js";
import { IpServices } from "../state/ip-services.js";
import { ProcLive } from "../state/proc-live.js";
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

/** Syscalls state tracking needs whatever the rules say. */
export const STATE_SYSCALLS: readonly string[] = [
  ...new Set([...stateSyscalls(), "execve", "execveat", "fork", "vfork", "clone", "clone3"]),
];

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
      return this.session?.select(this.syscalls) ?? { added: [], removed: [] };
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
    if (kind === KIND_SYSCALL) {
      const nr = v.nr & 1023;
      rules = this.rulesByNr[nr] ?? [];
      if (rules.length === 0) return;
      type = this.typeByNr[nr] ?? "";
    } else {
      type = LIFECYCLE_TYPES[kind] ?? "";
      rules = this.ruleset.rulesFor(type);
      if (rules.length === 0) return;
    }
    // a syscall is read through a view (tails decoded when a field needs them); lifecycle
    // records were decoded to be applied to state: the same event serves the rules
    const ev = kind === KIND_SYSCALL ? this.sysView.set(v) : this.state.lastLifecycle;
    if (!ev) return;
    this.decoded++;
    this.evaluated++;
    const ctx = this.ctx;
    ctx.set(ev, type, this.num);
    ctx.prevTs = this.lastTs;
    this.lastTs = ev.ts;
    const matched = this.ruleset.match(ctx, type);
    for (let i = 0; i < matched.length; i++) this.raise(matched[i] as CompiledRule, type);
  };

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
