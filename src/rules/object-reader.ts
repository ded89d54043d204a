/**
 * A FieldReader over a plain object keyed by field text (`proc.name`, `proc.aname[2]`,
 * `evt.arg.flags` is looked up as `evt.arg[flags]` or `evt.arg.flags`). For tests,
 * benchmarks and `rules` tooling; the engine implements its own reader over events.
 */
import type { FieldReader, FieldValue } from "./compiler.js";
import { FIELDS } from "./fields.js";

const NAMES: readonly string[] = FIELDS.map((f) => f.name);

export class ObjectFieldReader implements FieldReader {
  values: Readonly<Record<string, FieldValue | undefined>>;

  constructor(values: Readonly<Record<string, FieldValue | undefined>>) {
    this.values = values;
  }

  read(fieldId: number, arg: string | number | undefined): FieldValue {
    const name = NAMES[fieldId] as string;
    if (arg === undefined) return this.values[name] ?? null;
    const v = this.values[`${name}[${arg}]`];
    if (v !== undefined) return v;
    return this.values[`${name}.${arg}`] ?? null;
  }
}
