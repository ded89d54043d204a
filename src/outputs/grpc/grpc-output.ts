// The gRPC fan-out as an Output: enqueue() publishes to the hub (per-subscriber queues do the
// buffering), so the OutputManager treats it like any other channel.

import type { Alert } from "../../engine/alert.js";
import type { Output, OutputStats } from "../output.js";
import type { AlertHub } from "./hub.js";
import type { GrpcServer } from "./server.js";

export class GrpcOutput implements Output {
  readonly kind = "grpc";
  readonly reportsDropsInBand = true;
  readonly name: string;
  readonly hub: AlertHub;
  readonly server: GrpcServer | undefined;

  constructor(hub: AlertHub, server?: GrpcServer, name = "grpc") {
    this.hub = hub;
    this.server = server;
    this.name = name;
  }

  enqueue(alert: Alert): void {
    this.hub.publish(alert);
  }

  stats(): OutputStats {
    const s = this.hub.stats();
    let depth = 0;
    let cap = 0;
    let delivered = 0;
    for (const p of s.perSubscriber) {
      depth += p.queueDepth;
      cap += p.queueCapacity;
      delivered += p.taken;
    }
    return {
      name: this.name,
      kind: this.kind,
      delivered,
      failed: 0,
      dropped: s.subscriberDrops,
      queueDepth: depth,
      queueCapacity: cap,
    };
  }

  async flush(deadlineMs: number): Promise<boolean> {
    const end = Date.now() + deadlineMs;
    for (;;) {
      if (this.hub.stats().perSubscriber.every((p) => p.queueDepth === 0)) return true;
      if (Date.now() >= end) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(deadlineMs = 2000): Promise<void> {
    const start = Date.now();
    await this.flush(deadlineMs);
    await this.server?.stop(Math.max(100, deadlineMs - (Date.now() - start)));
  }
}
