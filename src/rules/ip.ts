/** IPv4/IPv6 addresses and networks for ipaddr/ipnet comparisons. */

export interface IpAddr {
  readonly v6: boolean;
  /** 32-bit (v4) or 128-bit (v6) value. */
  readonly value: bigint;
}
export interface IpNet {
  readonly v6: boolean;
  readonly base: bigint;
  readonly prefix: number;
}

/** Fast path for dotted IPv4: returns the 32-bit value or -1. */
export function parseIpv4(s: string): number {
  let acc = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255) return -1;
      acc = acc * 256 + part;
      part = 0;
      digits = 0;
      parts++;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3) return -1;
    } else return -1;
  }
  if (digits === 0 || part > 255 || parts !== 3) return -1;
  return acc * 256 + part;
}

function parseIpv6(s: string): bigint | undefined {
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  const pct = s.indexOf("%");
  if (pct >= 0) s = s.slice(0, pct);
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(":")) return undefined;
  let groups: number[];
  const dbl = s.indexOf("::");
  if (dbl !== s.lastIndexOf("::")) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const items = part.split(":");
    for (let i = 0; i < items.length; i++) {
      const g = items[i] as string;
      if (i === items.length - 1 && g.includes(".")) {
        const v4 = parseIpv4(g);
        if (v4 < 0) return undefined;
        out.push(Math.floor(v4 / 65536), v4 % 65536);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  if (dbl >= 0) {
    const a = parseGroups(s.slice(0, dbl));
    const b = parseGroups(s.slice(dbl + 2));
    if (a === undefined || b === undefined || a.length + b.length > 7) return undefined;
    groups = [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
  } else {
    const a = parseGroups(s);
    if (a === undefined || a.length !== 8) return undefined;
    groups = a;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

export function parseIp(s: string): IpAddr | undefined {
  const v4 = parseIpv4(s);
  if (v4 >= 0) return { v6: false, value: BigInt(v4) };
  const v6 = parseIpv6(s);
  return v6 === undefined ? undefined : { v6: true, value: v6 };
}

export function parseNet(s: string): IpNet | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) {
    const a = parseIp(s);
    return a === undefined ? undefined : { v6: a.v6, base: a.value, prefix: a.v6 ? 128 : 32 };
  }
  const a = parseIp(s.slice(0, slash));
  const ps = s.slice(slash + 1);
  if (a === undefined || !/^\d{1,3}$/.test(ps)) return undefined;
  const prefix = Number(ps);
  const bits = a.v6 ? 128 : 32;
  if (prefix > bits) return undefined;
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  return { v6: a.v6, base: a.value & mask, prefix };
}

/** Map an IPv4-mapped IPv6 address (::ffff:a.b.c.d) to IPv4. */
function normalise(a: IpAddr): IpAddr {
  if (a.v6 && a.value >> 32n === 0xffffn) return { v6: false, value: a.value & 0xffffffffn };
  return a;
}

export function netContains(n: IpNet, a: IpAddr): boolean {
  const x = normalise(a);
  if (x.v6 !== n.v6) return false;
  const bits = n.v6 ? 128 : 32;
  if (n.prefix === 0) return true;
  const shift = BigInt(bits - n.prefix);
  return x.value >> shift === n.base >> shift;
}

/** Convert a field value (string or 4/16 raw bytes) to an address. */
export function toIp(v: unknown): IpAddr | undefined {
  if (typeof v === "string") return parseIp(v);
  if (v instanceof Uint8Array && (v.length === 4 || v.length === 16)) {
    let x = 0n;
    for (const b of v) x = (x << 8n) | BigInt(b);
    return { v6: v.length === 16, value: x };
  }
  if (typeof v === "number" && v >= 0 && v <= 0xffffffff) return { v6: false, value: BigInt(v) };
  return undefined;
}
