/**
 * A standalone condition (`lanner capture --filter COND`): parsed, checked and compiled
 * like a rule condition, optionally with macros and lists from loaded rules.
 */
import { BindContext, bindCondition, type ListEntry, type MacroEntry } from "./binder.js";
import { compileCondition, type Predicate } from "./compiler.js";
import { DiagnosticBag, stringSource, type Diagnostic } from "./diagnostics.js";
import type { FieldSchema } from "./fields.js";
import { eventTypesOf, type EvtSet } from "./evttypes.js";
import { parseCondition } from "./parser.js";

export interface CompiledFilter {
  readonly text: string;
  readonly predicate: Predicate;
  readonly eventTypes: EvtSet;
}

export function compileFilter(
  text: string,
  opts: {
    /** The fields the condition is resolved against. */
    fields: FieldSchema;
    file?: string;
    macros?: ReadonlyMap<string, MacroEntry>;
    lists?: ReadonlyMap<string, ListEntry>;
  },
):
  | { ok: true; filter: CompiledFilter; diagnostics: readonly Diagnostic[] }
  | { ok: false; diagnostics: readonly Diagnostic[] } {
  const src = stringSource(opts.file ?? "<filter>", text);
  const diags = new DiagnosticBag();
  const r = parseCondition(text, src);
  if (!r.ok) {
    diags.at(src, r.error.offset, "error", r.error.message);
    return { ok: false, diagnostics: diags.items };
  }
  const ctx = new BindContext(opts.macros ?? new Map(), opts.lists ?? new Map(), diags, opts.fields);
  const b = bindCondition(r.expr, ctx);
  if (b.bound === undefined) return { ok: false, diagnostics: diags.items };
  return {
    ok: true,
    filter: { text, predicate: compileCondition(b.bound), eventTypes: eventTypesOf(b.bound) },
    // warnings (a field this host cannot produce...)
    diagnostics: diags.items,
  };
}
