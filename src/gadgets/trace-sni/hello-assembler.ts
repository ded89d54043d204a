/**
 * A ClientHello longer than its first TCP segment (a browser's, with post-quantum key
 * shares, over a 1460-byte MSS): the kernel sends the first segment, then the ones that
 * follow it until the TLS record's length is reached (marked as continuations). This puts
 * them together per socket and direction, bounded: at most `max` hellos wait at once (the
 * oldest is given up first), each at most `maxWaitMs`, and a hello is at most 16389 bytes
 * (one TLS record). A hello given up is returned as it is (its parser reports it incomplete).
 */
import { clientHelloRecordLength } from "../packets/tls-client-hello.js";

/** The largest TLS record: a 5-byte header and 2^14 bytes. */
const MAX_HELLO = 5 + 16384;

export interface Hello<T> {
  /** the first segment's packet */
  readonly first: T;
  readonly bytes: Buffer;
  /** the boot-time ns of the last segment */
  readonly ts: number;
}

interface Waiting<T> {
  readonly first: T;
  readonly parts: Buffer[];
  have: number;
  readonly want: number;
  ts: number;
  readonly since: number;
}

export class HelloAssembler<T> {
  private readonly waiting = new Map<string, Waiting<T>>();

  constructor(
    private readonly maxWaitMs = 1000,
    private readonly max = 256,
  ) {}

  get size(): number {
    return this.waiting.size;
  }

  /**
   * A segment of stream `key`: the start of a hello (`cont` false) or a continuation.
   * `more` is true when the first segment's payload was longer than its bytes (nothing
   * more will come for it). Returns the hellos it completed or displaced.
   */
  push(
    key: string,
    first: T,
    data: Buffer,
    cont: boolean,
    more: boolean,
    ts: number,
    nowMs: number,
  ): Hello<T>[] {
    const out: Hello<T>[] = [];
    const w = this.waiting.get(key);
    if (cont) {
      if (w === undefined) return out; // its start was given up
      const k = Math.min(data.length, w.want - w.have);
      w.parts.push(data.subarray(0, k));
      w.have += k;
      w.ts = ts;
      if (w.have >= w.want) {
        this.waiting.delete(key);
        out.push(this.done(w));
      }
      return out;
    }
    if (w !== undefined) {
      this.waiting.delete(key);
      out.push(this.done(w));
    }
    const want = Math.min(clientHelloRecordLength(data) ?? 0, MAX_HELLO);
    if (data.length >= want || more) {
      out.push({ first, bytes: data, ts });
      return out;
    }
    if (this.waiting.size >= this.max) {
      const [k, oldest] = this.waiting.entries().next().value as [string, Waiting<T>];
      this.waiting.delete(k);
      out.push(this.done(oldest));
    }
    this.waiting.set(key, { first, parts: [data], have: data.length, want, ts, since: nowMs });
    return out;
  }

  /** The hellos that waited longer than maxWaitMs, as they are. */
  expire(nowMs: number): Hello<T>[] {
    const out: Hello<T>[] = [];
    for (const [k, w] of this.waiting) {
      if (nowMs - w.since <= this.maxWaitMs) break; // the rest came later
      this.waiting.delete(k);
      out.push(this.done(w));
    }
    return out;
  }

  /** Everything still waiting (at stop). */
  flush(): Hello<T>[] {
    const out = [...this.waiting.values()].map((w) => this.done(w));
    this.waiting.clear();
    return out;
  }

  private done(w: Waiting<T>): Hello<T> {
    return { first: w.first, bytes: Buffer.concat(w.parts, w.have), ts: w.ts };
  }
}
