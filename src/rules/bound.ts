/**
 * Checked ("bound") conditions: macros expanded, lists flattened, fields resolved against
 * the registry and operators checked against field types. The compiler and the
 * event-type analysis work on this form.
 */
import type { CheckNode, Modifier, Operator, TransformerName } from "./ast.js";
import type { FieldType, ResolvedField } from "./fields.js";

export interface BoundFieldRef {
  readonly kind: "field";
  readonly field: ResolvedField;
  readonly type: FieldType;
  /** The field can yield several values (list fields, proc.aname without index). */
  readonly multi: boolean;
  readonly text: string;
}
export interface BoundLiteral {
  readonly kind: "literal";
  readonly value: string;
  readonly type: "string";
  readonly multi: false;
  readonly text: string;
}
export interface BoundTransformer {
  readonly kind: "transformer";
  readonly name: TransformerName;
  readonly args: readonly BoundOperand[];
  readonly type: FieldType;
  readonly multi: boolean;
  readonly text: string;
}
export type BoundOperand = BoundFieldRef | BoundLiteral | BoundTransformer;
export type BoundFieldExpr = BoundFieldRef | BoundTransformer;

export type BoundExpr =
  | { readonly k: "and"; readonly items: readonly BoundExpr[] }
  | { readonly k: "or"; readonly items: readonly BoundExpr[] }
  | { readonly k: "not"; readonly e: BoundExpr }
  | { readonly k: "const"; readonly v: boolean }
  /** An expanded macro; the same object for every use of the macro. */
  | { readonly k: "macro"; readonly name: string; readonly e: BoundExpr }
  | BoundCheck;

export interface BoundCheck {
  readonly k: "check";
  readonly lhs: BoundFieldExpr;
  readonly op: Operator;
  readonly modifier: Modifier | undefined;
  /** Literal right-hand values (one for binary operators, any number for lists). */
  readonly values: readonly string[] | undefined;
  /** `val(field)` right-hand side. */
  readonly valField: BoundFieldExpr | undefined;
  readonly node: CheckNode | undefined;
}
