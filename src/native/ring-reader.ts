/**
 * Batched consumer of one BPF ring buffer map.
 *
 * The addon copies raw ring records into ONE preallocated, JS-owned batch buffer and calls
 * `onBatch(bytes, records, batch)` once per filled batch. Framing inside the batch (all
 * little-endian, every record 8-byte aligned):
 *
 *     offset+0  u32 len        payload bytes (no header, no padding)
 *     offset+4  u32 reserved   always 0
 *     offset+8  u8  payload[len]
 *               u8  pad[roundUp8(len) - len]   zeroed
 *     next record at offset + RECORD_HEADER_SIZE + roundUp8(len)
 *
 * The batch is reused: decode it synchronously inside onBatch. Records keep ring order;
 * none is lost or duplicated when a batch fills (the record that did not fit opens the next
 * batch). A record larger than the whole batch cannot be delivered and is counted in
 * stats().oversized: size the batch above the largest record.
 *
 * Delivery never blocks the event loop: a uv_timer drains every `pollMs` (the normal path:
 * BPF submits with BPF_RB_NO_WAKEUP) and a uv_poll on the ring's epoll fd drains on forced
 * wakeups. One turn delivers at most `maxBatchesPerTurn` batches, then yields to the loop
 * and resumes on the next iteration. `drain()` empties the ring synchronously (shutdown,
 * tests). onBatch may call close() (on the consumer or its object).
 *
 * Lifetime: a started reader stays alive (like a timer) until stop() or close(), and an
 * open reader keeps its BpfObject's native handle alive. By default a started reader keeps
 * the process running; unref() changes that.
 */
import { addon, type ObjectHandle, type RingHandle, type NativeRingStats } from './addon.js';
import { closedError } from './native-error.js';

/** Bytes of the per-record header in a batch: u32 length + u32 reserved (0). */
export const RECORD_HEADER_SIZE = 8;
/** Every record (header and payload) starts at a multiple of this. */
export const RECORD_ALIGN = 8;
/** Default batch size: 256 KiB (~6500 records of 32 B). */
export const DEFAULT_BATCH_BYTES = 256 * 1024;
export const DEFAULT_POLL_MS = 10;
export const DEFAULT_MAX_BATCHES_PER_TURN = 64;

/** Offset of the record after the one at `offset` whose header says `len`. */
export function nextRecordOffset(offset: number, len: number): number {
  return offset + RECORD_HEADER_SIZE + ((len + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1));
}

/** bytes: used prefix of `batch`; records: how many records it holds. */
export type BatchCallback = (bytes: number, records: number, batch: Buffer) => void;

export interface RingOptions {
  /** Called once per filled batch; must finish with `batch` before returning. */
  onBatch: BatchCallback;
  /** Batch buffer size (default 256 KiB), ignored when `batch` is given. */
  batchBytes?: number;
  /** Use this buffer as the batch (>= 64 bytes). */
  batch?: Buffer;
  /** Timer drain period in ms (default 10). */
  pollMs?: number;
  /** Batches per event-loop turn before yielding (default 64). */
  maxBatchesPerTurn?: number;
  /** Start the timer/poll now (default true). */
  start?: boolean;
  /** Whether a started consumer keeps the process alive (default true). */
  ref?: boolean;
}

export type RingStats = NativeRingStats;

export class RingReader {
  readonly mapName: string;
  readonly batch: Buffer;
  #h: RingHandle | undefined;

  /** Use BpfObject.ringBuffer() / openRing(); this constructor is internal to src/native. */
  constructor(obj: ObjectHandle, mapIndex: number, mapName: string, opts: RingOptions) {
    this.mapName = mapName;
    this.batch = opts.batch ?? Buffer.allocUnsafeSlow(opts.batchBytes ?? DEFAULT_BATCH_BYTES);
    const batch = this.batch;
    const onBatch = opts.onBatch;
    const native: { pollMs?: number; maxBatchesPerTurn?: number } = {};
    if (opts.pollMs !== undefined) native.pollMs = opts.pollMs;
    if (opts.maxBatchesPerTurn !== undefined) native.maxBatchesPerTurn = opts.maxBatchesPerTurn;
    this.#h = addon().ringOpen(
      obj,
      mapIndex,
      batch,
      (bytes, records) => onBatch(bytes, records, batch),
      native,
    );
    if (opts.ref === false) addon().ringRef(this.#h, false);
    if (opts.start !== false) this.start();
  }

  get closed(): boolean {
    return this.#h === undefined || addon().ringStats(this.#h).closed;
  }

  #handle(what: string): RingHandle {
    if (this.#h === undefined) throw closedError(`${what} ring ${this.mapName}`, 'consumer is closed');
    return this.#h;
  }

  /** Starts timer + wakeup delivery (idempotent). */
  start(): void {
    addon().ringStart(this.#handle('starting'));
  }

  /** Stops async delivery; data stays in the ring (drain() still works). */
  stop(): void {
    if (this.#h !== undefined) addon().ringStop(this.#h);
  }

  /**
   * Delivers everything pending now, synchronously; returns the number of records.
   * `maxBatches` (default 0 = until empty) bounds it under a continuous producer.
   * Throws EBUSY when called from inside onBatch; rethrows what onBatch throws.
   */
  drain(maxBatches = 0): number {
    return addon().ringDrain(this.#handle('draining'), maxBatches);
  }

  ref(): void {
    if (this.#h !== undefined) addon().ringRef(this.#h, true);
  }

  unref(): void {
    if (this.#h !== undefined) addon().ringRef(this.#h, false);
  }

  stats(): RingStats {
    return addon().ringStats(this.#handle('reading stats of'));
  }

  /** Idempotent. Pending records in the ring are dropped. Safe inside onBatch. */
  close(): void {
    const h = this.#h;
    if (h === undefined) return;
    this.#h = undefined;
    addon().ringClose(h);
  }
}
