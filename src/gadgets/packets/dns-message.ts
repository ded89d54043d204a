/**
 * DNS messages (RFC 1035) from packet bytes: the header, the questions and the answers'
 * addresses (A and AAAA). The bytes come from any socket on a DNS port, so they may be
 * anything: every read is bounds-checked, names follow compression pointers only backwards
 * (so a name cannot loop) and are at most 255 bytes, and a message cut short (a copy limit,
 * a lost TCP segment) yields what was read before the cut with `complete` false. Nothing
 * here throws on input.
 */
import { ipv4Text, ipv6Text } from "./ip-text.js";

export const DNS_HEADER_BYTES = 12;

export interface DnsQuestion {
  /** dotted, with the final dot (`example.com.`); the root is `.` */
  readonly name: string;
  readonly type: number;
  readonly cls: number;
}

export interface DnsAnswer {
  readonly name: string;
  readonly type: number;
  readonly cls: number;
  readonly ttl: number;
  /** the address of an A or AAAA record of class IN, else null */
  readonly address: string | null;
}

export interface DnsMessage {
  readonly id: number;
  /** true: a response (QR bit) */
  readonly response: boolean;
  readonly opcode: number;
  readonly authoritative: boolean;
  readonly truncated: boolean;
  readonly recursionDesired: boolean;
  readonly recursionAvailable: boolean;
  readonly rcode: number;
  readonly qdcount: number;
  readonly ancount: number;
  readonly nscount: number;
  readonly arcount: number;
  readonly questions: readonly DnsQuestion[];
  readonly answers: readonly DnsAnswer[];
  /** false when the bytes ended, or a name was malformed, before every question and answer
   * the header counts was read */
  readonly complete: boolean;
}

/** Questions kept per message (the rest are read past). */
const MAX_QUESTIONS = 16;
/** Longest name in wire form (RFC 1035 3.1). */
const MAX_NAME_BYTES = 255;

const TYPES: Readonly<Record<number, string>> = {
  1: "A",
  2: "NS",
  5: "CNAME",
  6: "SOA",
  12: "PTR",
  13: "HINFO",
  15: "MX",
  16: "TXT",
  28: "AAAA",
  33: "SRV",
  35: "NAPTR",
  39: "DNAME",
  41: "OPT",
  43: "DS",
  46: "RRSIG",
  47: "NSEC",
  48: "DNSKEY",
  50: "NSEC3",
  64: "SVCB",
  65: "HTTPS",
  99: "SPF",
  251: "IXFR",
  252: "AXFR",
  255: "ANY",
  257: "CAA",
};

const RCODES = [
  "NoError",
  "FormErr",
  "ServFail",
  "NXDomain",
  "NotImp",
  "Refused",
  "YXDomain",
  "YXRRSet",
  "NXRRSet",
  "NotAuth",
  "NotZone",
  "DSOTYPENI",
];

/** A record type's mnemonic, or RFC 3597's `TYPE<n>`. */
export function dnsTypeName(t: number): string {
  return TYPES[t] ?? `TYPE${t}`;
}

/** A response code's mnemonic (RFC 6895), or `RCODE<n>`. */
export function dnsRcodeName(r: number): string {
  return RCODES[r] ?? `RCODE${r}`;
}

const BACKSLASH = 0x5c;
const DOT = 0x2e;

/** One label as text, as dig writes it: `.` and `\` escaped, other unprintables as \DDD. */
function labelText(b: Uint8Array, start: number, len: number): string {
  let s = "";
  for (let i = start; i < start + len; i++) {
    const c = b[i] as number;
    if (c === DOT || c === BACKSLASH) s += `\\${String.fromCharCode(c)}`;
    else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\${String(c).padStart(3, "0")}`;
  }
  return s;
}

/**
 * The name at `off`: its text and the offset after it in the message (after the first
 * pointer when it is compressed), or null when it is malformed or runs past the bytes.
 * Every pointer must lead below the lowest offset read so far, so the walk always ends.
 */
export function readName(b: Uint8Array, off: number): { name: string; next: number } | null {
  let pos = off;
  let lowest = off;
  let next = -1;
  let wire = 0;
  const labels: string[] = [];
  for (;;) {
    if (pos >= b.length) return null;
    const len = b[pos] as number;
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= b.length) return null;
      const target = ((len & 0x3f) << 8) | (b[pos + 1] as number);
      if (next < 0) next = pos + 2;
      if (target >= lowest) return null; // forwards, or into what was read: a loop
      lowest = target;
      pos = target;
      continue;
    }
    if (kind !== 0) return null; // extended (0x40) and reserved (0x80) label types
    if (pos + 1 + len > b.length) return null;
    wire += len + 1;
    if (wire + 1 > MAX_NAME_BYTES) return null;
    labels.push(labelText(b, pos + 1, len));
    pos += 1 + len;
  }
  return { name: labels.length === 0 ? "." : `${labels.join(".")}.`, next };
}

const u16 = (b: Uint8Array, o: number): number => ((b[o] as number) << 8) | (b[o + 1] as number);
const u32 = (b: Uint8Array, o: number): number => u16(b, o) * 65536 + u16(b, o + 2);

/** The message in `b`, or null when `b` is shorter than a DNS header. */
export function parseDnsMessage(b: Uint8Array): DnsMessage | null {
  if (b.length < DNS_HEADER_BYTES) return null;
  const flags = u16(b, 2);
  const qdcount = u16(b, 4);
  const ancount = u16(b, 6);
  const questions: DnsQuestion[] = [];
  const answers: DnsAnswer[] = [];
  let off = DNS_HEADER_BYTES;
  let complete = true;
  // each question takes at least 5 bytes and each answer 11, so the loops end with the bytes
  for (let i = 0; i < qdcount; i++) {
    const n = readName(b, off);
    if (n === null || n.next + 4 > b.length) {
      complete = false;
      break;
    }
    if (questions.length < MAX_QUESTIONS)
      questions.push({ name: n.name, type: u16(b, n.next), cls: u16(b, n.next + 2) });
    off = n.next + 4;
  }
  for (let i = 0; complete && i < ancount; i++) {
    const n = readName(b, off);
    if (n === null || n.next + 10 > b.length) {
      complete = false;
      break;
    }
    const type = u16(b, n.next);
    const cls = u16(b, n.next + 2);
    const ttl = u32(b, n.next + 4);
    const rdlen = u16(b, n.next + 8);
    const rdata = n.next + 10;
    if (rdata + rdlen > b.length) {
      complete = false;
      break;
    }
    let address: string | null = null;
    if (cls === 1 && type === 1 && rdlen === 4) address = ipv4Text(b, rdata);
    else if (cls === 1 && type === 28 && rdlen === 16) address = ipv6Text(b, rdata);
    answers.push({ name: n.name, type, cls, ttl, address });
    off = rdata + rdlen;
  }
  return {
    id: u16(b, 0),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    recursionDesired: (flags & 0x0100) !== 0,
    recursionAvailable: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    qdcount,
    ancount,
    nscount: u16(b, 8),
    arcount: u16(b, 10),
    questions,
    answers,
    complete,
  };
}
