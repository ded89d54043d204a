/**
 * AST of conditions. Every node records its start/end offsets in the text it was parsed
 * from and the SourceRef of that text (a rule's condition, a macro's condition, an
 * exception in YAML), so checks after macro expansion still point at the right file.
 */
import type { SourceRef } from "./diagnostics.js";

export interface NodeBase {
  readonly start: number;
  readonly end: number;
  readonly src: SourceRef | undefined;
}

export const BINARY_OPERATORS = [
  "=",
  "==",
  "!=",
  "<",
  "<=",
  ">",
  ">=",
  "contains",
  "icontains",
  "bcontains",
  "startswith",
  "bstartswith",
  "endswith",
  "glob",
  "iglob",
  "regex",
] as const;
export const LIST_OPERATORS = ["in", "intersects", "pmatch"] as const;
export const MODIFIERS = ["oneof", "anyof", "allof"] as const;
export type BinaryOperator = (typeof BINARY_OPERATORS)[number];
export type ListOperator = (typeof LIST_OPERATORS)[number];
export type UnaryOperator = "exists";
export type Operator = BinaryOperator | ListOperator | UnaryOperator;
export type Modifier = (typeof MODIFIERS)[number];
/** Operators that accept a list modifier (`startswith oneof (a, b)`): all binary ones but
 * the ordering comparisons. */
export const MODIFIABLE_OPERATORS: ReadonlySet<string> = new Set(
  BINARY_OPERATORS.filter((op) => !/^[<>]/.test(op)),
);
/** Operators spelt as words (the lexer reads them as operators, not as field text). */
export const WORD_OPERATORS: ReadonlySet<string> = new Set(
  [...BINARY_OPERATORS, ...LIST_OPERATORS, "exists"].filter((op) => /^[a-z]/.test(op)),
);

export type TransformerName =
  "tolower" | "toupper" | "b64" | "basename" | "len" | "join" | "concat" | "getopt";
export const TRANSFORMERS: ReadonlySet<string> = new Set([
  "tolower",
  "toupper",
  "b64",
  "basename",
  "len",
  "join",
  "concat",
  "getopt",
]);

export interface AndNode extends NodeBase {
  readonly kind: "and";
  readonly items: readonly Expr[];
}
export interface OrNode extends NodeBase {
  readonly kind: "or";
  readonly items: readonly Expr[];
}
export interface NotNode extends NodeBase {
  readonly kind: "not";
  readonly expr: Expr;
}
/** A bare identifier in condition position: a macro reference. */
export interface MacroRefNode extends NodeBase {
  readonly kind: "macro";
  readonly name: string;
}
export interface CheckNode extends NodeBase {
  readonly kind: "check";
  readonly lhs: FieldExpr;
  readonly op: Operator;
  readonly opStart: number;
  readonly modifier: Modifier | undefined;
  /** undefined for `exists`. */
  readonly rhs: ValueNode | undefined;
}
/** Result of macro expansion kept for diagnostics: the expanded macro body. */
export interface ExpandedMacroNode extends NodeBase {
  readonly kind: "expanded";
  readonly name: string;
  readonly expr: Expr;
}
/** Constant produced by exceptions with no values etc. */
export interface ConstNode extends NodeBase {
  readonly kind: "const";
  readonly value: boolean;
}

export type Expr = AndNode | OrNode | NotNode | MacroRefNode | CheckNode | ExpandedMacroNode | ConstNode;

export interface FieldNode extends NodeBase {
  readonly kind: "field";
  readonly name: string;
  /** `[arg]` or the dotted tail of `evt.arg.name` style fields (set during checking). */
  readonly arg: string | undefined;
  readonly argStart: number | undefined;
}
export interface TransformerNode extends NodeBase {
  readonly kind: "transformer";
  readonly name: TransformerName;
  readonly args: readonly (FieldExpr | StringNode)[];
}
export type FieldExpr = FieldNode | TransformerNode;

export interface StringNode extends NodeBase {
  readonly kind: "string";
  readonly value: string;
  readonly quoted: boolean;
}
export interface ListNode extends NodeBase {
  readonly kind: "list";
  readonly items: readonly (StringNode | ListNode)[];
}
/** `in my_list` (a bare list name instead of a parenthesised list). */
export interface ListRefNode extends NodeBase {
  readonly kind: "listref";
  readonly name: string;
}
export interface ValNode extends NodeBase {
  readonly kind: "val";
  readonly field: FieldExpr;
}
export type ValueNode = StringNode | ListNode | ListRefNode | ValNode;

/** Source text for a field expression, as written (used for output keys and messages). */
export function fieldExprText(f: FieldExpr | StringNode): string {
  switch (f.kind) {
    case "field":
      return f.arg !== undefined && f.argStart !== undefined ? `${f.name}[${f.arg}]` : f.name;
    case "string":
      return JSON.stringify(f.value);
    case "transformer":
      return `${f.name}(${f.args.map(fieldExprText).join(", ")})`;
  }
}

/** Render an expression back to condition text (normalised spacing). */
export function exprText(e: Expr): string {
  switch (e.kind) {
    case "and":
      return e.items.map((x) => wrap(x, "and")).join(" and ");
    case "or":
      return e.items.map((x) => wrap(x, "or")).join(" or ");
    case "not":
      return `not ${wrap(e.expr, "not")}`;
    case "macro":
      return e.name;
    case "expanded":
      return `(${exprText(e.expr)})`;
    case "const":
      return e.value ? "true" : "false";
    case "check": {
      const lhs = fieldExprText(e.lhs);
      if (e.rhs === undefined) return `${lhs} ${e.op}`;
      const mod = e.modifier !== undefined ? ` ${e.modifier}` : "";
      return `${lhs} ${e.op}${mod} ${valueText(e.rhs)}`;
    }
  }
}

function wrap(e: Expr, parent: "and" | "or" | "not"): string {
  if (e.kind === "or" && parent !== "or") return `(${exprText(e)})`;
  if (e.kind === "and" && parent === "not") return `(${exprText(e)})`;
  return exprText(e);
}

function valueText(v: ValueNode): string {
  switch (v.kind) {
    case "string":
      return v.quoted || v.value === "" || /[\s(),="']/.test(v.value) ? JSON.stringify(v.value) : v.value;
    case "list":
      return `(${v.items.map(valueText).join(", ")})`;
    case "listref":
      return v.name;
    case "val":
      return `val(${fieldExprText(v.field)})`;
  }
}
