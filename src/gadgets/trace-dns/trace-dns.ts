/**
 * trace dns: the DNS messages (queries and responses, over UDP and TCP) the selected pods'
 * sockets send and receive, parsed from the packets, with the process that owns the socket
 * and, for a response, how long after its query it came. Built on the packet programs
 * (../packets/): cgroup_skb copies the payloads to and from the DNS ports; user space puts
 * TCP streams back together and parses.
 */
import { clockOffsets } from "../../native/index.js";
import { ruleColumn } from "../capture-fields.js";
import { PLACE_COMMON, PLACE_DEFAULTS, PROCESS_COMMON } from "../common-columns.js";
import type { GadgetContext, GadgetSpec, ParamValues, RunningSource } from "../gadget.js";
import { dnsRcodeName, dnsTypeName, parseDnsMessage } from "../packets/dns-message.js";
import { DnsTcpStreams } from "../packets/dns-tcp-streams.js";
import {
  MAX_PORTS,
  PacketSource,
  packetEvent,
  packetsUnavailable,
  type Packet,
} from "../packets/packet-source.js";
import { QueryTable } from "./query-table.js";

const DEFAULT_PORTS = ["53"];
const DEFAULT_TIMEOUT_S = 10;

function ports(v: unknown): number[] | string {
  const list = Array.isArray(v) ? (v as string[]) : DEFAULT_PORTS;
  if (list.length === 0) return "--ports: expected one or more ports";
  if (list.length > MAX_PORTS) return `--ports: at most ${MAX_PORTS} ports, got ${list.length}`;
  const out: number[] = [];
  for (const s of list) {
    const n = Number(s);
    if (!/^\d+$/.test(s) || n < 1 || n > 65535) return `--ports: '${s}' is not a port (1-65535)`;
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

function timeoutS(v: unknown): number | string {
  if (v === undefined) return DEFAULT_TIMEOUT_S;
  const n = Number(v);
  if (typeof v !== "string" || v.trim() === "" || !Number.isFinite(n) || n <= 0)
    return `--dns-timeout: expected a positive number of seconds, got '${String(v)}'`;
  return n;
}

export const TRACE_DNS: GadgetSpec = {
  category: "trace",
  name: "dns",
  summary: "DNS queries and responses (UDP and TCP) from packets, with the process, the pod and the latency",
  common: [...PROCESS_COMMON, ...PLACE_COMMON],
  columns: [
    {
      name: "dns.pkt_type",
      type: "string",
      desc: "OUTGOING: the socket sent the message; HOST: the socket received it.",
      title: "PKT",
      width: 8,
    },
    { name: "dns.qr", type: "string", desc: "Q for a query, R for a response.", title: "QR", width: 2 },
    {
      name: "dns.id",
      type: "uint32",
      desc: "The message's id (a response has its query's).",
      title: "ID",
      width: 5,
      align: "right",
    },
    {
      name: "dns.qtype",
      type: "string",
      desc: "The type asked for (A, AAAA, MX...; TYPE<n> for others): the first question's.",
      title: "QTYPE",
      width: 6,
    },
    {
      name: "dns.name",
      type: "string",
      desc: "The name asked for, with its final dot: the first question's.",
      title: "NAME",
      width: 30,
    },
    {
      name: "dns.rcode",
      type: "string",
      desc: "A response's code: NoError, NXDomain, ServFail, Refused... (null for a query).",
      title: "RCODE",
      width: 8,
    },
    {
      name: "dns.num_answers",
      type: "uint32",
      desc: "The number of answer records the message says it has.",
      title: "ANSWERS",
      width: 7,
      align: "right",
    },
    {
      name: "dns.addresses",
      type: "list(string)",
      desc: "A response's A and AAAA answers, in order (null for a query).",
      title: "ADDRESSES",
      width: 30,
    },
    {
      name: "dns.latency_ns",
      type: "reltime",
      desc: "A response's time since its query, in ns, both seen by the same socket (null when the query was not seen or waited longer than --dns-timeout).",
      title: "LATENCY",
      width: 10,
      align: "right",
    },
    {
      name: "dns.partial",
      type: "bool",
      desc: "Part of the message was not seen (longer than the 16 KiB copied per packet, or a TCP segment lost): the fields after the cut are unknown.",
      title: "PARTIAL",
      width: 7,
    },
    ruleColumn("fd.l4proto", { title: "PROTO", width: 5 }),
    ruleColumn("fd.cip", { title: "CLIENT", width: 16 }),
    ruleColumn("fd.cport", { title: "CPORT", width: 5, align: "right" }),
    ruleColumn("fd.sip", { title: "SERVER", width: 16 }),
    ruleColumn("fd.sport", { title: "SPORT", width: 5, align: "right" }),
  ],
  defaults: [
    ...PLACE_DEFAULTS,
    "proc.pid",
    "proc.name",
    "dns.pkt_type",
    "dns.qr",
    "dns.qtype",
    "dns.name",
    "dns.rcode",
    "dns.num_answers",
    "dns.latency_ns",
    "dns.addresses",
  ],
  params: [
    {
      name: "ports",
      short: "P",
      type: "list",
      desc: `DNS ports: messages to or from them are parsed (UDP and TCP, at most ${MAX_PORTS})`,
      default: DEFAULT_PORTS,
    },
    {
      name: "dns-timeout",
      type: "string",
      desc: "seconds a query waits for its response (a later response has no latency)",
      default: String(DEFAULT_TIMEOUT_S),
    },
  ],
  validate(params: ParamValues): string | undefined {
    const p = ports(params["ports"]);
    if (typeof p === "string") return p;
    const t = timeoutS(params["dns-timeout"]);
    return typeof t === "string" ? t : undefined;
  },
  unavailable: packetsUnavailable,
  start(ctx: GadgetContext): RunningSource {
    const portList = ports(ctx.params["ports"]) as number[];
    const timeoutNs = (timeoutS(ctx.params["dns-timeout"]) as number) * 1e9;
    const queries = new QueryTable(timeoutNs);
    const streams = new DnsTcpStreams({ idleMs: Math.max(30_000, timeoutNs / 1e6) });
    let reportedStreams = 0;

    const onMessage = (p: Packet, bytes: Uint8Array, cut: boolean, ts: number): void => {
      const m = parseDnsMessage(bytes);
      if (m === null) return; // shorter than a DNS header: not DNS
      const q = m.questions[0];
      const query = !m.response;
      // a query goes from the client to the server, a response back
      const [cip, cport, sip, sport] = query
        ? [p.src, p.sport, p.dst, p.dport]
        : [p.dst, p.dport, p.src, p.sport];
      // the socket's view: its own query and the response to it (client side), or a query
      // it received and its response to it (server side)
      const side = p.egress === query ? "c" : "s";
      const remote = p.egress ? `${p.dst}/${p.dport}` : `${p.src}/${p.sport}`;
      const key = `${p.cookie}/${side}/${m.id}/${remote}`;
      let latency: number | null = null;
      if (query) queries.add(key, ts);
      else latency = queries.answer(key, ts);
      const addresses: string[] = [];
      for (const a of m.answers) if (a.address !== null) addresses.push(a.address);
      ctx.emit(
        packetEvent(p, ts, {
          "dns.pkt_type": p.egress ? "OUTGOING" : "HOST",
          "dns.qr": query ? "Q" : "R",
          "dns.id": m.id,
          "dns.qtype": q === undefined ? null : dnsTypeName(q.type),
          "dns.name": q === undefined ? null : q.name,
          "dns.rcode": query ? null : dnsRcodeName(m.rcode),
          "dns.num_answers": m.ancount,
          "dns.addresses": query ? null : addresses,
          "dns.latency_ns": latency,
          "dns.partial": cut || !m.complete,
          "fd.l4proto": p.proto,
          "fd.cip": cip,
          "fd.cport": cport,
          "fd.sip": sip,
          "fd.sport": sport,
        }),
      );
    };

    const source = PacketSource.start({
      mode: "dns",
      ports: portList,
      kernelFilter: ctx.kernelFilter,
      onPacket: (p) => {
        if (p.proto === "udp") {
          onMessage(p, p.data, p.payloadLen > p.data.length, p.header.ts);
          return;
        }
        const key = `${p.cookie}/${p.egress ? "o" : "i"}`;
        for (const m of streams.push(key, p.seq, p.data, p.payloadLen, p.header.ts, Date.now()))
          onMessage(p, m.bytes, m.missing, m.ts);
      },
    });
    const timer = setInterval(() => {
      queries.expire(Number(clockOffsets().boottimeNs));
      streams.expire(Date.now());
      if (streams.evicted > reportedStreams) {
        ctx.lost(
          streams.evicted - reportedStreams,
          "DNS over TCP: more than 512 connections at once (the oldest dropped)",
        );
        reportedStreams = streams.evicted;
      }
    }, 1000);
    return {
      summary: source.summary,
      lost: () => source.lost(),
      drain: () => source.drain(),
      stop: () => {
        clearInterval(timer);
        source.close();
      },
    };
  },
};
