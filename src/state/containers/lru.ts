/** A Map bounded to `max` entries that evicts the least recently used one and counts it. */
export class LruMap<K, V> {
  private readonly map = new Map<K, V>();
  evictions = 0;
  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError(`LruMap: max must be >= 1, got ${max}`);
  }
  get size(): number {
    return this.map.size;
  }
  /** Reads and marks as recently used. */
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  /** Reads without touching recency. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }
  has(key: K): boolean {
    return this.map.has(key);
  }
  set(key: K, value: V): void {
    if (this.map.has(key)) this.map.delete(key);
    else if (this.map.size >= this.max) {
      const oldest = this.map.keys().next();
      if (oldest.done !== true) {
        this.map.delete(oldest.value);
        this.evictions++;
      }
    }
    this.map.set(key, value);
  }
  delete(key: K): boolean {
    return this.map.delete(key);
  }
  clear(): void {
    this.map.clear();
  }
  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }
}
