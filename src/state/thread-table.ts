/**
 * The thread table: one entry per live thread (task), keyed by host tid: its process,
 * its tid in its own pid namespace and its capabilities (`thread.cap_effective`,
 * `thread.cap_permitted`). Kept from fork (LN_PF_THREAD), exec, exit and capset records;
 * bounded, with evictions counted.
 */

export class ThreadInfo {
  constructor(
    readonly tid: number,
    /** the thread group (process) id */
    public pid: number,
    public vtid: number,
    public capEffective: bigint,
    public capPermitted: bigint,
  ) {}
}

export interface ThreadTableStats {
  size: number;
  evictions: number;
}

export class ThreadTable {
  private readonly threads = new Map<number, ThreadInfo>();
  private readonly max: number;
  private evictions = 0;

  constructor(maxEntries = 131072) {
    this.max = maxEntries;
  }

  get(tid: number): ThreadInfo | undefined {
    return this.threads.get(tid);
  }

  get size(): number {
    return this.threads.size;
  }

  /** Inserts or replaces; when full, the oldest entry goes (counted). */
  set(t: ThreadInfo): void {
    if (this.threads.size >= this.max && !this.threads.has(t.tid)) {
      const first = this.threads.keys().next();
      if (!first.done) {
        this.threads.delete(first.value);
        this.evictions++;
      }
    }
    this.threads.set(t.tid, t);
  }

  delete(tid: number): boolean {
    return this.threads.delete(tid);
  }

  /** Drops the threads of the given processes (purged: their exit records were lost or passed). */
  deleteOfProcesses(pids: ReadonlySet<number>): number {
    let n = 0;
    for (const [tid, t] of this.threads) {
      if (pids.has(t.pid)) {
        this.threads.delete(tid);
        n++;
      }
    }
    return n;
  }

  stats(): ThreadTableStats {
    return { size: this.threads.size, evictions: this.evictions };
  }
}
