/**
 * The TLS ClientHello (RFC 8446 4.1.2, RFC 5246 7.4.1.2) at the start of a TCP stream: its
 * server name (RFC 6066 server_name, host_name entry) and the ALPN protocols it offers
 * (RFC 7301). The handshake message may be spread over several TLS records and those over
 * several TCP segments; the bytes given are what was seen, possibly cut short: every read is
 * bounds-checked and a cut yields what was read before it with `complete` false. Nothing here
 * throws on input.
 */

export interface ClientHello {
  /** the host_name of the server_name extension, or null when there is none (or it was not
   * reached) */
  readonly serverName: string | null;
  /** the ALPN protocol names offered, in order ([] when none) */
  readonly alpn: readonly string[];
  /** false when the bytes ended before the whole ClientHello was read */
  readonly complete: boolean;
}

/** Bytes kept of one name or protocol (a host name has at most 253). */
const MAX_NAME = 255;
/** Protocols kept from an ALPN list. */
const MAX_ALPN = 16;

const RECORD_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;

const u16 = (b: Uint8Array, o: number): number => ((b[o] as number) << 8) | (b[o + 1] as number);

/** Printable ASCII as is, anything else as \xHH. */
function text(b: Uint8Array, start: number, len: number): string {
  let s = "";
  const end = start + Math.min(len, MAX_NAME);
  for (let i = start; i < end; i++) {
    const c = b[i] as number;
    s +=
      c > 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return s;
}

/** The length of the first TLS record (its 5-byte header included), or null when `b` does
 * not start a handshake record with a ClientHello. */
export function clientHelloRecordLength(b: Uint8Array): number | null {
  if (b.length < 6) return null;
  if (b[0] !== RECORD_HANDSHAKE || b[1] !== 3 || b[5] !== HANDSHAKE_CLIENT_HELLO) return null;
  return 5 + u16(b, 3);
}

/** The handshake bytes of the consecutive handshake records at the start of `b`, up to
 * `want` bytes (once known); `cut` when the records end before that. */
function handshakeBytes(b: Uint8Array): { hs: Uint8Array; cut: boolean } {
  const parts: Uint8Array[] = [];
  let have = 0;
  let want = -1;
  let pos = 0;
  while (pos + 5 <= b.length && b[pos] === RECORD_HANDSHAKE && b[pos + 1] === 3) {
    const rlen = u16(b, pos + 3);
    const end = Math.min(pos + 5 + rlen, b.length);
    parts.push(b.subarray(pos + 5, end));
    have += end - pos - 5;
    pos += 5 + rlen;
    if (want < 0 && have >= 4) {
      const first = parts.length === 1 ? (parts[0] as Uint8Array) : concat(parts, have);
      want = 4 + (((first[1] as number) << 16) | ((first[2] as number) << 8) | (first[3] as number));
    }
    if (want >= 0 && have >= want) break;
  }
  const hs = parts.length === 1 ? (parts[0] as Uint8Array) : concat(parts, have);
  return { hs, cut: want < 0 || have < want };
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The ClientHello that `b` starts with, or null when `b` does not start one. */
export function parseClientHello(b: Uint8Array): ClientHello | null {
  if (clientHelloRecordLength(b) === null) return null;
  const { hs, cut } = handshakeBytes(b);
  if (hs.length < 4) return { serverName: null, alpn: [], complete: false };
  const bodyLen = ((hs[1] as number) << 16) | ((hs[2] as number) << 8) | (hs[3] as number);
  const end = Math.min(hs.length, 4 + bodyLen);
  let serverName: string | null = null;
  const alpn: string[] = [];
  const partial = (): ClientHello => ({ serverName, alpn, complete: false });
  // legacy_version (2), random (32)
  let p = 4 + 2 + 32;
  if (p + 1 > end) return partial();
  p += 1 + (hs[p] as number); // legacy_session_id
  if (p + 2 > end) return partial();
  p += 2 + u16(hs, p); // cipher_suites
  if (p + 1 > end) return partial();
  p += 1 + (hs[p] as number); // legacy_compression_methods
  // (before TLS 1.3 a ClientHello may end here, without extensions)
  if (p === 4 + bodyLen && !cut) return { serverName, alpn, complete: true };
  if (p + 2 > end) return partial();
  const extEnd = Math.min(end, p + 2 + u16(hs, p));
  p += 2;
  while (p + 4 <= extEnd) {
    const type = u16(hs, p);
    const len = u16(hs, p + 2);
    const data = p + 4;
    const dataEnd = Math.min(data + len, extEnd);
    if (type === EXT_SERVER_NAME && serverName === null && data + 2 <= dataEnd) {
      // server_name_list: name_type (1), HostName <1..2^16-1>
      const listEnd = Math.min(dataEnd, data + 2 + u16(hs, data));
      for (let q = data + 2; q + 3 <= listEnd;) {
        const nlen = u16(hs, q + 1);
        if (q + 3 + nlen > listEnd) break;
        if (hs[q] === 0) {
          serverName = text(hs, q + 3, nlen);
          break;
        }
        q += 3 + nlen;
      }
    } else if (type === EXT_ALPN && alpn.length === 0 && data + 2 <= dataEnd) {
      // ProtocolNameList: ProtocolName <1..2^8-1>
      const listEnd = Math.min(dataEnd, data + 2 + u16(hs, data));
      for (let q = data + 2; q + 1 <= listEnd && alpn.length < MAX_ALPN;) {
        const plen = hs[q] as number;
        if (plen === 0 || q + 1 + plen > listEnd) break;
        alpn.push(text(hs, q + 1, plen));
        q += 1 + plen;
      }
    }
    p = data + len;
  }
  return { serverName, alpn, complete: !cut && p === extEnd && extEnd === 4 + bodyLen };
}
