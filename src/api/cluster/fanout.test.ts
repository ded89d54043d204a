/**
 * Fan-out and merge over real gRPC (the node client, mutual TLS for the name lanner-agent) to
 * fake nodes: trace events tagged per node and all delivered, a node killed mid-stream
 * reported while the others go on, an unreachable node, top tables merged per interval and
 * sorted, snapshots merged, the request (filters) sent to every node.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { FakeNode, makeAgentTls, type AgentTls } from "../../../test/helpers/fake-node.js";
import type { GadgetRecord } from "../../gadgets/gadget.js";
import type { GadgetCall, NodeTls } from "../node-client.js";
import type { ClusterNode } from "./connect.js";
import { forEachNode, runGadgetOnNodes, TopMerger, type ClusterGadgetSink } from "./fanout.js";

let tls: AgentTls;
let clientTls: NodeTls;

before(() => {
  tls = makeAgentTls();
  clientTls = { ca: tls.ca, cert: tls.clientCert, key: tls.clientKey, serverName: "lanner-agent" };
});
after(() => tls.cleanup());

const SELECTION = {
  namespaces: ["web"],
  allNamespaces: false,
  pods: [],
  containers: [],
  labels: [],
  host: false,
};

function traceCall(extra: Partial<GadgetCall> = {}): GadgetCall {
  return { category: "trace", name: "exec", params: {}, selection: SELECTION, ...extra };
}

async function startNodes(
  names: string[],
  opts: Partial<ConstructorParameters<typeof FakeNode>[0]> = {},
): Promise<FakeNode[]> {
  const nodes = names.map((n) => new FakeNode({ node: n, tls, ...opts }));
  await Promise.all(nodes.map((n) => n.start()));
  return nodes;
}

function targets(fakes: FakeNode[], names?: string[]): ClusterNode[] {
  return fakes.map((f, i) => ({
    name: names?.[i] ?? f.opts.node,
    target: { address: f.address, tls: clientTls },
  }));
}

interface Collected extends ClusterGadgetSink {
  events: GadgetRecord[];
  tables: GadgetRecord[][];
  notices: string[];
  readyWith: string[] | null;
}

function collect(onEvent?: (r: GadgetRecord) => void): Collected {
  const c: Collected = {
    events: [],
    tables: [],
    notices: [],
    readyWith: null,
    event: (r) => {
      c.events.push(r);
      onEvent?.(r);
    },
    table: (rows) => c.tables.push(rows),
    ready: (ready) => (c.readyWith = [...ready.keys()].sort()),
    notice: (node, m) => c.notices.push(`${node}: ${m}`),
  };
  return c;
}

test("trace: events from every node, each tagged with its node, all of them; the request reaches every node", async () => {
  const fakes = await startNodes(["fan-a", "fan-b"], { rate: 200, count: 50 });
  // this node leaves k8s.node.name unknown: the discovered name is put in
  const untagged = new FakeNode({ node: "fan-c", tls, rate: 200, count: 50, untagged: true });
  await untagged.start();
  fakes.push(untagged);
  const sink = collect();
  const failures: string[] = [];
  const r = await runGadgetOnNodes(
    targets(fakes),
    traceCall({ filter: "proc.name=sh", timeoutS: 0.6 }),
    sink,
    { sort: [], maxRows: 20, intervalS: 1, onFailure: (n, m) => failures.push(`${n}: ${m}`) },
  );
  assert.deepEqual(failures, []);
  assert.deepEqual(r.answered, ["fan-a", "fan-b", "fan-c"]);
  assert.deepEqual(sink.readyWith, ["fan-a", "fan-b", "fan-c"]);
  for (const node of ["fan-a", "fan-b", "fan-c"]) {
    const seqs = sink.events.filter((e) => e["k8s.node.name"] === node).map((e) => Number(e["exec.seq"]));
    assert.deepEqual(
      seqs,
      Array.from({ length: 50 }, (_x, i) => i),
      node,
    );
    assert.equal(r.stats.get(node)?.delivered, 50);
  }
  assert.equal(sink.events.length, 150);
  // the values came through typed: numbers, lists
  const e = sink.events.find((x) => x["k8s.node.name"] === "fan-b" && x["exec.seq"] === 7) as GadgetRecord;
  assert.equal(e["proc.pid"], 1007);
  assert.deepEqual(e["proc.args"], ["-c", "echo 7"]);
  for (const f of fakes) {
    assert.equal(f.requests.length, 1);
    const req = f.requests[0] as Record<string, unknown>;
    assert.equal(req["category"], "trace");
    assert.equal(req["name"], "exec");
    assert.equal(req["filter"], "proc.name=sh");
    assert.deepEqual((req["selection"] as Record<string, unknown>)["namespaces"], ["web"]);
    assert.equal(req["timeout_seconds"], 0.6);
  }
  await Promise.all(fakes.map((f) => f.stop()));
});

test("trace: a node killed mid-stream is reported and the others go on", async () => {
  const fakes = await startNodes(["kill-a", "kill-b", "kill-c"], { rate: 100 });
  const abort = new AbortController();
  const failures: string[] = [];
  let killedAt = -1;
  const afterKill = new Map<string, number>();
  const sink = collect((r) => {
    const node = r["k8s.node.name"] as string;
    if (killedAt >= 0) afterKill.set(node, (afterKill.get(node) ?? 0) + 1);
  });
  const run = runGadgetOnNodes(targets(fakes), traceCall(), sink, {
    sort: [],
    maxRows: 20,
    intervalS: 1,
    signal: abort.signal,
    onFailure: (n, m) => failures.push(`${n}: ${m}`),
  });
  await new Promise((r) => setTimeout(r, 400));
  (fakes[1] as FakeNode).kill();
  killedAt = sink.events.length;
  await new Promise((r) => setTimeout(r, 500));
  abort.abort();
  const r = await run;
  assert.equal(failures.length, 1, failures.join("\n"));
  assert.match(failures[0] as string, /^kill-b: /);
  assert.deepEqual([...r.failures.keys()], ["kill-b"]);
  assert.deepEqual(r.answered, ["kill-a", "kill-b", "kill-c"]);
  // the two others kept streaming after the kill (100/s for 0.5 s each), kill-b sent nothing more
  assert.ok((afterKill.get("kill-a") ?? 0) >= 30, `kill-a: ${afterKill.get("kill-a")}`);
  assert.ok((afterKill.get("kill-c") ?? 0) >= 30, `kill-c: ${afterKill.get("kill-c")}`);
  assert.equal(afterKill.get("kill-b") ?? 0, 0);
  // cancelling reached the nodes that were still streaming
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((fakes[0] as FakeNode).cancelled, 1);
  assert.equal((fakes[2] as FakeNode).cancelled, 1);
  for (const f of [fakes[0], fakes[2]]) await (f as FakeNode).stop();
});

test("an unreachable node is reported, the others answer; nobody answering is a failure for all", async () => {
  const fakes = await startNodes(["gone-a"], { rate: 100, count: 5 });
  const gone = new FakeNode({ node: "gone-b", tls });
  await gone.start();
  const goneAddress = gone.address;
  gone.kill();
  const nodes: ClusterNode[] = [
    ...targets(fakes),
    { name: "gone-b", target: { address: goneAddress, tls: clientTls } },
  ];
  const sink = collect();
  const failures: string[] = [];
  const r = await runGadgetOnNodes(nodes, traceCall({ timeoutS: 0.3 }), sink, {
    sort: [],
    maxRows: 20,
    intervalS: 1,
    clientOptions: { connectTimeoutMs: 1000 },
    onFailure: (n, m) => failures.push(`${n}: ${m}`),
  });
  assert.deepEqual(r.answered, ["gone-a"]);
  assert.equal(sink.events.length, 5);
  assert.deepEqual(sink.readyWith, ["gone-a"]);
  assert.equal(failures.length, 1);
  assert.match(failures[0] as string, /^gone-b: UNAVAILABLE: /);
  const none = await runGadgetOnNodes(nodes.slice(1), traceCall(), collect(), {
    sort: [],
    maxRows: 20,
    intervalS: 1,
    clientOptions: { connectTimeoutMs: 500 },
  });
  assert.deepEqual(none.answered, []);
  await fakes[0]?.stop();
});

test("top: each interval's tables of all nodes merged into one, sorted, cut to max rows", async () => {
  const table = (n: number, node: string): Record<string, number | string>[] =>
    [1, 2, 3].map((k) => ({
      "k8s.node.name": node,
      "proc.pid": k,
      "file.reads": (node === "top-a" ? 100 : node === "top-b" ? 200 : 300) + k * 10 + n,
    }));
  const fakes = await startNodes(["top-a", "top-b", "top-c"], { table });
  const sink = collect();
  const abort = new AbortController();
  const run = runGadgetOnNodes(
    targets(fakes),
    { category: "top", name: "file", params: {}, selection: SELECTION, intervalS: 0.2, maxRows: 4 },
    sink,
    { sort: [{ field: "file.reads", desc: true }], maxRows: 4, intervalS: 0.2, signal: abort.signal },
  );
  await new Promise((r) => setTimeout(r, 750));
  abort.abort();
  await run;
  // 3 intervals (0.2, 0.4, 0.6 s) in 0.75 s: a merged table each, never one per node
  assert.ok(sink.tables.length >= 2 && sink.tables.length <= 4, `${sink.tables.length} tables`);
  const first = sink.tables[0] as GadgetRecord[];
  assert.deepEqual(
    first.map((r) => `${r["k8s.node.name"]}:${r["file.reads"]}`),
    ["top-c:330", "top-c:320", "top-c:310", "top-b:230"],
  );
  const second = sink.tables[1] as GadgetRecord[];
  assert.deepEqual(
    second.map((r) => `${r["k8s.node.name"]}:${r["file.reads"]}`),
    ["top-c:331", "top-c:321", "top-c:311", "top-b:231"],
  );
  for (const f of fakes) assert.equal((f.requests[0] as Record<string, unknown>)["max_rows"], 4);
  await Promise.all(fakes.map((f) => f.stop()));
});

test("TopMerger: a round waits half an interval for a slow node; a node's next table starts a new round", async () => {
  const out: string[][] = [];
  const m = new TopMerger(["a", "b"], [{ field: "n", desc: false }], 10, 100, (rows) =>
    out.push(rows.map((r) => `${r["k8s.node.name"]}${r["n"]}`)),
  );
  m.add("a", [{ "k8s.node.name": "a", n: 2 }]);
  m.add("a", [{ "k8s.node.name": "a", n: 3 }]);
  assert.deepEqual(out, [["a2"]]);
  m.add("b", [{ "k8s.node.name": "b", n: 1 }]);
  assert.deepEqual(out, [["a2"], ["b1", "a3"]]);
  m.add("b", [{ "k8s.node.name": "b", n: 5 }]);
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(out, [["a2"], ["b1", "a3"], ["b5"]]);
  m.gone("a");
  m.add("b", [{ "k8s.node.name": "b", n: 6 }]);
  assert.deepEqual(out, [["a2"], ["b1", "a3"], ["b5"], ["b6"]]);
});

test("snapshot: every node's rows in one table, sorted", async () => {
  const fakes = await startNodes(["snap-a", "snap-b"], {
    snapshot: (node) => [
      { "proc.pid": node === "snap-a" ? 30 : 20, "proc.name": "x" },
      { "proc.pid": node === "snap-a" ? 10 : 40, "proc.name": "y" },
    ],
  });
  const sink = collect();
  const r = await runGadgetOnNodes(
    targets(fakes),
    { category: "snapshot", name: "process", params: {}, selection: SELECTION },
    sink,
    { sort: [{ field: "proc.pid", desc: false }], maxRows: 20, intervalS: 1 },
  );
  assert.deepEqual(r.answered, ["snap-a", "snap-b"]);
  assert.equal(sink.tables.length, 1);
  assert.deepEqual(
    (sink.tables[0] as GadgetRecord[]).map((x) => `${x["k8s.node.name"]}:${x["proc.pid"]}`),
    ["snap-a:10", "snap-b:20", "snap-a:30", "snap-b:40"],
  );
  await Promise.all(fakes.map((f) => f.stop()));
});

test("forEachNode: any call on every node; a failing one is recorded, the others' results kept", async () => {
  const fakes = await startNodes(["each-a", "each-b"]);
  const r = await forEachNode(targets(fakes), async (client, node) => {
    if (node.name === "each-b") throw new Error("refused here");
    return (await client.status()).node;
  });
  assert.deepEqual([...r.results], [["each-a", "each-a"]]);
  assert.deepEqual([...r.failures], [["each-b", "refused here"]]);
  await Promise.all(fakes.map((f) => f.stop()));
});
