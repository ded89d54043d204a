// A fixed-capacity FIFO on a ring buffer. Never grows past its capacity; overflow is
// resolved by a drop policy and counted, never by blocking the producer.

/**
 * `drop-newest`: a full queue rejects the incoming item (what is queued is kept in order).
 * `drop-oldest`: a full queue evicts its head to make room (the freshest items are kept).
 */
export type DropPolicy = "drop-newest" | "drop-oldest";

export class BoundedQueue<T> {
  readonly capacity: number;
  readonly policy: DropPolicy;
  #buf: (T | undefined)[];
  #head = 0;
  #size = 0;
  /** Items lost to overflow since creation. */
  dropped = 0;

  constructor(capacity: number, policy: DropPolicy = "drop-newest") {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
    this.policy = policy;
    this.#buf = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.#size;
  }

  /** Add an item. Returns false when an item was dropped (the new one or the evicted head). */
  push(item: T): boolean {
    if (this.#size === this.capacity) {
      this.dropped++;
      if (this.policy === "drop-newest") return false;
      this.#buf[this.#head] = item; // overwrite the oldest, advance head
      this.#head = (this.#head + 1) % this.capacity;
      return false;
    }
    this.#buf[(this.#head + this.#size) % this.capacity] = item;
    this.#size++;
    return true;
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.capacity;
    this.#size--;
    return item;
  }

  peek(): T | undefined {
    return this.#size === 0 ? undefined : this.#buf[this.#head];
  }

  /** Remove and return up to `max` items from the head. */
  take(max: number): T[] {
    const n = Math.min(max, this.#size);
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) out[i] = this.shift() as T;
    return out;
  }

  /** Snapshot of the contents, oldest first. */
  toArray(): T[] {
    const out = new Array<T>(this.#size);
    for (let i = 0; i < this.#size; i++) out[i] = this.#buf[(this.#head + i) % this.capacity] as T;
    return out;
  }

  clear(): void {
    this.#buf = new Array<T | undefined>(this.capacity);
    this.#head = 0;
    this.#size = 0;
  }
}
