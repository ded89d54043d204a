/** Socket addresses from user sockaddr bytes and from kernel socket tuples. */
import { LN_SOCK_TUPLE } from "../capture/abi.generated.js";

export interface SockAddr {
  family: number;
  /** textual address: dotted IPv4, RFC 5952 IPv6, or a unix path */
  addr: string;
  port: number;
}

export interface SockTuple {
  family: number;
  type: number;
  protocol: number;
  local: SockAddr;
  remote: SockAddr;
}

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;

/** Dotted IPv4 of the 4 bytes at `off` (network order). */
export function ipv4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** RFC 5952 IPv6 of the 16 bytes at `off` (IPv4-mapped ones as dotted IPv4). */
export function ipv6(b: Uint8Array, off: number): string {
  // IPv4-mapped addresses render as dotted IPv4, as Falco does.
  let mapped = b[off + 10] === 0xff && b[off + 11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (b[off + i] !== 0) mapped = false;
  if (mapped) return ipv4(b, off + 12);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[off + i] ?? 0) << 8) | (b[off + i + 1] ?? 0));
  // Longest run of zero words (length >= 2) becomes "::".
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(":");
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

function unixPath(b: Uint8Array, start: number, end: number): string {
  if (start >= end) return "";
  // Abstract sockets start with a NUL byte; Falco renders them with a leading '@'.
  const abstract = b[start] === 0;
  const s = abstract ? start + 1 : start;
  let e = s;
  while (e < end && (abstract || b[e] !== 0)) e++;
  const path = Buffer.from(b.buffer, b.byteOffset + s, e - s).toString("utf8");
  return abstract ? `@${path}` : path;
}

/** Parses a raw `struct sockaddr` copied from user memory. */
export function parseSockaddr(b: Uint8Array, off: number, len: number): SockAddr | null {
  if (len < 2) return null;
  const family = (b[off] ?? 0) | ((b[off + 1] ?? 0) << 8);
  const port = len >= 4 ? ((b[off + 2] ?? 0) << 8) | (b[off + 3] ?? 0) : 0;
  if (family === AF_INET && len >= 8) return { family, addr: ipv4(b, off + 4), port };
  if (family === AF_INET6 && len >= 24) return { family, addr: ipv6(b, off + 8), port };
  if (family === AF_UNIX) return { family, addr: unixPath(b, off + 2, off + len), port: 0 };
  return { family, addr: "", port: 0 };
}

/**
 * Parses a kernel `struct ln_sock_tuple` at `off`; null when `len` (the tail's length,
 * default a whole tuple) is shorter than a tuple: never reads past it.
 */
export function parseTuple(dv: DataView, off: number, len: number = LN_SOCK_TUPLE.SIZEOF): SockTuple | null {
  if (len < LN_SOCK_TUPLE.SIZEOF || off < 0 || off + LN_SOCK_TUPLE.SIZEOF > dv.byteLength) return null;
  const b = new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength);
  const family = dv.getUint16(off + LN_SOCK_TUPLE.FAMILY, true);
  const addrOf = (o: number): string =>
    family === AF_INET ? ipv4(b, off + o) : family === AF_INET6 ? ipv6(b, off + o) : "";
  return {
    family,
    type: dv.getUint16(off + LN_SOCK_TUPLE.TYPE, true),
    protocol: dv.getUint16(off + LN_SOCK_TUPLE.PROTOCOL, true),
    local: { family, addr: addrOf(LN_SOCK_TUPLE.LADDR), port: dv.getUint16(off + LN_SOCK_TUPLE.LPORT, true) },
    remote: {
      family,
      addr: addrOf(LN_SOCK_TUPLE.RADDR),
      port: dv.getUint16(off + LN_SOCK_TUPLE.RPORT, true),
    },
  };
}

/** `ip:port`, `[ip6]:port`, or a unix path. */
export function formatEndpoint(a: SockAddr): string {
  if (a.family === AF_INET) return `${a.addr}:${a.port}`;
  if (a.family === AF_INET6) return `${a.addr}:${a.port}`;
  return a.addr;
}
