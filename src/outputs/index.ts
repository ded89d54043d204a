// The outputs layer's public surface.

export type { Alert, OutputFieldValue, Priority } from "../engine/alert.js";
export {
  INTERNAL_SOURCE,
  PRIORITIES,
  internalAlert,
  nowNs,
  parsePriority,
  priorityLevel,
} from "../engine/alert.js";
export { BoundedQueue, type DropPolicy } from "./bounded-queue.js";
export {
  buildOutputs,
  DEFAULT_OUTPUTS_CONFIG,
  OUTPUT_CONFIG_KEYS,
  parseOutputsConfig,
  type BuiltOutputs,
  type ConfigDiagnostic,
  type OutputsConfig,
} from "./config.js";
export { FileOutput, type FileOutputOptions } from "./file-output.js";
export {
  AlertRenderer,
  alertJson,
  alertTextLine,
  formatClockNano,
  formatRfc3339Nano,
  type FormatOptions,
  type LineFormat,
} from "./format.js";
export { GrpcOutput } from "./grpc/grpc-output.js";
export {
  AlertHub,
  Subscriber,
  type AlertHubOptions,
  type AlertHubStats,
  type SubscriberOptions,
} from "./grpc/hub.js";
export { findProtoDir, loadServices } from "./grpc/proto.js";
export {
  ConfigError,
  DEFAULT_GRPC_ADDRESS,
  GrpcServer,
  SUBSCRIBER_DROP_RULE,
  type GrpcServerOptions,
  type GrpcTlsOptions,
  type VersionInfo,
} from "./grpc/server.js";
export { HttpOutput, HttpStatusError, type HttpOutputOptions } from "./http-output.js";
export { silentLogger, stderrLogger, type Logger, type LogLevel } from "./logger.js";
export {
  Counter,
  Gauge,
  MetricsRegistry,
  registerOutputMetrics,
  type Family,
  type Sample,
} from "./metrics.js";
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from "./metrics-server.js";
export { QueuedOutput, type Output, type OutputStats, type QueuedOutputOptions } from "./output.js";
export {
  OUTPUT_DROP_RULE,
  OUTPUT_FAILURE_RULE,
  OutputManager,
  type OutputManagerOptions,
  type OutputManagerStats,
} from "./output-manager.js";
export { ProgramOutput, type ProgramOutputOptions } from "./program-output.js";
export { StdoutOutput, type StdoutOutputOptions } from "./stdout-output.js";
export { SYSLOG_FACILITIES, SyslogOutput, type SyslogOutputOptions } from "./syslog-output.js";
