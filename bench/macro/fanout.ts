/**
 * `kubectl lanner` fan-out benchmark: 100 nodes, through the API server's port-forward and
 * directly, in one run.
 *
 * 100 fake agents (test/helpers/fake-node.ts: real gRPC servers with mutual TLS, each
 * streaming numbered exec events at a fixed rate) listen on 127.0.1.1 .. 127.0.1.100 (all of
 * 127.0.0.0/8 is loopback); the API-server stand-in lists them as 100 agent pods on 100 nodes
 * and serves their port-forward. `kubectl lanner trace exec -A -o json --timeout S` runs
 * through the real kubectl (a `kubectl-lanner` symlink to bin/lanner first on PATH), once
 * with `--direct` and once through port-forward, and for each:
 *   - time from start to the first event of every one of the 100 nodes,
 *   - merged events/s (every node's events over the run, as printed by the plugin),
 *   - the plugin's peak RSS (VmHWM of the plugin process: kubectl execs it in place),
 * printed as a table with port-forward / direct ratios.
 *
 * Target (both modes, every run, quick or not: it is correctness): every event of every node
 * arrives exactly once (each node's sequence numbers 0..n-1, n = what the node sent).
 * BENCH_QUICK=1: a short smoke run (CI).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../../src/capture/paths.js";
import { FakeNode, makeAgentTls } from "../../test/helpers/fake-node.js";
import { KubeApiStandin } from "../../test/helpers/kube-apiserver-standin.js";

const QUICK = process.env["BENCH_QUICK"] === "1";
const NODES = 100;
/** events per second per node */
const RATE = QUICK ? 20 : 50;
const SECONDS = QUICK ? 3 : 8;
const ROOT = packageRoot();

interface RunResult {
  readonly mode: "direct" | "port-forward";
  readonly exit: number | null;
  /** seconds from spawn to the first event of every node (null: some node never sent) */
  readonly allFirstS: number | null;
  readonly events: number;
  readonly eventsPerS: number;
  readonly peakRssKiB: number;
  /** node -> sequence numbers received, in order */
  readonly seqs: Map<string, number[]>;
  readonly stderr: string;
}

function vmHwm(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m !== null ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function runPlugin(mode: RunResult["mode"], env: NodeJS.ProcessEnv): Promise<RunResult> {
  const args = ["lanner", "trace", "exec", "-A", "-o", "json", "--timeout", String(SECONDS)];
  if (mode === "direct") args.push("--direct");
  const t0 = process.hrtime.bigint();
  const child = spawn("kubectl", args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const pid = child.pid as number;
  let peak = 0;
  const poll = setInterval(() => (peak = Math.max(peak, vmHwm(pid))), 50);
  const seqs = new Map<string, number[]>();
  const first = new Map<string, number>();
  let firstEventAt: number | null = null;
  let lastEventAt = 0;
  let events = 0;
  let rest = "";
  let stderr = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    const now = Number(process.hrtime.bigint() - t0) / 1e9;
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) {
      if (line === "") continue;
      const o = JSON.parse(line) as Record<string, unknown>;
      const node = String(o["k8s.node.name"]);
      const list = seqs.get(node);
      if (list === undefined) {
        seqs.set(node, [Number(o["exec.seq"])]);
        first.set(node, now);
      } else list.push(Number(o["exec.seq"]));
      events++;
      firstEventAt ??= now;
      lastEventAt = now;
    }
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (s: string) => (stderr += s));
  const exit = await new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  clearInterval(poll);
  const allFirstS = first.size === NODES ? Math.max(...first.values()) : null;
  const span = firstEventAt !== null ? lastEventAt - firstEventAt : 0;
  return {
    mode,
    exit,
    allFirstS,
    events,
    eventsPerS: span > 0 ? events / span : 0,
    peakRssKiB: peak,
    seqs,
    stderr,
  };
}

/** Every node's events exactly once: 0..n-1 in order, n what the node sent in this run. */
function exactlyOnce(r: RunResult, sent: ReadonlyMap<string, number>): string[] {
  const problems: string[] = [];
  for (const [node, n] of sent) {
    const got = r.seqs.get(node) ?? [];
    const ok = got.length === n && got.every((s, i) => s === i);
    if (!ok) {
      const dup = got.length - new Set(got).size;
      problems.push(`${node}: sent ${n}, received ${got.length} (${dup} duplicates)`);
    }
  }
  for (const node of r.seqs.keys()) if (!sent.has(node)) problems.push(`${node}: events from no such node`);
  return problems;
}

async function main(): Promise<number> {
  const tls = makeAgentTls();
  const dir = mkdtempSync(join(tmpdir(), "bench-fanout-"));
  const standin = new KubeApiStandin();
  const fakes: FakeNode[] = [];
  try {
    await standin.start();
    standin.addNamespace("lanner");
    for (let i = 1; i <= NODES; i++) {
      const name = `bench-node-${String(i).padStart(3, "0")}`;
      const f = new FakeNode({ node: name, tls, rate: RATE, address: `127.0.1.${i}:0` });
      fakes.push(f);
    }
    await Promise.all(fakes.map((f) => f.start()));
    for (const [i, f] of fakes.entries()) {
      standin.addNode({ name: f.opts.node });
      standin.addPod({
        name: `lanner-bench-${i + 1}`,
        namespace: "lanner",
        nodeName: f.opts.node,
        labels: { "app.kubernetes.io/name": "lanner" },
        podIP: `127.0.1.${i + 1}`,
        containers: [{ name: "agent", ports: [{ name: "grpc", containerPort: f.port }] }],
      });
    }
    standin.addSecret("lanner", "lanner-client-tls", {
      "tls.crt": tls.clientCert,
      "tls.key": tls.clientKey,
      "ca.crt": tls.ca,
    });
    const bin = join(dir, "bin");
    mkdirSync(bin);
    symlinkSync(join(ROOT, "bin/lanner"), join(bin, "kubectl-lanner"));
    const env = {
      ...process.env,
      PATH: `${bin}:${process.env["PATH"] ?? ""}`,
      KUBECONFIG: standin.writeKubeconfig(join(dir, "kubeconfig")),
    };
    console.log(
      `fan-out: ${NODES} fake nodes at ${RATE} events/s each, kubectl lanner trace exec for ${SECONDS} s` +
        (QUICK ? " (quick)" : ""),
    );
    const results: RunResult[] = [];
    let fail = false;
    for (const mode of ["direct", "port-forward"] as const) {
      const before = new Map(fakes.map((f) => [f.opts.node, f.sent]));
      const r = await runPlugin(mode, env);
      // the nodes' streams end at the timeout; give the last ones a moment to count
      await new Promise((res) => setTimeout(res, 200));
      const sent = new Map(fakes.map((f) => [f.opts.node, f.sent - (before.get(f.opts.node) ?? 0)]));
      const problems = exactlyOnce(r, sent);
      const total = [...sent.values()].reduce((a, b) => a + b, 0);
      console.log(
        `target (${mode}): every event of every node exactly once (${r.events} of ${total}): ` +
          (problems.length === 0 && r.exit === 0 ? "MET" : "NOT MET"),
      );
      if (r.exit !== 0) console.log(`  plugin exited ${r.exit}; stderr:\n${r.stderr.slice(0, 2000)}`);
      for (const p of problems.slice(0, 10)) console.log(`  ${p}`);
      if (problems.length > 0 || r.exit !== 0) fail = true;
      results.push(r);
    }
    const [d, p] = results as [RunResult, RunResult];
    const f2 = (x: number | null): string => (x === null ? "-" : x.toFixed(2));
    const ratio = (a: number | null, b: number | null): string =>
      a === null || b === null || b === 0 ? "-" : (a / b).toFixed(2);
    console.log("");
    console.log(
      `${"".padEnd(34)}${"direct".padStart(12)}${"port-forward".padStart(14)}${"pf/direct".padStart(11)}`,
    );
    const row = (name: string, a: number | null, b: number | null, fmt: (x: number | null) => string): void =>
      console.log(
        `${name.padEnd(34)}${fmt(a).padStart(12)}${fmt(b).padStart(14)}${ratio(b, a).padStart(11)}`,
      );
    row(`first event of all ${NODES} nodes (s)`, d.allFirstS, p.allFirstS, f2);
    row("merged events/s", d.eventsPerS, p.eventsPerS, (x) => (x === null ? "-" : x.toFixed(0)));
    row("events", d.events, p.events, (x) => String(x));
    row("plugin peak RSS (MiB)", d.peakRssKiB / 1024, p.peakRssKiB / 1024, (x) =>
      x === null ? "-" : x.toFixed(1),
    );
    return fail ? 1 : 0;
  } finally {
    for (const f of fakes) f.kill();
    await standin.stop();
    tls.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
