/**
 * trace bind: every bind(2) of the selected containers: the address and port asked for (the
 * caller's sockaddr), the socket's protocol and local end after the call (the port the
 * kernel chose for port 0), the result. Built on the capture path's bind records (the
 * sockaddr read from the caller, the socket's tuple read from the kernel at exit).
 */
import { AF_INET, AF_INET6, AF_UNIX } from "../../decode/sockaddr.js";
import type { EventContext } from "../../engine/fields/index.js";
import { ruleColumn, ruleValue } from "../capture-fields.js";
import { PLACE_COMMON, PLACE_DEFAULTS, PROCESS_COMMON } from "../common-columns.js";
import type { GadgetContext, GadgetSpec, ParamValues, RunningSource } from "../gadget.js";

const fdNum = ruleValue("fd.num");
const l4proto = ruleValue("fd.l4proto");
const lip = ruleValue("fd.lip");
const lport = ruleValue("fd.lport");
const res = ruleValue("evt.res");

const AF_NETLINK = 16;
const AF_PACKET = 17;

function familyName(f: number): string {
  switch (f) {
    case AF_INET:
      return "inet";
    case AF_INET6:
      return "inet6";
    case AF_UNIX:
      return "unix";
    case AF_NETLINK:
      return "netlink";
    case AF_PACKET:
      return "packet";
    default:
      return String(f);
  }
}

/** --ports as numbers; a message for a bad one. */
export function parsePorts(params: ParamValues): number[] | string {
  const v = params["ports"];
  const list = Array.isArray(v) ? (v as readonly string[]) : [];
  const out: number[] = [];
  for (const s of list) {
    const n = Number(s);
    if (!/^\d+$/.test(s) || n > 65535) return `--ports: '${s}' is not a port (0-65535)`;
    out.push(n);
  }
  return out;
}

export const TRACE_BIND: GadgetSpec = {
  category: "trace",
  name: "bind",
  summary: "sockets bound: every bind, with the address and port asked for, the protocol and the result",
  common: [...PROCESS_COMMON, ...PLACE_COMMON],
  columns: [
    ruleColumn("fd.num", { title: "FD", width: 4, align: "right" }),
    ruleColumn("fd.l4proto", { title: "PROTO", width: 5 }),
    {
      name: "bind.family",
      type: "string",
      desc: "Address family of the sockaddr asked for: inet, inet6, unix, netlink, packet (else its number).",
      title: "FAMILY",
      width: 6,
    },
    {
      name: "bind.addr",
      type: "string",
      desc: "The address asked for (IPv4, IPv6, or a unix socket's path, @ for abstract names).",
      title: "ADDR",
      width: 24,
    },
    {
      name: "bind.port",
      type: "port",
      desc: "The port asked for (0: the kernel chooses; fd.lport says which it chose).",
      title: "PORT",
      width: 5,
      align: "right",
    },
    ruleColumn("fd.lip", { title: "LIP", width: 24 }),
    ruleColumn("fd.lport", { title: "LPORT", width: 5, align: "right" }),
    ruleColumn("evt.res", { title: "ERR", width: 10 }),
    ruleColumn("evt.rawres", { title: "RET", width: 4, align: "right" }),
  ],
  defaults: [...PLACE_DEFAULTS, "proc.pid", "proc.name", "fd.l4proto", "bind.addr", "bind.port", "evt.res"],
  params: [
    {
      name: "ports",
      short: "P",
      type: "list",
      desc: "only binds to these local ports (asked for, or chosen by the kernel)",
    },
    { name: "ignore-errors", short: "i", type: "boolean", desc: "only binds that succeeded" },
  ],
  capture: { syscalls: ["bind"] },
  validate(params) {
    const p = parsePorts(params);
    return typeof p === "string" ? p : undefined;
  },
  start(ctx: GadgetContext): RunningSource {
    const ports = parsePorts(ctx.params);
    const want = new Set(typeof ports === "string" ? [] : ports);
    const ignoreErrors = ctx.params["ignore-errors"] === true;
    const capture = ctx.capture;
    if (capture === null) throw new Error("trace bind needs the capture path");
    capture.on((c: EventContext) => {
      const ev = c.sys;
      if (ev === null) return;
      if (ignoreErrors && ev.ret < 0) return;
      const sa = ev.sockaddrs.get(1) ?? null;
      const asked = sa === null || sa.family === AF_UNIX ? null : sa.port;
      const bound = lport(c);
      if (
        want.size > 0 &&
        !(asked !== null && want.has(asked)) &&
        !(typeof bound === "number" && want.has(bound))
      )
        return;
      ctx.emit({
        pid: ev.tgid,
        tid: ev.tid,
        cgroupId: ev.cgroupId,
        ts: ev.ts,
        fields: {
          "fd.num": fdNum(c),
          "fd.l4proto": l4proto(c),
          "bind.family": sa === null ? null : familyName(sa.family),
          "bind.addr": sa === null ? null : sa.addr,
          "bind.port": asked,
          "fd.lip": lip(c),
          "fd.lport": bound,
          "evt.res": res(c),
          "evt.rawres": ev.ret,
          "user.uid": ev.euid,
          "group.gid": ev.egid,
        },
      });
    });
    return { summary: "bind", stop: () => undefined };
  },
};
