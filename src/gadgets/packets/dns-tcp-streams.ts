/**
 * DNS over TCP (RFC 1035 4.2.2, RFC 7766): each message is preceded by its length in two
 * bytes, and a message may be split over several segments (a length prefix written alone, a
 * long answer) or share one with others (pipelined queries). This puts one direction of one
 * connection back together from the segments the kernel copied, bounded:
 * - at most `maxStreams` streams (the least recently used one is dropped, and counted),
 * - at most `maxKeep` bytes kept per message: longer messages are returned cut,
 * - a stream idle for `idleMs` is forgotten.
 * Bytes that never came (a segment longer than the kernel's copy, a record lost from a full
 * ring) are known by their sequence numbers: the message they fall in is returned with
 * `missing` (its bytes up to the hole), and when a hole covers a length prefix the stream
 * starts again at the next segment (taking it to begin a message).
 */

export interface StreamMessage {
  /** the message's bytes, up to the first missing one */
  readonly bytes: Buffer;
  /** some of the message's bytes never came (or were beyond maxKeep) */
  readonly missing: boolean;
  /** boot-time ns of the segment that ended the message */
  readonly ts: number;
}

export interface TcpStreamOptions {
  readonly maxStreams?: number;
  readonly maxKeep?: number;
  readonly idleMs?: number;
}

interface Stream {
  /** sequence number of the next byte expected (null: none seen yet) */
  next: number | null;
  /** false: lost track of message boundaries; the next segment starts a message */
  synced: boolean;
  /** bytes of the length prefix read so far */
  prefix: number[];
  /** the message's length once the prefix is read (-1: reading the prefix) */
  need: number;
  /** bytes of the message accounted for (present or missing) */
  got: number;
  /** the message's bytes kept, contiguous from its start */
  body: Buffer | null;
  kept: number;
  missing: boolean;
  lastMs: number;
}

export class DnsTcpStreams {
  private readonly streams = new Map<string, Stream>();
  private readonly maxStreams: number;
  private readonly maxKeep: number;
  private readonly idleMs: number;
  /** streams dropped because there were too many */
  evicted = 0;

  constructor(opts: TcpStreamOptions = {}) {
    this.maxStreams = opts.maxStreams ?? 512;
    this.maxKeep = opts.maxKeep ?? 16384;
    this.idleMs = opts.idleMs ?? 30_000;
  }

  get size(): number {
    return this.streams.size;
  }

  /**
   * One segment of stream `key`: the sequence number of its first payload byte, the bytes
   * copied (`data`, from the start of the payload) and the payload's real length. Returns the
   * messages it completed.
   */
  push(
    key: string,
    seq: number,
    data: Uint8Array,
    payloadLen: number,
    ts: number,
    nowMs: number,
  ): StreamMessage[] {
    let st = this.streams.get(key);
    if (st === undefined) {
      st = {
        next: null,
        synced: true,
        prefix: [],
        need: -1,
        got: 0,
        body: null,
        kept: 0,
        missing: false,
        lastMs: 0,
      };
      if (this.streams.size >= this.maxStreams) {
        const oldest = this.streams.keys().next().value as string;
        this.streams.delete(oldest);
        this.evicted++;
      }
    } else {
      this.streams.delete(key); // re-inserted last: the map's order is least recently used first
    }
    this.streams.set(key, st);
    st.lastMs = nowMs;
    const out: StreamMessage[] = [];
    let present = Math.min(data.length, payloadLen);
    let start = 0;
    if (st.next !== null && st.synced) {
      const d = (seq - st.next) | 0; // sequence numbers wrap at 2^32
      if (d < 0) {
        // a retransmission, or a segment overlapping what was seen
        if (-d >= payloadLen) return out;
        start = -d;
        payloadLen += d;
      } else if (d > 0) {
        this.skip(st, d, ts, out);
      }
    }
    if (!st.synced) this.restart(st);
    this.feed(st, data.subarray(start, start + Math.max(0, present - start)), ts, out);
    present = Math.max(0, present - start);
    if (payloadLen > present) this.skip(st, payloadLen - present, ts, out);
    st.next = (seq + start + payloadLen) >>> 0;
    return out;
  }

  /** Forgets streams idle for longer than idleMs. */
  expire(nowMs: number): void {
    for (const [k, st] of this.streams) {
      if (nowMs - st.lastMs <= this.idleMs) break; // the rest were used later
      this.streams.delete(k);
    }
  }

  private restart(st: Stream): void {
    st.synced = true;
    st.prefix = [];
    st.need = -1;
    st.got = 0;
    st.body = null;
    st.kept = 0;
    st.missing = false;
  }

  private feed(st: Stream, b: Uint8Array, ts: number, out: StreamMessage[]): void {
    let i = 0;
    while (i < b.length && st.synced) {
      if (st.need < 0) {
        st.prefix.push(b[i++] as number);
        if (st.prefix.length === 2) {
          st.need = ((st.prefix[0] as number) << 8) | (st.prefix[1] as number);
          st.prefix = [];
          if (st.need === 0)
            st.need = -1; // an empty message: nothing to report
          else {
            st.body = Buffer.allocUnsafe(Math.min(st.need, this.maxKeep));
            st.got = 0;
            st.kept = 0;
            st.missing = st.need > this.maxKeep;
          }
        }
        continue;
      }
      const n = Math.min(b.length - i, st.need - st.got);
      const body = st.body as Buffer;
      if (st.kept === st.got && st.kept < body.length) {
        const k = Math.min(n, body.length - st.kept);
        body.set(b.subarray(i, i + k), st.kept);
        st.kept += k;
      }
      st.got += n;
      i += n;
      if (st.got === st.need) this.emit(st, ts, out);
    }
  }

  /** `n` bytes of the stream that were not seen. */
  private skip(st: Stream, n: number, ts: number, out: StreamMessage[]): void {
    if (!st.synced) return;
    if (st.need >= 0) {
      const k = Math.min(n, st.need - st.got);
      st.got += k;
      st.missing = true;
      n -= k;
      if (st.got === st.need) this.emit(st, ts, out);
    }
    // a hole over a length prefix: the next message's start is unknown
    if (n > 0) st.synced = false;
  }

  private emit(st: Stream, ts: number, out: StreamMessage[]): void {
    const body = st.body as Buffer;
    out.push({ bytes: body.subarray(0, st.kept), missing: st.missing || st.kept < st.need, ts });
    st.need = -1;
    st.body = null;
    st.got = 0;
    st.kept = 0;
    st.missing = false;
  }
}
