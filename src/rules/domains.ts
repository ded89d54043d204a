/**
 * Domain-name fields (`fd.sip.name` ...): which IP field each one names, and the names the
 * rules compare them with, which the engine must keep resolved. The values themselves come
 * from the engine's reader: the watched names whose addresses include the IP (Falco's
 * semantics: `fd.sip.name = "x"` is true when fd.sip is one of x's addresses).
 */
import type { BoundExpr } from "./bound.js";

export const DOMAIN_FIELDS: ReadonlyMap<string, string> = new Map([
  ["fd.cip.name", "fd.cip"],
  ["fd.sip.name", "fd.sip"],
  ["fd.lip.name", "fd.lip"],
  ["fd.rip.name", "fd.rip"],
]);

/** Operators that compare a domain field with names (as Falco: the others cannot match). */
const NAME_OPS = new Set(["=", "==", "!=", "in", "intersects"]);

/** Every literal that a condition compares a domain-name field with (=, !=, in). */
export function domainNamesIn(conditions: Iterable<BoundExpr>): string[] {
  const out = new Set<string>();
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
        if (seen.has(e)) return; // a macro's expansion is one shared object
        seen.add(e);
        walk(e.e);
        return;
      case "check":
        if (e.lhs.kind === "field" && DOMAIN_FIELDS.has(e.lhs.field.def.name) && NAME_OPS.has(e.op))
          for (const v of e.values ?? []) if (v !== "") out.add(v);
        return;
      default:
        return;
    }
  };
  for (const c of conditions) walk(c);
  return [...out];
}
