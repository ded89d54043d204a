/**
 * snapshot process on real containerd containers with the kubelet's CRI labels: each
 * selection lists exactly its containers' processes (pids from the runtime), with the
 * values /proc has for them; threads with --threads; a pod started just before the snapshot
 * is in it; unselected processes are dropped in the kernel; the /proc fallback agrees.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { clockOffsets } from "../../native/index.js";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
  type RunningPod,
} from "../../../test/helpers/containerd.js";
import { runGadget, type GadgetEvent } from "../../../test/helpers/gadget.js";
import { kernelSkipReason } from "../../../test/helpers/kernel.js";
import { buildSnapshotWorkload, type SnapshotWorkload } from "../../../test/helpers/snapshot-workload.js";
import { readProcTasks } from "./proc-fallback.js";

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
let skip = kernelSkip ?? (avail.ok ? null : avail.reason);
const workload = skip === null ? await buildSnapshotWorkload() : null;
if (typeof workload === "string") skip = workload;
if (skip) console.log(`# SKIP snapshot process kernel tests: ${skip}`);

function status(pid: number, tid = pid): string {
  return readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
}
function statusField(text: string, key: string): string {
  return new RegExp(`^${key}:\\s*(.*)$`, "m").exec(text)?.[1]?.trim() ?? "";
}
/** The id in the innermost pid namespace (last of NSpid). */
function nsId(pid: number, tid = pid): number {
  return Number(statusField(status(pid, tid), "NSpid").split(/\s+/).pop());
}
/** /proc/PID/stat's start time (clock ticks since boot). */
function startTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[19]);
}
function tids(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`)
    .map(Number)
    .sort((a, b) => a - b);
}
async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const comm = (pid: number): string => readFileSync(`/proc/${pid}/comm`, "utf8").trim();
const byPid = (rows: GadgetEvent[]): Map<number, GadgetEvent> =>
  new Map(rows.map((r) => [r["proc.pid"] as number, r]));
const sorted = (xs: Iterable<number>): number[] => [...xs].sort((a, b) => a - b);

async function snapshot(args: string[]): Promise<{ rows: GadgetEvent[]; stderr: string }> {
  const r = await runGadget(["snapshot", "process", ...args, "-o", "json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /lanner: ready \(gadget=snapshot process, source=iter\/task/);
  return { rows: r.events, stderr: r.stderr };
}

describe("snapshot process", { skip: skip ?? false }, () => {
  const wl = workload as SnapshotWorkload;
  let tc: TestContainers;
  let web: RunningPod;
  let db: RunningPod;
  let cWeb: RunningContainer;
  let cDb: RunningContainer;
  let pidSleep: number;
  let pidThreads: number;
  let pidDb: number;
  before(async () => {
    tc = new TestContainers();
    web = await tc.startPod({ name: "web-1", namespace: "snap-a", labels: { app: "web" } });
    db = await tc.startPod({ name: "db-1", namespace: "snap-b", labels: { app: "db" } });
    cWeb = await tc.start({
      name: "main",
      pod: web,
      mounts: [{ source: wl.dir, destination: "/run", readonly: true }],
    });
    cDb = await tc.start({ name: "main", pod: db });
    // sh runs its last command in place: the process becomes busybox's sleep
    pidSleep = await tc.execDetached(cWeb, ["/bin/sh", "-c", "sleep 3600", "lanner-snap"]);
    pidThreads = await tc.execDetached(cWeb, [wl.inContainer, "threads", "3"]);
    pidDb = await tc.execDetached(cDb, ["/bin/sleep", "3600"]);
    await until("sh to become sleep", () => comm(pidSleep) === "sleep");
    await until("the workload's threads", () => tids(pidThreads).length === 4);
  });
  after(async () => {
    await tc.cleanup();
    wl.remove();
  });

  test("-n lists exactly the namespace's processes, with /proc's values; a pod started just before is in", async () => {
    const late = await tc.startPod({ name: "web-2", namespace: "snap-a", labels: { app: "web" } });
    const cLate = await tc.start({ name: "late", pod: late });
    const { rows, stderr } = await snapshot(["-n", "snap-a"]);
    const want = new Set([
      ...(await tc.pids(cWeb)),
      ...(await tc.pids(cLate)),
      ...(await tc.pids(web.sandbox)),
      ...(await tc.pids(late.sandbox)),
    ]);
    assert.deepEqual(sorted(rows.map((r) => r["proc.pid"] as number)), sorted(want), "exactly these pids");
    for (const r of rows) {
      assert.equal(r["k8s.ns.name"], "snap-a");
      assert.equal(r["thread.tid"], r["proc.pid"], "one row per process");
    }
    const got = byPid(rows);
    const s = got.get(pidSleep);
    assert.ok(s, "the sleep exec'd into web-1");
    const st = status(pidSleep);
    assert.equal(s["proc.name"], "sleep");
    assert.equal(s["proc.ppid"], Number(statusField(st, "PPid")));
    assert.equal(s["user.uid"], 0);
    assert.equal(s["group.gid"], 0);
    assert.equal(s["proc.exepath"], "/bin/busybox", "from the container's root");
    assert.equal(s["proc.cmdline"], "sleep 3600");
    assert.equal(s["proc.vpid"], nsId(pidSleep));
    assert.equal(s["thread.vtid"], nsId(pidSleep));
    assert.equal(s["process.threads"], 1);
    assert.equal(s["container.name"], "main");
    assert.equal(s["container.id"], cWeb.id.slice(0, 12));
    assert.equal(s["k8s.pod.name"], "web-1");
    assert.match(String(s["k8s.pod.labels"]), /app:web/);
    const wall = clockOffsets().realtimeNs - clockOffsets().boottimeNs;
    const ticks = Number((BigInt(s["proc.pid.ts"] as number) - wall) / 10_000_000n);
    assert.ok(Math.abs(ticks - startTicks(pidSleep)) <= 1, `start time ${ticks} vs ${startTicks(pidSleep)}`);
    const t = got.get(pidThreads);
    assert.ok(t, "the threaded workload");
    assert.equal(t["proc.name"], "snapshot-worklo");
    assert.equal(t["proc.exepath"], "/run/snapshot-workload", "across the bind mount");
    assert.equal(t["proc.cmdline"], "snapshot-worklo threads 3");
    assert.equal(t["process.threads"], 4);
    const l = got.get(cLate.pid);
    assert.ok(l, "the later pod's container");
    assert.equal(l["container.name"], "late");
    assert.equal(l["k8s.pod.name"], "web-2");
    assert.equal(l["proc.name"], "sleep");
    assert.equal(l["proc.vpid"], 1, "its pid namespace's init");
    assert.equal(got.get(pidDb), undefined, "not the other namespace");
    // the rest of the node never reached user space: dropped by the iterator in the kernel
    const stats = /lanner: stats events=(\d+) .*not_selected=(\d+)/.exec(stderr);
    assert.ok(stats, stderr);
    assert.ok(Number(stats[1]) <= want.size + 5, `only the selected rows came up: ${stats[0]}`);
  });

  test("--threads: one row per thread, with its tid and namespaced tid", async () => {
    const { rows } = await snapshot(["-l", "app=web", "--threads", "--filter", `proc.pid=${pidThreads}`]);
    assert.deepEqual(sorted(rows.map((r) => r["thread.tid"] as number)), tids(pidThreads));
    for (const r of rows) {
      const tid = r["thread.tid"] as number;
      assert.equal(r["proc.pid"], pidThreads);
      assert.equal(r["thread.vtid"], nsId(pidThreads, tid));
      assert.equal(r["proc.vpid"], nsId(pidThreads));
      assert.equal(r["proc.name"], "snapshot-worklo");
      assert.equal(r["process.threads"], 4);
      assert.equal(r["k8s.pod.name"], "web-1");
    }
  });

  test("-c and exclusions select by container name and pod; --host adds the host", async () => {
    const byName = await snapshot(["-c", "main"]);
    const mine = byName.rows.filter((r) => r["k8s.ns.name"] === "snap-a" || r["k8s.ns.name"] === "snap-b");
    assert.deepEqual(
      sorted(mine.map((r) => r["proc.pid"] as number)),
      sorted([...(await tc.pids(cWeb)), ...(await tc.pids(cDb))]),
      "the two 'main' containers, not the sandboxes",
    );
    for (const r of byName.rows) assert.equal(r["container.name"], "main");
    const others = await snapshot(["--host", "-p", "!web-1"]);
    const pids = new Set(others.rows.map((r) => r["proc.pid"] as number));
    assert.ok(pids.has(pidDb), "the db pod");
    assert.ok(pids.has(process.pid), "the host (this test)");
    assert.equal(byPid(others.rows).get(process.pid)?.["container.id"], "host");
    for (const p of await tc.pids(cWeb)) assert.ok(!pids.has(p), `web-1's ${p} excluded`);
  });

  test("the /proc fallback reads the same processes", async () => {
    const { rows } = await snapshot(["-n", "snap-a", "--threads"]);
    const fromProc = readProcTasks(true, process.pid).filter(
      (t) => t.pid === pidSleep || t.pid === pidThreads,
    );
    assert.equal(fromProc.length, 5, "sleep and the workload's 4 threads");
    for (const t of fromProc) {
      const r = rows.find((x) => x["thread.tid"] === t.tid);
      assert.ok(r, `tid ${t.tid} in the snapshot`);
      assert.equal(t.pid, r["proc.pid"]);
      assert.equal(t.ppid, r["proc.ppid"]);
      assert.equal(t.comm, r["proc.name"]);
      assert.equal(t.euid, r["user.uid"]);
      assert.equal(t.vpid, r["proc.vpid"]);
      assert.equal(t.vtid, r["thread.vtid"]);
      assert.equal(t.nthreads, r["process.threads"]);
      assert.equal(t.cgroupId !== undefined, true, "its cgroup, for the selection");
    }
  });

  test("columns output; bad input is exit 2 naming it", async () => {
    const r = await runGadget(["snapshot", "process", "-n", "snap-a"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.deepEqual(lines[0]?.trim().split(/\s+/), [
      "NAMESPACE",
      "POD",
      "CONTAINER",
      "COMM",
      "PID",
      "TID",
      "UID",
      "GID",
    ]);
    const row = lines.find((l) => l.split(/\s+/).includes(String(pidSleep)));
    assert.ok(row, r.stdout);
    for (const c of ["snap-a", "web-1", "main", "sleep", "0"]) assert.ok(row.split(/\s+/).includes(c), row);
    const bad: [string[], RegExp][] = [
      [["snapshot", "process", "--sort", "nope"], /--sort: 'nope' is not a field of snapshot process/],
      [["snapshot", "process", "-o", "columns=nope"], /unknown column 'nope'/],
      [["snapshot", "process", "--filter", "proc.nope=1"], /unknown field 'proc.nope'/],
      [["snapshot", "process", "--threads=yes"], /--threads/],
    ];
    for (const [args, re] of bad) {
      const b = await runGadget(args);
      assert.equal(b.code, 2, `${args.join(" ")}: ${b.stderr}`);
      assert.match(b.stderr, re, args.join(" "));
    }
  });
});
