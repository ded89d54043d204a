/**
 * Columns of capture-based gadgets that are rules fields: the column's type and description
 * are the registry row's, and its value is the registry's own producer run on the capture
 * event, so `trace exec`'s `proc.exepath` is exactly what a rule reads.
 */
import { SYSCALL_FIELDS, type EventContext } from "../engine/fields/index.js";
import type { FieldValue } from "../rules/index.js";
import type { ColumnSpec } from "./gadget.js";

type Shown = Omit<ColumnSpec, "type" | "desc" | "name">;

/** A column that is the rules field `name`. */
export function ruleColumn(name: string, shown: Shown = {}): ColumnSpec {
  const d = SYSCALL_FIELDS.byName(name);
  if (d === undefined) throw new Error(`${name} is not a rules field`);
  return { name, type: d.type, desc: d.desc, ...shown };
}

/** The registry's producer of `name` (with its argument, if any) on capture events. */
export function ruleValue(name: string, arg?: string | number): (ctx: EventContext) => FieldValue {
  const d = SYSCALL_FIELDS.byName(name);
  if (d === undefined) throw new Error(`${name} is not a rules field`);
  const get = d.producer(arg);
  return (ctx) => get(ctx, ctx.type);
}
