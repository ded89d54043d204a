/**
 * trace sni: the server name (and ALPN protocols) of every TLS ClientHello the selected
 * pods' TCP sockets send or receive, with the socket's process and both ends. Built on the
 * packet programs (../packets/): cgroup_skb copies a connection's ClientHello (and the
 * segments it continues over) and user space parses it.
 */
import { ruleColumn } from "../capture-fields.js";
import { PLACE_COMMON, PLACE_DEFAULTS, PROCESS_COMMON } from "../common-columns.js";
import type { GadgetContext, GadgetSpec, RunningSource } from "../gadget.js";
import { PacketSource, packetEvent, packetsUnavailable, type Packet } from "../packets/packet-source.js";
import { parseClientHello } from "../packets/tls-client-hello.js";
import { HelloAssembler, type Hello } from "./hello-assembler.js";

export const TRACE_SNI: GadgetSpec = {
  category: "trace",
  name: "sni",
  summary: "TLS ClientHellos from packets: the server name asked for, with the process and the pod",
  common: [...PROCESS_COMMON, ...PLACE_COMMON],
  columns: [
    {
      name: "sni.pkt_type",
      type: "string",
      desc: "OUTGOING: the socket sent the ClientHello (the client); HOST: the socket received it (the server).",
      title: "PKT",
      width: 8,
    },
    {
      name: "sni.name",
      type: "string",
      desc: "The server name (host_name of the server_name extension); null when the ClientHello has none.",
      title: "NAME",
      width: 30,
    },
    {
      name: "sni.alpn",
      type: "list(string)",
      desc: "The application protocols offered (ALPN), in order; empty when none.",
      title: "ALPN",
      width: 16,
    },
    {
      name: "sni.partial",
      type: "bool",
      desc: "Part of the ClientHello was not seen (a segment lost or never sent): what comes after the cut is unknown.",
      title: "PARTIAL",
      width: 7,
    },
    ruleColumn("fd.cip", { title: "CLIENT", width: 16 }),
    ruleColumn("fd.cport", { title: "CPORT", width: 5, align: "right" }),
    ruleColumn("fd.sip", { title: "SERVER", width: 16 }),
    ruleColumn("fd.sport", { title: "SPORT", width: 5, align: "right" }),
  ],
  defaults: [...PLACE_DEFAULTS, "proc.pid", "proc.name", "sni.pkt_type", "fd.sip", "fd.sport", "sni.name"],
  params: [],
  unavailable: packetsUnavailable,
  start(ctx: GadgetContext): RunningSource {
    const hellos = new HelloAssembler<Packet>();
    const report = (h: Hello<Packet>): void => {
      const p = h.first;
      const ch = parseClientHello(h.bytes);
      if (ch === null) return;
      ctx.emit(
        packetEvent(p, h.ts, {
          "sni.pkt_type": p.egress ? "OUTGOING" : "HOST",
          "sni.name": ch.serverName,
          "sni.alpn": ch.alpn,
          "sni.partial": !ch.complete,
          // the client sends the ClientHello: the packet's source, whichever socket saw it
          "fd.cip": p.src,
          "fd.cport": p.sport,
          "fd.sip": p.dst,
          "fd.sport": p.dport,
        }),
      );
    };
    const source = PacketSource.start({
      mode: "sni",
      kernelFilter: ctx.kernelFilter,
      onPacket: (p) => {
        const key = `${p.cookie}/${p.egress ? "o" : "i"}`;
        const more = p.payloadLen > p.data.length;
        for (const h of hellos.push(key, p, p.data, p.cont, more, p.header.ts, Date.now())) report(h);
      },
    });
    const timer = setInterval(() => {
      for (const h of hellos.expire(Date.now())) report(h);
    }, 250);
    return {
      summary: source.summary,
      lost: () => source.lost(),
      drain: () => {
        source.drain();
        for (const h of hellos.flush()) report(h);
      },
      stop: () => {
        clearInterval(timer);
        source.close();
      },
    };
  },
};
