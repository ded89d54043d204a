/**
 * Event-type analysis: the set of `evt.type` values for which a condition can be true.
 * It feeds the kernel's syscall selection and the rule index (Falco's evttype index).
 *
 * Sets are either finite (`{neg: false, names}`) or co-finite ("every type except names",
 * `{neg: true, names}`), so `not` and `!=` need no universe of event names. Each node is
 * analysed into a pair: the types where it can be true and the types where it can be
 * false; `not` swaps them, which keeps `not (evt.type=open and proc.name=x)` correctly
 * broad.
 */
import type { BoundExpr } from "./bound.js";

export interface EvtSet {
  /** true: every event type except `names`; false: exactly `names`. */
  readonly neg: boolean;
  readonly names: ReadonlySet<string>;
}

export const ALL_TYPES: EvtSet = { neg: true, names: new Set() };
export const NO_TYPES: EvtSet = { neg: false, names: new Set() };

export function evtSetHas(s: EvtSet, t: string): boolean {
  return s.names.has(t) !== s.neg;
}

export function isAllTypes(s: EvtSet): boolean {
  return s.neg && s.names.size === 0;
}

export function complement(s: EvtSet): EvtSet {
  return { neg: !s.neg, names: s.names };
}

export function union(a: EvtSet, b: EvtSet): EvtSet {
  if (!a.neg && !b.neg) return { neg: false, names: new Set([...a.names, ...b.names]) };
  if (a.neg && b.neg) return { neg: true, names: new Set([...a.names].filter((x) => b.names.has(x))) };
  const [p, n] = a.neg ? [b, a] : [a, b];
  return { neg: true, names: new Set([...n.names].filter((x) => !p.names.has(x))) };
}

export function intersect(a: EvtSet, b: EvtSet): EvtSet {
  return complement(union(complement(a), complement(b)));
}

export function evtSetToString(s: EvtSet): string {
  const names = [...s.names].sort().join(", ");
  if (!s.neg) return `{${names}}`;
  return s.names.size === 0 ? "all" : `all except {${names}}`;
}

interface Pair {
  readonly t: EvtSet; // can be true for
  readonly f: EvtSet; // can be false for
}

function analyse(e: BoundExpr): Pair {
  switch (e.k) {
    case "const":
      return e.v ? { t: ALL_TYPES, f: NO_TYPES } : { t: NO_TYPES, f: ALL_TYPES };
    case "macro":
      return analyse(e.e);
    case "not": {
      const p = analyse(e.e);
      return { t: p.f, f: p.t };
    }
    case "and": {
      let t = ALL_TYPES;
      let f = NO_TYPES;
      for (const x of e.items) {
        const p = analyse(x);
        t = intersect(t, p.t);
        f = union(f, p.f);
      }
      return { t, f };
    }
    case "or": {
      let t = NO_TYPES;
      let f = ALL_TYPES;
      for (const x of e.items) {
        const p = analyse(x);
        t = union(t, p.t);
        f = intersect(f, p.f);
      }
      return { t, f };
    }
    case "check": {
      // `evt.num = 0` (the never_true idiom) matches no event: numbering starts at 1
      if (
        e.lhs.kind === "field" &&
        e.lhs.field.def.name === "evt.num" &&
        (e.op === "=" || e.op === "==") &&
        e.valField === undefined &&
        e.values?.every((v) => Number(v) === 0) === true
      ) {
        return { t: NO_TYPES, f: ALL_TYPES };
      }
      if (e.lhs.kind !== "field" || e.lhs.field.def.name !== "evt.type" || e.valField !== undefined) {
        return { t: ALL_TYPES, f: ALL_TYPES };
      }
      const vals = e.values ?? [];
      switch (e.op) {
        case "=":
        case "==":
        case "in":
        case "intersects": {
          const s: EvtSet = { neg: false, names: new Set(vals) };
          return { t: s, f: complement(s) };
        }
        case "!=": {
          const s: EvtSet = { neg: false, names: new Set(vals) };
          return { t: complement(s), f: s };
        }
        default:
          return { t: ALL_TYPES, f: ALL_TYPES };
      }
    }
  }
}

/** The event types for which `e` can be true. */
export function eventTypesOf(e: BoundExpr): EvtSet {
  return analyse(e).t;
}
