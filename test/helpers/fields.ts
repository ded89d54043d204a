/**
 * Test helpers over the syscall field registry: an EventContext over a State (as the agent
 * builds it), and a snapshot of every field of an event taken when the event is read (the
 * state then is what the rules would see).
 */
import { hostname } from "node:os";
import type { DecodedEvent } from "../../src/decode/event.js";
import { SYSCALL_SPECS } from "../../src/decode/syscall-params.js";
import { EventContext, SYSCALL_FIELDS } from "../../src/engine/fields/index.js";
import {
  BindContext,
  compileFilter,
  compileOutput,
  DiagnosticBag,
  formatDiagnostic,
  parseCondition,
  stringSource,
  type FieldValue,
  type MacroEntry,
} from "../../src/rules/index.js";
import { IpServices } from "../../src/state/ip-services.js";
import { ProcLive } from "../../src/state/proc-live.js";
import type { ProcessTable } from "../../src/state/process-table.js";
import type { StateServices } from "../../src/state/services.js";
import type { State } from "../../src/state/state.js";

export type Snapshot = Record<string, FieldValue>;

/** A context over a bare process table (lifecycle records only: its fd tables are not current). */
export function contextForTable(procs: ProcessTable): EventContext {
  return new EventContext({
    procs,
    hostname: hostname(),
    state: null,
    fdNameChanged: () => false,
    live: new ProcLive(),
    ipServices: new IpServices(),
  });
}

export function contextFor(state: State, services: StateServices | null = null): EventContext {
  return new EventContext({
    procs: state.procs,
    hostname: hostname(),
    state: services,
    fdNameChanged: () => state.fdNameChanged(),
    live: new ProcLive(),
    ipServices: new IpServices(),
  });
}

/** The event type of a decoded event, as the engine names it. */
export function typeOf(ev: DecodedEvent): string {
  return ev.kind === "syscall"
    ? ev.type
    : ev.kind === "fork"
      ? "procfork"
      : ev.kind === "exec"
        ? "procexec"
        : "procexit";
}

/**
 * Every field without an argument, the ancestor fields at levels 0..5 (`proc.aname[2]`) and
 * every argument of the syscall by name (`evt.arg.flags`), for `ev` now. Unknown values are
 * left out; bigints become numbers.
 */
export function snapshot(ctx: EventContext, ev: DecodedEvent, num = 0): Snapshot {
  const type = typeOf(ev);
  ctx.set(ev, type, num);
  const out: Snapshot = {};
  const put = (key: string, v: FieldValue): void => {
    if (v === null) return;
    out[key] = typeof v === "bigint" ? Number(v) : v;
  };
  for (const d of SYSCALL_FIELDS.defs) {
    if (d.arg === "none" || d.arg === "optional") put(d.name, d.producer(undefined)(ctx, type));
    if (d.arg === "optional" && d.name.startsWith("proc.a"))
      for (let i = 0; i <= 5; i++) put(`${d.name}[${i}]`, d.producer(i)(ctx, type));
  }
  const arg = SYSCALL_FIELDS.byName("evt.arg");
  if (arg !== undefined && ev.kind === "syscall") {
    const names = (SYSCALL_SPECS.get(ev.nr)?.params ?? []).map((p) => p.name);
    for (const n of [...names, "res", "fd", "args", "flags", "fd1", "fd2"])
      put(`evt.arg.${n}`, arg.producer(n)(ctx, type));
  }
  if (arg !== undefined && ev.kind === "fork") put("evt.arg.child_pid", arg.producer("child_pid")(ctx, type));
  return out;
}

/** One field of `ev` by its rules-language name (`container.label`, arg `io.x`). */
export function fieldOf(ctx: EventContext, ev: DecodedEvent, name: string, arg?: string): FieldValue {
  const r = SYSCALL_FIELDS.resolve(name, arg);
  if (!r.ok) throw new Error(r.message);
  const type = typeOf(ev);
  ctx.set(ev, type, 0);
  return r.field.def.producer(r.field.arg)(ctx, type);
}

/** Compiles `cond` against the syscall fields and evaluates it on `ev` (through `ctx`). */
export function holds(
  ctx: EventContext,
  ev: DecodedEvent,
  cond: string,
  macros: Record<string, string> = {},
): boolean {
  const m = new Map<string, MacroEntry>();
  for (const [k, v] of Object.entries(macros)) {
    const p = parseCondition(v);
    if (!p.ok) throw new Error(`macro ${k}: ${p.error.message}`);
    m.set(k, { name: k, expr: p.expr });
  }
  const r = compileFilter(cond, { fields: SYSCALL_FIELDS, macros: m });
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  const type = typeOf(ev);
  ctx.set(ev, type, 0);
  return r.filter.predicate(ctx, type);
}

/** The JSON output_fields and the text of an output template for `ev`. */
export function rendered(
  ctx: EventContext,
  ev: DecodedEvent,
  output: string,
): { json: Record<string, unknown>; text: string } {
  const d = new DiagnosticBag();
  const r = compileOutput(
    output,
    d,
    stringSource("out", output),
    new BindContext(new Map(), new Map(), d, SYSCALL_FIELDS),
  );
  if (!r.ok) throw new Error(d.items.map(formatDiagnostic).join("\n"));
  const type = typeOf(ev);
  ctx.set(ev, type, 0);
  return { json: r.template.values(ctx, type), text: r.template.render(ctx, type) };
}
