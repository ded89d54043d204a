/**
 * The client of one node's agent (lanner.v1.Node): what `lanner trace --agent` and `kubectl
 * lanner` use to run a gadget or bpftrace on a node and read its status.
 *
 * Over grpc-js: a unix socket (`unix:///run/lanner/lanner.sock`), or `host:port` with mutual
 * TLS (the server's certificate checked against `tls.ca`, for `tls.serverName` when it was
 * issued to a name rather than the address). Any host:port works, a local listener that
 * tunnels elsewhere (the API server's port-forward) included.
 */
import {
  Client,
  credentials,
  status as Status,
  type ClientReadableStream,
  type ChannelCredentials,
  type MethodDefinition,
  type ServiceError,
} from "@grpc/grpc-js";
import type { RunStats } from "../gadgets/runner.js";
import { LannerError, errorMessage } from "../errors.js";
import { loadServices } from "../outputs/grpc/proto.js";
import { unixSocketPath } from "../outputs/grpc/address.js";
import {
  bpftraceCallToProto,
  gadgetCallToProto,
  recordFromProto,
  statsFromProto,
  statusFromProto,
  type Msg,
} from "./codec.js";
import type {
  BpftraceCall,
  BpftraceStreamSink,
  GadgetCall,
  GadgetStreamSink,
  NodeStatus,
  NodeTarget,
} from "./node-types.js";

export type {
  BpftraceCall,
  BpftraceStreamSink,
  GadgetCall,
  GadgetStreamSink,
  KernelFeatureStatus,
  NodeStatus,
  NodeTarget,
  NodeTls,
} from "./node-types.js";

/**
 * A call that failed: `code` is the gRPC status name ("INVALID_ARGUMENT", "UNAVAILABLE",
 * "FAILED_PRECONDITION", "UNAUTHENTICATED"...), the message the server's (or the transport's).
 */
export class NodeCallError extends LannerError {
  constructor(
    readonly status: string,
    message: string,
  ) {
    super("ENODE", message);
  }
}

export interface NodeClientOptions {
  /** how long connecting may take before the call fails with UNAVAILABLE (ms; default 5000) */
  readonly connectTimeoutMs?: number;
}

export class NodeClient {
  private client: Client | null = null;
  private readonly calls = new Set<ClientReadableStream<unknown>>();

  constructor(
    readonly target: NodeTarget,
    readonly opts: NodeClientOptions = {},
  ) {}

  /**
   * Runs a gadget; resolves with the node's stats when the stream ends (timeout, snapshot
   * delivered, or `signal` aborted: the stream is cancelled and whatever the node sent
   * before is delivered); rejects with NodeCallError.
   *
   * On abort the node sends no stats: the ones resolved are counted here (delivered and
   * produced: the events and rows received; lost: the losses the node reported).
   */
  async runGadget(call: GadgetCall, sink: GadgetStreamSink, signal?: AbortSignal): Promise<RunStats> {
    let received = 0;
    let lost = 0;
    let stats: RunStats | null = null;
    await this.stream("RunGadget", gadgetCallToProto(call), signal, (m) => {
      switch (m["kind"]) {
        case "ready": {
          const r = m["ready"] as Msg;
          sink.ready(String(r["summary"] ?? ""), String(r["node"] ?? ""));
          break;
        }
        case "event":
          received++;
          sink.event(recordFromProto(m["event"]));
          break;
        case "table": {
          const rows = ((m["table"] as Msg)["rows"] as unknown[] | undefined) ?? [];
          received += rows.length;
          sink.table(rows.map(recordFromProto));
          break;
        }
        case "lost": {
          const l = m["lost"] as Msg;
          const n = Number(l["count"] ?? 0);
          lost += n;
          sink.lost(n, String(l["reason"] ?? ""));
          break;
        }
        case "warning":
          sink.warning(String(m["warning"]));
          break;
        case "stats":
          stats = statsFromProto(m["stats"]);
          break;
        default:
          break;
      }
    });
    return stats ?? { produced: received, delivered: received, unselected: 0, filtered: 0, lost };
  }

  /** Runs bpftrace on the node; resolves with its exit code. */
  async bpftrace(call: BpftraceCall, sink: BpftraceStreamSink, signal?: AbortSignal): Promise<number> {
    let exit: number | null = null;
    await this.stream("Bpftrace", bpftraceCallToProto(call), signal, (m) => {
      switch (m["kind"]) {
        case "ready": {
          const r = m["ready"] as Msg;
          sink.ready(String(r["summary"] ?? ""), String(r["node"] ?? ""));
          break;
        }
        case "stdout":
          sink.stdout(String(m["stdout"]));
          break;
        case "stderr":
          sink.stderr(String(m["stderr"]));
          break;
        case "exit_code":
          exit = Number(m["exit_code"]);
          break;
        default:
          break;
      }
    });
    // cancelled before bpftrace exited: it was interrupted (as by SIGINT)
    return exit ?? 130;
  }

  async status(): Promise<NodeStatus> {
    const client = await this.connect();
    const m = method("Status");
    const res = await new Promise<unknown>((resolve, reject) => {
      client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        {},
        { deadline: Date.now() + (this.opts.connectTimeoutMs ?? 5000) + 10_000 },
        (err: ServiceError | null, value?: unknown) =>
          err ? reject(this.callError("Status", err)) : resolve(value),
      );
    });
    return statusFromProto(res);
  }

  /** Cancels the calls in progress and closes the channel. */
  close(): void {
    for (const c of this.calls) c.cancel();
    this.calls.clear();
    this.client?.close();
    this.client = null;
  }

  private channel(): Client {
    if (this.client !== null) return this.client;
    const address = this.target.address;
    let creds: ChannelCredentials;
    const options: Record<string, string | number> = {
      "grpc.max_receive_message_length": 16 << 20,
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
    };
    if (unixSocketPath(address) !== undefined) {
      if (this.target.tls !== undefined)
        throw new NodeCallError("INVALID_ARGUMENT", `node address ${address}: TLS is for TCP addresses`);
      creds = credentials.createInsecure();
    } else {
      const tls = this.target.tls;
      if (tls === undefined)
        throw new NodeCallError(
          "INVALID_ARGUMENT",
          `node address ${address}: TCP needs mutual TLS (a CA, a client certificate and its key)`,
        );
      if (!/^(\[[0-9a-fA-F:.]+\]|[^:/\s]+):\d{1,5}$/.test(address))
        throw new NodeCallError(
          "INVALID_ARGUMENT",
          `node address ${address}: expected host:port or unix:///path`,
        );
      for (const k of ["ca", "cert", "key"] as const)
        if (tls[k].length === 0)
          throw new NodeCallError(
            "INVALID_ARGUMENT",
            `node address ${address}: TLS ${k} is empty (mutual TLS needs all three)`,
          );
      try {
        creds = credentials.createSsl(Buffer.from(tls.ca), Buffer.from(tls.key), Buffer.from(tls.cert));
      } catch (e) {
        throw new NodeCallError(
          "INVALID_ARGUMENT",
          `node address ${address}: reading the TLS material: ${errorMessage(e)}`,
        );
      }
      if (tls.serverName !== undefined) {
        options["grpc.ssl_target_name_override"] = tls.serverName;
        options["grpc.default_authority"] = tls.serverName;
      }
    }
    this.client = new Client(address, creds, options);
    return this.client;
  }

  /** The channel, connected (or NodeCallError UNAVAILABLE after connectTimeoutMs). */
  private async connect(): Promise<Client> {
    const client = this.channel();
    const ms = this.opts.connectTimeoutMs ?? 5000;
    await new Promise<void>((resolve, reject) =>
      client.waitForReady(Date.now() + ms, (err) =>
        err
          ? reject(
              new NodeCallError(
                "UNAVAILABLE",
                `connecting to ${this.target.address}: no connection within ${ms} ms (${errorMessage(err)})`,
              ),
            )
          : resolve(),
      ),
    );
    return client;
  }

  /** A server stream: each message to `onMessage`; resolves when it ends (or is aborted). */
  private async stream(
    name: string,
    req: Msg,
    signal: AbortSignal | undefined,
    onMessage: (m: Msg) => void,
  ): Promise<void> {
    if (signal?.aborted === true) return;
    const client = await this.connect();
    // (aborted while connecting)
    if ((signal as { aborted?: boolean } | undefined)?.aborted === true) return;
    const m = method(name);
    const call = client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, req, {});
    this.calls.add(call);
    let aborted = false;
    const onAbort = (): void => {
      aborted = true;
      call.cancel();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        let failure: unknown = null;
        call.on("data", (msg: Msg) => {
          if (failure !== null) return;
          try {
            onMessage(msg);
          } catch (e) {
            // a sink that throws ends the call: the error is the caller's
            failure = e;
            call.cancel();
          }
        });
        call.on("error", (err: ServiceError) => {
          if (failure !== null) reject(failure);
          else if (aborted && err.code === Status.CANCELLED) resolve();
          else reject(this.callError(name, err));
        });
        call.on("end", () => (failure !== null ? reject(failure) : resolve()));
      });
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.calls.delete(call);
    }
  }

  /**
   * The node's refusals (INVALID_ARGUMENT, FAILED_PRECONDITION, RESOURCE_EXHAUSTED,
   * UNIMPLEMENTED) keep the node's message as is (the CLI prints it after `lanner <gadget>: `);
   * transport failures say which address and call.
   */
  private callError(name: string, err: ServiceError): NodeCallError {
    const code = Status[err.code] ?? String(err.code);
    const details = err.details || err.message;
    if (APPLICATION_CODES.has(err.code)) return new NodeCallError(code, details);
    return new NodeCallError(code, `${name} on ${this.target.address}: ${details}`);
  }
}

const APPLICATION_CODES: ReadonlySet<number> = new Set([
  Status.INVALID_ARGUMENT,
  Status.FAILED_PRECONDITION,
  Status.RESOURCE_EXHAUSTED,
  Status.UNIMPLEMENTED,
]);

let methods: Record<string, MethodDefinition<unknown, unknown>> | null = null;

function method(name: string): MethodDefinition<unknown, unknown> {
  methods ??= loadServices().node as unknown as Record<string, MethodDefinition<unknown, unknown>>;
  const m = methods[name];
  if (m === undefined) throw new Error(`lanner.v1.Node has no method ${name}`);
  return m;
}
