/**
 * Compiler: bound conditions become closures, built once. A field's getter is its
 * registry producer (called directly: no lookup per event); `evt.type` is passed separately
 * (it is known before any field is read) so type checks cost a string comparison.
 *
 * Semantics (as libsinsp): a field whose value is unknown (null) makes every comparison
 * false, including `!=`, and makes `exists` false. Fields with several values compare as
 * their registry row says (fields.ts `Multi`): `any` value for ancestors, `either` end of a
 * connection for fd.ip/fd.net/fd.port (`!=`: neither end is equal), and lists (`in`: every
 * value in the set, `intersects`: one is).
 */
import type { BoundCheck, BoundExpr, BoundFieldExpr, BoundOperand } from "./bound.js";
import { parseNumberLiteral } from "./binder.js";
import { categoryOf, type EvalContext, type FieldValue, type Getter, type Multi } from "./fields.js";
import { compileGlob } from "./glob.js";
import { netContains, parseIpv4, parseNet, toIp, type IpNet } from "./ip.js";
import { compileRe2 } from "./regex.js";

export type { FieldValue, Getter } from "./fields.js";

export type Predicate = (ev: EvalContext, evtType: string) => boolean;

// ---------------------------------------------------------------- getters

/** The field whose value is the event type the caller passes (the rule index's key). */
export const EVT_TYPE = "evt.type";

function asString(v: FieldValue): string | null {
  if (typeof v === "string") return v;
  if (v === null || v === undefined) return null;
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("latin1");
  return (v as readonly string[]).join(" ");
}

function mapStrings(v: FieldValue, f: (s: string) => string): FieldValue {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return (v as readonly string[]).map(f);
  const s = asString(v);
  return s === null ? null : f(s);
}

function basename(s: string): string {
  const i = s.lastIndexOf("/");
  return i < 0 ? s : s.slice(i + 1);
}

function getopt(v: FieldValue, opt: string): FieldValue {
  if (v === null || v === undefined) return null;
  const args = Array.isArray(v)
    ? (v as readonly string[])
    : (asString(v) ?? "").split(/\s+/).filter((x) => x !== "");
  const flag = opt.startsWith("-") ? opt : `-${opt}`;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === flag) return args[i + 1] ?? "";
    if (flag.length === 2 && a.startsWith(flag) && !a.startsWith("--")) return a.slice(2);
    if (flag.startsWith("--") && a.startsWith(flag + "=")) return a.slice(flag.length + 1);
  }
  return null;
}

function operandGetter(o: BoundOperand): Getter {
  if (o.kind === "literal") {
    const v = o.value;
    return () => v;
  }
  return compileGetter(o);
}

export function compileGetter(f: BoundFieldExpr): Getter {
  if (f.kind === "field") {
    if (f.field.def.name === EVT_TYPE) return (_ev, t) => t;
    return f.field.def.producer(f.field.arg);
  }
  const args = f.args.map(operandGetter);
  const fieldArgs = f.args
    .map((a, i) => (a.kind === "literal" ? undefined : args[i]))
    .filter((g): g is Getter => g !== undefined);
  const lit = f.args.find((a) => a.kind === "literal");
  const g = fieldArgs[0] as Getter;
  switch (f.name) {
    case "tolower":
      return (ev, t) => mapStrings(g(ev, t), (s) => s.toLowerCase());
    case "toupper":
      return (ev, t) => mapStrings(g(ev, t), (s) => s.toUpperCase());
    case "basename":
      return (ev, t) => mapStrings(g(ev, t), basename);
    case "b64":
      return (ev, t) => mapStrings(g(ev, t), (s) => Buffer.from(s, "base64").toString("utf8"));
    case "len":
      return (ev, t) => {
        const v = g(ev, t);
        if (v === null || v === undefined) return null;
        if (typeof v === "string" || Array.isArray(v) || v instanceof Uint8Array)
          return (v as { length: number }).length;
        return (asString(v) ?? "").length;
      };
    case "join": {
      const sep = lit?.kind === "literal" ? lit.value : ",";
      return (ev, t) => {
        const v = g(ev, t);
        if (v === null || v === undefined) return null;
        return Array.isArray(v) ? (v as readonly string[]).join(sep) : asString(v);
      };
    }
    case "getopt": {
      const opt = lit?.kind === "literal" ? lit.value : "";
      return (ev, t) => getopt(g(ev, t), opt);
    }
    case "concat":
      return (ev, t) => {
        let out = "";
        for (const a of args) {
          const s = asString(a(ev, t));
          if (s === null) return null;
          out += s;
        }
        return out;
      };
  }
}

// ---------------------------------------------------------------- tests per type

type Test<T> = (v: T) => boolean;

function hexBytes(h: string): Buffer {
  return Buffer.from(h, "hex");
}

function pathPrefixTest(prefixes: readonly string[]): Test<string> {
  const norm = prefixes.map((p) => (p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p));
  return (s) => {
    for (const p of norm) {
      if (s === p) return true;
      if (s.startsWith(p) && (p === "/" || s.charCodeAt(p.length) === 47)) return true;
    }
    return false;
  };
}

function stringLiteralTest(op: string, lit: string): Test<string> {
  switch (op) {
    case "=":
    case "==":
      return (s) => s === lit;
    case "!=":
      return (s) => s !== lit;
    case "<":
      return (s) => s < lit;
    case "<=":
      return (s) => s <= lit;
    case ">":
      return (s) => s > lit;
    case ">=":
      return (s) => s >= lit;
    case "contains":
      return (s) => s.includes(lit);
    case "icontains": {
      const l = lit.toLowerCase();
      return (s) => s.toLowerCase().includes(l);
    }
    case "startswith":
      return (s) => s.startsWith(lit);
    case "endswith":
      return (s) => s.endsWith(lit);
    case "glob":
    case "iglob": {
      // checked at bind time: a bad pattern never gets here
      const g = compileGlob(lit, op === "iglob");
      return g.ok ? g.match : () => false;
    }
    case "regex": {
      const r = compileRe2(lit);
      if (!r.ok) return () => false;
      return r.test;
    }
    case "bcontains": {
      const b = hexBytes(lit);
      return (s) => Buffer.from(s, "latin1").includes(b);
    }
    case "bstartswith": {
      const b = hexBytes(lit);
      return (s) => {
        const x = Buffer.from(s, "latin1");
        return x.length >= b.length && x.subarray(0, b.length).equals(b);
      };
    }
    default:
      return () => false;
  }
}

function stringTest(c: BoundCheck, values: readonly string[]): Test<string> {
  const op = c.op;
  if (op === "in" || op === "intersects") {
    if (values.length === 1) {
      const v0 = values[0] as string;
      return (s) => s === v0;
    }
    const set = new Set(values);
    return (s) => set.has(s);
  }
  if (op === "pmatch") return pathPrefixTest(values);
  if (c.modifier !== undefined) {
    const tests = values.map((v) => stringLiteralTest(op, v));
    if (c.modifier === "allof") return (s) => tests.every((t) => t(s));
    if (op === "=" || op === "==") {
      const set = new Set(values);
      return (s) => set.has(s);
    }
    return (s) => {
      for (const t of tests) if (t(s)) return true;
      return false;
    };
  }
  return stringLiteralTest(op, values[0] ?? "");
}

function numberOf(v: FieldValue): number | null {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "string") {
    const n = parseNumberLiteral(v);
    return n === undefined ? null : n;
  }
  return null;
}

function numberTest(op: string, values: readonly number[]): Test<number> {
  const l = values[0] ?? 0;
  switch (op) {
    case "=":
    case "==":
      return (n) => n === l;
    case "!=":
      return (n) => n !== l;
    case "<":
      return (n) => n < l;
    case "<=":
      return (n) => n <= l;
    case ">":
      return (n) => n > l;
    case ">=":
      return (n) => n >= l;
    case "in":
    case "intersects": {
      const set = new Set(values);
      return (n) => set.has(n);
    }
    default:
      return () => false;
  }
}

function boolOf(v: FieldValue): boolean | null {
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  if (typeof v === "bigint") return v !== 0n;
  if (v === "true") return true;
  if (v === "false") return false;
  return null;
}

// ---------------------------------------------------------------- checks

function anyOf(v: FieldValue, test: (x: FieldValue) => boolean): boolean {
  if (Array.isArray(v)) {
    for (const x of v as readonly string[]) if (test(x)) return true;
    return false;
  }
  return test(v);
}

/** How the values of a check's left-hand side are combined (see fields.ts `Multi`). */
function multiOf(f: BoundFieldExpr): Multi | undefined {
  if (f.kind === "field") return f.field.def.multiOf(f.field.arg);
  return f.multi ? "any" : undefined;
}

/** The test of one scalar value (never null) against the check's literals. */
function elementTest(c: BoundCheck, values: readonly string[]): (x: FieldValue) => boolean {
  switch (categoryOf(c.lhs.type)) {
    case "number": {
      const test = numberTest(
        c.op,
        values.map((v) => parseNumberLiteral(v) ?? NaN),
      );
      return (x) => {
        if (typeof x === "number") return test(x);
        const n = numberOf(x);
        return n !== null && test(n);
      };
    }
    case "bool": {
      const set = new Set(values.map((v) => v === "true"));
      const neg = c.op === "!=";
      return (x) => {
        const b = boolOf(x);
        return b !== null && (neg ? !set.has(b) : set.has(b));
      };
    }
    case "ip": {
      const nets = values.map((v) => parseNet(v)).filter((n): n is IpNet => n !== undefined);
      const neg = c.op === "!=";
      const v4Only = nets.every((n) => !n.v6);
      const v4nets = nets.map((n) => ({ base: Number(n.base), prefix: n.prefix }));
      const contains = (x: FieldValue): boolean | null => {
        if (typeof x === "string" && v4Only) {
          const a = parseIpv4(x);
          if (a >= 0) {
            for (const n of v4nets) {
              if (n.prefix === 0) return true;
              const sh = 32 - n.prefix;
              if (Math.floor(a / 2 ** sh) === Math.floor(n.base / 2 ** sh)) return true;
            }
            return false;
          }
        }
        const ip = toIp(x);
        if (ip === undefined) return null;
        for (const n of nets) if (netContains(n, ip)) return true;
        return false;
      };
      return (x) => {
        const r = contains(x);
        return r !== null && (neg ? !r : r);
      };
    }
    case "bytes": {
      if (c.op === "bcontains" || c.op === "bstartswith") {
        const pats = values.map(hexBytes);
        const starts = c.op === "bstartswith";
        const all = c.modifier === "allof";
        const one = (b: Buffer, p: Buffer): boolean =>
          starts ? b.length >= p.length && b.subarray(0, p.length).equals(p) : b.includes(p);
        return (x) => {
          const b =
            x instanceof Uint8Array
              ? Buffer.from(x.buffer, x.byteOffset, x.byteLength)
              : Buffer.from(asString(x) ?? "", "latin1");
          return all ? pats.every((p) => one(b, p)) : pats.some((p) => one(b, p));
        };
      }
      const test = stringTest(c, values);
      return (x) => {
        const s = asString(x);
        return s !== null && test(s);
      };
    }
    case "string":
    case "list": {
      const test = stringTest(c, values);
      return (x) => {
        if (typeof x === "string") return test(x);
        const s = asString(x);
        return s !== null && test(s);
      };
    }
  }
}

function compileCheck(c: BoundCheck): Predicate {
  const get = compileGetter(c.lhs);

  if (c.op === "exists") {
    return (ev, t) => {
      const v = get(ev, t);
      return v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0);
    };
  }

  if (c.valField !== undefined) return compileValCheck(c, get, compileGetter(c.valField));
  const values = c.values ?? [];

  // fields libsinsp compares rather than extracts (fd.sip.name: "is the IP one of x's addresses")
  if (c.lhs.kind === "field" && c.lhs.field.def.compare !== undefined) {
    const custom = c.lhs.field.def.compare(c.op, values, c.lhs.field.arg);
    if (custom !== undefined) return custom;
  }

  // evt.type fast paths
  if (c.lhs.kind === "field" && c.lhs.field.def.name === EVT_TYPE && c.modifier === undefined) {
    if (c.op === "=" || c.op === "==") {
      const l = values[0];
      return (_ev, t) => t === l;
    }
    if (c.op === "!=") {
      const l = values[0];
      return (_ev, t) => t !== l;
    }
    if (c.op === "in" || c.op === "intersects") {
      const set = new Set(values);
      return (_ev, t) => set.has(t);
    }
  }

  const elem = elementTest(c, values);
  const multi = multiOf(c.lhs);
  if (multi === "list" && (c.op === "in" || c.op === "intersects")) {
    // `in`: every value is in the set; `intersects`: at least one is
    const every = c.op === "in";
    return (ev, t) => {
      const v = get(ev, t);
      if (v === null || v === undefined) return false;
      if (!Array.isArray(v)) return elem(v);
      if (v.length === 0) return false;
      for (const x of v as readonly string[]) if (elem(x) !== every) return !every;
      return every;
    };
  }
  // a field naming either end of a connection: `!=` holds when neither end is equal
  const every = multi === "either" && c.op === "!=";
  if (multi === undefined) {
    // one value: the type's own test first, without the element test's indirection
    const cat = categoryOf(c.lhs.type);
    if (cat === "string") {
      const test = stringTest(c, values);
      return (ev, t) => {
        const v = get(ev, t);
        if (typeof v === "string") return test(v);
        if (v === null || v === undefined) return false;
        return Array.isArray(v) ? anyOf(v, elem) : elem(v);
      };
    }
    if (cat === "number") {
      const test = numberTest(
        c.op,
        values.map((x) => parseNumberLiteral(x) ?? NaN),
      );
      return (ev, t) => {
        const v = get(ev, t);
        if (typeof v === "number") return test(v);
        if (v === null || v === undefined) return false;
        return Array.isArray(v) ? anyOf(v, elem) : elem(v);
      };
    }
  }
  return (ev, t) => {
    const v = get(ev, t);
    if (typeof v === "string" || typeof v === "number") return elem(v);
    if (v === null || v === undefined) return false;
    if (!Array.isArray(v)) return elem(v);
    if (v.length === 0) return false;
    if (every) {
      for (const x of v as readonly string[]) if (!elem(x)) return false;
      return true;
    }
    for (const x of v as readonly string[]) if (elem(x)) return true;
    return false;
  };
}

function compileValCheck(c: BoundCheck, get: Getter, rhs: Getter): Predicate {
  const cat = categoryOf(c.lhs.type);
  const op = c.op;
  if (cat === "number") {
    return (ev, t) => {
      const a = numberOf(get(ev, t));
      const b = numberOf(rhs(ev, t));
      if (a === null || b === null) return false;
      return numberTest(op, [b])(a);
    };
  }
  if (cat === "ip") {
    return (ev, t) => {
      const a = toIp(get(ev, t));
      const b = toIp(rhs(ev, t));
      if (a === undefined || b === undefined) return false;
      const eq = a.v6 === b.v6 && a.value === b.value;
      return op === "!=" ? !eq : eq;
    };
  }
  return (ev, t) => {
    const bv = rhs(ev, t);
    const b = asString(Array.isArray(bv) ? ((bv as readonly string[])[0] ?? null) : bv);
    if (b === null) return false;
    const test = stringLiteralTest(op === "in" || op === "intersects" ? "=" : op, b);
    return anyOf(get(ev, t), (x) => {
      const s = asString(x);
      return s !== null && test(s);
    });
  };
}

// ---------------------------------------------------------------- boolean structure

function isTypeCheck(e: BoundExpr): boolean {
  return e.k === "check" && e.lhs.kind === "field" && e.lhs.field.def.name === EVT_TYPE;
}

function flattenInto(k: "and" | "or", e: BoundExpr, out: BoundExpr[]): void {
  if (e.k === k) for (const x of e.items) flattenInto(k, x, out);
  else out.push(e);
}

function combine(k: "and" | "or", ps: Predicate[]): Predicate {
  if (ps.length === 1) return ps[0] as Predicate;
  if (k === "and") {
    if (ps.length === 2) {
      const [a, b] = ps as [Predicate, Predicate];
      return (ev, t) => a(ev, t) && b(ev, t);
    }
    if (ps.length === 3) {
      const [a, b, c] = ps as [Predicate, Predicate, Predicate];
      return (ev, t) => a(ev, t) && b(ev, t) && c(ev, t);
    }
    return (ev, t) => {
      for (let i = 0; i < ps.length; i++) if (!(ps[i] as Predicate)(ev, t)) return false;
      return true;
    };
  }
  if (ps.length === 2) {
    const [a, b] = ps as [Predicate, Predicate];
    return (ev, t) => a(ev, t) || b(ev, t);
  }
  if (ps.length === 3) {
    const [a, b, c] = ps as [Predicate, Predicate, Predicate];
    return (ev, t) => a(ev, t) || b(ev, t) || c(ev, t);
  }
  return (ev, t) => {
    for (let i = 0; i < ps.length; i++) if ((ps[i] as Predicate)(ev, t)) return true;
    return false;
  };
}

/**
 * Event counter for macro memoisation: a macro shared by many rules is evaluated once per
 * event. RuleSet.match and the predicates returned by compileCondition advance it; code
 * calling predicates from ConditionCompiler directly must call nextEvent() per event.
 */
export const evalEpoch = { v: 0 };
export function nextEvent(): void {
  evalEpoch.v++;
}

const TRUE: BoundExpr = { k: "const", v: true };
const FALSE: BoundExpr = { k: "const", v: false };

function countChecks(e: BoundExpr, limit: number): number {
  switch (e.k) {
    case "const":
      return 0;
    case "check":
      return isTypeCheck(e) ? 0 : 1;
    case "not":
    case "macro":
      return countChecks(e.e, limit);
    case "and":
    case "or": {
      let n = 0;
      for (const x of e.items) {
        n += countChecks(x, limit);
        if (n >= limit) break;
      }
      return n;
    }
  }
}

/**
 * Compiles bound conditions, sharing work between the rules of one rule set: each macro
 * node is compiled once and, when it is worth it, memoised per event; `specialize` folds
 * `evt.type` checks for a known event type (the per-type predicates of the rule index).
 */
export class ConditionCompiler {
  private readonly macroPreds = new Map<BoundExpr, Predicate>();
  private readonly specialized = new Map<BoundExpr, Map<string, BoundExpr>>();

  compile(e: BoundExpr): Predicate {
    switch (e.k) {
      case "const": {
        const v = e.v;
        return () => v;
      }
      case "not": {
        const p = this.compile(e.e);
        return (ev, t) => !p(ev, t);
      }
      case "macro": {
        let p = this.macroPreds.get(e);
        if (p === undefined) {
          const inner = this.compile(e.e);
          p = countChecks(e.e, 2) >= 2 ? memoise(inner) : inner;
          this.macroPreds.set(e, p);
        }
        return p;
      }
      case "and":
      case "or": {
        const items: BoundExpr[] = [];
        flattenInto(e.k, e, items);
        // cheap evt.type tests first; conditions have no side effects, so order is free
        const ordered =
          e.k === "and" ? [...items.filter(isTypeCheck), ...items.filter((x) => !isTypeCheck(x))] : items;
        return combine(
          e.k,
          ordered.map((x) => this.compile(x)),
        );
      }
      case "check":
        return compileCheck(e);
    }
  }

  /** `e` with evt.type checks decided for events of type `t`, simplified. */
  specialize(e: BoundExpr, t: string): BoundExpr {
    switch (e.k) {
      case "const":
        return e;
      case "check": {
        if (!isTypeCheck(e) || e.valField !== undefined || e.modifier !== undefined || e.values === undefined)
          return e;
        const has = e.values.includes(t);
        switch (e.op) {
          case "=":
          case "==":
          case "in":
          case "intersects":
            return has ? TRUE : FALSE;
          case "!=":
            return has ? FALSE : TRUE;
          default:
            return e;
        }
      }
      case "not": {
        const x = this.specialize(e.e, t);
        if (x.k === "const") return x.v ? FALSE : TRUE;
        return x === e.e ? e : { k: "not", e: x };
      }
      case "macro": {
        let m = this.specialized.get(e);
        if (m === undefined) this.specialized.set(e, (m = new Map()));
        let r = m.get(t);
        if (r === undefined) {
          const x = this.specialize(e.e, t);
          r = x.k === "const" ? x : x === e.e ? e : { k: "macro", name: e.name, e: x };
          m.set(t, r);
        }
        return r;
      }
      case "and":
      case "or": {
        const absorbing = e.k === "and" ? false : true;
        const out: BoundExpr[] = [];
        let changed = false;
        for (const x of e.items) {
          const y = this.specialize(x, t);
          if (y !== x) changed = true;
          if (y.k === "const") {
            if (y.v === absorbing) return y;
            continue; // neutral element
          }
          out.push(y);
        }
        if (!changed) return e;
        if (out.length === 0) return absorbing ? FALSE : TRUE;
        if (out.length === 1) return out[0] as BoundExpr;
        return { k: e.k, items: out };
      }
    }
  }
}

function memoise(p: Predicate): Predicate {
  let epoch = -1;
  let value = false;
  return (ev, t) => {
    if (epoch === evalEpoch.v) return value;
    value = p(ev, t);
    epoch = evalEpoch.v;
    return value;
  };
}

/** Compile a bound condition into a predicate that can be called for any event. */
export function compileCondition(
  e: BoundExpr,
  compiler: ConditionCompiler = new ConditionCompiler(),
): Predicate {
  const p = compiler.compile(e);
  return (ev, t) => {
    evalEpoch.v++;
    return p(ev, t);
  };
}
