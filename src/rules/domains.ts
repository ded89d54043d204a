/**
 * The literals that conditions compare "watching" fields with (`fd.sip.name = x`: the
 * registry row says `watchesLiterals`): the engine keeps those names resolved, and the
 * field's own comparison says whether an address is one of a name's (Falco's semantics).
 */
import type { BoundExpr } from "./bound.js";

/** Operators that compare a domain field with names (as Falco: the others cannot match). */
const NAME_OPS = new Set(["=", "==", "!=", "in", "intersects"]);

/** Every literal that a condition compares a watching field with (=, !=, in). */
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
        if (e.lhs.kind === "field" && e.lhs.field.def.watchesLiterals && NAME_OPS.has(e.op))
          for (const v of e.values ?? []) if (v !== "") out.add(v);
        return;
      default:
        return;
    }
  };
  for (const c of conditions) walk(c);
  return [...out];
}
