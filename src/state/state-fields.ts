/**
 * Fields read from the state tables for one event: the process (`proc.*`, ancestry),
 * its thread (`thread.*`) and the fd the event is about (`fd.*`). Writes into the field
 * record `engine/event-fields.ts` builds; values the event itself carries win (they are
 * set first), the tables fill in the rest.
 */
import type { DecodedEvent } from "../decode/event.js";
import { capabilityNames } from "./capabilities.js";
import { fdTypeChar, type FdInfo } from "./fd-table.js";
import type { ProcessInfo, ProcessTable } from "./process-table.js";

type Value = string | number | boolean | null | readonly string[];
type Out = Record<string, Value>;

/** Ancestor levels rendered by `lanner capture` (proc.aname[1..N], apid, aexepath). */
export const ANCESTOR_LEVELS = 5;

const keys = (name: string): string[] => Array.from({ length: 17 }, (_, n) => `${name}[${n}]`);
const ANAME = keys("proc.aname");
const APID = keys("proc.apid");
const AEXEPATH = keys("proc.aexepath");

function cmdline(p: ProcessInfo): string {
  if (p.argv.length <= 1) return p.comm;
  let s = p.comm;
  for (let i = 1; i < p.argv.length; i++) s += ` ${p.argv[i]}`;
  return s;
}

function setIfAbsent(out: Out, k: string, v: Value): void {
  if (out[k] === undefined) out[k] = v;
}

/** Writes the state-derived fields of `ev` into `out`. */
export function addStateFields(
  out: Out,
  ev: DecodedEvent,
  procs: ProcessTable,
  bootToWallNs: bigint,
  levels = ANCESTOR_LEVELS,
): void {
  const p = procs.lookup(ev.tgid);
  if (p === undefined) return;
  out["proc.vpid"] = p.vpid;
  setIfAbsent(out, "proc.ppid", p.ppid);
  out["proc.exe"] = p.exe;
  if (out["proc.exepath"] === null || out["proc.exepath"] === undefined) out["proc.exepath"] = p.exepath;
  if (out["proc.cwd"] === null || out["proc.cwd"] === undefined) out["proc.cwd"] = p.cwd;
  out["proc.tty"] = p.tty;
  out["proc.sid"] = p.sid;
  out["proc.sname"] = p.sid > 0 ? (procs.get(p.sid)?.comm ?? null) : null;
  out["proc.vpgid"] = p.vpgid;
  out["proc.nthreads"] = p.nthreads;
  if (procs.fdsTracked) out["proc.fdopencount"] = p.fds.size;
  if (p.startNs !== 0n) {
    out["proc.pid.ts"] = Number(p.startNs + bootToWallNs);
    out["proc.duration"] = Math.max(0, ev.ts - Number(p.startNs));
  } else {
    out["proc.pid.ts"] = null;
    out["proc.duration"] = null;
  }
  out["proc.is_exe_upper_layer"] = p.isExeUpperLayer;
  out["proc.is_exe_from_memfd"] = p.isExeFromMemfd;
  setIfAbsent(out, "user.loginuid", p.loginuid === 0xffffffff ? -1 : p.loginuid);

  const parent = procs.ancestor(p, 1);
  out["proc.pname"] = parent?.comm ?? null;
  out["proc.pcmdline"] = parent ? cmdline(parent) : null;
  out["proc.pexe"] = parent?.exe ?? null;
  out["proc.pexepath"] = parent?.exepath ?? null;
  let a: ProcessInfo | undefined = p;
  for (let n = 1; n <= levels; n++) {
    a = a === undefined ? undefined : procs.ancestor(a, 1);
    if (a === undefined) break;
    out[ANAME[n] ?? `proc.aname[${n}]`] = a.comm;
    out[APID[n] ?? `proc.apid[${n}]`] = a.pid;
    out[AEXEPATH[n] ?? `proc.aexepath[${n}]`] = a.exepath;
  }

  const t = procs.threads.get(ev.tid);
  out["thread.vtid"] = t?.vtid ?? null;
  out["thread.ismain"] = ev.tid === ev.tgid;
  out["thread.cap_effective"] = t ? capabilityNames(t.capEffective) : null;
  out["thread.cap_permitted"] = t ? capabilityNames(t.capPermitted) : null;

  const fdNum = out["fd.num"];
  if (procs.fdsTracked && typeof fdNum === "number" && fdNum >= 0) {
    const fd = p.fds.get(fdNum);
    if (fd !== undefined) addFdFields(out, fd);
  }
  const type = out["fd.type"];
  if (typeof type === "string") setIfAbsent(out, "fd.typechar", fdTypeChar(type as FdInfo["type"]) ?? "o");
  addNetFields(out);
}

/**
 * The "either end" fields, from the client and server addresses however they were found:
 * fd.ip and fd.net list both (a rule matches when either does), fd.cnet/fd.snet/fd.lnet/
 * fd.rnet are the one address a network is tested against.
 */
function addNetFields(out: Out): void {
  const cip = out["fd.cip"];
  const sip = out["fd.sip"];
  if (typeof cip !== "string" && typeof sip !== "string") return;
  const both: string[] = [];
  if (typeof cip === "string") both.push(cip);
  if (typeof sip === "string" && sip !== cip) both.push(sip);
  setIfAbsent(out, "fd.ip", both);
  setIfAbsent(out, "fd.net", both);
  if (typeof cip === "string") setIfAbsent(out, "fd.cnet", cip);
  if (typeof sip === "string") setIfAbsent(out, "fd.snet", sip);
  const lip = out["fd.lip"];
  const rip = out["fd.rip"];
  if (typeof lip === "string") setIfAbsent(out, "fd.lnet", lip);
  if (typeof rip === "string") setIfAbsent(out, "fd.rnet", rip);
}

/** fd.* of one table entry, where the event did not already say. */
export function addFdFields(out: Out, fd: FdInfo): void {
  setIfAbsent(out, "fd.type", fd.type);
  setIfAbsent(out, "fd.typechar", fdTypeChar(fd.type));
  setIfAbsent(out, "fd.name", fd.name || null);
  if (fd.type === "file" || fd.type === "directory") {
    const slash = fd.name.lastIndexOf("/");
    if (fd.type === "directory") setIfAbsent(out, "fd.directory", fd.name);
    else if (slash >= 0) {
      setIfAbsent(out, "fd.directory", slash > 0 ? fd.name.slice(0, slash) : "/");
      setIfAbsent(out, "fd.filename", fd.name.slice(slash + 1));
    }
    return;
  }
  if (fd.type === "ipv4" || fd.type === "ipv6") {
    setIfAbsent(out, "fd.l4proto", fd.l4proto || null);
    setIfAbsent(out, "fd.connected", fd.connected);
    setIfAbsent(out, "fd.lip", fd.lip || null);
    setIfAbsent(out, "fd.lport", fd.lport);
    if (fd.connected) {
      setIfAbsent(out, "fd.rip", fd.rip || null);
      setIfAbsent(out, "fd.rport", fd.rport);
      setIfAbsent(out, "fd.cip", fd.cip || null);
      setIfAbsent(out, "fd.cport", fd.cport);
      setIfAbsent(out, "fd.sip", fd.sip || null);
      setIfAbsent(out, "fd.sport", fd.sport);
    } else if (fd.role === 2) {
      setIfAbsent(out, "fd.sip", fd.lip || null);
      setIfAbsent(out, "fd.sport", fd.lport);
    }
    return;
  }
  if (fd.type === "unix") setIfAbsent(out, "fd.connected", fd.connected);
}
