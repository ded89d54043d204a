/**
 * trace tcp: TCP connections as processes open and close them: connect (with its result),
 * accept, and close, with both ends. Connects and accepts are the capture path's syscall
 * records (the same events rules see); closes come from this gadget's own program
 * (program.bpf.c), attributed to the process that closed the socket.
 */
import type { EventContext } from "../../engine/fields/index.js";
import { tracefsRoot, tracepointExists } from "../../capture/features.js";
import { ruleColumn, ruleValue } from "../capture-fields.js";
import { PLACE_COMMON, PLACE_DEFAULTS, PROCESS_COMMON } from "../common-columns.js";
import type { GadgetContext, GadgetSpec, ParamValues, RunningSource } from "../gadget.js";
import { GadgetObject, hasTpBtf, headerEvent, readHeader, u8 } from "../kernel-object.js";
import { ENDPOINT_COLUMNS, endsFields, readEnds, type Ends } from "./endpoint.js";
import { LNG_TCP_CLOSE } from "./layout.generated.js";

const EINPROGRESS = 115;

const fdNum = ruleValue("fd.num");
const res = ruleValue("evt.res");

/** An address the kernel has not set (an unbound end): unknown. */
function unset(ip: string | null, port: number | null): boolean {
  return ip === null || ((ip === "0.0.0.0" || ip === "::") && (port === 0 || port === null));
}

/** Both ends of a connect or accept, from the capture record. */
export function captureEnds(c: EventContext): Ends | null {
  const ev = c.sys;
  const s = c.sock();
  if (ev === null || s === null || s.l4proto !== "tcp") return null;
  let rip = s.rip;
  let rport = s.rport;
  // a failed connect: the kernel has dropped the peer, the call's address says it
  if (c.type === "connect" && (rport === null || rport === 0)) {
    const asked = ev.sockaddrs.values().next();
    if (!asked.done) {
      rip = asked.value.addr || null;
      rport = asked.value.port;
    }
  }
  const localUnset = unset(s.lip, s.lport);
  const ip = rip ?? (localUnset ? null : s.lip);
  return {
    ipver: ip !== null && ip.includes(":") ? 6 : 4,
    lip: localUnset ? null : s.lip,
    lport: localUnset ? null : s.lport,
    rip,
    rport,
  };
}

function validate(p: ParamValues): string | undefined {
  if (p["connect-only"] === true && p["accept-only"] === true)
    return "--connect-only and --accept-only exclude each other";
  if (p["failure-only"] === true && p["accept-only"] === true)
    return "--failure-only shows failed connects: it excludes --accept-only";
  const f = p["family"];
  if (f !== undefined && f !== 4 && f !== 6) return `--family: expected 4 or 6, got '${String(f)}'`;
  return undefined;
}

export const TRACE_TCP: GadgetSpec = {
  category: "trace",
  name: "tcp",
  summary: "TCP connections: connect (and its error), accept and close, with both ends",
  common: [...PROCESS_COMMON, ...PLACE_COMMON],
  columns: [
    {
      name: "tcp.type",
      type: "string",
      desc: "connect (a connect() call on a TCP socket, failed ones included), accept (a connection accept() or accept4() returned) or close (the process closed a connection: its last close() of the socket, or its exit).",
      title: "TYPE",
      width: 7,
    },
    ...ENDPOINT_COLUMNS,
    ruleColumn("evt.rawres", { title: "RET", width: 5, align: "right" }),
    ruleColumn("evt.res", { title: "ERROR", width: 12 }),
    ruleColumn("fd.num", { title: "FD", width: 4, align: "right" }),
  ],
  defaults: [...PLACE_DEFAULTS, "tcp.type", "proc.pid", "proc.name", "tcp.family", "tcp.src", "tcp.dst"],
  params: [
    { name: "connect-only", type: "boolean", desc: "only connects" },
    { name: "accept-only", type: "boolean", desc: "only accepts" },
    {
      name: "failure-only",
      type: "boolean",
      desc: "only connects that failed (an error other than EINPROGRESS)",
      shows: ["evt.res"],
    },
    { name: "family", type: "int", desc: "only IPv4 (4) or IPv6 (6) connections" },
  ],
  capture: { syscalls: ["connect", "accept", "accept4"] },
  validate,
  unavailable(): string | undefined {
    if (tracefsRoot() === null) return undefined;
    const missing = [
      ["sock", "inet_sock_set_state"],
      ["tcp", "tcp_destroy_sock"],
    ].filter(([c, n]) => !tracepointExists(c as string, n as string));
    if (missing.length === 0) return undefined;
    return `closes need the tracepoints ${missing.map((m) => m.join(":")).join(", ")}, which this kernel lacks`;
  },
  start(ctx: GadgetContext): RunningSource {
    const p = ctx.params;
    const connectOnly = p["connect-only"] === true;
    const failureOnly = p["failure-only"] === true;
    const acceptOnly = p["accept-only"] === true;
    const family = typeof p["family"] === "number" ? p["family"] : 0;
    const capture = ctx.capture;
    if (capture === null) throw new Error("trace tcp needs the capture path");
    capture.on((c: EventContext, type: string) => {
      const ev = c.sys;
      if (ev === null) return;
      const connect = type === "connect";
      if (connect ? acceptOnly : connectOnly || failureOnly) return;
      if (!connect && ev.ret < 0) return; // no connection accepted
      if (failureOnly && !(ev.ret < 0 && ev.ret !== -EINPROGRESS)) return;
      const ends = captureEnds(c);
      if (ends === null || (family !== 0 && ends.ipver !== family)) return;
      ctx.emit({
        pid: ev.tgid,
        tid: ev.tid,
        cgroupId: ev.cgroupId,
        ts: ev.ts,
        fields: {
          "tcp.type": connect ? "connect" : "accept",
          ...endsFields(ends),
          "evt.rawres": ev.ret,
          "evt.res": res(c),
          "fd.num": fdNum(c),
          "user.uid": ev.euid,
          "group.gid": ev.egid,
        },
      });
    });
    if (connectOnly || acceptOnly || failureOnly)
      return { summary: "connect, accept, accept4", stop: () => undefined };

    const L = LNG_TCP_CLOSE;
    const tuple = {
      LADDR: L.T_LADDR,
      RADDR: L.T_RADDR,
      LPORT: L.T_LPORT,
      RPORT: L.T_RPORT,
      IPVER: L.T_IPVER,
    };
    const btf = hasTpBtf();
    const obj = GadgetObject.load({
      dir: "trace-tcp",
      kernelFilter: ctx.kernelFilter,
      ringBytes: 1 << 20,
      programs: (n) => n.endsWith(btf ? "_btf" : "_raw"),
      globals: { lng_ipver: u8(family) },
      onRecord: (buf, off, len) => {
        if (len < L.SIZEOF) return;
        const h = readHeader(buf, off);
        ctx.emit(
          headerEvent(h, {
            "tcp.type": "close",
            ...endsFields(readEnds(buf, off, tuple)),
            "evt.rawres": null,
            "evt.res": null,
            "fd.num": null,
            // effective ids, as connects and accepts have them (the header's are the real ones)
            "user.uid": buf.readUInt32LE(off + L.EUID),
            "group.gid": buf.readUInt32LE(off + L.EGID),
          }),
        );
      },
    });
    try {
      const how = btf ? "tp_btf" : "raw_tracepoint";
      obj.attach("sock/inet_sock_set_state", [{ program: `lng_tcp_state_${btf ? "btf" : "raw"}`, how }]);
      obj.attach("tcp/tcp_destroy_sock", [{ program: `lng_tcp_destroy_${btf ? "btf" : "raw"}`, how }]);
    } catch (e) {
      obj.close();
      throw e;
    }
    return {
      summary: `connect, accept, accept4; closes via sock/inet_sock_set_state and tcp/tcp_destroy_sock (${btf ? "tp_btf" : "raw_tracepoint"})`,
      lost: () => obj.lost(),
      drain: () => obj.drain(),
      stop: () => obj.close(),
    };
  },
};
