/**
 * Logs a problem the first time its key is seen and counts every occurrence, so a missing or
 * misbehaving runtime shows up once in the log and always in the counters.
 */
export type Logger = (message: string) => void;

export const stderrLogger: Logger = (message) => {
  process.stderr.write(`lanner: ${message}\n`);
};

export class LogOnce {
  private readonly seen = new Set<string>();
  readonly counts = new Map<string, number>();
  constructor(private readonly log: Logger) {}
  /** Counts `key`; logs `message` when the key is new. Returns true when it logged. */
  report(key: string, message: string): boolean {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (this.seen.has(key)) return false;
    if (this.seen.size < 1024) this.seen.add(key);
    this.log(message);
    return true;
  }
  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}
