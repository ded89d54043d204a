/**
 * `kubectl lanner trace exec -A` on three nodes (test/helpers/cluster.ts: three real agents in
 * network namespaces, mTLS, the API-server stand-in, the plugin through the real kubectl):
 * how long from starting the command to the readiness line and to the first event of each
 * node, through the API server's port-forward (the default) and with --direct; beside it, the
 * same gadget standalone on the host (`lanner trace exec -A`), the baseline a user compares with.
 * Workload: one pod per node exec'ing /bin/echo every 100 ms (ctr task exec).
 *
 * Target: every node's first event within 3 s of the command (median), through port-forward.
 * BENCH_QUICK=1: one round, the target printed but not enforced.
 */
import { spawn } from "node:child_process";
import { LANNER } from "../../test/helpers/agent.js";
import { clusterSkipReason, TestCluster } from "../../test/helpers/cluster.js";
import type { RunningContainer } from "../../test/helpers/containerd.js";

const QUICK = process.env["BENCH_QUICK"] === "1";
const ROUNDS = QUICK ? 1 : 5;
const TARGET_S = 3;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[Math.floor((s.length - 1) / 2)] as number);
};
const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : "n/a");

interface Timing {
  ready: number;
  /** node -> seconds to its first event */
  first: Map<string, number>;
}

/** Spawns a gadget command; resolves with the readiness and first-event times per node. */
function timeIt(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  nodes: readonly string[],
): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env });
    const t: Timing = { ready: NaN, first: new Map() };
    let err = "";
    let partial = "";
    const kill = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
      if (Number.isNaN(t.ready) && err.includes("lanner: ready")) t.ready = (performance.now() - t0) / 1000;
    });
    child.stdout.on("data", (d: Buffer) => {
      partial += d.toString();
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) {
        if (!l.startsWith("{")) continue;
        const e = JSON.parse(l) as Record<string, unknown>;
        const n = String(e["k8s.node.name"] ?? "");
        if (!String(e["proc.cmdline"] ?? "").includes("lnk-bench") || t.first.has(n)) continue;
        t.first.set(n, (performance.now() - t0) / 1000);
        if (nodes.every((x) => t.first.has(x))) child.kill("SIGINT");
      }
    });
    child.on("exit", () => {
      clearTimeout(kill);
      if (nodes.every((x) => t.first.has(x))) resolve(t);
      else reject(new Error(`${args.join(" ")}: events from ${[...t.first.keys()].join(",")} only; ${err}`));
    });
  });
}

async function main(): Promise<void> {
  const why = clusterSkipReason();
  if (why !== undefined) {
    console.log(`# SKIP cluster benchmark: ${why}`);
    return;
  }
  const cluster = await TestCluster.start();
  let stopLoad = false;
  try {
    const nodes = cluster.nodes.map((n) => n.name);
    const containers: RunningContainer[] = [];
    for (const n of nodes) {
      const p = await cluster.addPod(n, { name: `bench-${n}`, namespace: "lnk-bench" });
      containers.push(p.container);
    }
    // the workload: an exec per pod every 100 ms
    const load = (async () => {
      while (!stopLoad) {
        await Promise.all(
          containers.map((c) =>
            cluster.containers.exec(c, ["/bin/echo", "lnk-bench"]).catch(() => undefined),
          ),
        );
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const env = {
      ...process.env,
      PATH: `${cluster.pluginDir}:${process.env["PATH"] ?? ""}`,
      KUBECONFIG: cluster.kubeconfig,
    };
    const base = ["lanner", "trace", "exec", "-A", "-o", "json", ...cluster.tlsArgs()];
    const pf: Timing[] = [];
    const direct: Timing[] = [];
    const local: Timing[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      pf.push(await timeIt("kubectl", base, env, nodes));
      direct.push(await timeIt("kubectl", [...base, "--direct"], env, nodes));
      local.push(
        await timeIt(
          process.execPath,
          [LANNER, "trace", "exec", "-A", "-o", "json"],
          { ...process.env, NODE_NAME: "host" },
          ["host"],
        ),
      );
    }
    stopLoad = true;
    await load;
    const all = (ts: Timing[]): number[] => ts.map((t) => Math.max(...t.first.values()));
    const lastPf = median(all(pf));
    const lastDirect = median(all(direct));
    const lastLocal = median(all(local));
    console.log(`kubectl lanner trace exec -A on ${nodes.length} nodes, ${ROUNDS} round(s), medians (s):`);
    console.log("                      ready    first event of every node   vs standalone");
    const row = (name: string, ts: Timing[], v: number): void =>
      console.log(
        `  ${name.padEnd(20)}${f3(median(ts.map((t) => t.ready))).padStart(6)}    ${f3(v).padStart(6)}                      ${(v / lastLocal).toFixed(2)}x`,
      );
    row("port-forward", pf, lastPf);
    row("--direct", direct, lastDirect);
    row("standalone (1 node)", local, lastLocal);
    for (const n of nodes)
      console.log(`  ${n}: first event ${f3(median(pf.map((t) => t.first.get(n) ?? NaN)))} s (port-forward)`);
    const met = lastPf < TARGET_S;
    console.log(
      `target: every node's first event within ${TARGET_S} s through port-forward: ${f3(lastPf)} s: ${met ? "MET" : "NOT MET"}`,
    );
    if (!met && !QUICK) process.exitCode = 1;
  } finally {
    stopLoad = true;
    await cluster.stop();
  }
}

await main();
