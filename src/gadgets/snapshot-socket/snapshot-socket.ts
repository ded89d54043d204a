/**
 * snapshot socket: the TCP and UDP sockets the selected containers' processes hold now,
 * with their states, addresses and owners. A task_file iterator (program.bpf.c) follows
 * every socket fd of every selected process to its struct sock, in whatever network
 * namespace it is: per-namespace socket iterators (iter/tcp, iter/udp) would have to be
 * created from inside each container's namespace, which needs setns into it.
 */
import { ipv4, ipv6 } from "../../decode/sockaddr.js";
import { errorMessage, LannerError } from "../../errors.js";
import type { BpfLink } from "../../native/index.js";
import { ruleColumn } from "../capture-fields.js";
import { PLACE_COMMON, PLACE_DEFAULTS } from "../common-columns.js";
import type {
  GadgetContext,
  GadgetSpec,
  KernelFilter,
  ParamValues,
  RunningSource,
  SourceEvent,
} from "../gadget.js";
import { GadgetObject, headerEvent, readHeader, u8 } from "../kernel-object.js";
import { LNG_SOCKET, LNG_SOCKET_PROTOS } from "./layout.generated.js";

const AF_INET = 2;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** include/net/tcp_states.h */
const TCP_STATES = [
  "",
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECV",
  "FIN_WAIT1",
  "FIN_WAIT2",
  "TIME_WAIT",
  "CLOSE",
  "CLOSE_WAIT",
  "LAST_ACK",
  "LISTEN",
  "CLOSING",
  "NEW_SYN_RECV",
  "BOUND_INACTIVE",
];

/** TCP: the kernel's state name; UDP: ESTABLISHED when connected, else UNCONNECTED. */
export function stateName(proto: number, state: number): string {
  if (proto === IPPROTO_UDP) return state === 1 ? "ESTABLISHED" : "UNCONNECTED";
  return TCP_STATES[state] ?? `STATE_${state}`;
}

function endpoint(family: number, ip: string, port: number): string {
  return family === AF_INET || !ip.includes(":") ? `${ip}:${port}` : `[${ip}]:${port}`;
}

/** One iteration's records as source events (owner in the header). */
export function decodeSockets(data: Buffer): SourceEvent[] {
  const out: SourceEvent[] = [];
  for (let off = 0; off + LNG_SOCKET.SIZEOF <= data.length; off += LNG_SOCKET.SIZEOF) {
    const family = data.readUInt16LE(off + LNG_SOCKET.FAMILY);
    const proto = data.readUInt16LE(off + LNG_SOCKET.PROTO);
    const ip = (at: number): string => (family === AF_INET ? ipv4(data, at) : ipv6(data, at));
    const lip = ip(off + LNG_SOCKET.LADDR);
    const rip = ip(off + LNG_SOCKET.RADDR);
    const lport = data.readUInt16LE(off + LNG_SOCKET.LPORT);
    const rport = data.readUInt16LE(off + LNG_SOCKET.RPORT);
    out.push(
      headerEvent(readHeader(data, off), {
        "fd.num": data.readUInt32LE(off + LNG_SOCKET.FD),
        "fd.type": family === AF_INET ? "ipv4" : "ipv6",
        "fd.l4proto": proto === IPPROTO_TCP ? "tcp" : "udp",
        "fd.lip": lip,
        "fd.lport": lport,
        "fd.rip": rip,
        "fd.rport": rport,
        "socket.local": endpoint(family, lip, lport),
        "socket.remote": endpoint(family, rip, rport),
        "socket.state": stateName(proto, data.readUInt8(off + LNG_SOCKET.STATE)),
        "socket.inode": data.readBigUInt64LE(off + LNG_SOCKET.INO),
        "socket.netns": data.readBigUInt64LE(off + LNG_SOCKET.NETNS),
        "socket.rx_queue": data.readUInt32LE(off + LNG_SOCKET.RX_QUEUE),
        "socket.tx_queue": data.readUInt32LE(off + LNG_SOCKET.TX_QUEUE),
      }),
    );
  }
  return out;
}

const NO_SELECTION: KernelFilter = { active: false, onVerdict: () => () => undefined };
let probed: string | undefined | null = null;

/** Why the iterator cannot run here (loading and attaching it once tells), or undefined. */
function iteratorMissing(): string | undefined {
  if (probed !== null) return probed;
  try {
    const g = GadgetObject.load({ dir: "snapshot-socket", kernelFilter: NO_SELECTION, ringBytes: 4096 });
    try {
      g.obj.program("lng_snapshot_socket").attach({ kind: "iter" });
      probed = undefined;
    } finally {
      g.close();
    }
  } catch (e) {
    probed = `the task_file iterator (iter/task_file with bpf_sock_from_file) is refused: ${errorMessage(e).split("\n")[0] ?? ""}`;
  }
  return probed;
}

function protos(params: ParamValues): number {
  const p = params["proto"] ?? "all";
  return p === "tcp"
    ? LNG_SOCKET_PROTOS.LNG_SOCKET_TCP
    : p === "udp"
      ? LNG_SOCKET_PROTOS.LNG_SOCKET_UDP
      : LNG_SOCKET_PROTOS.LNG_SOCKET_TCP | LNG_SOCKET_PROTOS.LNG_SOCKET_UDP;
}

export const SNAPSHOT_SOCKET: GadgetSpec = {
  category: "snapshot",
  name: "socket",
  summary: "the TCP and UDP sockets of the selected containers now, with states and owners",
  common: ["proc.pid", "proc.ppid", "proc.name", "user.uid", "group.gid", ...PLACE_COMMON],
  columns: [
    ruleColumn("fd.num", { title: "FD", width: 4, align: "right" }),
    ruleColumn("fd.l4proto", { title: "PROTOCOL", width: 8 }),
    ruleColumn("fd.type", { title: "FAMILY", width: 6 }),
    {
      name: "socket.local",
      type: "string",
      desc: "The local end, address:port ([address]:port for IPv6).",
      title: "LOCAL",
      width: 24,
    },
    {
      name: "socket.remote",
      type: "string",
      desc: "The remote end, address:port (0.0.0.0:0 or [::]:0 when not connected).",
      title: "REMOTE",
      width: 24,
    },
    {
      name: "socket.state",
      type: "string",
      desc: "TCP: the kernel's state (LISTEN, ESTABLISHED, CLOSE_WAIT...); UDP: ESTABLISHED when connected, else UNCONNECTED.",
      title: "STATE",
      width: 11,
    },
    ruleColumn("fd.lip", { title: "LIP", width: 16 }),
    ruleColumn("fd.lport", { title: "LPORT", width: 5, align: "right" }),
    ruleColumn("fd.rip", { title: "RIP", width: 16 }),
    ruleColumn("fd.rport", { title: "RPORT", width: 5, align: "right" }),
    {
      name: "socket.inode",
      type: "uint64",
      desc: "The socket's inode number (socket:[N] in /proc/PID/fd).",
      title: "INODE",
      width: 9,
      align: "right",
    },
    {
      name: "socket.netns",
      type: "uint64",
      desc: "Inode number of the socket's network namespace (net:[N]).",
      title: "NETNS",
      width: 10,
      align: "right",
    },
    {
      name: "socket.rx_queue",
      type: "uint32",
      desc: "As /proc/net/tcp and udp show it: a listener's accept queue; other TCP sockets: bytes not read yet; UDP: receive queue memory.",
      title: "RECV-Q",
      width: 6,
      align: "right",
    },
    {
      name: "socket.tx_queue",
      type: "uint32",
      desc: "As /proc/net/tcp and udp show it: a listener's accept queue limit; other TCP sockets: bytes not acknowledged yet; UDP: send queue memory.",
      title: "SEND-Q",
      width: 6,
      align: "right",
    },
  ],
  defaults: [
    ...PLACE_DEFAULTS,
    "proc.name",
    "proc.pid",
    "fd.l4proto",
    "socket.local",
    "socket.remote",
    "socket.state",
  ],
  defaultSort: [
    "k8s.ns.name",
    "k8s.pod.name",
    "container.name",
    "fd.l4proto",
    "fd.lport",
    "proc.pid",
    "fd.num",
  ],
  params: [
    {
      name: "proto",
      type: "string",
      desc: "the sockets of this protocol: all, tcp or udp",
      default: "all",
    },
  ],
  validate(params: ParamValues): string | undefined {
    const p = params["proto"] ?? "all";
    if (p !== "all" && p !== "tcp" && p !== "udp")
      return `--proto: expected all, tcp or udp, got '${String(p)}'`;
    return undefined;
  },
  unavailable: iteratorMissing,
  start(ctx: GadgetContext): RunningSource {
    let obj: GadgetObject | null = null;
    let link: BpfLink;
    try {
      obj = GadgetObject.load({
        dir: "snapshot-socket",
        kernelFilter: ctx.kernelFilter,
        ringBytes: 4096, // the iterator writes to its seq file, not to the ring
        globals: { lng_protos: u8(protos(ctx.params)) },
      });
      link = obj.obj.program("lng_snapshot_socket").attach({ kind: "iter" });
    } catch (e) {
      obj?.close();
      throw new LannerError(
        "ENOTSUP",
        `the task_file iterator (iter/task_file, bpf_sock_from_file) is needed: ${errorMessage(e).split("\n")[0] ?? ""}`,
        { cause: e },
      );
    }
    return {
      summary: "source=iter/task_file",
      collect(): SourceEvent[] {
        const r = link.readIter();
        if (r.truncated) ctx.lost(1, "snapshot larger than 64 MiB: the rest is not shown");
        return decodeSockets(r.data);
      },
      stop: () => obj?.close(),
    };
  },
};
