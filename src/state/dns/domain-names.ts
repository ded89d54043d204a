/**
 * Domain names for IP addresses, as the rules ask for them: `fd.sip.name = "api.example.com"`
 * is true when the connection's server IP is one of the addresses that name resolves to.
 *
 * The engine hands over the names its rules compare `fd.*.name` fields with (watch()); each
 * is resolved through the system resolver (getaddrinfo: /etc/hosts, then DNS, both address
 * families) and re-resolved every `refreshMs`, so addresses that rotate are followed. A failed
 * lookup keeps the addresses last seen and is counted; nothing is resolved on the event path,
 * which only reads the table (namesOf()). getaddrinfo runs on libuv's small thread pool, which
 * file I/O shares, and a black-holed resolver blocks a thread for seconds: at most
 * MAX_IN_FLIGHT lookups run at once, and a name is not looked up again while its lookup is
 * still running.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { isIPv4, isIPv6 } from "node:net";

export type Lookup = (name: string) => Promise<readonly string[]>;

export interface DomainNamesOptions {
  /** default: getaddrinfo through node:dns, every address of both families */
  readonly lookup?: Lookup;
  /** re-resolve period; default 10 s */
  readonly refreshMs?: number;
  /** called once per name whose lookup fails (not again until it has succeeded) */
  readonly onError?: (name: string, err: unknown) => void;
}

export interface DomainNamesStats {
  readonly names: number;
  readonly addresses: number;
  readonly lookups: number;
  readonly failures: number;
}

const systemLookup: Lookup = async (name) =>
  (await dnsLookup(name, { all: true, verbatim: true })).map((a) => a.address);

/** One spelling per address: IPv6 compressed and lower-case, IPv4-mapped IPv6 as IPv4. */
export function canonicalIp(ip: string): string | undefined {
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return undefined;
  const host = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return host;
}

const NONE: readonly string[] = Object.freeze([]);
const MAX_IN_FLIGHT = 2;

export class DomainNames {
  private readonly lookup: Lookup;
  private readonly refreshMs: number;
  private readonly onError: ((name: string, err: unknown) => void) | undefined;
  /** name -> its current addresses (canonical) */
  private readonly addrs = new Map<string, readonly string[]>();
  /** address -> the watched names that resolve to it (rebuilt after every change) */
  private byIp = new Map<string, readonly string[]>();
  private readonly failing = new Set<string>();
  private readonly inFlight = new Set<string>();
  private readonly queue: string[] = [];
  /** names queued or being looked up, and what their callers wait on */
  private readonly waiting = new Map<string, { done: Promise<void>; release: () => void }>();
  private timer: NodeJS.Timeout | null = null;
  private pending: Promise<void> = Promise.resolve();
  private closed = false;
  private lookups = 0;
  private failures = 0;

  constructor(opts: DomainNamesOptions = {}) {
    this.lookup = opts.lookup ?? systemLookup;
    this.refreshMs = opts.refreshMs ?? 10_000;
    this.onError = opts.onError;
  }

  /**
   * Sets the names to resolve (the rules in force): new ones are resolved now, names no
   * longer asked for are forgotten. Returns when this round of lookups has finished.
   */
  watch(names: Iterable<string>): Promise<void> {
    const want = new Set(names);
    for (const n of [...this.addrs.keys()]) if (!want.has(n)) this.addrs.delete(n);
    for (const n of this.failing) if (!want.has(n)) this.failing.delete(n);
    const fresh = [...want].filter((n) => !this.addrs.has(n));
    for (const n of fresh) this.addrs.set(n, NONE);
    this.index();
    if (want.size > 0 && this.timer === null && !this.closed) {
      this.timer = setInterval(() => void this.refresh(), this.refreshMs);
      this.timer.unref();
    } else if (want.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    this.pending = this.resolveAll(fresh);
    return this.pending;
  }

  /** Waits for the lookups in flight, at most `timeoutMs`. */
  async settled(timeoutMs: number): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.pending, new Promise<void>((r) => (t = setTimeout(r, timeoutMs)))]);
    clearTimeout(t);
  }

  /** The watched names that resolve to `ip` (empty when none does). */
  namesOf(ip: string): readonly string[] {
    const hit = this.byIp.get(ip);
    if (hit !== undefined) return hit;
    const c = canonicalIp(ip);
    return (c !== undefined && c !== ip ? this.byIp.get(c) : undefined) ?? NONE;
  }

  /** Re-resolves every watched name now. */
  refresh(): Promise<void> {
    this.pending = this.resolveAll([...this.addrs.keys()]);
    return this.pending;
  }

  stats(): DomainNamesStats {
    return {
      names: this.addrs.size,
      addresses: this.byIp.size,
      lookups: this.lookups,
      failures: this.failures,
    };
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private async resolveAll(names: readonly string[]): Promise<void> {
    await Promise.all(names.map((n) => this.schedule(n)));
  }

  /** Queues a lookup of `name` unless one is queued or running; resolves when it is done. */
  private schedule(name: string): Promise<void> {
    const w = this.waiting.get(name);
    if (w !== undefined) return w.done;
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    this.waiting.set(name, { done, release });
    this.queue.push(name);
    this.pump();
    return done;
  }

  private pump(): void {
    while (this.inFlight.size < MAX_IN_FLIGHT && this.queue.length > 0) {
      const name = this.queue.shift() as string;
      this.inFlight.add(name);
      void this.resolve(name).finally(() => {
        this.inFlight.delete(name);
        const w = this.waiting.get(name);
        this.waiting.delete(name);
        this.index();
        w?.release();
        this.pump();
      });
    }
  }

  private async resolve(name: string): Promise<void> {
    if (!this.addrs.has(name) || this.closed) return; // forgotten while queued
    this.lookups++;
    try {
      const got = await this.lookup(name);
      if (!this.addrs.has(name)) return; // no longer watched
      const canon = [...new Set(got.map(canonicalIp).filter((a): a is string => a !== undefined))];
      this.addrs.set(name, canon);
      this.failing.delete(name);
    } catch (e) {
      this.failures++;
      if (!this.failing.has(name) && this.addrs.has(name)) {
        this.failing.add(name);
        this.onError?.(name, e);
      }
    }
  }

  private index(): void {
    const m = new Map<string, string[]>();
    for (const [name, list] of this.addrs) {
      for (const a of list) {
        const names = m.get(a);
        if (names === undefined) m.set(a, [name]);
        else if (!names.includes(name)) names.push(name);
      }
    }
    this.byIp = m;
  }
}
