/**
 * A compiled rule set: rules in load order, indexed by event type (Falco's evttype index),
 * matched with rule_matching `first` (stop at the first matching rule) or `all`.
 */
import type { BoundExpr } from "./bound.js";
import { ConditionCompiler, evalEpoch, type Predicate } from "./compiler.js";
import type { EvalContext } from "./fields.js";
import { evtSetHas, isAllTypes, type EvtSet } from "./evttypes.js";
import type { OutputTemplate } from "./output.js";
import type { Priority } from "./priority.js";

export interface CompiledRule {
  readonly name: string;
  readonly desc: string;
  readonly priority: Priority;
  /** 0 Emergency ... 7 Debug */
  readonly priorityLevel: number;
  readonly source: string;
  readonly tags: readonly string[];
  readonly enabled: boolean;
  /** Evaluate the condition for one event (standalone use; RuleSet.match is faster). */
  readonly condition: Predicate;
  /** The checked condition (macros expanded), compiled per event type by RuleSet. */
  readonly bound: BoundExpr;
  /** Condition text after appends/overrides and exceptions. */
  readonly conditionText: string;
  readonly output: OutputTemplate;
  /** Event types the condition can match. */
  readonly eventTypes: EvtSet;
  readonly file: string;
  readonly line: number;
  /** Position in load order. */
  readonly index: number;
}

export type RuleMatching = "first" | "all";

export interface RuleSetOptions {
  readonly ruleMatching?: RuleMatching;
  /** Use the event-type index (default true); false evaluates every rule (benchmarks). */
  readonly useIndex?: boolean;
}

interface Entry {
  readonly rule: CompiledRule;
  readonly test: Predicate;
}
const NONE: readonly Entry[] = Object.freeze([]);

export class RuleSet {
  /** Enabled rules, in load order. */
  readonly rules: readonly CompiledRule[];
  readonly ruleMatching: RuleMatching;
  private readonly useIndex: boolean;
  private readonly buckets = new Map<string, readonly Entry[]>();
  private readonly all: readonly Entry[];
  private readonly compiler = new ConditionCompiler();
  private readonly out: CompiledRule[] = [];
  private readonly rulesByType = new Map<string, readonly CompiledRule[]>();

  constructor(rules: readonly CompiledRule[], opts: RuleSetOptions = {}) {
    this.rules = rules.filter((r) => r.enabled);
    this.ruleMatching = opts.ruleMatching ?? "first";
    this.useIndex = opts.useIndex ?? true;
    this.all = this.rules.map((rule) => ({ rule, test: this.compiler.compile(rule.bound) }));
  }

  /**
   * The index entry for one event type (built on first use): the rules that can match it,
   * in load order, each compiled with its evt.type checks decided.
   */
  private bucket(evtType: string): readonly Entry[] {
    let b = this.buckets.get(evtType);
    if (b === undefined) {
      const list: Entry[] = [];
      for (const rule of this.rules) {
        if (!evtSetHas(rule.eventTypes, evtType)) continue;
        const s = this.compiler.specialize(rule.bound, evtType);
        if (s.k === "const" && !s.v) continue;
        list.push({ rule, test: this.compiler.compile(s) });
      }
      b = list.length === 0 ? NONE : list;
      this.buckets.set(evtType, b);
    }
    return b;
  }

  /** Rules that can match events of type `evtType`, in load order. */
  rulesFor(evtType: string): readonly CompiledRule[] {
    let r = this.rulesByType.get(evtType);
    if (r === undefined) {
      r = this.bucket(evtType).map((e) => e.rule); // the buckets never change: made once a type
      this.rulesByType.set(evtType, r);
    }
    return r;
  }

  /**
   * Rules matching the event. Returns a reused array (valid until the next call): empty when
   * nothing matches, at most one rule with rule_matching `first`.
   */
  match(ev: EvalContext, evtType: string): readonly CompiledRule[] {
    const entries = this.useIndex ? this.bucket(evtType) : this.all;
    const out = this.out;
    out.length = 0;
    evalEpoch.v++;
    const first = this.ruleMatching === "first";
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as Entry;
      if (e.test(ev, evtType)) {
        out.push(e.rule);
        if (first) return out;
      }
    }
    return out;
  }

  /** First matching rule or undefined. */
  matchFirst(ev: EvalContext, evtType: string): CompiledRule | undefined {
    const entries = this.useIndex ? this.bucket(evtType) : this.all;
    evalEpoch.v++;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as Entry;
      if (e.test(ev, evtType)) return e.rule;
    }
    return undefined;
  }

  /**
   * Event types the enabled rules need: `all` when some rule can match any type (the
   * kernel must then deliver everything it captures), plus the named types.
   */
  eventTypes(): { all: boolean; names: string[] } {
    let all = false;
    const names = new Set<string>();
    for (const r of this.rules) {
      if (r.eventTypes.neg) {
        all = true;
        if (!isAllTypes(r.eventTypes)) continue;
      } else for (const n of r.eventTypes.names) names.add(n);
    }
    return { all, names: [...names].sort() };
  }
}
