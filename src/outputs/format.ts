// Alert rendering: Falco's JSON shape and text line. Pure functions plus a caching renderer,
// so that N outputs of the same format render an alert once.

import { formatRfc3339Nano as rulesRfc3339 } from "../rules/output.js";
import type { Alert, OutputFieldValue } from "../engine/alert.js";

const NS_PER_S = 1_000_000_000n;

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/** RFC 3339 UTC with nanoseconds (the rules library's; one implementation). */
export function formatRfc3339Nano(timeNs: bigint): string {
  return rulesRfc3339(timeNs < 0n ? 0n : timeNs);
}

/** Falco's default `%evt.time`: local wall clock `HH:MM:SS.nnnnnnnnn`. */
export function formatClockNano(timeNs: bigint): string {
  const t = timeNs < 0n ? 0n : timeNs;
  const d = new Date(Number(t / 1_000_000n));
  const frac = Number(t % NS_PER_S);
  return `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${pad(frac, 9)}`;
}

export interface FormatOptions {
  /** Prefix time as RFC 3339 UTC instead of Falco's local `HH:MM:SS.nnnnnnnnn`. Default false. */
  readonly timeFormatIso8601?: boolean;
  /** JSON: include `output` (default true). */
  readonly jsonIncludeOutput?: boolean;
  /** JSON: include `output_fields` (default true). */
  readonly jsonIncludeOutputFields?: boolean;
  /** JSON: include `tags` (default true). */
  readonly jsonIncludeTags?: boolean;
}

/** The full text line, `<time>: <Priority> <message>` (no newline). */
export function alertTextLine(alert: Alert, opts: FormatOptions = {}): string {
  const time = opts.timeFormatIso8601 ? formatRfc3339Nano(alert.timeNs) : formatClockNano(alert.timeNs);
  return `${time}: ${alert.priority} ${alert.message}`;
}

/** JSON literal of a field value: numbers as numbers, bigint as integer digits, unknown as null. */
export function jsonFieldValue(v: OutputFieldValue): string {
  // a list field (fd.types): a JSON array, as Falco writes it
  if (Array.isArray(v)) return `[${(v as readonly string[]).map((x) => JSON.stringify(x)).join(",")}]`;
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "number":
      return Number.isFinite(v) ? String(v) : "null";
    case "bigint":
      return v.toString();
    case "boolean":
      return v ? "true" : "false";
    default:
      return "null";
  }
}

/** Field value as text (gRPC string map, text rendering): unknown is `<NA>`. */
export function textFieldValue(v: OutputFieldValue): string {
  if (v === null) return "<NA>";
  if (Array.isArray(v)) return `(${(v as readonly string[]).join(",")})`;
  if (typeof v === "string") return v;
  if (typeof v === "number" && !Number.isFinite(v)) return "<NA>";
  return String(v);
}

/**
 * Falco-shaped JSON object, one line, key order as in PRODUCT.md:
 * time, rule, priority, source, hostname, output, output_fields, tags.
 */
export function alertJson(alert: Alert, opts: FormatOptions = {}, textLine?: string): string {
  let s = `{"time":"${formatRfc3339Nano(alert.timeNs)}","rule":${JSON.stringify(alert.rule)}`;
  s += `,"priority":"${alert.priority}","source":${JSON.stringify(alert.source)}`;
  s += `,"hostname":${JSON.stringify(alert.hostname)}`;
  if (opts.jsonIncludeOutput !== false) {
    s += `,"output":${JSON.stringify(textLine ?? alertTextLine(alert, opts))}`;
  }
  if (opts.jsonIncludeOutputFields !== false) {
    s += ',"output_fields":{';
    let first = true;
    for (const k of Object.keys(alert.outputFields)) {
      s += `${first ? "" : ","}${JSON.stringify(k)}:${jsonFieldValue(alert.outputFields[k] ?? null)}`;
      first = false;
    }
    s += "}";
  }
  if (opts.jsonIncludeTags !== false) {
    s += `,"tags":[${alert.tags.map((t) => JSON.stringify(t)).join(",")}]`;
  }
  return `${s}}`;
}

/**
 * Renders alerts with fixed options. With `cache` (worth it when several outputs share one
 * renderer) each alert is rendered once per format; the cache is weak, so alerts are released
 * with their last reference. Without it (one output) rendering is direct: a WeakMap entry per
 * alert costs more than rendering once.
 */
export class AlertRenderer {
  readonly options: FormatOptions;
  readonly cached: boolean;
  readonly #text: WeakMap<Alert, string> | undefined;
  readonly #json: WeakMap<Alert, string> | undefined;

  constructor(options: FormatOptions = {}, cache = false) {
    this.options = options;
    this.cached = cache;
    if (cache) {
      this.#text = new WeakMap();
      this.#json = new WeakMap();
    }
  }

  text(alert: Alert): string {
    if (this.#text === undefined) return alertTextLine(alert, this.options);
    let s = this.#text.get(alert);
    if (s === undefined) {
      s = alertTextLine(alert, this.options);
      this.#text.set(alert, s);
    }
    return s;
  }

  json(alert: Alert): string {
    if (this.#json === undefined) return alertJson(alert, this.options);
    let s = this.#json.get(alert);
    if (s === undefined) {
      s = alertJson(alert, this.options, this.text(alert));
      this.#json.set(alert, s);
    }
    return s;
  }

  /** `json` or `text` line, without newline. */
  line(alert: Alert, format: LineFormat): string {
    return format === "json" ? this.json(alert) : this.text(alert);
  }
}

export type LineFormat = "json" | "text";
