/**
 * `lanner bpftrace` on real containerd pods with the kubelet's CRI labels: two pods run the
 * same loop of openat(2) calls (busybox sh opening /proc/version for a `read` redirection, in
 * the shell itself: no fork, so every open is the container's main pid). Scoped to one pod,
 * bpftrace counts only that pod's processes; unscoped, both; `$container_pid` is the container's
 * host pid; -o json parses; bpftrace's own errors point at the user's line and column; an
 * unknown pod or container is exit 2 naming it.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
} from "../../../test/helpers/containerd.js";
import { kernelSkipReason } from "../../../test/helpers/kernel.js";
import { cgroupIdOf } from "../../gadgets/container-filter.js";
import { findBpftrace } from "../../bpftrace/index.js";
import { bpftraceCommand } from "./bpftrace.js";

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
let noBpftrace: string | null = null;
try {
  findBpftrace();
} catch (e) {
  noBpftrace = (e as Error).message;
}
const skip = kernelSkip ?? (avail.ok ? null : avail.reason) ?? noBpftrace;
if (skip) console.log(`# SKIP lanner bpftrace kernel tests: ${skip}`);

const NS = "bpft-ns";
const LOOP = "while true; do read x < /proc/version; read x < /proc/version; sleep 0.05; done";

async function lanner(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await bpftraceCommand(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

/** `@[sh, 123]: 45` lines of a text map: pid -> count, for comm sh. */
function shCounts(out: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const l of out.split("\n")) {
    const x = /^@\[sh, (\d+)\]: (\d+)$/.exec(l);
    if (x) m.set(Number(x[1]), Number(x[2]));
  }
  return m;
}

/** Every `@[comm, pid]` key of a text map. */
function keys(out: string): Array<{ comm: string; pid: number }> {
  return [...out.matchAll(/^@\[(.*), (\d+)\]: \d+$/gm)].map((m) => ({
    comm: m[1] as string,
    pid: Number(m[2]),
  }));
}

describe("lanner bpftrace", { skip: skip ?? false }, () => {
  let tc: TestContainers;
  let a: RunningContainer;
  let b: RunningContainer;
  let a2: RunningContainer;
  before(async () => {
    tc = new TestContainers();
    const podA = await tc.startPod({ name: "bpft-a", namespace: NS });
    const podB = await tc.startPod({ name: "bpft-b", namespace: NS });
    a = await tc.start({
      name: "main",
      pod: podA,
      command: ["/bin/sh", "-c", LOOP],
      cgroupStyle: "kubepods",
    });
    a2 = await tc.start({
      name: "side",
      pod: podA,
      command: ["/bin/sleep", "3600"],
      cgroupStyle: "kubepods",
    });
    b = await tc.start({
      name: "main",
      pod: podB,
      command: ["/bin/sh", "-c", LOOP],
      cgroupStyle: "kubepods",
    });
  });
  after(async () => {
    await tc.cleanup();
  });

  const PROG = "tracepoint:syscalls:sys_enter_openat { @[comm, pid] = count(); }";

  test("--pod A counts only pod A's processes, and more than zero", async () => {
    const r = await lanner(["--pod", "bpft-a", "-n", NS, "-e", PROG, "--timeout", "3"]);
    assert.equal(r.code, 0, r.err);
    const aPids = new Set([...(await tc.pids(a)), ...(await tc.pids(a2))]);
    const ks = keys(r.out);
    assert.ok(ks.length > 0, `no map entries:\n${r.out}\n${r.err}`);
    for (const k of ks)
      assert.ok(
        aPids.has(k.pid),
        `pid ${k.pid} (${k.comm}) is not in pod A (${[...aPids].join(",")}):\n${r.out}`,
      );
    const sh = shCounts(r.out);
    assert.ok((sh.get(a.pid) ?? 0) > 0, `no opens of A's shell ${a.pid}:\n${r.out}`);
    assert.equal(sh.get(b.pid), undefined);
    // ready said what was scoped: both of A's containers (not the sandbox), two cgroups
    const cgA = cgroupIdOf(a.pid);
    assert.notEqual(cgA, undefined);
    assert.match(
      r.err,
      new RegExp(
        `lanner: ready \\(pod=${NS}/bpft-a containers=main,side cgroups=2 container_pid=${a.pid} scoped_blocks=1\\)`,
      ),
    );
  });

  test("-c picks one container: the other's cgroup is left out", async () => {
    const r = await lanner([
      "--pod",
      "bpft-a",
      "-n",
      NS,
      "-c",
      "side",
      "-e",
      'BEGIN { printf("pid=%d\\n", $container_pid); } ' + PROG,
      "--timeout",
      "2",
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^pid=${a2.pid}$`, "m"));
    // sleep opens nothing while it sleeps: the shell of the same pod is not counted
    assert.equal(shCounts(r.out).get(a.pid), undefined, r.out);
    assert.match(r.err, /containers=side cgroups=1 /);
  });

  test("without --pod both pods are seen", async () => {
    const r = await lanner(["-e", PROG, "--timeout", "3"]);
    assert.equal(r.code, 0, r.err);
    const sh = shCounts(r.out);
    assert.ok((sh.get(a.pid) ?? 0) > 0, `no opens of A's shell ${a.pid}`);
    assert.ok((sh.get(b.pid) ?? 0) > 0, `no opens of B's shell ${b.pid}`);
    assert.match(r.err, /lanner: ready \(host \(not scoped\)\)/);
  });

  test("$container_pid is the host pid of the pod's first container", async () => {
    const r = await lanner([
      "--pod",
      "bpft-b",
      "-n",
      NS,
      "-e",
      'BEGIN { printf("container_pid=%d\\n", $container_pid); exit(); }',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Attaching 1 probe\.\.\.$/m);
    assert.match(r.out, new RegExp(`^container_pid=${b.pid}$`, "m"));
  });

  test("-o json: every line parses; the map holds only pod B's shell", async () => {
    const r = await lanner(["--pod", "bpft-b", "-n", NS, "-o", "json", "-e", PROG, "--timeout", "3"]);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split("\n").filter((l) => l.trim() !== "");
    const msgs = lines.map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    assert.deepEqual(msgs[0], { type: "attached_probes", data: { probes: 1 } });
    const map = msgs.find((m) => m.type === "map");
    assert.ok(map !== undefined, r.out);
    const entries = Object.entries(map.data["@"] as Record<string, number>);
    assert.ok(entries.length > 0);
    for (const [k, v] of entries) {
      assert.equal(k, `sh,${b.pid}`);
      assert.ok(v > 0);
    }
  });

  test("bpftrace's error is reported at the user's line and column, with the user's line", async () => {
    const prog = ["BEGIN { }", "tracepoint:syscalls:sys_enter_openat /pid > 1/ { @x = nosuch(); }"].join(
      "\n",
    );
    const r = await lanner(["--pod", "bpft-a", "-n", NS, "-e", prog]);
    assert.equal(r.code, 1, r.err);
    const col = (prog.split("\n")[1] as string).indexOf("nosuch") + 1;
    assert.match(r.err, new RegExp(`^-e:2:${col}-\\d+: ERROR: Unknown function: nosuch$`, "m"), r.err);
    // the source line shown is the user's, not the rewritten one
    assert.match(r.err, /^tracepoint:syscalls:sys_enter_openat \/pid > 1\/ \{ @x = nosuch\(\); \}$/m);
    assert.doesNotMatch(r.err, /cgroup ==/);
    assert.doesNotMatch(r.err, /program\.bt/);
  });

  test("an unknown pod or container is exit 2 naming it", async () => {
    const r = await lanner(["--pod", "bpft-nope", "-n", NS, "-e", PROG]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^lanner bpftrace: pod bpft-ns\/bpft-nope is not on this node \(.+\)$/m);
    const c = await lanner(["--pod", "bpft-a", "-n", NS, "-c", "nope", "-e", PROG]);
    assert.equal(c.code, 2);
    assert.equal(
      c.err,
      "lanner bpftrace: pod bpft-ns/bpft-a has no container nope (its containers: main, side)\n",
    );
    // in another namespace the pod is not there either
    const n = await lanner(["--pod", "bpft-a", "-e", PROG]);
    assert.equal(n.code, 2);
    assert.match(n.err, /pod default\/bpft-a is not on this node/);
  });
});
