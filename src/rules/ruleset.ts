/**
 * A compiled rule set: rules in load order, indexed by event type (Falco's evttype index),
 * matched with rule_matching `first` (stop at the first matching rule) or `all`.
 */
import type { FieldReader, Predicate } from "./compiler.js";
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
  readonly condition: Predicate;
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

const NONE: readonly CompiledRule[] = Object.freeze([]);

export class RuleSet {
  /** Enabled rules, in load order. */
  readonly rules: readonly CompiledRule[];
  readonly ruleMatching: RuleMatching;
  private readonly useIndex: boolean;
  private readonly buckets = new Map<string, readonly CompiledRule[]>();
  private readonly out: CompiledRule[] = [];

  constructor(rules: readonly CompiledRule[], opts: RuleSetOptions = {}) {
    this.rules = rules.filter((r) => r.enabled);
    this.ruleMatching = opts.ruleMatching ?? "first";
    this.useIndex = opts.useIndex ?? true;
  }

  /** Rules that can match events of type `evtType`, in load order (memoised). */
  rulesFor(evtType: string): readonly CompiledRule[] {
    let b = this.buckets.get(evtType);
    if (b === undefined) {
      const list = this.rules.filter((r) => evtSetHas(r.eventTypes, evtType));
      b = list.length === 0 ? NONE : list;
      this.buckets.set(evtType, b);
    }
    return b;
  }

  /**
   * Rules matching the event. Returns a reused array (valid until the next call): empty when
   * nothing matches, at most one rule with rule_matching `first`.
   */
  match(ev: FieldReader, evtType: string): readonly CompiledRule[] {
    const rules = this.useIndex ? this.rulesFor(evtType) : this.rules;
    const out = this.out;
    out.length = 0;
    if (this.ruleMatching === "first") {
      for (let i = 0; i < rules.length; i++) {
        const r = rules[i] as CompiledRule;
        if (r.condition(ev, evtType)) {
          out.push(r);
          return out;
        }
      }
      return out;
    }
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i] as CompiledRule;
      if (r.condition(ev, evtType)) out.push(r);
    }
    return out;
  }

  /** First matching rule or undefined. */
  matchFirst(ev: FieldReader, evtType: string): CompiledRule | undefined {
    const rules = this.useIndex ? this.rulesFor(evtType) : this.rules;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i] as CompiledRule;
      if (r.condition(ev, evtType)) return r;
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
