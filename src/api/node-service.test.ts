/**
 * lanner.v1.Node served by a real GrpcServer on a unix socket and called by the real
 * NodeClient: gadgets run (snapshot, top), bad requests are refused with the CLI's message,
 * cancel frees the run, a slow reader loses events (counted) instead of growing the queue,
 * Bpftrace streams a (fake) runner's output and stops it on cancel.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { openSync, closeSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Client, credentials, type ClientReadableStream, type MethodDefinition } from "@grpc/grpc-js";
import { BpftraceInputError } from "../bpftrace/index.js";
import { HOST_CONTAINER } from "../state/containers/container-info.js";
import { standInEnvironment } from "../../test/helpers/gadget-environment.js";
import type { GadgetRecord } from "../gadgets/gadget.js";
import type { SelectionOptions } from "../gadgets/selection.js";
import { AlertHub } from "../outputs/grpc/hub.js";
import { loadServices } from "../outputs/grpc/proto.js";
import { GrpcServer } from "../outputs/grpc/server.js";
import { waitFor } from "../outputs/test-helpers.js";
import { gadgetCallToProto, type Msg } from "./codec.js";
import { NodeCallError, NodeClient, type GadgetStreamSink } from "./node-client.js";
import { NodeService, type BpftraceStarter } from "./node-service.js";

const HOST: SelectionOptions = {
  namespaces: [],
  allNamespaces: false,
  pods: [],
  containers: [],
  labels: [],
  host: true,
};

interface Collected {
  ready: { summary: string; node: string }[];
  events: GadgetRecord[];
  tables: GadgetRecord[][];
  lost: { n: number; why: string }[];
  warnings: string[];
}

function collector(): { sink: GadgetStreamSink; got: Collected } {
  const got: Collected = { ready: [], events: [], tables: [], lost: [], warnings: [] };
  return {
    got,
    sink: {
      ready: (summary, node) => got.ready.push({ summary, node }),
      event: (r) => got.events.push(r),
      table: (rows) => got.tables.push(rows),
      lost: (n, why) => got.lost.push({ n, why }),
      warning: (m) => got.warnings.push(m),
    },
  };
}

async function refusal(p: Promise<unknown>): Promise<NodeCallError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof NodeCallError, `expected a NodeCallError, got ${String(e)}`);
    return e;
  }
  assert.fail("the call was not refused");
}

describe("lanner.v1.Node over a unix socket", () => {
  const dir = mkdtempSync(join(tmpdir(), "nodeapi-svc-"));
  const address = `unix://${join(dir, "node.sock")}`;
  let server: GrpcServer;
  let service: NodeService;
  let client: NodeClient;
  /** the fake bpftrace's runs: stop() called? */
  const fakeRuns: { stopped: boolean; program: string; pod: string | undefined }[] = [];

  const fakeBpftrace: BpftraceStarter = async (opts, _env, sink) => {
    if (opts.program.includes("nosuchprobe")) throw new BpftraceInputError("nodeapi: no probe 'nosuchprobe'");
    const run = { stopped: false, program: opts.program, pod: opts.pod };
    fakeRuns.push(run);
    sink.ready(`pod=${opts.namespace ?? "default"}/${opts.pod ?? "-"} cgroups=2`);
    sink.stdout("Attaching 1 probe...\n");
    let finish!: (code: number) => void;
    const done = new Promise<number>((r) => (finish = r));
    let n = 0;
    const t = setInterval(() => sink.stdout(`line ${n++}\n`), 20);
    if (opts.program.includes("exit()"))
      setTimeout(() => {
        clearInterval(t);
        sink.stderr("done\n");
        finish(3);
      }, 50);
    return {
      done,
      stop: () => {
        run.stopped = true;
        clearInterval(t);
        sink.stdout("@count: 7\n");
        finish(0);
      },
    };
  };

  before(async () => {
    const env = { ...standInEnvironment({ loadMs: 10, container: () => HOST_CONTAINER }), node: "nodeapi-1" };
    server = new GrpcServer({
      address,
      hub: new AlertHub(),
      hostname: "nodeapi-1",
      version: { version: "0.1.0" },
      logger: () => {},
    });
    service = new NodeService({
      node: "nodeapi-1",
      version: "0.1.0-test",
      env,
      bpftrace: fakeBpftrace,
      features: () => [{ name: "btf:vmlinux", available: true, detail: "CO-RE" }],
      logger: () => {},
    });
    service.register(server);
    await server.start();
    client = new NodeClient({ address });
  });
  after(async () => {
    client.close();
    await server.stop(500);
    rmSync(dir, { recursive: true, force: true });
  });

  it("snapshot process: Ready (node), one table with this test's own child, Stats", async () => {
    // gadgets leave out the process that runs them (lng_self_tgid): here the server is this
    // test's process, so the row looked for is its child's
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const { sink, got } = collector();
    const stats = await client
      .runGadget(
        {
          category: "snapshot",
          name: "process",
          params: {},
          selection: HOST,
          filter: `proc.pid = ${child.pid} or proc.pid = ${process.pid}`,
        },
        sink,
      )
      .finally(() => child.kill());
    assert.equal(got.ready.length, 1);
    assert.equal(got.ready[0]?.node, "nodeapi-1");
    assert.match(got.ready[0]?.summary ?? "", /^gadget=snapshot process, .*node=nodeapi-1$/);
    assert.equal(got.tables.length, 1);
    const rows = got.tables[0] ?? [];
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.["proc.pid"], child.pid);
    assert.equal(rows[0]?.["proc.name"], "sleep");
    assert.equal(rows[0]?.["proc.ppid"], process.pid);
    assert.equal(stats.delivered, 1);
    assert.ok(stats.produced > 1, `produced ${stats.produced}`);
    assert.equal(stats.filtered, stats.produced - 1);
    assert.equal(stats.lost, 0);
  });

  it("refuses an unknown gadget, parameter, --filter field or sort field with INVALID_ARGUMENT naming it", async () => {
    const base = { category: "trace" as const, name: "exec", params: {}, selection: HOST };
    const sink = collector().sink;
    let e = await refusal(client.runGadget({ ...base, name: "nosuchgadget" }, sink));
    assert.equal(e.status, "INVALID_ARGUMENT");
    assert.match(e.message, /^unknown gadget 'nosuchgadget' \(trace gadgets: .*\bexec\b.*\)$/);
    e = await refusal(client.runGadget({ ...base, params: { bogus: true } }, sink));
    assert.equal(e.status, "INVALID_ARGUMENT");
    assert.match(
      e.message,
      /^unknown parameter --bogus \(parameters of trace exec: --paths, --ignore-failed\)$/,
    );
    e = await refusal(client.runGadget({ ...base, params: { "ignore-failed": "yes" } }, sink));
    assert.equal(e.message, "--ignore-failed: expected a boolean");
    e = await refusal(client.runGadget({ ...base, filter: "nosuch.field = 1" }, sink));
    assert.equal(e.status, "INVALID_ARGUMENT");
    assert.match(e.message, /nosuch\.field/);
    e = await refusal(
      client.runGadget(
        { category: "snapshot", name: "process", params: {}, selection: HOST, sort: ["-bogus"] },
        sink,
      ),
    );
    assert.equal(e.status, "INVALID_ARGUMENT");
    assert.match(e.message, /^--sort: 'bogus' is not a field of snapshot process \(fields: /);
    assert.equal(service.running, 0);
  });

  it("a request decoded from the wire with a bad field is INVALID_ARGUMENT naming the field", async () => {
    const m = loadServices().node as unknown as Record<string, MethodDefinition<unknown, unknown>>;
    const def = m["RunGadget"] as MethodDefinition<unknown, unknown>;
    const raw = new Client(address, credentials.createInsecure());
    const req: Msg = {
      ...gadgetCallToProto({ category: "top", name: "process", params: {}, selection: HOST }),
      category: "watch",
    };
    const call = raw.makeServerStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      req,
      {},
    );
    const err = await new Promise<{ code: number; details: string }>((resolve) => {
      call.on("data", () => {});
      call.on("error", (e: { code: number; details: string }) => resolve(e));
    });
    raw.close();
    assert.equal(err.code, 3);
    assert.equal(err.details, "category: expected trace, top or snapshot, got 'watch'");
  });

  it("top process: a table per interval; cancel ends the run and Status shows it freed", async () => {
    const { sink, got } = collector();
    const ac = new AbortController();
    const done = client.runGadget(
      { category: "top", name: "process", params: {}, selection: HOST, intervalS: 0.2, maxRows: 5 },
      sink,
      ac.signal,
    );
    await waitFor(() => got.tables.length >= 2, 10_000, "two tables");
    const during = await client.status();
    assert.equal(during.gadgetsRunning, 1);
    assert.equal(during.node, "nodeapi-1");
    assert.equal(during.version, "0.1.0-test");
    assert.deepEqual(during.features, [{ name: "btf:vmlinux", available: true, detail: "CO-RE" }]);
    assert.equal(during.captureMode, "");
    ac.abort();
    const stats = await done;
    assert.ok((got.tables[0] ?? []).length <= 5);
    assert.ok((got.tables[0] ?? []).length > 0);
    const rowsReceived = got.tables.reduce((n, t) => n + t.length, 0);
    // cancelled: the node sends no stats, the client counts what it received
    assert.equal(stats.delivered, rowsReceived);
    await waitFor(() => service.running === 0, 5000, "the run freed on the server");
    assert.equal((await client.status()).gadgetsRunning, 0);
  });

  it("timeout_seconds ends a run with Stats from the node", async () => {
    const { sink, got } = collector();
    const stats = await client.runGadget(
      { category: "top", name: "process", params: {}, selection: HOST, intervalS: 0.1, timeoutS: 0.5 },
      sink,
    );
    assert.equal(got.ready.length, 1);
    assert.ok(got.tables.length >= 2, `${got.tables.length} tables`);
    assert.equal(
      stats.delivered,
      got.tables.reduce((n, t) => n + t.length, 0),
    );
    assert.equal(service.running, 0);
  });

  it("a client that reads too slowly loses events, counted and reported as Lost (the queue is bounded)", async () => {
    // a second service with a tiny queue, on its own socket
    const sock = `unix://${join(dir, "slow.sock")}`;
    const s2 = new GrpcServer({
      address: sock,
      hub: new AlertHub(),
      hostname: "n",
      version: { version: "0" },
      logger: () => {},
    });
    const svc2 = new NodeService({
      node: "nodeapi-slow",
      version: "0",
      env: standInEnvironment({ loadMs: 0, container: () => HOST_CONTAINER }),
      queueMessages: 4,
      features: () => [],
      logger: () => {},
    });
    svc2.register(s2);
    await s2.start();
    const m = loadServices().node as unknown as Record<string, MethodDefinition<unknown, unknown>>;
    const def = m["RunGadget"] as MethodDefinition<unknown, unknown>;
    const raw = new Client(sock, credentials.createInsecure());
    const path = join(dir, "nodeapi-slow-reader-target");
    closeSync(openSync(path, "w"));
    const call = raw.makeServerStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      gadgetCallToProto({
        category: "trace",
        name: "open",
        params: { prefixes: [`${dir}/`] },
        selection: HOST,
        timeoutS: 4,
      }),
      {},
    ) as ClientReadableStream<Msg>;
    const msgs: Msg[] = [];
    call.on("data", (msg: Msg) => msgs.push(msg));
    const ended = new Promise<void>((resolve, reject) => {
      call.on("end", resolve);
      call.on("error", reject);
    });
    await waitFor(() => msgs.length > 0, 10_000, "Ready");
    assert.equal(msgs[0]?.["kind"], "ready");
    call.pause();
    // each event is some hundreds of bytes: 20000 of them overflow HTTP/2's window and the
    // queue (a child opens: the capture leaves out its own process, this test's)
    execFileSync("sh", ["-c", `i=0; while [ $i -lt 20000 ]; do : < '${path}'; i=$((i+1)); done`]);
    await new Promise((r) => setTimeout(r, 1500));
    call.resume();
    await ended;
    raw.close();
    await s2.stop(500);
    const events = msgs.filter((x) => x["kind"] === "event").length;
    const lost = msgs
      .filter((x) => x["kind"] === "lost")
      .reduce((n, x) => n + Number((x["lost"] as Msg)["count"]), 0);
    const last = msgs[msgs.length - 1] as Msg;
    assert.equal(last["kind"], "stats");
    const st = last["stats"] as Msg;
    console.log(
      `# slow reader: ${events} events received, ${lost} reported lost, stats ${JSON.stringify(st)}`,
    );
    assert.ok(lost > 0, "some events were lost");
    assert.ok(events < 20_000, `${events} events arrived`);
    assert.equal(Number(st["delivered"]), events);
    assert.ok(Number(st["lost"]) >= lost);
    assert.equal(Number(st["delivered"]) + Number(st["lost"]) >= 20_000, true);
  });

  it("Bpftrace: Ready, output in order, exit code last; a bad program is INVALID_ARGUMENT", async () => {
    const out: string[] = [];
    const ready: string[] = [];
    const code = await client.bpftrace(
      { program: "BEGIN { exit(); }", programName: "-e", pod: "web-1", namespace: "shop", format: "text" },
      {
        ready: (s, n) => ready.push(`${n}: ${s}`),
        stdout: (t) => out.push(t),
        stderr: (t) => out.push(`E:${t}`),
      },
    );
    assert.equal(code, 3);
    assert.deepEqual(ready, ["nodeapi-1: pod=shop/web-1 cgroups=2"]);
    assert.equal(out[0], "Attaching 1 probe...\n");
    assert.equal(out[out.length - 1], "E:done\n");
    const e = await refusal(
      client.bpftrace(
        { program: "nosuchprobe { }", programName: "-e", format: "text" },
        {
          ready: () => {},
          stdout: () => {},
          stderr: () => {},
        },
      ),
    );
    assert.equal(e.status, "INVALID_ARGUMENT");
    assert.equal(e.message, "nodeapi: no probe 'nosuchprobe'");
  });

  it("Bpftrace: cancel stops the runner and frees the run", async () => {
    const ac = new AbortController();
    const out: string[] = [];
    const p = client.bpftrace(
      { program: "tracepoint:x { @count = count(); }", programName: "-e", format: "text" },
      { ready: () => {}, stdout: (t) => out.push(t), stderr: () => {} },
      ac.signal,
    );
    await waitFor(() => out.length >= 3, 5000, "output");
    const run = fakeRuns[fakeRuns.length - 1];
    assert.equal(run?.stopped, false);
    ac.abort();
    assert.equal(await p, 130);
    await waitFor(() => run?.stopped === true && service.running === 0, 5000, "the runner stopped");
  });

  it("Bpftrace without a runner is UNIMPLEMENTED; an unreachable node is UNAVAILABLE", async () => {
    const sock = `unix://${join(dir, "nobpf.sock")}`;
    const s3 = new GrpcServer({
      address: sock,
      hub: new AlertHub(),
      hostname: "n",
      version: { version: "0" },
      logger: () => {},
    });
    new NodeService({
      node: "n",
      version: "0",
      env: standInEnvironment({ loadMs: 0, container: () => HOST_CONTAINER }),
      features: () => [],
      logger: () => {},
    }).register(s3);
    await s3.start();
    const c3 = new NodeClient({ address: sock });
    const e = await refusal(
      c3.bpftrace(
        { program: "BEGIN {}", programName: "-e", format: "text" },
        { ready() {}, stdout() {}, stderr() {} },
      ),
    );
    assert.equal(e.status, "UNIMPLEMENTED");
    assert.equal(e.message, "bpftrace is not available in this agent");
    c3.close();
    await s3.stop(500);
    const gone = new NodeClient({ address: `unix://${join(dir, "nobody.sock")}` }, { connectTimeoutMs: 300 });
    const u = await refusal(gone.status());
    assert.equal(u.status, "UNAVAILABLE");
    assert.match(u.message, /^connecting to unix:\/\/.*nobody\.sock: no connection within 300 ms/);
    gone.close();
  });
});
