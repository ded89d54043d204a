/**
 * How gadget records are written: `-o columns` (a table fitted to the terminal), `-o json`
 * (one object per line, every known field), `-o yaml` (one document per record), and which
 * columns a table shows (`-o columns=a,b`, `columns=+x,-group`).
 */
import type { FieldValue } from "../rules/index.js";
import { formatTimeOfDay } from "../rules/time-format.js";
import type { ColumnSpec, GadgetRecord } from "./gadget.js";

export type OutputMode = "columns" | "json" | "yaml";

export class ColumnError extends Error {}

export function columnTitle(c: ColumnSpec): string {
  return c.title ?? (c.name.split(".").pop() ?? c.name).toUpperCase();
}

/**
 * The columns of `-o columns[=spec]`: the defaults, or exactly the listed ones, or the
 * defaults with `+name`/`-name` (a column's field name or title, or a group) added or removed.
 */
export function selectColumns(
  all: readonly ColumnSpec[],
  defaults: readonly string[],
  spec: string | undefined,
): ColumnSpec[] {
  // a field name first, then a group, then a column title (RUNTIME is a title and a group)
  const byName = new Map<string, ColumnSpec>();
  const byTitle = new Map<string, ColumnSpec>();
  for (const c of all) {
    byName.set(c.name.toLowerCase(), c);
    byTitle.set(columnTitle(c).toLowerCase(), c);
  }
  const groups = new Map<string, ColumnSpec[]>();
  for (const c of all) if (c.group !== undefined) groups.set(c.group, [...(groups.get(c.group) ?? []), c]);
  const resolve = (name: string): ColumnSpec[] => {
    const key = name.toLowerCase();
    const c = byName.get(key);
    if (c !== undefined) return [c];
    const g = groups.get(key);
    if (g !== undefined) return g;
    const t = byTitle.get(key);
    if (t !== undefined) return [t];
    throw new ColumnError(
      `unknown column '${name}' (columns: ${all.map((x) => x.name).join(", ")}; groups: ${[...groups.keys()].join(", ")})`,
    );
  };
  let out = defaults.map((d) => {
    const c = byName.get(d.toLowerCase());
    if (c === undefined) throw new ColumnError(`default column '${d}' is not a column`);
    return c;
  });
  if (spec === undefined || spec === "") return out;
  const items = spec
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const relative = items.every((s) => s.startsWith("+") || s.startsWith("-"));
  if (!relative) {
    if (items.some((s) => s.startsWith("+") || s.startsWith("-")))
      throw new ColumnError(
        `-o columns=${spec}: list columns, or change the defaults with +name and -name, not both`,
      );
    out = [];
    for (const s of items) for (const c of resolve(s)) if (!out.includes(c)) out.push(c);
    return out;
  }
  for (const s of items) {
    const cs = resolve(s.slice(1));
    if (s.startsWith("+")) {
      for (const c of cs) if (!out.includes(c)) out.push(c);
    } else out = out.filter((c) => !cs.includes(c));
  }
  return out;
}

/** A value as a table cell. */
export function cellText(v: FieldValue | undefined, c?: ColumnSpec): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (c?.type === "abstime" && (typeof v === "bigint" || typeof v === "number")) return formatTimeOfDay(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString("latin1");
  return (v as readonly string[]).join(",");
}

/** A value for JSON and YAML: byte buffers as text; bigints stay (written as integers). */
export function jsonValue(v: FieldValue): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString("latin1");
  return v;
}

/** Every field of a record, for JSON and YAML (unknown values as null). */
export function plainRecord(r: GadgetRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) out[k] = v === undefined || v === null ? null : jsonValue(v);
  return out;
}

/** YAML has no bigint: integers past 2^53 as numbers in text. */
function yamlSafe(r: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r))
    out[k] =
      typeof v === "bigint"
        ? v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(v)
          : v.toString()
        : v;
  return out;
}

/**
 * A table's layout: each column's width, shrunk (widest first, not below its minimum or its
 * title) until the line fits `total` characters.
 */
export function layout(cols: readonly ColumnSpec[], total: number): number[] {
  const widths = cols.map((c) => Math.max(c.width ?? 12, columnTitle(c).length));
  const mins = cols.map((c) => Math.max(c.minWidth ?? 4, columnTitle(c).length));
  const line = (): number => widths.reduce((a, b) => a + b, 0) + Math.max(0, cols.length - 1);
  // the last column takes what is left: it is not shrunk below its own width unless needed
  while (line() > total) {
    let widest = -1;
    for (let i = 0; i < cols.length; i++)
      if (widths[i]! > mins[i]! && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
    if (widest < 0) break;
    widths[widest]!--;
  }
  return widths;
}

function fit(s: string, w: number, c: ColumnSpec, last: boolean, cut: boolean): string {
  if (cut && s.length > w && !last)
    s = c.ellipsis === "start" ? `…${s.slice(s.length - w + 1)}` : `${s.slice(0, w - 1)}…`;
  if (last && c.align !== "right") return s;
  return c.align === "right" ? s.padStart(w) : s.padEnd(w);
}

export interface RecordWriter {
  /** one trace event */
  event(r: GadgetRecord): void;
  /** a top or snapshot table (top: one per interval) */
  table(rows: readonly GadgetRecord[]): void;
}

/** Quoted JSON keys, made once per field name. */
const QUOTED = new Map<string, string>();
function quotedKey(k: string): string {
  let q = QUOTED.get(k);
  if (q === undefined) {
    q = `${JSON.stringify(k)}:`;
    if (QUOTED.size < 4096) QUOTED.set(k, q);
  }
  return q;
}

function jsonText(v: FieldValue | undefined): string {
  if (v === null || v === undefined) return "null";
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "number":
      return Number.isFinite(v) ? String(v) : "null";
    case "bigint":
      return v.toString();
    case "boolean":
      return v ? "true" : "false";
    default:
      if (v instanceof Uint8Array) return JSON.stringify(Buffer.from(v).toString("latin1"));
      return JSON.stringify(v);
  }
}

/** One record as a JSON line: every field, unknown values as null, bigints as integers. */
export function jsonLine(r: GadgetRecord): string {
  let s = "{";
  let first = true;
  for (const k in r) {
    s += first ? quotedKey(k) : `,${quotedKey(k)}`;
    s += jsonText(r[k]);
    first = false;
  }
  return `${s}}\n`;
}

export function createWriter(
  mode: OutputMode,
  cols: readonly ColumnSpec[],
  write: (s: string) => void,
  /** the terminal's width: columns are shrunk and values cut to fit; null: nothing is cut */
  termWidth: number | null,
  /** YAML's stringify (loaded by the caller only for -o yaml) */
  yamlStringify?: (v: unknown) => string,
): RecordWriter {
  if (mode === "json")
    return {
      event: (r) => write(jsonLine(r)),
      table: (rows) => {
        let s = "";
        for (const r of rows) s += jsonLine(r);
        if (s !== "") write(s);
      },
    };
  if (mode === "yaml") {
    if (yamlStringify === undefined) throw new Error("-o yaml needs the YAML writer");
    return {
      event: (r) => write(`---\n${yamlStringify(yamlSafe(plainRecord(r)))}`),
      table: (rows) => {
        for (const r of rows) write(`---\n${yamlStringify(yamlSafe(plainRecord(r)))}`);
      },
    };
  }
  const cut = termWidth !== null;
  const widths = layout(cols, termWidth ?? Infinity);
  const row = (cells: string[]): string =>
    cells
      .map((s, i) => fit(s, widths[i]!, cols[i]!, i === cols.length - 1, cut))
      .join(" ")
      .trimEnd() + "\n";
  const header = row(cols.map(columnTitle));
  let headerDone = false;
  return {
    event: (r) => {
      if (!headerDone) {
        write(header);
        headerDone = true;
      }
      write(row(cols.map((c) => cellText(r[c.name], c))));
    },
    table: (rows) => {
      let s = header;
      for (const r of rows) s += row(cols.map((c) => cellText(r[c.name], c)));
      write(`${s}\n`);
    },
  };
}
