/**
 * A TCP connection's two ends as trace tcp and top tcp show them: the rules' local and remote
 * fields (fd.lip, fd.lport, fd.rip, fd.rport), the IP version (tcp.family) and the columns
 * `src` and `dst` (`10.0.0.1:80`, `[::1]:8080`). Kernel tuples (struct lng_sock_tuple) are
 * formatted by the capture path's own sockaddr decoder, so an address reads the same in both.
 */
import { AF_INET, AF_INET6, parseSockaddr } from "../../decode/sockaddr.js";
import type { ColumnSpec, GadgetRecord } from "../gadget.js";
import { ruleColumn } from "../capture-fields.js";

export interface Ends {
  /** 4 or 6 (an IPv4 connection on an IPv6 socket is 4) */
  readonly ipver: 4 | 6;
  readonly lip: string | null;
  readonly lport: number | null;
  readonly rip: string | null;
  readonly rport: number | null;
}

/** The fields of both ends, with their columns (shared by trace tcp and top tcp). */
export const ENDPOINT_COLUMNS: readonly ColumnSpec[] = [
  {
    name: "tcp.family",
    type: "int64",
    desc: "IP version of the connection: 4 or 6 (IPv4 on a dual-stack IPv6 socket is 4).",
    title: "IP",
    width: 2,
    align: "right",
  },
  {
    name: "tcp.src",
    type: "string",
    desc: "The local end, address:port ([address]:port for IPv6).",
    title: "SRC",
    width: 24,
  },
  {
    name: "tcp.dst",
    type: "string",
    desc: "The remote end, address:port ([address]:port for IPv6).",
    title: "DST",
    width: 24,
  },
  ruleColumn("fd.lip", { title: "LIP", width: 16 }),
  ruleColumn("fd.lport", { title: "LPORT", width: 5, align: "right" }),
  ruleColumn("fd.rip", { title: "RIP", width: 16 }),
  ruleColumn("fd.rport", { title: "RPORT", width: 5, align: "right" }),
];

/** `addr:port`, `[addr]:port` for IPv6; null when the address is unknown. */
export function endpointText(ip: string | null, port: number | null): string | null {
  if (ip === null) return null;
  const p = port ?? 0;
  return ip.includes(":") ? `[${ip}]:${p}` : `${ip}:${p}`;
}

/** The record fields of both ends. */
export function endsFields(e: Ends): GadgetRecord {
  return {
    "tcp.family": e.ipver,
    "tcp.src": endpointText(e.lip, e.lport),
    "tcp.dst": endpointText(e.rip, e.rport),
    "fd.lip": e.lip,
    "fd.lport": e.lport,
    "fd.rip": e.rip,
    "fd.rport": e.rport,
  };
}

const scratch = Buffer.alloc(28);

/** An address as the capture path's decoder writes it (IPv4 from 4 bytes, IPv6 from 16). */
export function addressText(bytes: Buffer, off: number, ipver: 4 | 6): string {
  scratch.fill(0);
  if (ipver === 4) {
    scratch.writeUInt16LE(AF_INET, 0);
    bytes.copy(scratch, 4, off, off + 4);
    return parseSockaddr(scratch, 0, 16)?.addr ?? "";
  }
  scratch.writeUInt16LE(AF_INET6, 0);
  bytes.copy(scratch, 8, off, off + 16);
  return parseSockaddr(scratch, 0, 28)?.addr ?? "";
}

/** Offsets of a struct lng_sock_tuple inside a record (from a layout.generated.ts). */
export interface TupleLayout {
  readonly LADDR: number;
  readonly RADDR: number;
  readonly LPORT: number;
  readonly RPORT: number;
  readonly IPVER: number;
}

/** Both ends of a kernel tuple at `off` (tuple offsets relative to the record). */
export function readEnds(buf: Buffer, off: number, t: TupleLayout): Ends {
  const ipver = buf.readUInt8(off + t.IPVER) === 6 ? 6 : 4;
  return {
    ipver,
    lip: addressText(buf, off + t.LADDR, ipver),
    lport: buf.readUInt16LE(off + t.LPORT),
    rip: addressText(buf, off + t.RADDR, ipver),
    rport: buf.readUInt16LE(off + t.RPORT),
  };
}
