/**
 * Fields a condition reads for event types that never produce them: a check on `evt.latency`
 * in a rule that can match `execve` is fine, one that can only be reached for `setuid` events
 * is always false there. For each event type the rule can match, the condition is specialised
 * to that type (its evt.type checks decided) and the fields left are checked against the
 * event types their registry row says fill them.
 */
import type { BoundExpr } from "./bound.js";
import type { ConditionCompiler } from "./compiler.js";
import type { EvtSet } from "./evttypes.js";

/** field name -> the event types of the rule it is never produced for */
export function fieldsNotProduced(
  bound: BoundExpr,
  types: EvtSet,
  compiler: ConditionCompiler,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (types.neg) return out; // every type but...: nothing to enumerate
  for (const t of types.names) {
    const seen = new Set<BoundExpr>();
    const walk = (e: BoundExpr): void => {
      switch (e.k) {
        case "and":
        case "or":
          for (const x of e.items) walk(x);
          return;
        case "not":
          walk(e.e);
          return;
        case "macro":
          if (seen.has(e)) return;
          seen.add(e);
          walk(e.e);
          return;
        case "check": {
          if (e.lhs.kind !== "field") return;
          const ev = e.lhs.field.def.events;
          if (typeof ev === "string" || ev.includes(t)) return;
          const name = e.lhs.field.def.name;
          const list = out.get(name) ?? [];
          if (!list.includes(t)) list.push(t);
          out.set(name, list);
          return;
        }
        default:
          return;
      }
    };
    walk(compiler.specialize(bound, t));
  }
  return out;
}
