/** How output renders absolute times (ns since the epoch). */

// Alerts come in time order: the per-second part of the formatted time is cached.
let todSec = -1n;
let todPrefix = "";
let rfcSec = -1n;
let rfcPrefix = "";

function splitNs(ns: bigint | number): [bigint, string] {
  const n = typeof ns === "bigint" ? ns : BigInt(Math.trunc(ns));
  const sec = n / 1_000_000_000n;
  return [sec, (n - sec * 1_000_000_000n).toString().padStart(9, "0")];
}

/** HH:MM:SS.nnnnnnnnn (UTC) for an absolute time in ns. */
export function formatTimeOfDay(ns: bigint | number): string {
  const [sec, frac] = splitNs(ns);
  if (sec !== todSec) {
    const d = new Date(Number(sec) * 1000);
    const p = (x: number) => String(x).padStart(2, "0");
    todPrefix = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.`;
    todSec = sec;
  }
  return todPrefix + frac;
}

/** RFC 3339 UTC with nanoseconds: 2026-01-01T12:00:00.123456789Z */
export function formatRfc3339Nano(ns: bigint | number): string {
  const [sec, frac] = splitNs(ns);
  if (sec !== rfcSec) {
    rfcPrefix = new Date(Number(sec) * 1000).toISOString().slice(0, 20); // ...:SS.
    rfcSec = sec;
  }
  return `${rfcPrefix}${frac}Z`;
}
