/**
 * Queries waiting for their response, for latency: keyed by socket, side, DNS id and the
 * other end's address and port (a response comes back from where its query went), each
 * with the time it was seen. A query waits `timeoutNs` at most (a response after that has
 * no latency), and at most `max` wait at once (the oldest is forgotten first, and counted).
 */
export class QueryTable {
  private readonly waiting = new Map<string, number>();
  /** queries forgotten because the table was full */
  evicted = 0;

  constructor(
    private readonly timeoutNs: number,
    private readonly max = 16384,
  ) {}

  get size(): number {
    return this.waiting.size;
  }

  /** A query seen at `ts` (boot ns); a repeated one (a retry) restarts its clock. */
  add(key: string, ts: number): void {
    this.waiting.delete(key);
    this.expire(ts);
    if (this.waiting.size >= this.max) {
      const oldest = this.waiting.keys().next().value as string;
      this.waiting.delete(oldest);
      this.evicted++;
    }
    this.waiting.set(key, ts);
  }

  /** The latency of the response seen at `ts` to the query `key` (which is then forgotten),
   * or null when no such query waits (or it waited longer than the timeout). */
  answer(key: string, ts: number): number | null {
    const q = this.waiting.get(key);
    if (q === undefined) return null;
    this.waiting.delete(key);
    const d = ts - q;
    return d > this.timeoutNs ? null : Math.max(0, d);
  }

  /** Forgets queries older than the timeout at `now` (boot ns). */
  expire(now: number): void {
    for (const [k, t] of this.waiting) {
      if (now - t <= this.timeoutNs) break; // the rest came later
      this.waiting.delete(k);
    }
  }
}
