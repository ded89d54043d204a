/**
 * A gadget's fields as a rules-language registry over its records, so `--filter` is the
 * rules' condition syntax on exactly the fields the gadget shows (`proc.name`, `fd.name`,
 * `tcp.type`...), checked before anything starts.
 */
import type { FieldClass, FieldSpec } from "../rules/index.js";
import { FieldRegistry } from "../rules/fields.js";
import type { ColumnSpec, GadgetRecord } from "./gadget.js";

export function recordFields(columns: readonly ColumnSpec[]): FieldRegistry<GadgetRecord> {
  const classes = new Map<string, FieldSpec<GadgetRecord>[]>();
  for (const c of columns) {
    const cls = c.name.split(".")[0] ?? c.name;
    const name = c.name;
    const list = classes.get(cls) ?? [];
    list.push({ name, type: c.type, desc: c.desc, get: (r) => r[name] ?? null });
    classes.set(cls, list);
  }
  const out: FieldClass<GadgetRecord>[] = [];
  for (const [name, fields] of classes) out.push({ name, desc: `${name} fields`, fields });
  return new FieldRegistry(out);
}
