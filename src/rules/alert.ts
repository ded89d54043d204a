/**
 * Alerts shaped like Falco's: text `HH:MM:SS.nnnnnnnnn: Priority output` and JSON
 * `{"time","rule","priority","source","hostname","output","output_fields","tags"}`.
 */
import type { EvalContext } from "./fields.js";
import { formatRfc3339Nano, formatTimeOfDay, jsonKey, jsonStringify, type OutputValue } from "./output.js";
import type { CompiledRule } from "./ruleset.js";

export interface AlertContext {
  /** Event time, ns since the epoch. */
  readonly timeNs: bigint;
  readonly hostname: string;
}

export interface Alert {
  readonly time: string;
  readonly rule: string;
  readonly priority: string;
  readonly source: string;
  readonly hostname: string;
  readonly output: string;
  readonly output_fields: Record<string, OutputValue>;
  readonly tags: readonly string[];
}

export function buildAlert(rule: CompiledRule, ev: EvalContext, evtType: string, ctx: AlertContext): Alert {
  const outputFields = rule.output.values(ev, evtType, { "evt.time": ctx.timeNs });
  return {
    time: formatRfc3339Nano(ctx.timeNs),
    rule: rule.name,
    priority: rule.priority,
    source: rule.source,
    hostname: ctx.hostname,
    output: `${formatTimeOfDay(ctx.timeNs)}: ${rule.priority} ${rule.output.render(ev, evtType)}`,
    output_fields: outputFields,
    tags: rule.tags,
  };
}

/** One JSON line (no newline); 64-bit integers are written exactly. */
export function alertToJson(a: Alert): string {
  let s =
    `{"time":"${a.time}","rule":${JSON.stringify(a.rule)},"priority":"${a.priority}",` +
    `"source":${JSON.stringify(a.source)},"hostname":${JSON.stringify(a.hostname)},` +
    `"output":${JSON.stringify(a.output)},"output_fields":{`;
  let first = true;
  const f = a.output_fields;
  for (const k in f) {
    s += `${first ? "" : ","}${jsonKey(k)}:${jsonStringify(f[k])}`;
    first = false;
  }
  return `${s}},"tags":${JSON.stringify(a.tags)}}`;
}

export function alertToText(a: Alert): string {
  return a.output;
}
