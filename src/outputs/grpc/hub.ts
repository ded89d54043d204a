// Fan-out hub: every subscriber gets every alert (its filter permitting) through its own
// bounded queue, and a bounded ring keeps recent alerts for `get`. publish() is O(subscribers)
// pushes into ring buffers: it never waits on a consumer and never allocates per subscriber.

import type { Alert } from "../../engine/alert.js";
import { BoundedQueue, type DropPolicy } from "../bounded-queue.js";

export type AlertFilter = (alert: Alert) => boolean;

export interface SubscriberOptions {
  /** For logs and metrics, e.g. `falco.outputs.sub unix:` or a peer address. */
  readonly name: string;
  /** Queue capacity (default: the hub's subscriberQueueSize). */
  readonly queueSize?: number;
  readonly filter?: AlertFilter;
}

export class Subscriber {
  readonly id: number;
  readonly name: string;
  readonly since = Date.now();
  readonly #queue: BoundedQueue<Alert>;
  readonly #filter: AlertFilter | undefined;
  #listener: (() => void) | undefined;
  #closed = false;
  /** Alerts accepted into the queue (after filtering). */
  accepted = 0;
  /** Alerts taken from the queue by the stream writer. */
  taken = 0;

  constructor(id: number, opts: SubscriberOptions, queueSize: number, policy: DropPolicy) {
    this.id = id;
    this.name = opts.name;
    this.#filter = opts.filter;
    this.#queue = new BoundedQueue<Alert>(queueSize, policy);
  }

  get dropped(): number {
    return this.#queue.dropped;
  }
  get queueDepth(): number {
    return this.#queue.length;
  }
  get queueCapacity(): number {
    return this.#queue.capacity;
  }
  get closed(): boolean {
    return this.#closed;
  }

  /** Called by the hub. Never blocks. */
  offer(alert: Alert): void {
    if (this.#closed) return;
    if (this.#filter !== undefined && !this.#filter(alert)) return;
    this.#queue.push(alert);
    this.accepted++;
    this.#listener?.();
  }

  next(): Alert | undefined {
    const a = this.#queue.shift();
    if (a !== undefined) this.taken++;
    return a;
  }

  /** Called (synchronously) after each accepted alert. One listener. */
  onAlert(listener: (() => void) | undefined): void {
    this.#listener = listener;
  }

  close(): void {
    this.#closed = true;
    this.#listener = undefined;
    this.#queue.clear();
  }
}

export interface AlertHubOptions {
  /** Alerts kept for `get` (default 1000). */
  readonly ringSize?: number;
  /** Per-subscriber queue capacity (default 1000). */
  readonly subscriberQueueSize?: number;
  /** What a full subscriber queue does (default drop-oldest: a live feed keeps the newest). */
  readonly subscriberDropPolicy?: DropPolicy;
}

export interface AlertHubStats {
  readonly published: number;
  readonly subscribers: number;
  /** Drops of all subscribers, past and present. */
  readonly subscriberDrops: number;
  readonly ringDepth: number;
  readonly ringCapacity: number;
  readonly perSubscriber: readonly {
    id: number;
    name: string;
    accepted: number;
    taken: number;
    dropped: number;
    queueDepth: number;
    queueCapacity: number;
  }[];
}

export class AlertHub {
  readonly subscriberQueueSize: number;
  readonly #policy: DropPolicy;
  readonly #ring: BoundedQueue<Alert>;
  readonly #subs = new Set<Subscriber>();
  #nextId = 1;
  #published = 0;
  #departedDrops = 0;
  #changeWaiters: (() => void)[] = [];

  constructor(opts: AlertHubOptions = {}) {
    this.#ring = new BoundedQueue<Alert>(opts.ringSize ?? 1000, "drop-oldest");
    this.subscriberQueueSize = opts.subscriberQueueSize ?? 1000;
    this.#policy = opts.subscriberDropPolicy ?? "drop-oldest";
  }

  publish(alert: Alert): void {
    this.#published++;
    this.#ring.push(alert);
    for (const s of this.#subs) s.offer(alert);
  }

  subscribe(opts: SubscriberOptions): Subscriber {
    const s = new Subscriber(this.#nextId++, opts, opts.queueSize ?? this.subscriberQueueSize, this.#policy);
    this.#subs.add(s);
    this.#changed();
    return s;
  }

  unsubscribe(s: Subscriber): void {
    if (!this.#subs.delete(s)) return;
    this.#departedDrops += s.dropped;
    s.close();
    this.#changed();
  }

  /** Retained recent alerts, oldest first. */
  recent(): Alert[] {
    return this.#ring.toArray();
  }

  get subscriberCount(): number {
    return this.#subs.size;
  }

  /** Resolves once the subscriber count satisfies pred (tests and readiness checks). */
  async waitForSubscribers(pred: (n: number) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.#subs.size)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for subscribers (now ${this.#subs.size})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#changeWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  stats(): AlertHubStats {
    let drops = this.#departedDrops;
    const per = [];
    for (const s of this.#subs) {
      drops += s.dropped;
      per.push({
        id: s.id,
        name: s.name,
        accepted: s.accepted,
        taken: s.taken,
        dropped: s.dropped,
        queueDepth: s.queueDepth,
        queueCapacity: s.queueCapacity,
      });
    }
    return {
      published: this.#published,
      subscribers: this.#subs.size,
      subscriberDrops: drops,
      ringDepth: this.#ring.length,
      ringCapacity: this.#ring.capacity,
      perSubscriber: per,
    };
  }

  #changed(): void {
    const w = this.#changeWaiters;
    this.#changeWaiters = [];
    for (const f of w) f();
  }
}
