// A small metrics registry: counters and gauges with labels, plus collectors that read live
// counters (outputs, the gRPC hub) at scrape time. Renders the Prometheus text format 0.0.4
// and a plain-object snapshot.

import type { AlertHub } from "./grpc/hub.js";
import type { OutputManager } from "./output-manager.js";

export type Labels = Readonly<Record<string, string>>;
export type MetricType = "counter" | "gauge";

export interface Sample {
  readonly name: string;
  readonly labels?: Labels;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: readonly Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function labelKey(labels: Labels | undefined): string {
  if (labels === undefined) return "";
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "";
  const esc = (v: string): string => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
  return `{${keys.map((k) => `${k}="${esc(labels[k] ?? "")}"`).join(",")}}`;
}

function fmt(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

class Metric {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly values = new Map<string, { labels: Labels | undefined; value: number }>();
  constructor(name: string, help: string, type: MetricType) {
    if (!NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    this.name = name;
    this.help = help;
    this.type = type;
  }
  protected slot(labels: Labels | undefined): { labels: Labels | undefined; value: number } {
    const k = labelKey(labels);
    let s = this.values.get(k);
    if (s === undefined) {
      s = { labels, value: 0 };
      this.values.set(k, s);
    }
    return s;
  }
  family(): Family {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      samples: [...this.values.values()].map((s) => ({
        name: this.name,
        ...(s.labels ? { labels: s.labels } : {}),
        value: s.value,
      })),
    };
  }
}

export class Counter extends Metric {
  inc(n = 1, labels?: Labels): void {
    if (n < 0) throw new RangeError("counters only go up");
    this.slot(labels).value += n;
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels))?.value ?? 0;
  }
}

export class Gauge extends Metric {
  set(v: number, labels?: Labels): void {
    this.slot(labels).value = v;
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels))?.value ?? 0;
  }
}

export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric>();
  readonly #collectors: (() => readonly Family[])[] = [];

  counter(name: string, help: string): Counter {
    return this.#get(name, () => new Counter(name, help, "counter")) as Counter;
  }

  gauge(name: string, help: string): Gauge {
    return this.#get(name, () => new Gauge(name, help, "gauge")) as Gauge;
  }

  /** A collector runs at every scrape and returns whole families. */
  collect(fn: () => readonly Family[]): void {
    this.#collectors.push(fn);
  }

  families(): Family[] {
    const out = [...this.#metrics.values()].map((m) => m.family());
    for (const c of this.#collectors) out.push(...c());
    return out;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    let s = "";
    for (const f of this.families()) {
      s += `# HELP ${f.name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n# TYPE ${f.name} ${f.type}\n`;
      for (const x of f.samples) s += `${x.name}${labelKey(x.labels)} ${fmt(x.value)}\n`;
    }
    return s;
  }

  /** `name{labels}` -> value. */
  snapshot(): Record<string, number> {
    const o: Record<string, number> = {};
    for (const f of this.families()) for (const x of f.samples) o[`${x.name}${labelKey(x.labels)}`] = x.value;
    return o;
  }

  #get(name: string, make: () => Metric): Metric {
    let m = this.#metrics.get(name);
    if (m === undefined) {
      m = make();
      this.#metrics.set(name, m);
    }
    return m;
  }
}

/** The outputs in force: fixed, or read at every scrape (a config reload replaces them). */
export type OutputsSource = OutputManager | (() => { manager: OutputManager; hub?: AlertHub | undefined });

/**
 * Register the output layer's live counters (outputs, and the gRPC hub if any). With a
 * function source every scrape reports the outputs in force; after a reload the new
 * outputs' counters start from zero, which Prometheus reads as a counter reset.
 */
export function registerOutputMetrics(
  reg: MetricsRegistry,
  source: OutputsSource,
  fixedHub?: AlertHub,
): void {
  reg.collect(() => {
    const cur = typeof source === "function" ? source() : { manager: source, hub: fixedHub };
    const hub = cur.hub;
    const st = cur.manager.stats();
    const per = (
      name: string,
      help: string,
      type: MetricType,
      pick: (o: (typeof st.outputs)[number]) => number,
    ): Family => ({
      name,
      help,
      type,
      samples: st.outputs.map((o) => ({ name, labels: { output: o.name, kind: o.kind }, value: pick(o) })),
    });
    const fams: Family[] = [
      {
        name: "lanner_alerts_published_total",
        help: "Alerts handed to the outputs.",
        type: "counter",
        samples: [{ name: "lanner_alerts_published_total", value: st.published }],
      },
      {
        name: "lanner_internal_alerts_total",
        help: "Internal alerts (drops, failures) emitted by the outputs layer.",
        type: "counter",
        samples: [{ name: "lanner_internal_alerts_total", value: st.internalAlerts }],
      },
      per("lanner_output_delivered_total", "Alerts delivered per output.", "counter", (o) => o.delivered),
      per(
        "lanner_output_failed_total",
        "Alerts an output gave up on after retries.",
        "counter",
        (o) => o.failed,
      ),
      per(
        "lanner_output_dropped_total",
        "Alerts dropped because an output queue was full.",
        "counter",
        (o) => o.dropped,
      ),
      per("lanner_output_queue_depth", "Alerts waiting in an output queue.", "gauge", (o) => o.queueDepth),
      per("lanner_output_queue_capacity", "Capacity of an output queue.", "gauge", (o) => o.queueCapacity),
    ];
    if (hub !== undefined) {
      const h = hub.stats();
      fams.push(
        {
          name: "lanner_grpc_subscribers",
          help: "Connected gRPC subscribers.",
          type: "gauge",
          samples: [{ name: "lanner_grpc_subscribers", value: h.subscribers }],
        },
        {
          name: "lanner_grpc_subscriber_dropped_total",
          help: "Alerts dropped by gRPC subscriber queues, all subscribers.",
          type: "counter",
          samples: [{ name: "lanner_grpc_subscriber_dropped_total", value: h.subscriberDrops }],
        },
        {
          name: "lanner_grpc_ring_depth",
          help: "Recent alerts retained for falco.outputs.service/get.",
          type: "gauge",
          samples: [{ name: "lanner_grpc_ring_depth", value: h.ringDepth }],
        },
      );
    }
    return fams;
  });
}
