/**
 * The engine's Prometheus families: events captured and dropped (by CPU and reason),
 * events evaluated, alerts by rule and priority, state table sizes, RSS, event lag.
 */
import type { Agent } from "./agent.js";

/** A metric family (the same shape the outputs layer's registry renders). */
export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly samples: readonly { name: string; labels?: Record<string, string>; value: number }[];
}

const counter = (name: string, help: string, samples: Family["samples"]): Family => ({
  name,
  help,
  type: "counter",
  samples,
});
const gauge = (name: string, help: string, samples: Family["samples"]): Family => ({
  name,
  help,
  type: "gauge",
  samples,
});

export function engineFamilies(agent: Agent): Family[] {
  const s = agent.stats();
  const c = s.capture;
  const fams: Family[] = [
    counter(
      "lanner_events_captured_total",
      "Events captured in the kernel: delivered to user space or lost to a full buffer.",
      [{ name: "lanner_events_captured_total", value: c.delivered + c.dropRing + c.dropScratch }],
    ),
    counter("lanner_events_delivered_total", "Records delivered to user space.", [
      { name: "lanner_events_delivered_total", value: c.delivered },
    ]),
    counter("lanner_events_dropped_total", "Records lost in the kernel, by CPU and reason.", [
      ...c.dropRingByCpu.map((v, cpu) => ({
        name: "lanner_events_dropped_total",
        labels: { cpu: String(cpu), reason: "ring_full" },
        value: v,
      })),
      {
        name: "lanner_events_dropped_total",
        labels: { cpu: "all", reason: "scratch" },
        value: c.dropScratch,
      },
    ]),
    counter("lanner_events_truncated_total", "Records with a truncated tail.", [
      { name: "lanner_events_truncated_total", value: c.truncated },
    ]),
    counter("lanner_records_corrupt_total", "Records the consumer found unsound and skipped.", [
      { name: "lanner_records_corrupt_total", value: c.corrupt },
    ]),
    counter("lanner_events_decoded_total", "Events decoded and applied to state.", [
      { name: "lanner_events_decoded_total", value: s.decoded },
    ]),
    counter("lanner_events_evaluated_total", "Events evaluated against at least one rule.", [
      { name: "lanner_events_evaluated_total", value: s.evaluated },
    ]),
    counter(
      "lanner_alerts_total",
      "Alerts raised, by rule and priority.",
      [...s.alertsByRule].map(([rule, v]) => ({
        name: "lanner_alerts_total",
        labels: { rule, priority: agent.priorityOf(rule) },
        value: v,
      })),
    ),
    gauge("lanner_process_table_size", "Processes in the process table.", [
      { name: "lanner_process_table_size", value: s.processes },
    ]),
    gauge("lanner_resident_memory_bytes", "Resident set size of the agent.", [
      { name: "lanner_resident_memory_bytes", value: process.memoryUsage.rss() },
    ]),
    gauge("lanner_event_lag_seconds", "Now minus the time of the last event read.", [
      { name: "lanner_event_lag_seconds", value: s.lagSeconds },
    ]),
  ];
  return fams;
}
