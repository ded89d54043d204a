/**
 * Lanner as a library: the curated public surface. Everything else is internal.
 */
export { LannerError, NotSupportedError } from "./errors.js";
export {
  CaptureSession,
  type CaptureOptions,
  type CaptureReport,
  type CaptureStats,
} from "./capture/capture-session.js";
export { probeAll, type ProbeResult } from "./capture/features.js";
export { syscallName, syscallNr } from "./capture/syscalls.js";
export { decodeRecord, type DecodedEvent, type ProcEvent, type SyscallEvent } from "./decode/event.js";
export { RecordView, walkBatch } from "./decode/record-view.js";
export { SUPPORTED_SYSCALLS, SYSCALL_SPECS } from "./decode/syscall-params.js";
export { Agent, type AgentOptions, type AgentStats } from "./engine/agent.js";
export type { Alert, Priority } from "./engine/alert.js";
export { eventRecord, type EventRecord } from "./engine/event-record.js";
export { EventContext, SYSCALL_FIELDS, type FieldServices } from "./engine/fields/index.js";
export * as rules from "./rules/index.js";
export * as outputs from "./outputs/index.js";
