/**
 * Output templates: `%field`, `%field[arg]`, `%(field)` and transformers
 * (`%tolower(proc.name)`), compiled once. Text rendering writes `<NA>` for unknown
 * values; `fields()` returns Falco's typed `output_fields` (numbers as numbers, null for
 * unknown).
 */
import { fieldExprText } from "./ast.js";
import type { BindContext } from "./binder.js";
import { bindFieldExpr } from "./binder.js";
import type { BoundFieldExpr } from "./bound.js";
import { compileGetter, type FieldValue, type Getter } from "./compiler.js";
import type { DiagnosticBag } from "./diagnostics.js";
import { type SourceRef } from "./diagnostics.js";
import { categoryOf, type EvalContext } from "./fields.js";
import { parseFieldExprAt } from "./parser.js";
import { formatRfc3339Nano, formatTimeOfDay } from "./time-format.js";

export { formatRfc3339Nano, formatTimeOfDay };
export { jsonStringify } from "./json.js";

export interface OutputField {
  /** Key in output_fields, as written in the template (`proc.aname[2]`). */
  readonly key: string;
  readonly type: string;
  readonly get: Getter;
  readonly abstime: boolean;
  /** A list field (fd.types): `(a,b)` in text, an array in JSON; other several-valued
   * fields (proc.aname) are their values separated by spaces, as libsinsp renders them. */
  readonly list: boolean;
}

export interface OutputTemplate {
  readonly text: string;
  readonly fields: readonly OutputField[];
  /** Render the text output. */
  render(ev: EvalContext, evtType: string): string;
  /** Typed values for JSON output_fields (added to `into` when given). */
  values(ev: EvalContext, evtType: string, into?: Record<string, OutputValue>): Record<string, OutputValue>;
}

export type OutputValue = string | number | bigint | boolean | readonly string[] | null;

const NA = "<NA>";

function textOf(v: FieldValue, abstime: boolean, list: boolean): string {
  if (v === null || v === undefined) return NA;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint") return abstime ? formatTimeOfDay(v) : String(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (v instanceof Uint8Array) {
    let s = "";
    for (const b of v) s += b >= 32 && b < 127 ? String.fromCharCode(b) : ".";
    return s;
  }
  const items = v as readonly string[];
  return list ? `(${items.join(",")})` : items.join(" ");
}

function jsonValueOf(v: FieldValue, numeric: boolean, list: boolean): OutputValue {
  if (v === null || v === undefined) return null;
  if (v instanceof Uint8Array) return textOf(v, false, false);
  if (Array.isArray(v)) return list ? v : (v as readonly string[]).join(" ");
  if (typeof v === "bigint")
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  if (numeric && typeof v === "string" && /^-?\d+$/.test(v)) return Number(v);
  return v as OutputValue;
}

const FIELD_START = /[A-Za-z_(]/;

export type OutputCompileResult = { ok: true; template: OutputTemplate } | { ok: false };

/**
 * Compile an output format. Problems (unknown fields...) go to `diags` at their position
 * through `src`.
 */
export function compileOutput(
  text: string,
  diags: DiagnosticBag,
  src: SourceRef | undefined,
  ctx: BindContext,
): OutputCompileResult {
  const parts: (string | number)[] = []; // literal text or index into fields
  const fields: OutputField[] = [];
  let ok = true;
  let lit = "";
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    if (c !== "%" || !FIELD_START.test(text.charAt(i + 1))) {
      lit += c;
      i++;
      continue;
    }
    const paren = text.charAt(i + 1) === "(";
    const start = paren ? i + 2 : i + 1;
    const r = parseFieldExprAt(text, start, src);
    if (!r.ok) {
      diags.at(src, r.error.offset, "error", `in output: ${r.error.message}`);
      ok = false;
      i = start;
      continue;
    }
    let end = r.end;
    if (paren) {
      if (text.charAt(end) !== ")") {
        diags.at(src, end, "error", "in output: expected ')' after '%(' field");
        ok = false;
        i = end;
        continue;
      }
      end++;
    }
    if (r.expr.kind === "field" && r.expr.name === "container.info") {
      // compatibility placeholder: Falco no longer expands it
      i = end;
      continue;
    }
    const b: BoundFieldExpr | undefined = bindFieldExpr(r.expr, ctx);
    if (b === undefined) {
      ok = false;
      i = end;
      continue;
    }
    if (b.kind === "field" && b.field.def.filterOnly) {
      diags.at(src, start, "error", `in output: field '${b.text}' can only be used in conditions`);
      ok = false;
      i = end;
      continue;
    }
    if (lit !== "") parts.push(lit);
    lit = "";
    const key = fieldExprText(r.expr);
    let idx = fields.findIndex((f) => f.key === key);
    if (idx < 0) {
      idx = fields.length;
      const list =
        b.kind === "field" ? b.field.def.multiOf(b.field.arg) === "list" : b.type === "list(string)";
      fields.push({ key, type: b.type, get: compileGetter(b), abstime: b.type === "abstime", list });
    }
    parts.push(idx);
    i = end;
  }
  if (lit !== "") parts.push(lit);
  if (!ok) return { ok: false };
  const numeric = fields.map((f) => categoryOf(f.type as never) === "number");
  const n = fields.length;
  const template: OutputTemplate = {
    text,
    fields,
    render(ev, t) {
      const vals: string[] = new Array<string>(n);
      for (let k = 0; k < n; k++) {
        const f = fields[k] as OutputField;
        vals[k] = textOf(f.get(ev, t), f.abstime, f.list);
      }
      let s = "";
      for (const p of parts) s += typeof p === "string" ? p : vals[p];
      return s;
    },
    values(ev, t, into) {
      const out: Record<string, OutputValue> = into ?? {};
      for (let k = 0; k < n; k++) {
        const f = fields[k] as OutputField;
        out[f.key] = jsonValueOf(f.get(ev, t), numeric[k] === true, f.list);
      }
      return out;
    },
  };
  return { ok: true, template };
}

const keyCache = new Map<string, string>();
/** JSON text of an object key, memoised (output field names repeat). */
export function jsonKey(k: string): string {
  let j = keyCache.get(k);
  if (j === undefined) {
    j = JSON.stringify(k);
    if (keyCache.size < 10_000) keyCache.set(k, j);
  }
  return j;
}
