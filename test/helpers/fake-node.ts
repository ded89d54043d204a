/**
 * A fake node agent for the cluster client's tests and benchmark: a real gRPC server (grpc-js,
 * the services proto-loader makes of proto/lanner/v1/node.proto, as the agent loads them) that
 * answers lanner.v1.Node with scripted output under a given node name: RunGadget streams Ready,
 * then trace events at a set rate (or top tables per interval, or one snapshot), then Stats;
 * it honours cancellation and timeout_seconds, and can be killed mid-stream. Every request is
 * kept (decoded as proto-loader gives it) for assertions. TCP only with mutual TLS, as the
 * agent; `makeAgentTls()` makes the certificates (server name `lanner-agent`).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type ServerWritableStream,
  type ServiceDefinition,
} from "@grpc/grpc-js";
import { loadPackageDefinition } from "../../src/outputs/grpc/proto.js";
import { TestPki } from "../../src/outputs/test-helpers.js";
import { fieldToProto } from "../../src/api/codec.js";

type Value = string | number | bigint | boolean | null | readonly string[];
export type FakeRecord = Record<string, Value>;
type Msg = Record<string, unknown>;

export interface FakeNodeOptions {
  /** the node name it reports (Ready.node, and k8s.node.name of its records unless `untagged`) */
  readonly node: string;
  /** where to listen: `host:port` (port 0: any) */
  readonly address?: string;
  readonly tls: AgentTls;
  /** trace: the i-th event (default: an exec event numbered i) */
  readonly event?: (i: number, node: string) => FakeRecord;
  /** trace: events per second (default 100) */
  readonly rate?: number;
  /** trace: events in all, then the stream waits for cancel or timeout (default unlimited) */
  readonly count?: number;
  /** top: the rows of the n-th interval (default: three rows) */
  readonly table?: (n: number, node: string) => FakeRecord[];
  /** snapshot: the rows (default: three rows) */
  readonly snapshot?: (node: string) => FakeRecord[];
  /** leave k8s.node.name out of records (the client must tag them) */
  readonly untagged?: boolean;
  /** the readiness summary (default `programs=1`) */
  readonly summary?: string;
  /** how long until Ready (ms; default 0) */
  readonly readyDelayMs?: number;
}

export interface AgentTls {
  readonly dir: string;
  readonly ca: Buffer;
  readonly serverCert: Buffer;
  readonly serverKey: Buffer;
  readonly clientCert: Buffer;
  readonly clientKey: Buffer;
  readonly paths: Record<"ca" | "serverCert" | "serverKey" | "clientCert" | "clientKey", string>;
  cleanup(): void;
}

/** A throwaway CA, an agent certificate for the name `lanner-agent` and a client certificate (openssl CLI). */
export function makeAgentTls(): AgentTls {
  const dir = mkdtempSync(join(tmpdir(), "cluster-tls-"));
  const pki = new TestPki(dir);
  pki.ca("ca", "lanner-test-ca");
  const leaf = (name: string, ext: string): void => pki.leaf(name, "ca", ext);
  leaf("server", "subjectAltName=DNS:lanner-agent\nextendedKeyUsage=serverAuth\n");
  leaf("client", "extendedKeyUsage=clientAuth\n");
  const p = (f: string): string => join(dir, f);
  const paths = {
    ca: p("ca.crt"),
    serverCert: p("server.crt"),
    serverKey: p("server.key"),
    clientCert: p("client.crt"),
    clientKey: p("client.key"),
  };
  return {
    dir,
    ca: readFileSync(paths.ca),
    serverCert: readFileSync(paths.serverCert),
    serverKey: readFileSync(paths.serverKey),
    clientCert: readFileSync(paths.clientCert),
    clientKey: readFileSync(paths.clientKey),
    paths,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function record(r: FakeRecord): Msg {
  const fields: Record<string, Msg> = {};
  for (const [k, v] of Object.entries(r)) fields[k] = fieldToProto(v);
  return { fields };
}

function defaultEvent(i: number, node: string): FakeRecord {
  return {
    "k8s.node.name": node,
    "k8s.ns.name": "default",
    "k8s.pod.name": `pod-${node}`,
    "container.name": "main",
    "proc.pid": 1000 + i,
    "proc.ppid": 1,
    "proc.name": "sh",
    "proc.args": ["-c", `echo ${i}`],
    "evt.res": 0,
    "exec.seq": i,
  };
}

function defaultRows(n: number, node: string): FakeRecord[] {
  return [1, 2, 3].map((k) => ({
    "k8s.node.name": node,
    "proc.pid": k,
    "proc.name": `p${k}`,
    "file.reads": k * 10 + n,
    "fd.name": `/tmp/${node}-${k}`,
  }));
}

interface ActiveCall {
  readonly call: ServerWritableStream<Msg, unknown>;
  stop(): void;
}

export class FakeNode {
  private readonly server = new Server();
  private readonly active = new Set<ActiveCall>();
  /** every RunGadget request, as proto-loader decoded it */
  readonly requests: Msg[] = [];
  /** streams the client cancelled */
  cancelled = 0;
  /** events sent, over all streams */
  sent = 0;
  address = "";
  port = 0;

  constructor(readonly opts: FakeNodeOptions) {
    const pd = loadPackageDefinition();
    const svc = pd["lanner.v1.Node"] as unknown as ServiceDefinition;
    this.server.addService(svc, {
      RunGadget: (call: ServerWritableStream<Msg, unknown>) => this.runGadget(call),
      Bpftrace: (call: ServerWritableStream<Msg, unknown>) =>
        call.destroy(
          Object.assign(new Error("the fake node runs no bpftrace"), { code: GrpcStatus.UNIMPLEMENTED }),
        ),
      Status: (_call: unknown, cb: (e: null, v: Msg) => void) =>
        cb(null, { node: this.opts.node, version: "0.0.0-fake", kernel: "fake", capture_mode: "selected" }),
    });
  }

  async start(): Promise<void> {
    const creds = ServerCredentials.createSsl(
      this.opts.tls.ca,
      [{ cert_chain: this.opts.tls.serverCert, private_key: this.opts.tls.serverKey }],
      true,
    );
    const want = this.opts.address ?? "127.0.0.1:0";
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(want, creds, (e, p) => (e !== null ? reject(e) : resolve(p))),
    );
    this.address = `${want.slice(0, want.lastIndexOf(":"))}:${this.port}`;
  }

  /** Cuts every stream and the listener at once (a node that dies mid-stream). */
  kill(): void {
    for (const a of this.active) a.stop();
    this.server.forceShutdown();
  }

  /** Ends streams normally (Stats, status OK), then shuts down. */
  async stop(): Promise<void> {
    for (const a of [...this.active]) a.stop();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }

  private runGadget(call: ServerWritableStream<Msg, unknown>): void {
    const req = call.request;
    this.requests.push(req);
    const o = this.opts;
    const category = req["category"] as string;
    const timers: NodeJS.Timeout[] = [];
    let done = false;
    let produced = 0;
    const tagged = (r: FakeRecord): FakeRecord => {
      if (o.untagged === true) {
        const { ["k8s.node.name"]: _n, ...rest } = r;
        return rest;
      }
      return r;
    };
    const finish = (): void => {
      if (done) return;
      done = true;
      for (const t of timers) clearInterval(t);
      this.active.delete(entry);
      if (!call.cancelled && !call.destroyed) {
        call.write({ stats: { produced: String(produced), delivered: String(produced), lost: "0" } });
        call.end();
      }
    };
    const entry: ActiveCall = { call, stop: finish };
    this.active.add(entry);
    call.on("cancelled", () => {
      this.cancelled++;
      done = true;
      for (const t of timers) clearInterval(t);
      this.active.delete(entry);
    });
    if (category !== "trace" && category !== "top" && category !== "snapshot") {
      done = true;
      this.active.delete(entry);
      call.destroy(
        Object.assign(new Error(`unknown category '${category}'`), { code: GrpcStatus.INVALID_ARGUMENT }),
      );
      return;
    }
    const timeout = Number(req["timeout_seconds"] ?? 0);
    if (timeout > 0) timers.push(setTimeout(finish, timeout * 1000));
    const begin = (): void => {
      if (done) return;
      call.write({ ready: { summary: o.summary ?? "programs=1", node: o.node } });
      if (category === "snapshot") {
        const rows = (o.snapshot ?? ((n) => defaultRows(0, n)))(o.node);
        produced += rows.length;
        call.write({ table: { rows: rows.map((r) => record(tagged(r))) } });
        finish();
        return;
      }
      if (category === "top") {
        const every =
          Number(req["interval_seconds"] ?? 0) > 0 ? Number(req["interval_seconds"]) * 1000 : 1000;
        let n = 0;
        timers.push(
          setInterval(() => {
            const rows = (o.table ?? defaultRows)(n++, o.node);
            produced += rows.length;
            call.write({ table: { rows: rows.map((r) => record(tagged(r))) } });
          }, every),
        );
        return;
      }
      // trace: batches every 10 ms (or less often at low rates) keep the rate exact over time
      const rate = o.rate ?? 100;
      const start = Date.now();
      const tickMs = Math.max(10, Math.min(1000, 1000 / rate));
      const make = o.event ?? defaultEvent;
      const tick = (): void => {
        if (done) return;
        const due = Math.floor(((Date.now() - start) / 1000) * rate) + 1;
        const upTo = o.count !== undefined ? Math.min(due, o.count) : due;
        while (produced < upTo) {
          call.write({ event: record(tagged(make(produced, o.node))) });
          produced++;
          this.sent++;
        }
      };
      tick();
      timers.push(setInterval(tick, tickMs));
    };
    if ((o.readyDelayMs ?? 0) > 0) timers.push(setTimeout(begin, o.readyDelayMs));
    else begin();
  }
}
