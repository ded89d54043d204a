// Alert -> wire messages: Falco's falco.outputs.response and Lanner's lanner.v1.Alert.
// Each alert is encoded once per message type (weak cache), however many subscribers get it.

import type { MethodDefinition } from "@grpc/grpc-js";
import type { Alert, OutputFieldValue } from "../../engine/alert.js";
import { priorityLevel } from "../../engine/alert.js";
import { textFieldValue, type AlertRenderer } from "../format.js";

const NS = 1_000_000_000n;

export function timestamp(timeNs: bigint): { seconds: string; nanos: number } {
  const t = timeNs < 0n ? 0n : timeNs;
  return { seconds: (t / NS).toString(), nanos: Number(t % NS) };
}

/** falco.schema.source numbers; unknown (plugin) sources are PLUGIN. */
export function falcoSourceNumber(source: string): number {
  switch (source) {
    case "syscall":
      return 0;
    case "k8s_audit":
      return 1;
    case "internal":
      return 2;
    default:
      return 3;
  }
}

export function falcoResponse(alert: Alert, renderer: AlertRenderer): Record<string, unknown> {
  const fields: Record<string, string> = {};
  for (const k of Object.keys(alert.outputFields)) fields[k] = textFieldValue(alert.outputFields[k] ?? null);
  return {
    time: timestamp(alert.timeNs),
    priority: priorityLevel(alert.priority),
    source_deprecated: falcoSourceNumber(alert.source),
    rule: alert.rule,
    output: renderer.text(alert),
    output_fields: fields,
    hostname: alert.hostname,
    tags: [...alert.tags],
    source: alert.source,
  };
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export function fieldValue(v: OutputFieldValue): Record<string, unknown> {
  switch (typeof v) {
    case "string":
      return { string_value: v };
    case "boolean":
      return { bool_value: v };
    case "bigint":
      return v >= INT64_MIN && v <= INT64_MAX ? { int_value: v.toString() } : { string_value: v.toString() };
    case "number":
      if (Number.isSafeInteger(v)) return { int_value: String(v) };
      return Number.isFinite(v) ? { double_value: v } : { null_value: true };
    default:
      return { null_value: true };
  }
}

export function lannerAlert(alert: Alert, renderer: AlertRenderer): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const k of Object.keys(alert.outputFields)) fields[k] = fieldValue(alert.outputFields[k] ?? null);
  return {
    time: timestamp(alert.timeNs),
    rule: alert.rule,
    priority: priorityLevel(alert.priority),
    source: alert.source,
    hostname: alert.hostname,
    output: renderer.text(alert),
    output_fields: fields,
    tags: [...alert.tags],
    time_ns: (alert.timeNs < 0n ? 0n : alert.timeNs).toString(),
  };
}

/** Encodes an alert with one method's serializer, once per alert. */
export class EncodedCache {
  readonly #cache = new WeakMap<Alert, Buffer>();
  readonly #encode: (a: Alert) => Buffer;

  constructor(method: MethodDefinition<unknown, unknown>, toMessage: (a: Alert) => Record<string, unknown>) {
    this.#encode = (a) => method.responseSerialize(toMessage(a));
  }

  get(alert: Alert): Buffer {
    let b = this.#cache.get(alert);
    if (b === undefined) {
      b = this.#encode(alert);
      this.#cache.set(alert, b);
    }
    return b;
  }
}
