/**
 * Binding: expand macros and lists, resolve fields, check operators and literal values
 * against field types. Reports every problem into a DiagnosticBag at the position of the
 * offending token (inside the macro that contains it, when it comes from a macro).
 */
import type {
  CheckNode,
  Expr,
  FieldExpr,
  FieldNode,
  ListNode,
  NodeBase,
  StringNode,
  ValueNode,
} from "./ast.js";
import { fieldExprText } from "./ast.js";
import type { BoundCheck, BoundExpr, BoundFieldExpr, BoundOperand } from "./bound.js";
import { clipText, DiagnosticBag, type Diagnostic } from "./diagnostics.js";
import {
  categoryOf,
  type FieldCategory,
  type FieldDef,
  type FieldSchema,
  type FieldType,
  type ResolvedField,
} from "./fields.js";
import { parseNet } from "./ip.js";
import { compileGlob } from "./glob.js";
import { compileRe2 } from "./regex.js";

export const MAX_MACRO_DEPTH = 200;
/**
 * Nesting of a condition once macros are expanded (every and/or/not/macro/check level).
 * The compiler, the event-type analysis and evaluation recurse over the bound tree: a
 * deeper tree (macros each nested close to the parser's limit, used inside one another)
 * is an error here rather than a stack overflow there.
 */
export const MAX_EXPANDED_DEPTH = 2000;

export interface MacroEntry {
  readonly name: string;
  /** undefined when the macro's condition did not parse (already reported). */
  readonly expr: Expr | undefined;
}
export interface ListEntry {
  readonly name: string;
  readonly items: readonly StringNode[];
}

/** Shared state while binding the rules of one ruleset: definitions and caches. */
export class BindContext {
  readonly macros: ReadonlyMap<string, MacroEntry>;
  readonly lists: ReadonlyMap<string, ListEntry>;
  /** Where diagnostics go; swapped while binding rules with skip-if-unknown-filter. */
  diags: DiagnosticBag;
  private readonly macroCache = new Map<string, MacroBinding>();
  private readonly listCache = new Map<string, readonly string[]>();
  /** What is being bound (`rule 'x'`), named in warnings about its fields. */
  owner: string | undefined = undefined;
  /** Macro and list names referenced at least once. */
  readonly usedMacros = new Set<string>();
  readonly usedLists = new Set<string>();

  constructor(
    macros: ReadonlyMap<string, MacroEntry>,
    lists: ReadonlyMap<string, ListEntry>,
    diags: DiagnosticBag,
    /** The fields conditions and outputs are resolved against. */
    readonly fields: FieldSchema,
  ) {
    this.macros = macros;
    this.lists = lists;
    this.diags = diags;
  }

  /** Items of a list with nested list references expanded; undefined if unknown. */
  listItems(name: string, stack: string[] = []): readonly string[] | undefined {
    const cached = this.listCache.get(name);
    if (cached !== undefined) return cached;
    const l = this.lists.get(name);
    if (l === undefined) return undefined;
    this.usedLists.add(name);
    if (stack.includes(name) || stack.length > MAX_MACRO_DEPTH) return [];
    stack.push(name);
    const out: string[] = [];
    for (const it of l.items) {
      if (!it.quoted && it.value !== name) {
        const nested = this.lists.has(it.value) ? this.listItems(it.value, stack) : undefined;
        if (nested !== undefined) {
          // a loop, not push(...nested): a spread of 130 000 items overflows the stack
          for (const x of nested) out.push(x);
          continue;
        }
      }
      out.push(unquoteItem(it.value));
    }
    stack.pop();
    this.listCache.set(name, out);
    return out;
  }

  macroBound(name: string): MacroBinding | undefined {
    return this.macroCache.get(name);
  }
  setMacroBound(name: string, v: MacroBinding): void {
    this.macroCache.set(name, v);
  }
}

interface MacroBinding {
  readonly bound: BoundExpr | undefined;
  /** Levels of the bound macro (its node included). */
  readonly height: number;
  readonly unknownField: boolean;
  readonly errors: boolean;
  /** Diagnostics found in the macro body, re-reported for every use. */
  readonly diags: readonly Diagnostic[];
}

/**
 * List items are condition-language values: an item written with its own quotes
 * (`'"10.0.0.0/8"'`) stands for the unquoted string, as when Falco expands it in place.
 */
export function unquoteItem(v: string): string {
  if (v.length >= 2) {
    const q = v.charAt(0);
    if ((q === '"' || q === "'") && v.charAt(v.length - 1) === q) {
      return v.slice(1, -1).replace(/\\(["'\\])/g, "$1");
    }
  }
  return v;
}

/**
 * Offset in the condition of character `k` of a literal's value: exact when the literal is
 * written without escapes (its text is the value, quoted or not), else the literal's start
 * (an item expanded from a list points at the list's name).
 */
function literalOffset(it: StringNode, k: number | undefined): number {
  if (k === undefined) return it.start;
  const q = it.quoted ? 1 : 0;
  return it.end - it.start === it.value.length + 2 * q ? it.start + q + k : it.start;
}

export interface BindResult {
  /** undefined when there were errors. */
  readonly bound: BoundExpr | undefined;
  /** An unknown field was referenced (for skip-if-unknown-filter). */
  readonly unknownField: boolean;
}

const NUMERIC_OPS = new Set(["=", "==", "!=", "<", "<=", ">", ">=", "in", "intersects", "exists"]);
const EQ_OPS = new Set(["=", "==", "!=", "in", "intersects", "exists"]);
const ORDER_OPS = new Set(["<", "<=", ">", ">="]);
/** What a list field (fd.types without an index) can be compared with, as libsinsp. */
const LIST_OPS = new Set(["exists", "in", "intersects"]);

export function operatorFits(op: string, type: FieldType): boolean {
  const cat: FieldCategory = categoryOf(type);
  switch (cat) {
    case "number":
      return NUMERIC_OPS.has(op);
    case "bool":
    case "ip":
      return EQ_OPS.has(op);
    case "string":
      return op !== "intersects" || true;
    case "bytes":
    case "list":
      return !ORDER_OPS.has(op);
  }
}

const NUM_RE = /^[+-]?(0[xX][0-9a-fA-F]+|\d+(\.\d*)?([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)$/;

export function parseNumberLiteral(s: string): number | undefined {
  if (!NUM_RE.test(s)) return undefined;
  const neg = s.startsWith("-");
  const body = s.replace(/^[+-]/, "");
  const v = /^0[xX]/.test(body) ? parseInt(body.slice(2), 16) : Number(body);
  return neg ? -v : v;
}

const UNPRODUCED = new Map<string, FieldDef>();

/**
 * Stands in for a field that is not produced (another tool's, or one this host cannot
 * produce: `like` is its row, whose type and argument rules it keeps): always unknown.
 */
function unproduced(name: string, like: FieldDef | undefined): FieldDef {
  let d = UNPRODUCED.get(name);
  if (d === undefined) {
    const get = (): null => null;
    d = {
      id: -1,
      name,
      type: like?.type ?? "string",
      desc: "not produced",
      arg: like?.arg ?? "optional",
      dotted: like?.dotted ?? false,
      events: "all",
      deprecated: false,
      className: like?.className ?? name.split(".")[0] ?? name,
      filterOnly: like?.filterOnly ?? false,
      watchesLiterals: false,
      show: false,
      producer: () => get,
      multiOf: like === undefined ? () => undefined : (a) => like.multiOf(a),
      compare: undefined,
      unavailable: () => "not produced",
    };
    UNPRODUCED.set(name, d);
  }
  return d;
}

class Binder {
  private errors = false;
  unknownField = false;
  private readonly stack: string[] = [];
  /** Depth of the node being bound in the expanded tree (1 at the top). */
  private depth = 0;
  /** Height of the last bound expression (levels, the node included). */
  private height = 0;
  /** The expansion limit was hit while binding the current macro (its result depends on where it is used). */
  private hitDepthLimit = false;
  /** The expansion limit was reported for this condition. */
  private depthReported = false;

  constructor(private readonly ctx: BindContext) {}

  private err(node: NodeBase, offset: number, message: string): void {
    this.errors = true;
    this.ctx.diags.at(node.src, offset, "error", message);
  }

  bindTop(e: Expr): BindResult {
    const b = this.bind(e);
    return { bound: this.errors ? undefined : b, unknownField: this.unknownField };
  }

  private tooDeep(at: NodeBase): BoundExpr {
    // once per condition: the siblings cut at the same depth would repeat it
    if (!this.depthReported)
      this.err(
        at,
        at.start,
        `condition nested deeper than ${MAX_EXPANDED_DEPTH} levels once macros are expanded${
          this.stack.length > 0 ? ` (in macro ${this.stack.join(" -> ")})` : ""
        }`,
      );
    this.errors = true;
    this.depthReported = true;
    this.hitDepthLimit = true;
    this.height = 1;
    return { k: "const", v: false };
  }

  /** Bind `e`; sets this.height. Recursion is bounded by MAX_EXPANDED_DEPTH. */
  private bind(e: Expr): BoundExpr {
    if (e.kind === "expanded") return this.bind(e.expr);
    if (this.depth >= MAX_EXPANDED_DEPTH) return this.tooDeep(e);
    this.depth++;
    try {
      return this.bindNode(e);
    } finally {
      this.depth--;
    }
  }

  private bindItems(items: readonly Expr[]): BoundExpr[] {
    const out: BoundExpr[] = [];
    let h = 0;
    for (const x of items) {
      out.push(this.bind(x));
      if (this.height > h) h = this.height;
    }
    this.height = h + 1;
    return out;
  }

  private bindNode(e: Exclude<Expr, { kind: "expanded" }>): BoundExpr {
    switch (e.kind) {
      case "and":
        return { k: "and", items: this.bindItems(e.items) };
      case "or":
        return { k: "or", items: this.bindItems(e.items) };
      case "not": {
        const inner = this.bind(e.expr);
        this.height++;
        return { k: "not", e: inner };
      }
      case "const":
        this.height = 1;
        return { k: "const", v: e.value };
      case "macro":
        return this.bindMacro(e.name, e);
      case "check":
        this.height = 1;
        return this.bindCheck(e);
    }
  }

  private bindMacro(name: string, at: NodeBase): BoundExpr {
    this.height = 1;
    const m = this.ctx.macros.get(name);
    if (m === undefined) {
      this.err(
        at,
        at.start,
        this.ctx.lists.has(name) ? `'${name}' is a list, not a macro` : `undefined macro '${name}'`,
      );
      return { k: "const", v: false };
    }
    this.ctx.usedMacros.add(name);
    const cached = this.ctx.macroBound(name);
    if (cached !== undefined) {
      // this.depth counts the macro node itself
      if (this.depth - 1 + cached.height > MAX_EXPANDED_DEPTH) {
        this.err(
          at,
          at.start,
          `condition nested deeper than ${MAX_EXPANDED_DEPTH} levels once macros are expanded (macro '${name}' is ${cached.height} levels deep)`,
        );
        this.hitDepthLimit = true;
        return { k: "const", v: false };
      }
      for (const d of cached.diags) this.ctx.diags.add(d);
      if (cached.errors) this.errors = true;
      if (cached.unknownField) this.unknownField = true;
      this.height = cached.height;
      return cached.bound ?? { k: "const", v: false };
    }
    if (this.stack.includes(name)) {
      this.err(at, at.start, `macro '${name}' refers to itself (${[...this.stack, name].join(" -> ")})`);
      return { k: "const", v: false };
    }
    if (this.stack.length >= MAX_MACRO_DEPTH) {
      this.err(at, at.start, `macros nested deeper than ${MAX_MACRO_DEPTH} levels`);
      return { k: "const", v: false };
    }
    if (m.expr === undefined) {
      this.errors = true; // parse error already reported at the macro
      return { k: "const", v: false };
    }
    // bind the macro on its own so its result can be cached and shared
    const saveErr = this.errors;
    const saveUnknown = this.unknownField;
    const saveHit = this.hitDepthLimit;
    this.errors = false;
    this.unknownField = false;
    this.hitDepthLimit = false;
    const outer = this.ctx.diags;
    const local = new DiagnosticBag();
    this.ctx.diags = local;
    this.stack.push(name);
    // the bound macro is one shared node: the compiler evaluates it once per event
    const b: BoundExpr = { k: "macro", name, e: this.bind(m.expr) };
    const height = this.height + 1;
    this.stack.pop();
    this.ctx.diags = outer;
    for (const d of local.items) outer.add(d);
    const entry = {
      bound: this.errors ? undefined : b,
      height,
      unknownField: this.unknownField,
      errors: this.errors,
      diags: local.items,
    };
    // not cached when the result depends on where the macro is used: bound inside a cycle
    // check, or cut at the expansion depth limit
    const hit = this.hitDepthLimit;
    if (!hit && (this.stack.length === 0 || !local.items.some((d) => d.message.includes("refers to itself"))))
      this.ctx.setMacroBound(name, entry);
    this.errors ||= saveErr;
    this.unknownField ||= saveUnknown;
    this.hitDepthLimit = hit || saveHit;
    this.height = height;
    return b;
  }

  private bindOperand(f: FieldExpr | StringNode): BoundOperand | undefined {
    if (f.kind === "string")
      return { kind: "literal", value: f.value, type: "string", multi: false, text: fieldExprText(f) };
    return this.bindFieldExpr(f);
  }

  /**
   * A field name against the registry. A field this host cannot produce, or another tool's
   * field Lanner does not produce, is a warning naming it, and reads as unknown (so a check
   * on it is false, said, never silently).
   */
  private resolveField(f: FieldNode): ResolvedField | undefined {
    const fields = this.ctx.fields;
    const r = fields.resolve(f.name, f.arg);
    if (!r.ok) {
      const why = r.unknown ? fields.foreign.get(f.name) : undefined;
      if (why === undefined) {
        if (r.unknown) this.unknownField = true;
        this.err(f, f.start, r.message);
        return undefined;
      }
      this.ctx.diags.at(
        f.src,
        f.start,
        "warning",
        `${this.ownerPrefix()}field '${f.name}' is not produced by Lanner (${why}): it reads as unknown and checks on it are false`,
      );
      return { def: unproduced(f.name, undefined), arg: f.arg };
    }
    const missing = r.field.def.unavailable();
    if (missing !== undefined) {
      this.ctx.diags.at(
        f.src,
        f.start,
        "warning",
        `${this.ownerPrefix()}field '${r.field.def.name}' cannot be produced on this host (${missing}): it reads as unknown and checks on it are false`,
      );
      return { def: unproduced(r.field.def.name, r.field.def), arg: r.field.arg };
    }
    return r.field;
  }

  private ownerPrefix(): string {
    return this.ctx.owner === undefined ? "" : `${this.ctx.owner}: `;
  }

  bindFieldExpr(f: FieldExpr): BoundFieldExpr | undefined {
    if (f.kind === "field") {
      const field = this.resolveField(f);
      if (field === undefined) return undefined;
      return {
        kind: "field",
        field,
        type: field.def.type,
        multi: field.def.multiOf(field.arg) !== undefined,
        text: fieldExprText(f),
      };
    }
    const args: BoundOperand[] = [];
    let bad = false;
    for (const a of f.args) {
      const b = this.bindOperand(a);
      if (b === undefined) bad = true;
      else args.push(b);
    }
    if (bad) return undefined;
    const fields = args.filter((a) => a.kind !== "literal");
    const lits = args.filter((a) => a.kind === "literal");
    const text = fieldExprText(f);
    const expect = (nf: number, nl: number): boolean => {
      if (fields.length !== nf || lits.length !== nl) {
        const want =
          nl > 0
            ? `${nf} field and ${nl} string argument${nl > 1 ? "s" : ""}`
            : `${nf} field argument${nf > 1 ? "s" : ""}`;
        this.err(f, f.start, `transformer '${f.name}' takes ${want}`);
        return false;
      }
      return true;
    };
    const first = fields[0];
    switch (f.name) {
      case "tolower":
      case "toupper":
      case "b64":
      case "basename": {
        if (!expect(1, 0) || first === undefined) return undefined;
        const cat = categoryOf(first.type);
        if (cat !== "string" && cat !== "list" && cat !== "bytes") {
          this.err(
            f,
            f.start,
            `transformer '${f.name}' needs a string field, '${first.text}' is ${first.type}`,
          );
          return undefined;
        }
        return {
          kind: "transformer",
          name: f.name,
          args,
          type: first.type === "bytebuf" ? "string" : first.type,
          multi: first.multi,
          text,
        };
      }
      case "len":
        if (!expect(1, 0) || first === undefined) return undefined;
        return { kind: "transformer", name: f.name, args, type: "uint64", multi: false, text };
      case "join":
        if (!expect(1, 1)) return undefined;
        return { kind: "transformer", name: f.name, args, type: "string", multi: false, text };
      case "getopt":
        if (!expect(1, 1)) return undefined;
        return { kind: "transformer", name: f.name, args, type: "string", multi: false, text };
      case "concat":
        if (args.length < 2) {
          this.err(f, f.start, `transformer 'concat' takes at least 2 arguments`);
          return undefined;
        }
        return { kind: "transformer", name: f.name, args, type: "string", multi: false, text };
    }
  }

  /** Flatten a value into items, expanding list names (unquoted items and bare list refs). */
  private flatten(v: ValueNode, out: StringNode[], depth = 0): void {
    if (v.kind === "string") {
      if (!v.quoted && this.ctx.lists.has(v.value)) {
        for (const s of this.ctx.listItems(v.value) ?? []) {
          out.push({ kind: "string", value: s, quoted: true, start: v.start, end: v.end, src: v.src });
        }
      } else out.push(v);
      return;
    }
    if (v.kind === "list") {
      for (const it of v.items) this.flatten(it as StringNode | ListNode, out, depth + 1);
      return;
    }
    if (v.kind === "listref") {
      const items = this.ctx.listItems(v.name);
      if (items === undefined) {
        this.err(v, v.start, `undefined list '${v.name}'`);
        return;
      }
      for (const s of items)
        out.push({ kind: "string", value: s, quoted: true, start: v.start, end: v.end, src: v.src });
    }
  }

  private bindCheck(c: CheckNode): BoundExpr {
    const lhs = this.bindFieldExpr(c.lhs);
    if (lhs === undefined) {
      // still check the right-hand side for undefined lists
      if (c.rhs !== undefined && c.rhs.kind !== "val") this.flatten(c.rhs, []);
      return { k: "const", v: false };
    }
    const op = c.op;
    if (!operatorFits(op, lhs.type)) {
      this.err(c, c.opStart, `operator '${op}' is not supported by field '${lhs.text}' of type ${lhs.type}`);
      return { k: "const", v: false };
    }
    if (lhs.kind === "field" && lhs.field.def.multiOf(lhs.field.arg) === "list" && !LIST_OPS.has(op)) {
      this.err(
        c,
        c.opStart,
        `list field '${lhs.text}' only supports the operators exists, in and intersects`,
      );
      return { k: "const", v: false };
    }
    if (c.rhs === undefined) {
      return { k: "check", lhs, op, modifier: undefined, values: undefined, valField: undefined, node: c };
    }
    if (c.rhs.kind === "val") {
      const vf = this.bindFieldExpr(c.rhs.field);
      if (vf === undefined) return { k: "const", v: false };
      if (
        categoryOf(vf.type) !== categoryOf(lhs.type) &&
        !(categoryOf(lhs.type) === "string" && vf.type !== "bool")
      ) {
        this.err(
          c.rhs,
          c.rhs.start,
          `val(${vf.text}) of type ${vf.type} cannot be compared with '${lhs.text}' of type ${lhs.type}`,
        );
        return { k: "const", v: false };
      }
      return { k: "check", lhs, op, modifier: undefined, values: undefined, valField: vf, node: c };
    }
    const items: StringNode[] = [];
    this.flatten(c.rhs, items);
    if (!this.checkValues(lhs, op, items)) return { k: "const", v: false };
    const b: BoundCheck = {
      k: "check",
      lhs,
      op,
      modifier: c.modifier,
      values: items.map((i) => i.value),
      valField: undefined,
      node: c,
    };
    return b;
  }

  private checkValues(lhs: BoundFieldExpr, op: string, items: readonly StringNode[]): boolean {
    let ok = true;
    const cat = categoryOf(lhs.type);
    for (const it of items) {
      const v = it.value;
      if (v === "<NA>" && (op === "=" || op === "==" || op === "!=")) {
        this.ctx.diags.at(
          it.src,
          it.start,
          "warning",
          `comparing '${lhs.text}' with <NA> never matches: unknown values make comparisons false; use '${lhs.text} exists'`,
        );
        if (cat !== "string") continue;
      }
      if (cat === "number") {
        if (parseNumberLiteral(v) === undefined) {
          this.err(it, it.start, `'${clipText(v)}' is not a number (field '${lhs.text}' is ${lhs.type})`);
          ok = false;
        }
      } else if (cat === "bool") {
        if (v !== "true" && v !== "false") {
          this.err(
            it,
            it.start,
            `'${clipText(v)}' is not a boolean (field '${lhs.text}' is bool; use true or false)`,
          );
          ok = false;
        }
      } else if (cat === "ip") {
        if (parseNet(v) === undefined) {
          this.err(
            it,
            it.start,
            `'${clipText(v)}' is not an IP address or network (field '${lhs.text}' is ${lhs.type})`,
          );
          ok = false;
        }
      } else if (op === "regex") {
        const r = compileRe2(v);
        if (!r.ok) {
          this.err(it, literalOffset(it, r.offset), r.message);
          ok = false;
        }
      } else if (op === "glob" || op === "iglob") {
        const g = compileGlob(v, op === "iglob");
        if (!g.ok) {
          this.err(it, literalOffset(it, g.offset), g.message);
          ok = false;
        }
      } else if (op === "bcontains" || op === "bstartswith") {
        if (!/^([0-9a-fA-F]{2})*$/.test(v)) {
          this.err(
            it,
            it.start,
            `'${clipText(v)}' is not a hex byte string (${op} takes hex such as cafebabe)`,
          );
          ok = false;
        }
      }
    }
    return ok;
  }
}

/** Bind one parsed condition. */
export function bindCondition(e: Expr, ctx: BindContext): BindResult {
  return new Binder(ctx).bindTop(e);
}

/** Bind a single field expression (outputs). */
export function bindFieldExpr(f: FieldExpr, ctx: BindContext): BoundFieldExpr | undefined {
  return new Binder(ctx).bindFieldExpr(f);
}
