/**
 * The node API's messages (proto/lanner/v1/node.proto, as @grpc/proto-loader shapes them:
 * keepCase, 64-bit integers as decimal strings, oneofs named by `kind`) to and from what the
 * gadget framework and the CLI use: GadgetCall, GadgetRecord, RunStats. Decoding never trusts
 * the peer: a field of the wrong shape is a CodecError naming it.
 */
import type { GadgetRecord, ParamValue } from "../gadgets/gadget.js";
import type { RunStats } from "../gadgets/runner.js";
import type { LabelReq, SelectionOptions } from "../gadgets/selection.js";
import { LannerError } from "../errors.js";
import { fieldValue } from "../outputs/grpc/convert.js";
import type { BpftraceCall, GadgetCall, KernelFeatureStatus, NodeStatus } from "./node-types.js";

/** A message from the peer that does not have the shape node.proto gives it. */
export class CodecError extends LannerError {
  constructor(message: string) {
    super("EUSAGE", message);
  }
}

export type Msg = Record<string, unknown>;

function str(m: Msg, k: string, where: string): string {
  const v = m[k];
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new CodecError(`${where}.${k}: expected a string`);
  return v;
}

function strs(m: Msg, k: string, where: string): string[] {
  const v = m[k];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string"))
    throw new CodecError(`${where}.${k}: expected a list of strings`);
  return v as string[];
}

function num(m: Msg, k: string, where: string): number {
  const v = m[k];
  if (v === undefined || v === null) return 0;
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new CodecError(`${where}.${k}: expected a number`);
  return n;
}

function bool(m: Msg, k: string): boolean {
  return m[k] === true;
}

function obj(v: unknown, where: string): Msg {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw new CodecError(`${where}: expected a message`);
  return v as Msg;
}

// ---- parameters

export function paramToProto(v: ParamValue): Msg | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "boolean") return { bool_value: v };
  if (typeof v === "string") return { string_value: v };
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new CodecError(`parameter value ${v}: expected an integer`);
    return { int_value: String(v) };
  }
  return { list_value: { values: [...v] } };
}

export function paramFromProto(m: Msg, where: string): ParamValue {
  if ("bool_value" in m && m["bool_value"] !== undefined) return m["bool_value"] === true;
  if ("string_value" in m && m["string_value"] !== undefined) return str(m, "string_value", where);
  if ("int_value" in m && m["int_value"] !== undefined) {
    const n = Number(m["int_value"]);
    if (!Number.isSafeInteger(n)) throw new CodecError(`${where}: integer out of range`);
    return n;
  }
  if ("list_value" in m && m["list_value"] !== undefined)
    return strs(obj(m["list_value"], where), "values", where);
  return undefined;
}

// ---- selection

export function selectionToProto(s: SelectionOptions): Msg {
  return {
    namespaces: [...s.namespaces],
    all_namespaces: s.allNamespaces,
    pods: [...s.pods],
    containers: [...s.containers],
    labels: s.labels.map((l) => ({
      key: l.key,
      ...(l.value !== undefined ? { value: l.value } : {}),
      negate: l.negate,
    })),
    host: s.host,
  };
}

export function selectionFromProto(v: unknown): SelectionOptions {
  const m = obj(v, "selection");
  const rawLabels = m["labels"] ?? [];
  if (!Array.isArray(rawLabels)) throw new CodecError("selection.labels: expected a list");
  const labels: LabelReq[] = rawLabels.map((l: unknown, i) => {
    const lm = obj(l, `selection.labels[${i}]`);
    const key = str(lm, "key", `selection.labels[${i}]`);
    if (key === "") throw new CodecError(`selection.labels[${i}]: empty key`);
    const value = lm["value"];
    if (value !== undefined && value !== null && typeof value !== "string")
      throw new CodecError(`selection.labels[${i}].value: expected a string`);
    return { key, value: value ?? undefined, negate: bool(lm, "negate") };
  });
  return {
    namespaces: strs(m, "namespaces", "selection"),
    allNamespaces: bool(m, "all_namespaces"),
    pods: strs(m, "pods", "selection"),
    containers: strs(m, "containers", "selection"),
    labels,
    host: bool(m, "host"),
  };
}

// ---- requests

export function gadgetCallToProto(c: GadgetCall): Msg {
  const params: Msg = {};
  for (const [k, v] of Object.entries(c.params)) {
    const p = paramToProto(v);
    if (p !== undefined) params[k] = p;
  }
  return {
    category: c.category,
    name: c.name,
    params,
    selection: selectionToProto(c.selection),
    filter: c.filter ?? "",
    sort: [...(c.sort ?? [])],
    max_rows: c.maxRows ?? 0,
    interval_seconds: c.intervalS ?? 0,
    timeout_seconds: c.timeoutS ?? 0,
  };
}

/** A GadgetRequest message as the CLI would have parsed it; throws CodecError. */
export function gadgetCallFromProto(v: unknown): GadgetCall {
  const m = obj(v, "request");
  const category = str(m, "category", "request");
  if (category !== "trace" && category !== "top" && category !== "snapshot")
    throw new CodecError(`category: expected trace, top or snapshot, got '${category}'`);
  const params: Record<string, ParamValue> = {};
  for (const [k, pv] of Object.entries(obj(m["params"], "params")))
    params[k] = paramFromProto(obj(pv, `params.${k}`), `--${k}`);
  const filter = str(m, "filter", "request");
  const sort = strs(m, "sort", "request");
  const maxRows = num(m, "max_rows", "request");
  const intervalS = num(m, "interval_seconds", "request");
  const timeoutS = num(m, "timeout_seconds", "request");
  if (intervalS < 0) throw new CodecError("--interval: expected a positive number of seconds");
  if (timeoutS < 0) throw new CodecError("--timeout: expected a positive number of seconds");
  return {
    category,
    name: str(m, "name", "request"),
    params,
    selection: selectionFromProto(m["selection"]),
    filter: filter === "" ? undefined : filter,
    sort: sort.length > 0 ? sort : undefined,
    maxRows: maxRows === 0 ? undefined : maxRows,
    intervalS: intervalS === 0 ? undefined : intervalS,
    timeoutS: timeoutS === 0 ? undefined : timeoutS,
  };
}

export function bpftraceCallToProto(c: BpftraceCall): Msg {
  return {
    program: c.program,
    program_name: c.programName,
    pod: c.pod ?? "",
    namespace: c.namespace ?? "",
    container: c.container ?? "",
    format: c.format,
    timeout_seconds: c.timeoutS ?? 0,
  };
}

export function bpftraceCallFromProto(v: unknown): BpftraceCall {
  const m = obj(v, "request");
  const format = str(m, "format", "request") || "text";
  if (format !== "text" && format !== "json")
    throw new CodecError(`format: expected text or json, got '${format}'`);
  const program = str(m, "program", "request");
  if (program.trim() === "") throw new CodecError("program: empty (give -e PROGRAM or -f FILE)");
  const timeoutS = num(m, "timeout_seconds", "request");
  if (timeoutS < 0) throw new CodecError("--timeout: expected a positive number of seconds");
  const opt = (k: string): string | undefined => str(m, k, "request") || undefined;
  return {
    program,
    programName: str(m, "program_name", "request") || "-e",
    pod: opt("pod"),
    namespace: opt("namespace"),
    container: opt("container"),
    format,
    timeoutS: timeoutS === 0 ? undefined : timeoutS,
  };
}

// ---- records

export function fieldToProto(v: GadgetRecord[string]): Msg {
  if (v === undefined || v === null) return { null_value: true };
  // byte buffers travel as the text the CLI shows for them (latin1, one char per byte)
  if (v instanceof Uint8Array) return { string_value: Buffer.from(v).toString("latin1") };
  if (Array.isArray(v)) return { list_value: { values: [...(v as readonly string[])] } };
  // scalars as the alert API sends output fields
  return fieldValue(v as string | number | bigint | boolean);
}

export function fieldFromProto(m: Msg): GadgetRecord[string] {
  switch (m["kind"]) {
    case "string_value":
      return String(m["string_value"]);
    case "bool_value":
      return m["bool_value"] === true;
    case "double_value":
      return Number(m["double_value"]);
    case "int_value": {
      const s = String(m["int_value"]);
      const n = Number(s);
      return Number.isSafeInteger(n) ? n : BigInt(s);
    }
    case "list_value":
      return strs(obj(m["list_value"], "list_value"), "values", "list_value");
    default:
      return null;
  }
}

export function recordToProto(r: GadgetRecord): Msg {
  const fields: Msg = {};
  for (const k in r) fields[k] = fieldToProto(r[k]);
  return { fields };
}

export function recordFromProto(v: unknown): GadgetRecord {
  const out: GadgetRecord = {};
  const fields = obj(obj(v, "record")["fields"], "record.fields");
  for (const k in fields) out[k] = fieldFromProto(obj(fields[k], k));
  return out;
}

// ---- stats and status

export function statsToProto(s: RunStats): Msg {
  return {
    produced: String(s.produced),
    delivered: String(s.delivered),
    not_selected: String(s.unselected),
    filtered: String(s.filtered),
    lost: String(s.lost),
  };
}

export function statsFromProto(v: unknown): RunStats {
  const m = obj(v, "stats");
  return {
    produced: num(m, "produced", "stats"),
    delivered: num(m, "delivered", "stats"),
    unselected: num(m, "not_selected", "stats"),
    filtered: num(m, "filtered", "stats"),
    lost: num(m, "lost", "stats"),
  };
}

export function statusToProto(s: NodeStatus): Msg {
  return {
    node: s.node,
    version: s.version,
    kernel: s.kernel,
    features: s.features.map((f) => ({ name: f.name, available: f.available, detail: f.detail })),
    capture_mode: s.captureMode,
    capture_programs: s.capturePrograms,
    rules: s.rules,
    events: String(s.events),
    alerts: String(s.alerts),
    drops: String(s.drops),
    gadgets_running: s.gadgetsRunning,
    uptime_seconds: s.uptimeSeconds,
  };
}

export function statusFromProto(v: unknown): NodeStatus {
  const m = obj(v, "status");
  const rawFeatures = m["features"] ?? [];
  if (!Array.isArray(rawFeatures)) throw new CodecError("status.features: expected a list");
  const features: KernelFeatureStatus[] = rawFeatures.map((f: unknown, i) => {
    const fm = obj(f, `status.features[${i}]`);
    return {
      name: str(fm, "name", "feature"),
      available: bool(fm, "available"),
      detail: str(fm, "detail", "feature"),
    };
  });
  return {
    node: str(m, "node", "status"),
    version: str(m, "version", "status"),
    kernel: str(m, "kernel", "status"),
    features,
    captureMode: str(m, "capture_mode", "status"),
    capturePrograms: num(m, "capture_programs", "status"),
    rules: num(m, "rules", "status"),
    events: num(m, "events", "status"),
    alerts: num(m, "alerts", "status"),
    drops: num(m, "drops", "status"),
    gadgetsRunning: num(m, "gadgets_running", "status"),
    uptimeSeconds: num(m, "uptime_seconds", "status"),
  };
}
