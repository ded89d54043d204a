// The Alert: what the rules engine hands to the outputs layer. Immutable once built.

// Falco's priorities (most severe first; the index is the syslog severity and the wire
// number) are the rules language's: one definition, in rules/priority.ts.
import { PRIORITIES, parsePriority, priorityLevel, type Priority } from "../rules/priority.js";

export { PRIORITIES, parsePriority, priorityLevel, type Priority };

/** A typed output field value. bigint is for 64-bit integers (e.g. evt.time in ns). null = unknown. */
/** A field value in an alert: a list field (fd.types) is a list of strings. */
export type OutputFieldValue = string | number | bigint | boolean | readonly string[] | null;

export interface Alert {
  /** Event time, nanoseconds since the Unix epoch (UTC). */
  readonly timeNs: bigint;
  readonly rule: string;
  readonly priority: Priority;
  /** `syscall`, `internal`, or a plugin source name. */
  readonly source: string;
  readonly hostname: string;
  /** The rendered rule output, without the `<time>: <Priority>` prefix. */
  readonly message: string;
  /** Every `%field` of the rule's output, typed; null where unknown. Insertion order is kept. */
  readonly outputFields: Readonly<Record<string, OutputFieldValue>>;
  readonly tags: readonly string[];
}

export const INTERNAL_SOURCE = "internal";

/** Current wall-clock time in ns since the epoch (ms precision plus a monotonic sub-ms part). */
export function nowNs(): bigint {
  const ms = Date.now();
  const subMs = process.hrtime.bigint() % 1_000_000n;
  return BigInt(ms) * 1_000_000n + subMs;
}

/** Build an internal alert (drops, output failures), source `internal`. */
export function internalAlert(args: {
  rule: string;
  message: string;
  hostname: string;
  priority?: Priority;
  outputFields?: Record<string, OutputFieldValue>;
  timeNs?: bigint;
}): Alert {
  return {
    timeNs: args.timeNs ?? nowNs(),
    rule: args.rule,
    priority: args.priority ?? "Debug",
    source: INTERNAL_SOURCE,
    hostname: args.hostname,
    message: args.message,
    outputFields: args.outputFields ?? {},
    tags: [],
  };
}
