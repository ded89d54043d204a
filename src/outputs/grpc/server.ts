// The gRPC server: Falco-compatible falco.outputs.service (sub, get) and falco.version.service,
// plus lanner.v1.Alerts (filtered Subscribe, Health). Unix socket by default (mode 0660);
// TCP only with mutual TLS (client certificates required and verified against the CA).
//
// Streams are fed from the AlertHub with grpc-js backpressure: when write() returns false the
// writer stops and resumes on 'drain', so a stalled client holds at most its queue plus the
// stream's small write buffer and HTTP/2 window, and never slows anyone else.

import { connect } from "node:net";
import { chmod, lstat, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import {
  Server,
  ServerCredentials,
  status as Status,
  type Metadata,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type MethodDefinition,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { Alert } from "../../engine/alert.js";
import { internalAlert } from "../../engine/alert.js";
import { AlertRenderer } from "../format.js";
import { stderrLogger, type Logger } from "../logger.js";
import { mkdirp } from "../mkdirp.js";
import type { OutputStats } from "../output.js";
import { falcoResponse, lannerAlert, EncodedCache } from "./convert.js";
import { compileFilter, FilterError, type SubscribeFilter } from "./filter.js";
import type { AlertHub, Subscriber } from "./hub.js";
import { loadServices, MalformedRequest, type LannerServices } from "./proto.js";

import { DEFAULT_GRPC_ADDRESS, unixSocketPath } from "./address.js";

export { DEFAULT_GRPC_ADDRESS, unixSocketPath } from "./address.js";
export const SUBSCRIBER_DROP_RULE = "Lanner internal: gRPC subscriber dropped alerts";

export interface GrpcTlsOptions {
  /** PEM server certificate chain. */
  readonly certChain: Buffer | string;
  /** PEM server private key. */
  readonly privateKey: Buffer | string;
  /** PEM CA bundle that signs accepted client certificates. */
  readonly rootCerts: Buffer | string;
}

export interface VersionInfo {
  readonly version: string;
  readonly engineVersion?: string;
  readonly engineFieldsChecksum?: string;
}

export interface GrpcServerOptions {
  /** `unix:///path.sock` or `host:port` (TCP requires tls). Default DEFAULT_GRPC_ADDRESS. */
  readonly address?: string;
  readonly tls?: GrpcTlsOptions;
  readonly hub: AlertHub;
  readonly hostname: string;
  readonly version: VersionInfo;
  readonly renderer?: AlertRenderer;
  readonly logger?: Logger;
  /** Largest request accepted (default 64 KiB; requests are tiny). */
  readonly maxReceiveMessageBytes?: number;
  /** Largest response sent (default 4 MiB). */
  readonly maxSendMessageBytes?: number;
  /** Concurrent streaming subscribers (sub + Subscribe) allowed (default 64). */
  readonly maxSubscribers?: number;
  /** Unix socket permissions (default 0o660). */
  readonly socketMode?: number;
  /** Minimum interval between two drop reports on one stream (default 1000 ms). */
  readonly dropReportIntervalMs?: number;
  /** Output counters for lanner.v1.Alerts/Health. */
  readonly outputStats?: () => readonly OutputStats[];
  readonly protoDir?: string;
}

export class ConfigError extends Error {
  readonly code = "CONFIG";
}

/** `unix:///run/x.sock` -> `/run/x.sock`; undefined for TCP addresses. */
export function parseVersion(v: string): {
  major: number;
  minor: number;
  patch: number;
  prerelease: string;
  build: string;
} {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/.exec(v.trim());
  if (!m) return { major: 0, minor: 0, patch: 0, prerelease: "", build: "" };
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: Number(m[3]),
    prerelease: m[4] ?? "",
    build: m[5] ?? "",
  };
}

type AnyStream = ServerWritableStream<unknown, Buffer> | ServerDuplexStream<unknown, Buffer>;

function describe(call: { getPeer(): string; metadata: Metadata }, method: string): string {
  const session = call.metadata.get("session_id")[0];
  const request = call.metadata.get("request_id")[0];
  let s = `${method} from ${call.getPeer() || "unix socket"}`;
  if (session !== undefined) s += ` session_id=${String(session)}`;
  if (request !== undefined) s += ` request_id=${String(request)}`;
  return s;
}

export class GrpcServer {
  readonly #opts: GrpcServerOptions;
  readonly #logger: Logger;
  readonly #renderer: AlertRenderer;
  readonly #services: LannerServices;
  readonly #falcoCache: EncodedCache;
  readonly #lannerCache: EncodedCache;
  readonly #server: Server;
  readonly #streams = new Set<AnyStream>();
  readonly #startedAt = Date.now();
  readonly #closers: (() => void | Promise<void>)[] = [];
  #boundPort: number | undefined;
  #socketPath: string | undefined;
  /** Requests refused as malformed or invalid. */
  malformedRequests = 0;

  constructor(opts: GrpcServerOptions) {
    this.#opts = opts;
    this.#logger = opts.logger ?? stderrLogger;
    this.#renderer = opts.renderer ?? new AlertRenderer();
    this.#services = loadServices(opts.protoDir);
    const falcoGet = this.#services.outputs["get"] as MethodDefinition<unknown, unknown>;
    const lannerSub = this.#services.lanner["Subscribe"] as MethodDefinition<unknown, unknown>;
    this.#falcoCache = new EncodedCache(falcoGet, (a) => falcoResponse(a, this.#renderer));
    this.#lannerCache = new EncodedCache(lannerSub, (a) => lannerAlert(a, this.#renderer));
    this.#server = new Server({
      "grpc.max_receive_message_length": opts.maxReceiveMessageBytes ?? 64 * 1024,
      "grpc.max_send_message_length": opts.maxSendMessageBytes ?? 4 * 1024 * 1024,
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
    });
    this.#server.addService(this.#services.outputs, {
      sub: (call: ServerDuplexStream<unknown, Buffer>) => this.#sub(call),
      get: (call: ServerWritableStream<unknown, Buffer>) => this.#get(call),
    });
    this.#server.addService(this.#services.version, {
      version: (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) =>
        this.#version(call, cb),
    });
    this.#server.addService(this.#services.lanner, {
      Subscribe: (call: ServerWritableStream<unknown, Buffer>) => this.#subscribe(call),
      Health: (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => this.#health(call, cb),
    });
  }

  /** The service definitions loaded from proto/ (lanner.v1.Node among them), for addService. */
  get definitions(): LannerServices {
    return this.#services;
  }

  /**
   * Serves one more service on this server (the node API: src/api/ registers it, since
   * outputs cannot import api). Before or after start(); `close` runs first in stop(), to end
   * that service's streams.
   */
  addService(
    definition: ServiceDefinition,
    implementation: UntypedServiceImplementation,
    close?: () => void | Promise<void>,
  ): void {
    this.#server.addService(definition, implementation);
    if (close !== undefined) this.#closers.push(close);
  }

  get address(): string {
    return this.#opts.address ?? DEFAULT_GRPC_ADDRESS;
  }

  /** The TCP port bound (useful with port 0), undefined on a unix socket. */
  get port(): number | undefined {
    return this.#boundPort;
  }

  get activeStreams(): number {
    return this.#streams.size;
  }

  async start(): Promise<void> {
    const address = this.address;
    const sockPath = unixSocketPath(address);
    let creds: ServerCredentials;
    if (sockPath !== undefined) {
      if (!sockPath.startsWith("/"))
        throw new ConfigError(`grpc address ${address}: unix socket path must be absolute`);
      try {
        await mkdirp(dirname(sockPath), 0o750);
      } catch (err) {
        throw new ConfigError(
          `creating gRPC socket directory ${dirname(sockPath)}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      await removeStaleSocket(sockPath);
      creds = ServerCredentials.createInsecure();
    } else {
      const tls = this.#opts.tls;
      if (tls === undefined) {
        throw new ConfigError(
          `grpc address ${address}: TCP requires mutual TLS (server certificate, key and the CA of client certificates)`,
        );
      }
      creds = ServerCredentials.createSsl(
        Buffer.from(tls.rootCerts),
        [{ cert_chain: Buffer.from(tls.certChain), private_key: Buffer.from(tls.privateKey) }],
        true,
      );
    }
    const port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(address, creds, (err, p) =>
        err ? reject(new Error(`binding gRPC ${address}: ${err.message}`)) : resolve(p),
      );
    });
    if (sockPath !== undefined) {
      this.#socketPath = sockPath;
      await chmod(sockPath, this.#opts.socketMode ?? 0o660);
    } else {
      this.#boundPort = port;
    }
  }

  /** End every stream (status OK), then shut down; forced after deadlineMs. */
  async stop(deadlineMs = 2000): Promise<void> {
    await Promise.all(this.#closers.map(async (c) => c()));
    for (const s of this.#streams) s.end();
    this.#streams.clear();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, deadlineMs);
      this.#server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
    if (this.#socketPath !== undefined) await unlink(this.#socketPath).catch(() => {});
  }

  #refuse(
    call: AnyStream | ServerUnaryCall<unknown, unknown>,
    method: string,
    code: Status,
    details: string,
  ): { code: Status; details: string } {
    this.malformedRequests++;
    this.#logger("warn", `grpc: ${describe(call, method)}: ${details}`);
    return { code, details };
  }

  #sub(call: ServerDuplexStream<unknown, Buffer>): void {
    const method = "falco.outputs.service/sub";
    call.on("data", (req: unknown) => {
      if (req instanceof MalformedRequest) {
        call.emit(
          "error",
          this.#refuse(call, method, Status.INVALID_ARGUMENT, `malformed request: ${req.error.message}`),
        );
      }
    });
    call.on("error", () => {}); // a reset stream is reported via 'cancelled'
    this.#stream(call, method, undefined, this.#falcoCache);
  }

  #subscribe(call: ServerWritableStream<unknown, Buffer>): void {
    const method = "lanner.v1.Alerts/Subscribe";
    const req = call.request;
    if (req instanceof MalformedRequest) {
      call.emit(
        "error",
        this.#refuse(call, method, Status.INVALID_ARGUMENT, `malformed request: ${req.error.message}`),
      );
      return;
    }
    let filter;
    try {
      filter = compileFilter((req ?? {}) as SubscribeFilter);
    } catch (err) {
      if (!(err instanceof FilterError)) throw err;
      call.emit(
        "error",
        this.#refuse(call, method, Status.INVALID_ARGUMENT, `invalid filter: ${err.message}`),
      );
      return;
    }
    this.#stream(call, method, filter, this.#lannerCache);
  }

  #stream(
    call: AnyStream,
    method: string,
    filter: ((a: Alert) => boolean) | undefined,
    cache: EncodedCache,
  ): void {
    const max = this.#opts.maxSubscribers ?? 64;
    if (this.#opts.hub.subscriberCount >= max) {
      this.#logger("warn", `grpc: ${describe(call, method)}: refused, ${max} subscribers already`);
      call.emit("error", { code: Status.RESOURCE_EXHAUSTED, details: `too many subscribers (limit ${max})` });
      return;
    }
    const hub = this.#opts.hub;
    const sub = hub.subscribe({ name: `${method} ${call.getPeer()}`, ...(filter ? { filter } : {}) });
    this.#streams.add(call);
    this.#logger("debug", `grpc: ${describe(call, method)}: subscribed (#${sub.id})`);
    const interval = this.#opts.dropReportIntervalMs ?? 1000;
    let reported = 0;
    let lastReport = 0;
    let waitingDrain = false;
    let reportTimer: NodeJS.Timeout | undefined;
    let done = false;

    const pump = (): void => {
      if (done || waitingDrain) return;
      if (call.writableEnded || call.destroyed) return; // stop() ended it; 'finish' unsubscribes
      for (;;) {
        let msg: Buffer;
        const pendingDrops = sub.dropped - reported;
        const now = Date.now();
        if (pendingDrops > 0 && now - lastReport >= interval) {
          reported = sub.dropped;
          lastReport = now;
          msg = cache.get(this.#dropAlert(sub, pendingDrops));
        } else {
          if (pendingDrops > 0 && reportTimer === undefined) {
            reportTimer = setTimeout(
              () => {
                reportTimer = undefined;
                pump();
              },
              interval - (now - lastReport),
            );
          }
          const a = sub.next();
          if (a === undefined) return;
          msg = cache.get(a);
        }
        if (!call.write(msg)) {
          waitingDrain = true;
          call.once("drain", () => {
            waitingDrain = false;
            pump();
          });
          return;
        }
      }
    };
    const finish = (why: string): void => {
      if (done) return;
      done = true;
      clearTimeout(reportTimer);
      hub.unsubscribe(sub);
      this.#streams.delete(call);
      this.#logger(
        "debug",
        `grpc: ${describe(call, method)}: ${why} (#${sub.id}, ${sub.taken} sent, ${sub.dropped} dropped)`,
      );
    };
    call.on("cancelled", () => finish("cancelled"));
    call.on("close", () => finish("closed"));
    call.on("finish", () => finish("ended"));
    // Write from a later turn of the event loop: publish() only queues, so the engine's batch
    // is never held up by encoding or HTTP/2 framing, and one wake-up serves many alerts.
    let scheduled = false;
    sub.onAlert(() => {
      if (scheduled || waitingDrain) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        pump();
      });
    });
  }

  #dropAlert(sub: Subscriber, n: number): Alert {
    return internalAlert({
      rule: SUBSCRIBER_DROP_RULE,
      priority: "Debug",
      hostname: this.#opts.hostname,
      message: `${n} alerts dropped: this gRPC subscriber's queue (${sub.queueCapacity}) overflowed`,
      outputFields: { n_drops: n, n_drops_total: sub.dropped, queue_capacity: sub.queueCapacity },
    });
  }

  #get(call: ServerWritableStream<unknown, Buffer>): void {
    const method = "falco.outputs.service/get";
    if (call.request instanceof MalformedRequest) {
      call.emit(
        "error",
        this.#refuse(
          call,
          method,
          Status.INVALID_ARGUMENT,
          `malformed request: ${call.request.error.message}`,
        ),
      );
      return;
    }
    const alerts = this.#opts.hub.recent();
    let i = 0;
    let cancelled = false;
    call.on("cancelled", () => {
      cancelled = true;
    });
    const pump = (): void => {
      while (!cancelled && i < alerts.length) {
        const msg = this.#falcoCache.get(alerts[i++] as Alert);
        if (!call.write(msg)) {
          call.once("drain", pump);
          return;
        }
      }
      if (!cancelled) call.end();
    };
    pump();
  }

  #version(call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>): void {
    if (call.request instanceof MalformedRequest) {
      cb(
        this.#refuse(
          call,
          "falco.version.service/version",
          Status.INVALID_ARGUMENT,
          `malformed request: ${call.request.error.message}`,
        ),
      );
      return;
    }
    const v = this.#opts.version;
    const p = parseVersion(v.version);
    const e = parseVersion(v.engineVersion ?? "0.0.0");
    cb(null, {
      version: v.version,
      major: p.major,
      minor: p.minor,
      patch: p.patch,
      prerelease: p.prerelease,
      build: p.build,
      engine_major: e.major,
      engine_minor: e.minor,
      engine_patch: e.patch,
      engine_version: v.engineVersion ?? "",
      engine_fields_checksum: v.engineFieldsChecksum ?? "",
    });
  }

  #health(call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>): void {
    if (call.request instanceof MalformedRequest) {
      cb(
        this.#refuse(
          call,
          "lanner.v1.Alerts/Health",
          Status.INVALID_ARGUMENT,
          `malformed request: ${call.request.error.message}`,
        ),
      );
      return;
    }
    const hs = this.#opts.hub.stats();
    cb(null, {
      status: 1,
      version: this.#opts.version.version,
      uptime_seconds: (Date.now() - this.#startedAt) / 1000,
      subscribers: hs.subscribers,
      alerts_published: String(hs.published),
      subscriber_drops: String(hs.subscriberDrops),
      outputs: (this.#opts.outputStats?.() ?? []).map((o) => ({
        name: o.name,
        delivered: String(o.delivered),
        failed: String(o.failed),
        dropped: String(o.dropped),
        queue_depth: o.queueDepth,
        queue_capacity: o.queueCapacity,
      })),
    });
  }
}

/** Remove a leftover socket file nobody listens on; refuse if another server answers. */
async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new ConfigError(`grpc socket path ${path} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (live) throw new ConfigError(`grpc socket ${path} is in use by another process`);
  await unlink(path);
}
