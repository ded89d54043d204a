/**
 * top process on real containerd containers with the kubelet's CRI labels: a busy loop in a
 * pod shows near 100 % of one CPU and the pod's sleeping processes near 0, with the resident
 * and virtual sizes, threads, parent and name /proc has for them; only the selected pod's
 * processes are shown (not the other pod's, not the host's); a pod started after the gadget
 * is; --max-rows and --sort cut and order each table; --containers sums each container.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
  type RunningPod,
} from "../../../test/helpers/containerd.js";
import {
  runGadget,
  startGadget,
  type GadgetEvent,
  type GadgetProcess,
} from "../../../test/helpers/gadget.js";
import { kernelSkipReason } from "../../../test/helpers/kernel.js";

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
const skip = kernelSkip ?? (avail.ok ? null : avail.reason);
if (skip) console.log(`# SKIP top process kernel tests: ${skip}`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// names of this run only (other tests on the node start pods too)
const TAG = randomBytes(3).toString("hex");
const NS_A = `lanner-tp-${TAG}-a`;
const NS_B = `lanner-tp-${TAG}-b`;
const WEB = `web-${TAG}`;
const LATE = `late-${TAG}`;

/**
 * The CPU time a process used, read from the scheduler (/proc/PID/schedstat, ns) every 20 ms
 * while a test runs: what top process reports is checked against it.
 */
class RunTime {
  private readonly samples: { t: number; ns: number }[] = [];
  private readonly timer: NodeJS.Timeout;
  constructor(pid: number) {
    const take = (): void => {
      try {
        const ns = Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]);
        this.samples.push({ t: Date.now(), ns });
      } catch {
        // gone
      }
    };
    take();
    this.timer = setInterval(take, 20);
  }
  stop(): void {
    clearInterval(this.timer);
  }
  /** ns used by wall-clock ms `t` (interpolated between samples) */
  at(t: number): number {
    const s = this.samples;
    for (let i = 1; i < s.length; i++) {
      const a = s[i - 1]!;
      const b = s[i]!;
      if (b.t >= t) return b.t === a.t ? b.ns : a.ns + ((b.ns - a.ns) * (t - a.t)) / (b.t - a.t);
    }
    throw new Error(`no sample after ${t}`);
  }
  /** percent of one CPU between wall-clock ms a and b */
  percent(a: number, b: number): number {
    return ((this.at(b) - this.at(a)) / 1e6 / (b - a)) * 100;
  }
}

/** The tables of a run: its rows grouped by evt.time (every row of one table has the same). */
function tables(events: GadgetEvent[]): GadgetEvent[][] {
  const out = new Map<unknown, GadgetEvent[]>();
  for (const e of events) out.set(e["evt.time"], [...(out.get(e["evt.time"]) ?? []), e]);
  return [...out.values()];
}

/** Until `g` printed `n` tables (at most `ms`). */
async function waitTables(g: GadgetProcess, n: number, ms = 20000): Promise<void> {
  const deadline = Date.now() + ms;
  while (tables(g.events).length < n && Date.now() < deadline) await sleep(100);
}

/** What /proc/PID/status says (kB and counts as numbers). */
function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
    const i = line.indexOf(":");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}
const kB = (v: string | undefined): number => Number(/^(\d+)/.exec(v ?? "")?.[1]);

describe("top process", { skip: skip ?? false }, () => {
  let tc: TestContainers;
  let web: RunningPod;
  let db: RunningPod;
  let cWeb: RunningContainer;
  let cDb: RunningContainer;
  let busy: number;
  let used: RunTime;
  before(async () => {
    tc = new TestContainers();
    web = await tc.startPod({ name: WEB, namespace: NS_A, labels: { app: "web" } });
    db = await tc.startPod({ name: `db-${TAG}`, namespace: NS_B, labels: { app: "db" } });
    cWeb = await tc.start({ name: "main", pod: web });
    cDb = await tc.start({ name: "main", pod: db });
    // a shell spinning on a builtin: one process, always running
    busy = await tc.execDetached(cWeb, ["/bin/sh", "-c", "while :; do :; done"]);
    used = new RunTime(busy);
  });
  after(async () => {
    used.stop();
    await tc.cleanup();
  });

  test("a busy loop at the CPU share the scheduler gave it, idle processes near 0, sizes as /proc has them; only the selected pods", async () => {
    const byNs = await startGadget(["top", "process", "-n", NS_A, "-m", "100", "-o", "json"]);
    const readyAt = Date.now();
    const late = await startGadget(["top", "process", "-p", LATE, "-o", "json"]);
    const host = await startGadget(["top", "process", "--host", "-p", `!${WEB}`, "-m", "1000", "-o", "json"]);
    const gadgets = [byNs, late, host];
    let cLate: RunningContainer;
    try {
      const later = await tc.startPod({ name: LATE, namespace: NS_A, labels: { app: "web" } });
      cLate = await tc.start({ name: "late", pod: later });
      await late.waitFor((e) => e["proc.pid"] === cLate.pid);
      for (const g of gadgets) await waitTables(g, 4);
      for (const g of gadgets) assert.equal(await g.stop(), 0, g.stderr());
    } finally {
      for (const g of gadgets) await g.stop();
    }
    const idle = cWeb.pid; // the container's sleep
    const st = status(idle);
    const ts = tables(byNs.events);
    assert.ok(ts.length >= 4, `tables: ${ts.length}`);
    // the first table, one interval after ready, already has the pod (its metadata loaded first)
    const first = Number(ts[0]?.[0]?.["evt.time"]) / 1e6 - readyAt;
    assert.ok(first < 1700, `the first table with rows came ${first} ms after ready`);
    // the first table's CPU is measured from the gadget's start: every table has the busy loop
    let prev: number | null = null;
    for (const t of ts) {
      const b = t.find((e) => e["proc.pid"] === busy);
      assert.ok(b, `the busy loop in ${JSON.stringify(t)}`);
      const cpu = Number(b["process.cpu"]);
      // a whole CPU when the machine has one to spare (it is shared: the scheduler's own count
      // of what the loop got between two tables is the reference)
      const at = Number(b["evt.time"]) / 1e6;
      if (prev !== null) {
        const sched = used.percent(prev, at);
        assert.ok(
          Math.abs(cpu - sched) <= 8,
          `busy loop at ${cpu} %, the scheduler says ${sched.toFixed(1)} %`,
        );
        console.log(`# busy loop: ${cpu} % (scheduler: ${sched.toFixed(1)} %)`);
      }
      prev = at;
      assert.ok(cpu > 10 && cpu <= 105, `busy loop at ${cpu} %`);
      assert.equal(b["proc.name"], "sh");
      assert.equal(b["container.name"], "main");
      assert.equal(b["k8s.pod.name"], WEB);
      const i = t.find((e) => e["proc.pid"] === idle);
      assert.ok(i, `the sleeping process in ${JSON.stringify(t)}`);
      assert.ok(Number(i["process.cpu"]) <= 2, `sleep at ${String(i["process.cpu"])} %`);
      assert.equal(i["proc.name"], "sleep");
      assert.equal(i["process.state"], "S");
      assert.equal(i["proc.nthreads"], 1);
      assert.equal(i["proc.vmrss"], kB(st["VmRSS"]));
      assert.equal(i["proc.vmsize"], kB(st["VmSize"]));
      assert.equal(i["proc.ppid"], Number(st["PPid"]));
      assert.equal(i["process.count"], 1);
      // sorted by CPU, highest first
      const cpus = t.map((e) => Number(e["process.cpu"] ?? -1));
      assert.deepEqual(
        cpus,
        [...cpus].sort((a, b2) => b2 - a),
      );
    }
    // team-a only: web-1 and, once it started, web-2; never db-1's or the host's processes
    const dbPids = new Set([cDb.pid, db.sandbox.pid]);
    for (const e of byNs.events) {
      assert.equal(e["k8s.ns.name"], NS_A, JSON.stringify(e));
      assert.ok(!dbPids.has(Number(e["proc.pid"])));
    }
    assert.ok(byNs.events.some((e) => e["proc.pid"] === web.sandbox.pid && e["k8s.pod.name"] === WEB));
    // -p web-2: the pod that started after the gadget, alone
    const l = late.events.filter((e) => e["proc.pid"] === cLate!.pid);
    assert.ok(l.length >= 3, JSON.stringify(late.events));
    for (const e of l) {
      assert.equal(e["container.name"], "late");
      assert.equal(e["proc.name"], "sleep");
    }
    for (const e of late.events) assert.equal(e["k8s.pod.name"], LATE, JSON.stringify(e));
    // --host -p !web-1: this test's own process, db-1's, never web-1's
    assert.ok(host.events.some((e) => e["proc.pid"] === process.pid && e["container.id"] === "host"));
    assert.ok(host.events.some((e) => e["proc.pid"] === cDb.pid && e["k8s.pod.name"] === `db-${TAG}`));
    for (const e of host.events) assert.notEqual(e["k8s.pod.name"], WEB, JSON.stringify(e));
  });

  test("--max-rows, --sort and --containers", async () => {
    const top1 = await startGadget(["top", "process", "-n", NS_A, "-m", "1", "-o", "json"]);
    const byPid = await startGadget([
      "top",
      "process",
      "-p",
      WEB,
      "-m",
      "2",
      "--sort",
      "proc.pid",
      "-o",
      "json",
    ]);
    const perC = await startGadget(["top", "process", "-p", WEB, "--containers", "-o", "json"]);
    const gadgets = [top1, byPid, perC];
    try {
      for (const g of gadgets) await waitTables(g, 4);
      for (const g of gadgets) assert.equal(await g.stop(), 0, g.stderr());
    } finally {
      for (const g of gadgets) await g.stop();
    }
    // -m 1: one row a table, the busy loop
    const t1 = tables(top1.events);
    assert.ok(t1.length >= 4);
    for (const t of t1)
      assert.deepEqual(
        t.map((e) => e["proc.pid"]),
        [busy],
        JSON.stringify(t),
      );
    // --sort proc.pid -m 2: the pod's two lowest pids, ascending
    const pids = [web.sandbox.pid, ...(await tc.pids(cWeb))].sort((a, b) => a - b);
    const t2 = tables(byPid.events);
    assert.ok(t2.length >= 4);
    for (const t of t2)
      assert.deepEqual(
        t.map((e) => e["proc.pid"]),
        pids.slice(0, 2),
      );
    // --containers: one row per container of the pod, its processes summed
    const mine = await tc.pids(cWeb);
    const rss = mine.reduce((a, p) => a + kB(status(p)["VmRSS"]), 0);
    const t3 = tables(perC.events);
    assert.ok(t3.length >= 4, `${t3.length} tables: ${perC.stderr()}`);
    let prev: number | null = null;
    for (const t of t3) {
      assert.equal(t.length, 2, `the sandbox and the container: ${JSON.stringify(t)}`);
      const main = t.find((e) => e["container.name"] === "main");
      assert.ok(main, JSON.stringify(t));
      assert.equal(main["process.count"], mine.length);
      assert.equal(main["proc.pid"], null);
      assert.equal(main["proc.name"], null);
      assert.equal(main["container.id"], cWeb.id.slice(0, 12));
      // the busy loop's share (the sleeping process adds nothing)
      const at = Number(main["evt.time"]) / 1e6;
      if (prev !== null) {
        const cpu = Number(main["process.cpu"]);
        const sched = used.percent(prev, at);
        assert.ok(Math.abs(cpu - sched) <= 8, `container at ${cpu} %, its loop at ${sched.toFixed(1)} %`);
      }
      prev = at;
      assert.equal(main["proc.vmrss"], rss);
      const sandbox = t.find((e) => e !== main);
      assert.equal(sandbox?.["process.count"], 1);
      assert.equal(sandbox?.["k8s.pod.name"], WEB);
    }

    const bad: [string[], RegExp][] = [
      [["top", "process", "--sort", "-cpu"], /--sort: 'cpu' is not a field of top process/],
      [["top", "process", "--max-rows", "-1"], /--max-rows/],
      [["top", "process", "--containers=1"], /--containers/],
    ];
    for (const [args, re] of bad) {
      const b = await runGadget(args);
      assert.equal(b.code, 2, `${args.join(" ")}: ${b.stderr}`);
      assert.match(b.stderr, re, args.join(" "));
    }
  });
});
