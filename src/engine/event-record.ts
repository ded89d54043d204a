/**
 * One event as a record keyed by field names, for `lanner capture`: every field the registry
 * marks as shown that is known for the event, then each argument as `evt.arg.NAME`. Times
 * are RFC 3339 strings, everything else as the field produces it.
 */
import { SYSCALL_SPECS } from "../decode/syscall-params.js";
import { formatRfc3339Nano, type FieldValue, type Getter } from "../rules/index.js";
import { argByIndex, argByName, argsBuffer, execFlags } from "./fields/args.js";
import { SYSCALL_FIELDS, type EventContext } from "./fields/index.js";

export type RecordValue = string | number | boolean | readonly string[] | null;
export type EventRecord = Record<string, RecordValue>;

const SHOWN: readonly { key: string; get: Getter; abstime: boolean }[] = SYSCALL_FIELDS.defs
  .filter((d) => d.show && d.arg === "none")
  .map((d) => ({ key: d.name, get: d.producer(undefined), abstime: d.type === "abstime" }));

function jsonValue(v: FieldValue, abstime: boolean): RecordValue | undefined {
  if (v === null) return undefined;
  if (typeof v === "bigint") return abstime ? formatRfc3339Nano(v) : Number(v);
  if (typeof v === "number" && abstime) return formatRfc3339Nano(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString("latin1");
  return v;
}

export function eventRecord(ctx: EventContext): EventRecord {
  const out: EventRecord = {};
  for (const s of SHOWN) {
    const v = jsonValue(s.get(ctx, ctx.type), s.abstime);
    if (v !== undefined) out[s.key] = v;
  }
  const ev = ctx.ev;
  if (ev.kind === "fork") out["evt.arg.child_pid"] = ev.childTgid;
  else if (ev.kind === "exit") out["evt.arg.status"] = ev.exitCode;
  if (ev.kind !== "syscall") return out;
  const spec = SYSCALL_SPECS.get(ev.nr);
  const exe = ctx.proc();
  if (spec === undefined) {
    for (let i = 0; i < 6; i++) out[`evt.arg[${i}]`] = argByIndex(ev, i, exe);
    return out;
  }
  for (const p of spec.params) out[`evt.arg.${p.name}`] = argByName(ev, p.name, exe);
  if (ev.type === "execve" || ev.type === "execveat") {
    if (ev.argv !== null) out["evt.arg.args"] = argsBuffer(ev.argv);
    if (ev.ret === 0 && exe !== undefined) out["evt.arg.flags"] = execFlags(exe);
  }
  if (ev.fds !== null) {
    out["evt.arg.fd1"] = ev.fds[0];
    out["evt.arg.fd2"] = ev.fds[1];
  }
  return out;
}
