/**
 * top ebpf with programs the test knows: one this test process loads and attaches to a
 * tracepoint, then triggers an exact number of times (its runs, run time, maps, memory and
 * holder are checked against the kernel's fdinfo), and programs that processes in real
 * containers load (the selection shows the programs its containers' processes hold).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { after, before, describe, test } from "node:test";
import { BpfObject } from "../../native/index.js";
import { selftestObjectPath } from "../../native/kernel-test-env.js";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
  type RunningPod,
} from "../../../test/helpers/containerd.js";
import { runGadget, startGadget, type GadgetEvent } from "../../../test/helpers/gadget.js";
import { kernelSkipReason } from "../../../test/helpers/kernel.js";
import { buildSnapshotWorkload, type SnapshotWorkload } from "../../../test/helpers/snapshot-workload.js";

const PYTHON = "/usr/bin/python3";
const kernelSkip =
  kernelSkipReason() ?? (existsSync(PYTHON) ? null : `${PYTHON} is missing (it makes the traced syscalls)`);
if (kernelSkip) console.log(`# SKIP top ebpf kernel tests: ${kernelSkip}`);
const avail = kernelSkip === null ? await containerdAvailable() : { ok: false, reason: kernelSkip };
let containerSkip = avail.ok ? null : avail.reason;
const workload = containerSkip === null ? await buildSnapshotWorkload() : null;
if (typeof workload === "string") containerSkip = workload;
if (containerSkip && !kernelSkip) console.log(`# SKIP top ebpf container tests: ${containerSkip}`);

/** A line of /proc/PID/fdinfo/FD as a number (prog_id, memlock). */
function fdinfo(fd: number, key: string, pid: number | "self" = "self"): number {
  const m = new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
  assert.ok(m, `fdinfo of ${pid}/${fd} has ${key}`);
  return Number(m[1]);
}

/** `n` sched_get_priority_max(2) calls in a child: a syscall nothing else on this machine makes. */
function schedCalls(n: number): void {
  const r = spawnSync(PYTHON, ["-c", `import os\nfor _ in range(${n}): os.sched_get_priority_max(0)`]);
  assert.equal(r.status, 0, String(r.stderr));
}

describe("top ebpf: a program of this process", { skip: kernelSkip ?? false }, () => {
  let obj: BpfObject;
  let id: number;
  let memlock: number;
  before(() => {
    obj = BpfObject.open(selftestObjectPath());
    for (const p of obj.programs()) p.setAutoload(p.name === "ln_st_generic");
    obj.load();
    const prog = obj.program("ln_st_generic");
    prog.attachTracepoint("syscalls", "sys_enter_sched_get_priority_max");
    id = fdinfo(prog.fd, "prog_id");
    // the maps it uses: st_counts, and .rodata, which libbpf binds to every program
    memlock = fdinfo(obj.map("st_counts").fd, "memlock") + fdinfo(obj.map(".rodata").fd, "memlock");
  });
  after(() => obj.close());

  test("its id, name, type, holder, maps and memory; runs counted exactly, per interval and in all", async () => {
    // no selection flag: the whole node (a program held by this host process included)
    const g = await startGadget([
      "top",
      "ebpf",
      "--interval",
      "0.5",
      "--filter",
      `ebpf.prog_id=${id}`,
      "-o",
      "json",
    ]);
    let code: number | null;
    try {
      assert.match(g.stderr(), /stats=BPF_ENABLE_STATS, holders=iter\/task_file/);
      assert.ok(await g.waitFor((e) => e["ebpf.prog_id"] === id), `a first table: ${g.stderr()}`);
      schedCalls(250);
      assert.ok(await g.waitFor((e) => e["ebpf.cumul_run_count"] === 250), `the runs counted: ${g.stdout()}`);
      // two more tables, in which nothing more ran
      const n = g.events.length;
      for (let i = 0; i < 100 && g.events.length < n + 2; i++) await new Promise((r) => setTimeout(r, 50));
    } finally {
      code = await g.stop();
    }
    assert.equal(code, 0, g.stderr());
    const rows = g.events;
    for (const r of rows) assert.equal(r["ebpf.prog_id"], id, "the --filter kept ours only");
    const last = rows[rows.length - 1] as GadgetEvent;
    const comm = readFileSync("/proc/self/comm", "utf8").trim();
    assert.equal(last["ebpf.name"], "ln_st_generic");
    assert.equal(last["ebpf.type"], "tracepoint");
    assert.match(String(last["ebpf.tag"]), /^[0-9a-f]{16}$/);
    assert.equal(last["proc.pid"], process.pid);
    assert.equal(last["proc.name"], comm);
    assert.equal(last["proc.ppid"], process.ppid);
    assert.deepEqual(
      last["ebpf.holders"],
      [`${process.pid}:${comm}`],
      "its program and link fds: one holder",
    );
    assert.equal(last["container.id"], "host");
    assert.equal(last["ebpf.map_count"], 2);
    assert.equal(last["ebpf.map_memory"], memlock);
    // the runs: 250 in all, spread over the intervals the calls fell into
    const sum = (k: string): number => rows.reduce((a, r) => a + Number(r[k]), 0);
    assert.equal(sum("ebpf.run_count"), 250);
    assert.equal(last["ebpf.cumul_run_count"], 250);
    assert.equal(last["ebpf.total_run_count"], 250, "it never ran before");
    assert.ok(sum("ebpf.runtime_ns") > 0);
    assert.equal(last["ebpf.cumul_runtime_ns"], sum("ebpf.runtime_ns"), "the intervals add up");
    assert.equal(last["ebpf.total_runtime_ns"], last["ebpf.cumul_runtime_ns"]);
    assert.equal(last["ebpf.run_count"], 0, "nothing ran in the last interval");
    const busy = rows.filter((r) => Number(r["ebpf.run_count"]) > 0);
    for (const r of busy) {
      assert.ok((r["ebpf.total_cpu"] as number) >= 0);
      assert.ok(
        Math.abs((r["ebpf.per_cpu"] as number) - (r["ebpf.total_cpu"] as number) / cpus().length) < 0.002,
      );
    }
  });

  test("columns: IG's defaults, sorted by run time, cut to --max-rows; bad input is exit 2", async () => {
    const r = await runGadget([
      "top",
      "ebpf",
      "--host",
      "--max-rows",
      "3",
      "--interval",
      "0.5",
      "--timeout",
      "3",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const tables = r.stdout.trimEnd().split("\n\n");
    assert.ok(tables.length >= 2, r.stdout);
    for (const t of tables) {
      const [header, ...lines] = t.trim().split("\n");
      assert.deepEqual(header?.trim().split(/\s+/), [
        "PROGID",
        "TYPE",
        "NAME",
        "PID",
        "COMM",
        "RUNTIME",
        "RUNCOUNT",
        "MAPMEMORY",
        "MAPCOUNT",
      ]);
      assert.ok(lines.length <= 3 && lines.length > 0, t);
    }
    const bad: [string[], RegExp][] = [
      [["top", "ebpf", "--sort", "nope"], /--sort: 'nope' is not a field of top ebpf/],
      [["top", "ebpf", "--interval", "0"], /--interval: expected a positive number/],
      [["top", "ebpf", "--max-rows", "x"], /--max-rows: expected a positive integer/],
      [["top", "ebpf", "--filter", "ebpf.nope=1"], /unknown field 'ebpf.nope'/],
    ];
    for (const [args, re] of bad) {
      const b = await runGadget(args);
      assert.equal(b.code, 2, `${args.join(" ")}: ${b.stderr}`);
      assert.match(b.stderr, re, args.join(" "));
    }
  });
});

describe(
  "top ebpf: programs of containers' processes",
  { skip: kernelSkip ?? containerSkip ?? false },
  () => {
    const wl = workload as SnapshotWorkload;
    let tc: TestContainers;
    let web: RunningPod;
    let db: RunningPod;
    let cWeb: RunningContainer;
    let cDb: RunningContainer;
    let pidA: number;
    let pidB: number;
    let idA: number;
    let idB: number;
    before(async () => {
      tc = new TestContainers();
      web = await tc.startPod({ name: "web-1", namespace: "ebpf-a", labels: { app: "web" } });
      db = await tc.startPod({ name: "db-1", namespace: "ebpf-b", labels: { app: "db" } });
      const mounts = [{ source: wl.dir, destination: "/run", readonly: true }];
      // loading a program needs CAP_BPF (and CAP_SYS_ADMIN for its id to be read back)
      cWeb = await tc.start({ name: "main", pod: web, privileged: true, mounts });
      cDb = await tc.start({ name: "main", pod: db, privileged: true, mounts });
      pidA = await tc.execDetached(cWeb, [wl.inContainer, "bpf", "lanner_wl_a"]);
      pidB = await tc.execDetached(cDb, [wl.inContainer, "bpf", "lanner_wl_b"]);
      const progId = async (pid: number): Promise<number> => {
        for (let i = 0; i < 200; i++) {
          try {
            return fdinfo(3, "prog_id", pid);
          } catch {
            await new Promise((r) => setTimeout(r, 50));
          }
        }
        throw new Error(`pid ${pid} loaded no program`);
      };
      idA = await progId(pidA);
      idB = await progId(pidB);
    });
    after(async () => {
      await tc.cleanup();
      wl.remove();
    });

    const top = async (args: string[]): Promise<GadgetEvent[]> => {
      // (the first table waits for the runtime's container listing: time for a few)
      const r = await runGadget([
        "top",
        "ebpf",
        ...args,
        "--interval",
        "0.5",
        "--timeout",
        "4",
        "-o",
        "json",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.events.length > 0, r.stderr);
      return r.events;
    };

    test("-n shows the programs its pods' processes hold, with the holder's pod", async () => {
      const rows = await top(["-n", "ebpf-a"]);
      for (const r of rows) assert.equal(r["k8s.ns.name"], "ebpf-a", JSON.stringify(r));
      const a = rows.find((r) => r["ebpf.prog_id"] === idA);
      assert.ok(a, "the web pod's program");
      assert.equal(a["ebpf.name"], "lanner_wl_a");
      assert.equal(a["ebpf.type"], "socket_filter");
      assert.equal(a["proc.pid"], pidA);
      assert.equal(a["proc.name"], "snapshot-worklo");
      assert.equal(a["container.name"], "main");
      assert.equal(a["container.id"], cWeb.id.slice(0, 12));
      assert.equal(a["k8s.pod.name"], "web-1");
      assert.deepEqual(a["ebpf.holders"], [`${pidA}:snapshot-worklo`]);
      assert.equal(a["ebpf.run_count"], 0, "a socket filter on no socket never runs");
      assert.equal(a["ebpf.total_run_count"], 0);
      assert.equal(a["ebpf.map_count"], 0);
      assert.equal(a["ebpf.map_memory"], 0);
      assert.equal(
        rows.find((r) => r["ebpf.prog_id"] === idB),
        undefined,
        "not the other namespace's",
      );
    });

    test("-l and exclusions; --host adds the host's programs (the gadget's own iterator too)", async () => {
      const db1 = await top(["-l", "app=db"]);
      assert.deepEqual([...new Set(db1.map((r) => r["ebpf.prog_id"]))], [idB]);
      assert.equal(db1[0]?.["proc.pid"], pidB);
      assert.equal(db1[0]?.["k8s.pod.name"], "db-1");
      assert.equal(db1[0]?.["container.id"], cDb.id.slice(0, 12));
      // (every program of the node: more than the default 20 rows)
      const others = await top(["--host", "-n", "!ebpf-a", "--max-rows", "100000"]);
      assert.ok(
        others.some((r) => r["ebpf.prog_id"] === idB),
        "the db pod's",
      );
      assert.ok(!others.some((r) => r["ebpf.prog_id"] === idA), "web's excluded");
      const own = others.find((r) => r["ebpf.name"] === "lng_ebpf_holder");
      assert.ok(own, "the gadget's own iterator, held by the gadget");
      assert.equal(own["container.id"], "host");
      assert.equal(own["ebpf.type"], "tracing");
    });
  },
);
