// Output configuration: Falco's lanner.yaml keys (json_output, stdout_output, file_output,
// program_output, http_output, syslog_output, grpc, grpc_output, outputs_queue, ...) plus
// Lanner's own sub-keys, validated into a typed OutputsConfig, and the factory that builds
// the OutputManager (and gRPC server) from it. Unknown sub-keys are warnings; bad values are
// errors naming the key.

import { readFile } from "node:fs/promises";
import type { DropPolicy } from "./bounded-queue.js";
import { FileOutput } from "./file-output.js";
import { AlertRenderer, type LineFormat } from "./format.js";
import { DEFAULT_GRPC_ADDRESS, unixSocketPath } from "./grpc/address.js";
import type { AlertHub } from "./grpc/hub.js";
import type { GrpcServer, VersionInfo } from "./grpc/server.js";
import { HttpOutput } from "./http-output.js";
import { stderrLogger, type Logger } from "./logger.js";
import { DEFAULT_OUTPUT_QUEUE_CAPACITY, type Output } from "./output.js";
import { OutputManager } from "./output-manager.js";
import { ProgramOutput } from "./program-output.js";
import { StdoutOutput } from "./stdout-output.js";
import { SYSLOG_FACILITIES, SyslogOutput } from "./syslog-output.js";

export interface OutputsConfig {
  readonly jsonOutput: boolean;
  readonly jsonIncludeOutput: boolean;
  readonly jsonIncludeOutputFields: boolean;
  readonly jsonIncludeTags: boolean;
  readonly timeFormatIso8601: boolean;
  readonly queueCapacity: number;
  readonly dropPolicy: DropPolicy;
  readonly stdout: { readonly enabled: boolean };
  readonly file: { readonly enabled: boolean; readonly filename: string };
  readonly program: { readonly enabled: boolean; readonly program: string };
  readonly http: {
    readonly enabled: boolean;
    readonly url: string;
    readonly userAgent: string;
    readonly insecure: boolean;
    readonly caCert?: string;
    readonly mtls: boolean;
    readonly clientCert?: string;
    readonly clientKey?: string;
    readonly headers: Readonly<Record<string, string>>;
    readonly timeoutMs: number;
    readonly maxRetries: number;
  };
  readonly syslog: {
    readonly enabled: boolean;
    readonly socket: string;
    readonly protocol: "rfc5424" | "rfc3164";
    readonly facility: string;
  };
  readonly grpc: {
    readonly enabled: boolean;
    readonly bindAddress: string;
    readonly privateKey?: string;
    readonly certChain?: string;
    readonly rootCerts?: string;
    readonly subscriberQueueSize: number;
    readonly ringSize: number;
    readonly maxSubscribers: number;
  };
  readonly grpcOutput: { readonly enabled: boolean };
}

export interface ConfigDiagnostic {
  readonly severity: "error" | "warning";
  /** Dotted key, e.g. `http_output.url`. */
  readonly key: string;
  readonly message: string;
}

export const DEFAULT_OUTPUTS_CONFIG: OutputsConfig = {
  jsonOutput: false,
  jsonIncludeOutput: true,
  jsonIncludeOutputFields: true,
  jsonIncludeTags: true,
  timeFormatIso8601: false,
  queueCapacity: DEFAULT_OUTPUT_QUEUE_CAPACITY,
  dropPolicy: "drop-newest",
  stdout: { enabled: true },
  file: { enabled: false, filename: "./events.txt" },
  program: { enabled: false, program: "" },
  http: {
    enabled: false,
    url: "",
    userAgent: "lanner",
    insecure: false,
    mtls: false,
    headers: {},
    timeoutMs: 5000,
    maxRetries: 5,
  },
  syslog: { enabled: false, socket: "/dev/log", protocol: "rfc5424", facility: "user" },
  grpc: {
    enabled: false,
    bindAddress: DEFAULT_GRPC_ADDRESS,
    subscriberQueueSize: 1000,
    ringSize: 1000,
    maxSubscribers: 64,
  },
  grpcOutput: { enabled: false },
};

/** The top-level keys this module reads. */
export const OUTPUT_CONFIG_KEYS = [
  "json_output",
  "json_include_output_property",
  "json_include_output_fields_property",
  "json_include_tags_property",
  "json_include_message_property",
  "time_format_iso_8601",
  "buffered_outputs",
  "output_timeout",
  "outputs_queue",
  "stdout_output",
  "file_output",
  "program_output",
  "http_output",
  "syslog_output",
  "grpc",
  "grpc_output",
] as const;

class Reader {
  readonly diags: ConfigDiagnostic[] = [];
  err(key: string, message: string): void {
    this.diags.push({ severity: "error", key, message });
  }
  warn(key: string, message: string): void {
    this.diags.push({ severity: "warning", key, message });
  }
  section(raw: Record<string, unknown>, key: string, known: readonly string[]): Record<string, unknown> {
    const v = raw[key];
    if (v === undefined || v === null) return {};
    if (typeof v !== "object" || Array.isArray(v)) {
      this.err(key, "expected a mapping");
      return {};
    }
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!known.includes(k)) this.warn(`${key}.${k}`, "unknown key, ignored");
    return o;
  }
  bool(o: Record<string, unknown>, k: string, key: string, dflt: boolean): boolean {
    const v = o[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v === "boolean") return v;
    if (v === "true" || v === "false") return v === "true";
    this.err(key, `expected true or false, got ${JSON.stringify(v)}`);
    return dflt;
  }
  str(o: Record<string, unknown>, k: string, key: string, dflt: string): string {
    const v = o[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v === "string") return v;
    if (typeof v === "number") return String(v);
    this.err(key, `expected a string, got ${JSON.stringify(v)}`);
    return dflt;
  }
  int(o: Record<string, unknown>, k: string, key: string, dflt: number, min: number, max: number): number {
    const v = o[k];
    if (v === undefined || v === null) return dflt;
    const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
      this.err(key, `expected an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
      return dflt;
    }
    return n;
  }
}

function opt<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}

/**
 * Read the output keys of a parsed lanner.yaml (or `-o` overrides applied to it). Keys not
 * listed in OUTPUT_CONFIG_KEYS are left to the caller.
 */
export function parseOutputsConfig(raw: Record<string, unknown>): {
  config: OutputsConfig;
  diagnostics: ConfigDiagnostic[];
} {
  const r = new Reader();
  const d = DEFAULT_OUTPUTS_CONFIG;
  const top = raw;

  const q = r.section(top, "outputs_queue", ["capacity", "drop_policy"]);
  let queueCapacity = r.int(q, "capacity", "outputs_queue.capacity", d.queueCapacity, 0, 10_000_000);
  if (queueCapacity === 0) {
    r.warn("outputs_queue.capacity", `0 (unbounded) is not supported; using ${d.queueCapacity}`);
    queueCapacity = d.queueCapacity;
  }
  const dp = r.str(q, "drop_policy", "outputs_queue.drop_policy", d.dropPolicy);
  if (dp !== "drop-newest" && dp !== "drop-oldest")
    r.err("outputs_queue.drop_policy", "expected drop-newest or drop-oldest");
  for (const k of ["buffered_outputs", "output_timeout", "json_include_message_property"]) {
    if (top[k] !== undefined) r.warn(k, "accepted for Falco compatibility, has no effect");
  }

  const so = r.section(top, "stdout_output", ["enabled"]);
  const fo = r.section(top, "file_output", ["enabled", "keep_alive", "filename"]);
  const po = r.section(top, "program_output", ["enabled", "keep_alive", "program"]);
  const ho = r.section(top, "http_output", [
    "enabled",
    "url",
    "user_agent",
    "insecure",
    "ca_cert",
    "ca_bundle",
    "ca_path",
    "mtls",
    "client_cert",
    "client_key",
    "echo",
    "compress_uploads",
    "keep_alive",
    "max_consecutive_timeouts",
    "headers",
    "timeout_ms",
    "max_retries",
  ]);
  const sy = r.section(top, "syslog_output", ["enabled", "socket", "protocol", "facility"]);
  const g = r.section(top, "grpc", [
    "enabled",
    "bind_address",
    "private_key",
    "cert_chain",
    "root_certs",
    "threadiness",
    "subscriber_queue_size",
    "ring_size",
    "max_subscribers",
  ]);
  const go = r.section(top, "grpc_output", ["enabled"]);

  const headers: Record<string, string> = {};
  const hv = ho["headers"];
  if (hv !== undefined && hv !== null) {
    if (typeof hv !== "object" || Array.isArray(hv))
      r.err("http_output.headers", "expected a mapping of header: value");
    else
      for (const [k, v] of Object.entries(hv)) {
        if (typeof v !== "string" && typeof v !== "number")
          r.err(`http_output.headers.${k}`, "expected a string");
        else headers[k] = String(v);
      }
  }
  const protocol = r.str(sy, "protocol", "syslog_output.protocol", d.syslog.protocol);
  if (protocol !== "rfc5424" && protocol !== "rfc3164")
    r.err("syslog_output.protocol", "expected rfc5424 or rfc3164");
  const facility = r.str(sy, "facility", "syslog_output.facility", d.syslog.facility);
  if (SYSLOG_FACILITIES[facility] === undefined)
    r.err("syslog_output.facility", `unknown facility ${JSON.stringify(facility)}`);

  const config: OutputsConfig = {
    jsonOutput: r.bool(top, "json_output", "json_output", d.jsonOutput),
    jsonIncludeOutput: r.bool(top, "json_include_output_property", "json_include_output_property", true),
    jsonIncludeOutputFields: r.bool(
      top,
      "json_include_output_fields_property",
      "json_include_output_fields_property",
      true,
    ),
    jsonIncludeTags: r.bool(top, "json_include_tags_property", "json_include_tags_property", true),
    timeFormatIso8601: r.bool(top, "time_format_iso_8601", "time_format_iso_8601", d.timeFormatIso8601),
    queueCapacity,
    dropPolicy: dp === "drop-oldest" ? "drop-oldest" : "drop-newest",
    stdout: { enabled: r.bool(so, "enabled", "stdout_output.enabled", d.stdout.enabled) },
    file: {
      enabled: r.bool(fo, "enabled", "file_output.enabled", d.file.enabled),
      filename: r.str(fo, "filename", "file_output.filename", d.file.filename),
    },
    program: {
      enabled: r.bool(po, "enabled", "program_output.enabled", d.program.enabled),
      program: r.str(po, "program", "program_output.program", d.program.program),
    },
    http: {
      enabled: r.bool(ho, "enabled", "http_output.enabled", d.http.enabled),
      url: r.str(ho, "url", "http_output.url", d.http.url),
      userAgent: r.str(ho, "user_agent", "http_output.user_agent", d.http.userAgent),
      insecure: r.bool(ho, "insecure", "http_output.insecure", d.http.insecure),
      ...opt(
        "caCert",
        ho["ca_cert"] !== undefined ? r.str(ho, "ca_cert", "http_output.ca_cert", "") : undefined,
      ),
      mtls: r.bool(ho, "mtls", "http_output.mtls", d.http.mtls),
      ...opt(
        "clientCert",
        ho["client_cert"] !== undefined ? r.str(ho, "client_cert", "http_output.client_cert", "") : undefined,
      ),
      ...opt(
        "clientKey",
        ho["client_key"] !== undefined ? r.str(ho, "client_key", "http_output.client_key", "") : undefined,
      ),
      headers,
      timeoutMs: r.int(ho, "timeout_ms", "http_output.timeout_ms", d.http.timeoutMs, 1, 600_000),
      maxRetries: r.int(ho, "max_retries", "http_output.max_retries", d.http.maxRetries, 0, 100),
    },
    syslog: {
      enabled: r.bool(sy, "enabled", "syslog_output.enabled", d.syslog.enabled),
      socket: r.str(sy, "socket", "syslog_output.socket", d.syslog.socket),
      protocol: protocol === "rfc3164" ? "rfc3164" : "rfc5424",
      facility,
    },
    grpc: {
      enabled: r.bool(g, "enabled", "grpc.enabled", d.grpc.enabled),
      bindAddress: r.str(g, "bind_address", "grpc.bind_address", d.grpc.bindAddress),
      ...opt(
        "privateKey",
        g["private_key"] !== undefined ? r.str(g, "private_key", "grpc.private_key", "") : undefined,
      ),
      ...opt(
        "certChain",
        g["cert_chain"] !== undefined ? r.str(g, "cert_chain", "grpc.cert_chain", "") : undefined,
      ),
      ...opt(
        "rootCerts",
        g["root_certs"] !== undefined ? r.str(g, "root_certs", "grpc.root_certs", "") : undefined,
      ),
      subscriberQueueSize: r.int(
        g,
        "subscriber_queue_size",
        "grpc.subscriber_queue_size",
        d.grpc.subscriberQueueSize,
        1,
        1_000_000,
      ),
      ringSize: r.int(g, "ring_size", "grpc.ring_size", d.grpc.ringSize, 1, 1_000_000),
      maxSubscribers: r.int(g, "max_subscribers", "grpc.max_subscribers", d.grpc.maxSubscribers, 1, 10_000),
    },
    grpcOutput: { enabled: r.bool(go, "enabled", "grpc_output.enabled", d.grpcOutput.enabled) },
  };

  // Cross-field checks, so a bad combination is reported at load time.
  if (config.http.enabled && config.http.url === "")
    r.err("http_output.url", "required when http_output is enabled");
  if (config.http.enabled && config.http.url !== "") {
    try {
      const u = new URL(config.http.url);
      if (u.protocol !== "http:" && u.protocol !== "https:")
        r.err("http_output.url", "must be http:// or https://");
    } catch {
      r.err("http_output.url", `not a URL: ${JSON.stringify(config.http.url)}`);
    }
  }
  if (config.http.mtls && (config.http.clientCert === undefined || config.http.clientKey === undefined)) {
    r.err("http_output.mtls", "needs http_output.client_cert and http_output.client_key");
  }
  if (config.program.enabled && config.program.program.trim() === "")
    r.err("program_output.program", "required when program_output is enabled");
  if (config.grpc.enabled && unixSocketPath(config.grpc.bindAddress) === undefined) {
    for (const k of ["private_key", "cert_chain", "root_certs"] as const) {
      if (g[k] === undefined)
        r.err(`grpc.${k}`, `required: gRPC on TCP (${config.grpc.bindAddress}) needs mutual TLS`);
    }
  }
  if (config.grpcOutput.enabled && !config.grpc.enabled)
    r.warn("grpc_output.enabled", "has no effect while grpc.enabled is false");
  return { config, diagnostics: r.diags };
}

export interface BuiltOutputs {
  readonly manager: OutputManager;
  readonly renderer: AlertRenderer;
  readonly hub?: AlertHub;
  readonly grpcServer?: GrpcServer;
  /** Open files, bind the gRPC server. Throws startup errors naming the config key. */
  start(): Promise<void>;
}

async function readKey(path: string, key: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`${key}: reading ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Build every enabled output. Call start() before publishing; manager.close() at shutdown. */
export async function buildOutputs(
  config: OutputsConfig,
  deps: { hostname: string; version: VersionInfo; logger?: Logger; stdoutFd?: number },
): Promise<BuiltOutputs> {
  const logger = deps.logger ?? stderrLogger;
  const lineOutputs = [
    config.stdout,
    config.file,
    config.program,
    config.syslog,
    config.http,
    config.grpc,
  ].filter((o) => o.enabled).length;
  const renderer = new AlertRenderer(
    {
      timeFormatIso8601: config.timeFormatIso8601,
      jsonIncludeOutput: config.jsonIncludeOutput,
      jsonIncludeOutputFields: config.jsonIncludeOutputFields,
      jsonIncludeTags: config.jsonIncludeTags,
    },
    lineOutputs > 1,
  );
  const format: LineFormat = config.jsonOutput ? "json" : "text";
  const q = { queueCapacity: config.queueCapacity, dropPolicy: config.dropPolicy, logger, renderer };
  const outputs: Output[] = [];
  const files: FileOutput[] = [];
  if (config.stdout.enabled) outputs.push(new StdoutOutput({ ...q, format, ...opt("fd", deps.stdoutFd) }));
  if (config.file.enabled) {
    const f = new FileOutput({ ...q, path: config.file.filename, format });
    files.push(f);
    outputs.push(f);
  }
  if (config.program.enabled)
    outputs.push(new ProgramOutput({ ...q, command: config.program.program, format }));
  if (config.syslog.enabled) {
    outputs.push(
      new SyslogOutput({
        ...q,
        socket: config.syslog.socket,
        protocol: config.syslog.protocol,
        facility: config.syslog.facility,
      }),
    );
  }
  if (config.http.enabled) {
    const h = config.http;
    outputs.push(
      new HttpOutput({
        ...q,
        url: h.url,
        format,
        userAgent: h.userAgent,
        insecure: h.insecure,
        headers: h.headers,
        timeoutMs: h.timeoutMs,
        maxRetries: h.maxRetries,
        ...opt("ca", h.caCert !== undefined ? await readKey(h.caCert, "http_output.ca_cert") : undefined),
        ...opt(
          "cert",
          h.mtls && h.clientCert !== undefined
            ? await readKey(h.clientCert, "http_output.client_cert")
            : undefined,
        ),
        ...opt(
          "key",
          h.mtls && h.clientKey !== undefined
            ? await readKey(h.clientKey, "http_output.client_key")
            : undefined,
        ),
      }),
    );
  }
  let hub: AlertHub | undefined;
  let grpcServer: GrpcServer | undefined;
  if (config.grpc.enabled) {
    // the gRPC library (~19 MB of memory) is loaded only for a node that serves the API
    const [{ AlertHub }, { GrpcOutput }, { GrpcServer }] = await Promise.all([
      import("./grpc/hub.js"),
      import("./grpc/grpc-output.js"),
      import("./grpc/server.js"),
    ]);
    const g = config.grpc;
    hub = new AlertHub({ ringSize: g.ringSize, subscriberQueueSize: g.subscriberQueueSize });
    const tcp = unixSocketPath(g.bindAddress) === undefined;
    const tls =
      tcp && g.certChain !== undefined && g.privateKey !== undefined && g.rootCerts !== undefined
        ? {
            certChain: await readKey(g.certChain, "grpc.cert_chain"),
            privateKey: await readKey(g.privateKey, "grpc.private_key"),
            rootCerts: await readKey(g.rootCerts, "grpc.root_certs"),
          }
        : undefined;
    const ref: { manager?: OutputManager } = {};
    grpcServer = new GrpcServer({
      address: g.bindAddress,
      ...opt("tls", tls),
      hub,
      hostname: deps.hostname,
      version: deps.version,
      renderer,
      logger,
      maxSubscribers: g.maxSubscribers,
      outputStats: () => ref.manager?.stats().outputs ?? [],
    });
    // Falco needs grpc_output.enabled to feed the server; Lanner feeds it whenever it runs.
    outputs.push(new GrpcOutput(hub, grpcServer));
    const m = new OutputManager(outputs, { hostname: deps.hostname, logger });
    ref.manager = m;
    return {
      manager: m,
      renderer,
      hub,
      grpcServer,
      async start() {
        await Promise.all(files.map((f) => f.open()));
        await grpcServer?.start();
      },
    };
  }
  const manager = new OutputManager(outputs, { hostname: deps.hostname, logger });
  return {
    manager,
    renderer,
    async start() {
      await Promise.all(files.map((f) => f.open()));
    },
  };
}
