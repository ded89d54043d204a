/**
 * The packet gadgets' source (trace dns, trace sni): loads program.bpf.c in one mode,
 * attaches its packet programs (cgroup_skb egress and ingress) and its socket-owner programs
 * (cgroup sock_create, post_bind, connect, sendmsg; the BTF tracepoints sock_send_length and
 * sock_recv_length where the kernel has them, cgroup recvmsg where not) to the cgroup v2
 * root, and decodes its records into packets.
 *
 * A packet can come before its socket's process is known: the first packet a server
 * receives on a socket older than the gadget (or accepted from a listener older than it),
 * before the server reads it. Such packets wait a little (`lateMs`), then the kernel's
 * cookie -> process map (lng_owners, written whenever a process uses a socket) is asked
 * again; the packets of a socket stay in order (a socket's later packets wait behind).
 */
import { readFileSync } from "node:fs";
import { LannerError, errorMessage } from "../../errors.js";
import { findCgroup2Mount } from "../../state/containers/cgroup-resolver.js";
import type { GadgetRecord, KernelFilter, SourceEvent } from "../gadget.js";
import {
  cString,
  GadgetObject,
  hasTpBtf,
  headerEvent,
  readHeader,
  u32,
  u8,
  type Attached,
  type GadgetHeader,
} from "../kernel-object.js";
import { ipText } from "./ip-text.js";
import {
  LNG_OWNER,
  LNG_PKT,
  LNG_PKT_DIR,
  LNG_PKT_FLAG,
  LNG_PKT_LIMIT,
  LNG_PKT_MODE,
} from "./layout.generated.js";

export type PacketMode = "dns" | "sni";

/** One packet of interest, as a socket sent or received it. */
export interface Packet {
  /** the socket's process (when `owned`), its cgroup, the time (boot ns) */
  readonly header: GadgetHeader;
  /** the header names the socket's process; false: only its cgroup is known */
  readonly owned: boolean;
  readonly cookie: bigint;
  /** sent by the socket (false: received) */
  readonly egress: boolean;
  readonly proto: "tcp" | "udp";
  readonly family: 4 | 6;
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly dport: number;
  /** TCP: sequence number of the payload's first byte */
  readonly seq: number;
  /** the payload's length in the packet (more than data.length when cut) */
  readonly payloadLen: number;
  /** the payload bytes copied (a copy of its own) */
  readonly data: Buffer;
  /** SNI: a later segment of a ClientHello */
  readonly cont: boolean;
}

export interface PacketSourceOptions {
  readonly mode: PacketMode;
  /** dns: the ports (either end) */
  readonly ports?: readonly number[];
  readonly kernelFilter: KernelFilter;
  readonly onPacket: (p: Packet) => void;
  /** ring bytes (power of two); default 4 MiB */
  readonly ringBytes?: number;
  /** how long a packet of a socket without a known process waits for it (ms); default 250 */
  readonly lateMs?: number;
}

/** Packets (and their bytes) waiting for their sockets' processes, at most: then the oldest
 * socket's go on without waiting longer. */
const MAX_HELD = 4096;
const MAX_HELD_BYTES = 8 << 20;

/** The programs that make the packets, and the ones that name their processes. */
const PACKET_PROGRAMS = [
  ["lng_egress", "cgroup_skb egress"],
  ["lng_ingress", "cgroup_skb ingress"],
] as const;
const OWNER_PROGRAMS = [
  ["lng_sock_create", "cgroup sock_create"],
  ["lng_post_bind4", "cgroup post_bind4"],
  ["lng_post_bind6", "cgroup post_bind6"],
  ["lng_connect4", "cgroup connect4"],
  ["lng_connect6", "cgroup connect6"],
  // before an unconnected UDP send's packet (the tracepoints come after it)
  ["lng_sendmsg4", "cgroup sendmsg4"],
  ["lng_sendmsg6", "cgroup sendmsg6"],
] as const;
/** every send and receive, in the caller's context; without them, UDP receives */
const TRACEPOINT_PROGRAMS = [
  ["lng_send_length", "tp_btf sock/sock_send_length"],
  ["lng_recv_length", "tp_btf sock/sock_recv_length"],
] as const;
const FALLBACK_PROGRAMS = [
  ["lng_recvmsg4", "cgroup recvmsg4"],
  ["lng_recvmsg6", "cgroup recvmsg6"],
] as const;

/** The programs to load: the tracepoints where the kernel has BTF tracepoints, else the
 * receive hooks they make redundant. */
function wanted(tp: boolean): (name: string) => boolean {
  return (name) => (name.endsWith("_length") ? tp : name.startsWith("lng_recvmsg") ? !tp : true);
}

export const MAX_PORTS = LNG_PKT_LIMIT.LNG_PORTS_MAX;

/** The cgroup v2 mount (where the programs attach), or null. */
export function cgroup2Root(): string | null {
  try {
    return findCgroup2Mount(readFileSync("/proc/self/mountinfo", "utf8"));
  } catch {
    return null;
  }
}

let loadable: string | undefined | null = null;

/** Why the packet programs cannot run here, or undefined. Loads them once to find out. */
export function packetsUnavailable(): string | undefined {
  if (cgroup2Root() === null)
    return "no cgroup v2 hierarchy is mounted (the packet programs attach to its root)";
  if (loadable !== null) return loadable;
  try {
    const g = GadgetObject.load({
      dir: "packets",
      kernelFilter: { active: false, onVerdict: () => () => undefined },
      programs: wanted(hasTpBtf()),
      ringBytes: 4096,
    });
    g.close();
    loadable = undefined;
  } catch (e) {
    loadable = `the packet programs do not load (cgroup_skb, cgroup socket programs, socket storage): ${errorMessage(e).split("\n")[0] ?? ""}`;
  }
  return loadable;
}

function portsGlobal(ports: readonly number[]): Buffer {
  const b = Buffer.alloc(2 * MAX_PORTS);
  ports.forEach((p, i) => b.writeUInt16LE(p, 2 * i));
  return b;
}

export class PacketSource {
  private obj!: GadgetObject;
  /** what runs, for the readiness line */
  summary = "";
  /** owner programs the kernel refused (their packets may lack a process) */
  readonly missing: string[] = [];
  /** packets waiting for their socket's process, by socket (oldest first) */
  private readonly held = new Map<bigint, { since: number; packets: Packet[] }>();
  private heldCount = 0;
  private heldBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly ownerKey = Buffer.alloc(8);
  private ownerValue: Buffer | null = null;
  /** packets that waited and found their process; that waited in vain */
  lateOwned = 0;
  lateUnowned = 0;

  private constructor(
    private readonly onPacket: (p: Packet) => void,
    private readonly lateMs: number,
  ) {}

  static start(o: PacketSourceOptions): PacketSource {
    const root = cgroup2Root();
    if (root === null)
      throw new LannerError(
        "ENOTSUP",
        "no cgroup v2 hierarchy is mounted (the packet programs attach to its root)",
      );
    const ports = o.ports ?? [];
    if (ports.length > MAX_PORTS) throw new LannerError("EUSAGE", `at most ${MAX_PORTS} ports`);
    const tp = hasTpBtf();
    const src = new PacketSource(o.onPacket, o.lateMs ?? 250);
    const obj = GadgetObject.load({
      dir: "packets",
      kernelFilter: o.kernelFilter,
      programs: wanted(tp),
      globals: {
        lng_mode: u8(o.mode === "dns" ? LNG_PKT_MODE.LNG_MODE_DNS : LNG_PKT_MODE.LNG_MODE_SNI),
        lng_ports: portsGlobal(ports),
        lng_nports: u32(ports.length),
      },
      ...(o.ringBytes !== undefined ? { ringBytes: o.ringBytes } : {}),
      onRecord: (buf, off, len) => {
        const p = decodePacket(buf, off, len);
        if (p !== null) src.accept(p);
      },
    });
    src.obj = obj;
    const missing = src.missing;
    try {
      // the owners first, so that the first packets already find their sockets' processes
      for (const [prog, how] of OWNER_PROGRAMS) {
        try {
          obj.attach(root, [{ program: prog, spec: { kind: "cgroup", path: root }, how }]);
        } catch {
          missing.push(how);
        }
      }
      if (tp)
        for (const [prog, how] of TRACEPOINT_PROGRAMS) {
          try {
            obj.attach(how.split(" ")[1] ?? how, [{ program: prog, spec: { kind: "trace" }, how }]);
          } catch {
            missing.push(how);
          }
        }
      else {
        missing.push(...TRACEPOINT_PROGRAMS.map(([, how]) => how));
        for (const [prog, how] of FALLBACK_PROGRAMS) {
          try {
            obj.attach(root, [{ program: prog, spec: { kind: "cgroup", path: root }, how }]);
          } catch {
            missing.push(how);
          }
        }
      }
      for (const [prog, how] of PACKET_PROGRAMS)
        obj.attach(root, [{ program: prog, spec: { kind: "cgroup", path: root }, how }]);
    } catch (e) {
      obj.close();
      throw e;
    }
    const n = obj.attached.length;
    src.summary =
      `programs=${n} (cgroup_skb on ${root}` +
      (missing.length > 0 ? `; without ${missing.join(", ")}` : "") +
      ")";
    src.timer = setInterval(() => src.releaseDue(Date.now()), Math.max(10, Math.min(50, src.lateMs / 2)));
    return src;
  }

  /** A decoded packet: delivered now, or held until its socket's process is known. */
  private accept(p: Packet): void {
    const h = this.held.get(p.cookie);
    if (h !== undefined)
      h.packets.push(p); // behind its socket's earlier packets
    else if (p.owned || this.lateMs <= 0) {
      this.onPacket(p);
      return;
    } else this.held.set(p.cookie, { since: Date.now(), packets: [p] });
    this.heldCount++;
    this.heldBytes += p.data.length;
    while (this.heldCount > MAX_HELD || this.heldBytes > MAX_HELD_BYTES)
      this.release(this.held.keys().next().value as bigint);
  }

  private releaseDue(now: number): void {
    for (const [cookie, h] of this.held) {
      if (now - h.since < this.lateMs) break; // the rest came later
      this.release(cookie);
    }
  }

  /** Delivers a socket's held packets, with its process if the kernel knows it by now. */
  private release(cookie: bigint): void {
    const h = this.held.get(cookie);
    if (h === undefined) return;
    this.held.delete(cookie);
    this.heldCount -= h.packets.length;
    for (const p of h.packets) this.heldBytes -= p.data.length;
    const owner = this.ownerOf(cookie);
    for (const p of h.packets) {
      if (p.owned) this.onPacket(p);
      else if (owner === null) {
        this.lateUnowned++;
        this.onPacket(p);
      } else {
        this.lateOwned++;
        this.onPacket({
          ...p,
          owned: true,
          header: { ...owner, ts: p.header.ts, cgroupId: p.header.cgroupId, kind: p.header.kind },
        });
      }
    }
  }

  /** The process the kernel last saw with socket `cookie`, or null. */
  private ownerOf(cookie: bigint): Omit<GadgetHeader, "ts" | "cgroupId" | "kind"> | null {
    const m = this.obj.obj.map("lng_owners");
    this.ownerValue ??= Buffer.alloc(m.valueBufferSize);
    const v = this.ownerValue;
    this.ownerKey.writeBigUInt64LE(cookie);
    try {
      if (!m.lookup(this.ownerKey, v)) return null;
    } catch {
      return null;
    }
    const pid = v.readUInt32LE(LNG_OWNER.PID);
    if (pid === 0) return null;
    return {
      mntns: v.readBigUInt64LE(LNG_OWNER.MNTNS),
      pid,
      tid: v.readUInt32LE(LNG_OWNER.TID),
      ppid: v.readUInt32LE(LNG_OWNER.PPID),
      uid: v.readUInt32LE(LNG_OWNER.UID),
      gid: v.readUInt32LE(LNG_OWNER.GID),
      comm: cString(v, LNG_OWNER.COMM, 16),
    };
  }

  get attached(): readonly Attached[] {
    return this.obj.attached;
  }

  lost(): number {
    return this.obj.lost();
  }

  /** Delivers what the kernel holds now and every held packet (with its process if known). */
  drain(): void {
    this.obj.drain();
    for (const cookie of [...this.held.keys()]) this.release(cookie);
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.held.clear();
    this.heldCount = 0;
    this.heldBytes = 0;
    this.obj.close();
  }
}

/** A record of program.bpf.c, or null when it is malformed. */
export function decodePacket(buf: Buffer, off: number, len: number): Packet | null {
  if (len < LNG_PKT.SIZEOF) return null;
  const cap = buf.readUInt16LE(off + LNG_PKT.CAP_LEN);
  if (LNG_PKT.SIZEOF + cap > len) return null;
  const flags = buf[off + LNG_PKT.FLAGS] as number;
  const family = buf[off + LNG_PKT.FAMILY] === 6 ? 6 : 4;
  const header = readHeader(buf, off);
  const dataOff = off + LNG_PKT.SIZEOF;
  return {
    header,
    owned: (flags & LNG_PKT_FLAG.LNG_PKT_OWNED) !== 0,
    cookie: buf.readBigUInt64LE(off + LNG_PKT.COOKIE),
    egress: buf[off + LNG_PKT.DIR] === LNG_PKT_DIR.LNG_DIR_EGRESS,
    proto: buf[off + LNG_PKT.PROTO] === 6 ? "tcp" : "udp",
    family,
    src: ipText(family, buf, off + LNG_PKT.SADDR),
    sport: buf.readUInt16LE(off + LNG_PKT.SPORT),
    dst: ipText(family, buf, off + LNG_PKT.DADDR),
    dport: buf.readUInt16LE(off + LNG_PKT.DPORT),
    seq: buf.readUInt32LE(off + LNG_PKT.SEQ),
    payloadLen: buf.readUInt32LE(off + LNG_PKT.PAYLOAD_LEN),
    data: Buffer.from(buf.subarray(dataOff, dataOff + cap)),
    cont: (flags & LNG_PKT_FLAG.LNG_PKT_CONT) !== 0,
  };
}

/**
 * The source event of a packet's record: the socket's process as the kernel last saw it
 * use the socket, or, for a socket no process was seen with, only its cgroup (the container
 * and pod are still known; the process columns are empty).
 */
export function packetEvent(p: Packet, ts: number, fields: GadgetRecord): SourceEvent {
  if (p.owned) return { ...headerEvent(p.header, fields), ts };
  return { pid: 0, cgroupId: p.header.cgroupId, ts, fields };
}
