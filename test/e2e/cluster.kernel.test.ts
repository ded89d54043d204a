/**
 * `kubectl lanner` across three nodes (test/helpers/cluster.ts): three real agents in network
 * namespaces with mTLS, an API-server stand-in with the DaemonSet's pods and the workload pods,
 * real containerd pods assigned to nodes, the plugin run through the real kubectl.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { release } from "node:os";
import { after, before, describe, it } from "node:test";
import { cgroupIdOf } from "../../src/gadgets/container-filter.js";
import { clusterSkipReason, TestCluster } from "../helpers/cluster.js";
import { bpfProgramCount, bpfProgramsOf } from "../helpers/kernel.js";
import type { RunningContainer } from "../helpers/containerd.js";

const skip = clusterSkipReason();
if (skip !== undefined) console.log(`# SKIP kubectl lanner e2e: ${skip}`);

const VERSION = (createRequire(import.meta.url)("../../../package.json") as { version: string }).version;
const NS = "lnk-shop";
const OTHER_NS = "lnk-other";

interface Pod {
  readonly name: string;
  readonly namespace: string;
  readonly node: string;
  readonly labels: Record<string, string>;
  container?: RunningContainer;
}

const PODS: Pod[] = [
  { name: "web-1", namespace: NS, node: "node-1", labels: { app: "web" } },
  { name: "web-2", namespace: NS, node: "node-2", labels: { app: "web" } },
  { name: "db-3", namespace: NS, node: "node-3", labels: { app: "db" } },
  { name: "other-1", namespace: OTHER_NS, node: "node-1", labels: { app: "web" } },
];

const cmdline = (e: Record<string, unknown>): string =>
  [e["proc.cmdline"], e["exec.args"]]
    .map((v) => (Array.isArray(v) ? v.join(" ") : String(v ?? "")))
    .join(" ");

describe("kubectl lanner on three nodes", { skip: skip ?? false, timeout: 600_000 }, () => {
  let cluster: TestCluster;
  let tls: string[];

  before(async () => {
    cluster = await TestCluster.start();
    tls = cluster.tlsArgs();
    for (const p of PODS) {
      const r = await cluster.addPod(p.node, { name: p.name, namespace: p.namespace, labels: p.labels });
      p.container = r.container;
    }
  });
  after(async () => {
    await cluster?.stop();
  });

  /** Runs `echo MARKER` in each pod (an execve of /bin/echo); returns pod name -> marker. */
  async function execMarkers(pods: readonly Pod[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const p of pods) {
      const m = `lnk-${p.name}-${randomBytes(4).toString("hex")}`;
      out.set(p.name, m);
      await cluster.containers.exec(p.container as RunningContainer, ["/bin/echo", m]);
    }
    return out;
  }

  /** Starts a trace exec, waits for every node to be ready. */
  async function traceExec(args: readonly string[]) {
    const run = cluster.kubectl(["trace", "exec", "-o", "json", ...tls, ...args]);
    assert.ok(await run.waitStderr(/lanner: ready/, 60_000), `not ready: ${run.stderr()}`);
    return run;
  }

  /** Waits (bounded) for the markers expected, then a little more for any that should not come. */
  async function seen(
    run: ReturnType<TestCluster["kubectl"]>,
    markers: Map<string, string>,
    expected: readonly string[],
  ) {
    for (const pod of expected) {
      const m = markers.get(pod) as string;
      const hit = await run.waitFor((e) => cmdline(e).includes(m), 20_000);
      assert.ok(hit !== undefined, `no exec event of ${pod} (${m}); stderr: ${run.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 1500));
    const by = new Map<string, Record<string, unknown>[]>();
    for (const [pod, m] of markers)
      by.set(
        pod,
        run.events.filter((e) => cmdline(e).includes(m)),
      );
    return by;
  }

  it("trace exec -A: every pod's exec exactly once, tagged with its node", async () => {
    const run = await traceExec(["-A"]);
    const markers = await execMarkers(PODS);
    const hostMarker = `lnk-host-${randomBytes(4).toString("hex")}`;
    execFileSync("/bin/echo", [hostMarker]);
    const by = await seen(
      run,
      markers,
      PODS.map((p) => p.name),
    );
    for (const p of PODS) {
      const evs = by.get(p.name) ?? [];
      assert.equal(evs.length, 1, `${p.name}: ${JSON.stringify(evs)}`);
      const e = evs[0] as Record<string, unknown>;
      assert.equal(e["k8s.node.name"], p.node, `${p.name}'s node`);
      assert.equal(e["k8s.pod.name"], p.name);
      assert.equal(e["k8s.ns.name"], p.namespace);
    }
    assert.equal(
      run.events.filter((e) => cmdline(e).includes(hostMarker)).length,
      0,
      "-A has no host processes",
    );
    assert.equal(await run.stop(), 0, run.stderr());
  });

  it("status: every node's agent gives its own account", async () => {
    const r = await cluster.kubectlRun(["status", "-o", "json", ...tls]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.events.map((s) => s["node"]),
      ["node-1", "node-2", "node-3"],
    );
    for (const s of r.events) {
      assert.equal(s["version"], VERSION);
      assert.equal(s["kernel"], release());
      assert.ok(Number(s["capturePrograms"]) > 0, JSON.stringify(s));
      assert.ok(Number(s["rules"]) > 0, JSON.stringify(s));
      assert.ok(Number(s["events"]) > 0, JSON.stringify(s));
      assert.equal(s["gadgetsRunning"], 0);
      assert.ok(Array.isArray(s["features"]) && (s["features"] as unknown[]).length > 0);
    }
    const cols = await cluster.kubectlRun(["status", "--node", "node-2", ...tls]);
    assert.equal(cols.code, 0, cols.stderr);
    const lines = cols.stdout.split("\n");
    assert.match(
      lines[0] ?? "",
      /^NODE\s+VERSION\s+KERNEL\s+CAPTURE\s+PROGRAMS\s+RULES\s+EVENTS\s+ALERTS\s+DROPS\s+GADGETS\s+UPTIME$/,
    );
    assert.match(lines[1] ?? "", new RegExp(`^node-2\\s+${VERSION.replace(/\./g, "\\.")}\\s`));
    assert.equal(lines.filter((l) => /^node-[13]/.test(l)).length, 0, "--node selects");
  });

  it("--node, -n, -p and -l select", async () => {
    const cases: { args: string[]; want: string[] }[] = [
      { args: ["-A", "--node", "node-2"], want: ["web-2"] },
      { args: ["-n", OTHER_NS], want: ["other-1"] },
      { args: ["-n", NS, "-p", "web-1"], want: ["web-1"] },
      { args: ["-n", NS, "-l", "app=web"], want: ["web-1", "web-2"] },
      { args: ["-A", "-l", "app!=web"], want: ["db-3"] },
    ];
    for (const c of cases) {
      const run = await traceExec(c.args);
      const markers = await execMarkers(PODS);
      const by = await seen(run, markers, c.want);
      for (const p of PODS)
        assert.equal(
          (by.get(p.name) ?? []).length,
          c.want.includes(p.name) ? 1 : 0,
          `${c.args.join(" ")}: ${p.name}`,
        );
      assert.equal(await run.stop(), 0, run.stderr());
    }
  });

  it("snapshot process -n merges every node's rows", async () => {
    const r = await cluster.kubectlRun(["snapshot", "process", "-n", NS, "-o", "json", ...tls]);
    assert.equal(r.code, 0, r.stderr);
    for (const p of PODS.filter((x) => x.namespace === NS)) {
      const rows = r.events.filter((e) => e["k8s.pod.name"] === p.name);
      assert.ok(rows.length >= 1, `${p.name} has rows: ${r.stdout}`);
      for (const row of rows) assert.equal(row["k8s.node.name"], p.node);
      assert.ok(
        rows.some((row) => row["proc.pid"] === p.container?.pid),
        `${p.name}'s main process ${p.container?.pid} listed`,
      );
    }
    assert.equal(r.events.filter((e) => e["k8s.ns.name"] === OTHER_NS).length, 0);
  });

  it("bpftrace --pod counts only that pod's syscalls while a pod on the same node makes the same ones", async () => {
    const loop = ["/bin/sh", "-c", "while true; do cat /proc/version >/dev/null; usleep 20000; done"];
    const a = PODS[0] as Pod; // web-1, node-1
    const b = PODS[3] as Pod; // other-1, node-1
    const pa = await cluster.containers.execDetached(a.container as RunningContainer, loop);
    const pb = await cluster.containers.execDetached(b.container as RunningContainer, loop);
    assert.ok(pa > 0 && pb > 0);
    const cgA = cgroupIdOf(a.container?.pid as number);
    const cgB = cgroupIdOf(b.container?.pid as number);
    assert.ok(cgA !== undefined && cgB !== undefined && cgA !== cgB);
    const prog =
      'tracepoint:syscalls:sys_enter_openat /str(args->filename) == "/proc/version"/ { @opens[cgroup] = count(); }';
    const r = await cluster.kubectlRun(
      ["bpftrace", "--pod", a.name, "-n", a.namespace, "-e", prog, "--timeout", "3", "-o", "json", ...tls],
      90_000,
    );
    assert.equal(r.code, 0, r.stderr);
    const maps = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { type: string; data?: Record<string, Record<string, number>> })
      .filter((m) => m.type === "map");
    const opens = maps.map((m) => m.data?.["@opens"]).find((d) => d !== undefined) ?? {};
    const keys = Object.keys(opens);
    assert.deepEqual(
      keys,
      [String(cgA)],
      `only web-1's cgroup ${cgA} counted (other-1: ${cgB}): ${r.stdout}`,
    );
    assert.ok((opens[String(cgA)] ?? 0) > 10, `web-1 counted: ${JSON.stringify(opens)}`);
  });

  it("bpftrace on every node: each node's output marked with its node", async () => {
    const r = await cluster.kubectlRun(
      ["bpftrace", "-e", "BEGIN { @answer = 42; exit(); }", "-o", "json", ...tls],
      90_000,
    );
    assert.equal(r.code, 0, r.stderr);
    const maps = r.events.filter((e) => e["type"] === "map");
    assert.deepEqual(maps.map((m) => m["node"]).sort(), ["node-1", "node-2", "node-3"], r.stdout);
    for (const m of maps) assert.deepEqual(m["data"], { "@answer": 42 });
    const text = await cluster.kubectlRun([
      "bpftrace",
      "--node",
      "node-2",
      "-e",
      'BEGIN { printf("hi\\n"); exit(); }',
      ...tls,
    ]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^hi$/m, "one node: its output unchanged");
    assert.doesNotMatch(text.stdout, /node-2: /);
  });

  it("a gadget on a node whose agent runs the rules: no second capture, alerts keep flowing", async () => {
    const n1 = cluster.node("node-1");
    const agentPid = n1.child?.pid as number;
    // nsenter execs the agent: the child is the agent
    const before = bpfProgramsOf(agentPid);
    const machineBefore = bpfProgramCount();
    assert.ok(before.n > 0, "the agent holds its capture programs");
    const run = await traceExec(["-A", "--node", "node-1"]);
    const during = bpfProgramsOf(agentPid);
    const machineDuring = bpfProgramCount();
    assert.equal(during.n, before.n, `${before.how}: before ${before.n}, during trace exec ${during.n}`);
    // nothing else loads programs meanwhile (kernel tests run one at a time)
    assert.equal(
      machineDuring,
      machineBefore,
      `bpftool prog show: before ${machineBefore}, during ${machineDuring}`,
    );
    const a = PODS[0] as Pod;
    const file = `/etc/lnk-alert-${randomBytes(4).toString("hex")}`;
    await cluster.containers.exec(a.container as RunningContainer, ["/bin/sh", "-c", `echo x > ${file}`]);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !n1.stdout.includes(file)) await new Promise((r) => setTimeout(r, 100));
    const alert = n1.stdout
      .split("\n")
      .filter((l) => l.includes(file))
      .map((l) => JSON.parse(l) as { rule: string; output_fields: Record<string, unknown> })[0];
    assert.equal(alert?.rule, "File below /etc opened for writing", n1.stdout.slice(-2000));
    assert.equal(alert?.output_fields["k8s.pod.name"] ?? a.name, a.name);
    assert.equal(await run.stop(), 0, run.stderr());
  });

  it("mTLS: a client certificate from another CA is refused by every node", async () => {
    const r = await cluster.kubectlRun([
      "trace",
      "exec",
      "-A",
      "-o",
      "json",
      "--timeout",
      "3",
      ...cluster.tlsArgs(true),
    ]);
    assert.notEqual(r.code, 0, r.stdout);
    for (const n of ["node-1", "node-2", "node-3"]) assert.match(r.stderr, new RegExp(`node ${n}`), r.stderr);
    assert.equal(r.events.length, 0);
  });

  it("one agent killed mid-stream is reported, the others keep streaming, --timeout ends it", async () => {
    const t0 = Date.now();
    const run = await traceExec(["-A", "--timeout", "20"]);
    const first = await execMarkers(PODS);
    await seen(
      run,
      first,
      PODS.map((p) => p.name),
    );
    await cluster.killAgent("node-3");
    assert.ok(await run.waitStderr(/node node-3/, 20_000), `node-3's loss reported: ${run.stderr()}`);
    const second = await execMarkers(PODS.filter((p) => p.node !== "node-3"));
    const by = await seen(run, second, ["web-1", "web-2", "other-1"]);
    for (const [pod, evs] of by) assert.equal(evs.length, 1, pod);
    const code = await run.exited;
    const took = (Date.now() - t0) / 1000;
    assert.equal(code, 0, run.stderr());
    assert.ok(took < 40, `ended at --timeout (${took.toFixed(1)} s)`);
  });
});
