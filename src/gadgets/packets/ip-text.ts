/** Addresses of packet records as text: dotted IPv4, RFC 5952 IPv6 (IPv4-mapped as IPv4). */

export function ipv4Text(b: Uint8Array, off = 0): string {
  return `${b[off] ?? 0}.${b[off + 1] ?? 0}.${b[off + 2] ?? 0}.${b[off + 3] ?? 0}`;
}

export function ipv6Text(b: Uint8Array, off = 0): string {
  let mapped = b[off + 10] === 0xff && b[off + 11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (b[off + i] !== 0) mapped = false;
  if (mapped) return ipv4Text(b, off + 12);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[off + i] ?? 0) << 8) | (b[off + i + 1] ?? 0));
  // the longest run of two or more zero words (the first of equal ones) becomes "::"
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(":");
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

/** `family` 4 or 6; the address's bytes at `off`. */
export function ipText(family: number, b: Uint8Array, off = 0): string {
  return family === 6 ? ipv6Text(b, off) : ipv4Text(b, off);
}
