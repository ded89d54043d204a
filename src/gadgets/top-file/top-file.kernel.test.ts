/**
 * top file on real containerd containers with the kubelet's CRI labels: busybox dd reads and
 * writes exact byte counts to known files, and the gadget's tables show exactly those counts,
 * paths, inodes, pids and pods; a shell writing the same file every 1.5 s shows the counts
 * cleared every interval; --all-files adds a device and a pipe; other pods and the host are
 * not shown; a pod started after the gadget is; --max-rows and --sort cut and order each table.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  busyboxRootfs,
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
if (skip) console.log(`# SKIP top file kernel tests: ${skip}`);

const TAG = randomBytes(4).toString("hex");
// names of this run only (other tests on the node start pods too)
const NS_A = `lanner-tf-${TAG}-a`;
const NS_B = `lanner-tf-${TAG}-b`;
const WEB = `web-${TAG}`;
const LATE = `late-${TAG}`;
/** a file of the test rootfs, as the container sees it and where the host has it */
const inContainer = (name: string): string => `/tmp/lanner-tf-${TAG}-${name}`;
const onHost = (name: string): string => join(busyboxRootfs(), inContainer(name));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The rows of `g` for a path (and pid), in output order. */
const rowsOf = (g: GadgetProcess, path: string, pid?: number): GadgetEvent[] =>
  g.events.filter((e) => e["file.path"] === path && (pid === undefined || e["proc.pid"] === pid));

const sum = (rows: GadgetEvent[], f: string): number => rows.reduce((a, r) => a + Number(r[f]), 0);

/** The tables of a run: its rows grouped by evt.time (every row of one table has the same). */
function tables(events: GadgetEvent[]): GadgetEvent[][] {
  const out = new Map<unknown, GadgetEvent[]>();
  for (const e of events) out.set(e["evt.time"], [...(out.get(e["evt.time"]) ?? []), e]);
  return [...out.values()];
}

/**
 * Runs `sh -c SCRIPT` detached in `c` and returns the shell's host pid (the script's first
 * command forks a child, which execDetached may find first: its parent is the shell).
 */
async function shell(tc: TestContainers, c: RunningContainer, script: string): Promise<number> {
  const pid = await tc.execDetached(c, ["/bin/sh", "-c", script]);
  const ppid = Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ")[1]);
  return (await tc.pids(c)).includes(ppid) ? ppid : pid;
}

function runHost(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(args[0] as string, args.slice(1), { stdio: "ignore" });
    p.on("error", reject);
    p.on("exit", () => resolve(p.pid ?? 0));
  });
}

describe("top file", { skip: skip ?? false }, () => {
  let tc: TestContainers;
  let web: RunningPod;
  let db: RunningPod;
  let cWeb: RunningContainer;
  let cDb: RunningContainer;
  const hostFile = `/tmp/lanner-tf-${TAG}-host`;
  before(async () => {
    tc = new TestContainers();
    web = await tc.startPod({ name: WEB, namespace: NS_A, labels: { app: "web" } });
    db = await tc.startPod({ name: `db-${TAG}`, namespace: NS_B, labels: { app: "db" } });
    cWeb = await tc.start({ name: "main", pod: web });
    cDb = await tc.start({ name: "main", pod: db });
  });
  after(async () => {
    await tc.cleanup();
    for (const n of ["w", "db", "loop", "late", "m1", "m2", "m3", "m4", "m5"])
      rmSync(onHost(n), { force: true });
    rmSync(hostFile, { force: true });
  });

  test("exact counts, paths and pids of the selected pod only; cleared every interval; a later pod", async () => {
    const byNs = await startGadget(["top", "file", "-n", NS_A, "-m", "200", "-o", "json"]);
    const all = await startGadget(["top", "file", "-n", NS_A, "--all-files", "-m", "200", "-o", "json"]);
    const late = await startGadget(["top", "file", "-p", LATE, "-m", "200", "-o", "json"]);
    const gadgets = [byNs, all, late];
    try {
      // dd writes 25 x 4096 bytes to a file (and reads them from /dev/zero), then another dd
      // reads 7 x 1000 of them back; a dd in the other pod and one on the host do the same
      const pidW = await shell(
        tc,
        cWeb,
        `sleep 1; exec dd if=/dev/zero of=${inContainer("w")} bs=4096 count=25`,
      );
      const pidDb = await shell(
        tc,
        cDb,
        `sleep 1; exec dd if=/dev/zero of=${inContainer("db")} bs=4096 count=3`,
      );
      await runHost(["/bin/dd", "if=/dev/zero", `of=${hostFile}`, "bs=4096", "count=2"]);
      // dd to its stdout: the pipe from containerd's shim (its inode read while the shell sleeps)
      const pidP = await shell(tc, cWeb, "sleep 1; exec dd if=/dev/zero bs=512 count=9");
      const pipe = readlinkSync(`/proc/${pidP}/fd/1`);
      assert.match(pipe, /^pipe:\[\d+\]$/);
      assert.ok(await byNs.waitFor((e) => e["proc.pid"] === pidW), `the writer: ${byNs.stderr()}`);
      const pidR = await shell(
        tc,
        cWeb,
        `sleep 1; exec dd if=${inContainer("w")} of=/dev/null bs=1000 count=7`,
      );
      // one shell writes 16 bytes to the same file four times, 1.5 s apart
      const pidL = await shell(
        tc,
        cWeb,
        `exec 3>${inContainer("loop")}; for i in 1 2 3 4; do echo -n 0123456789abcdef >&3; sleep 1.5; done; sleep 3`,
      );
      const later = await tc.startPod({ name: LATE, namespace: NS_A, labels: { app: "web" } });
      const cLate = await tc.start({
        name: "late",
        pod: later,
        command: ["/bin/sh", "-c", `sleep 2; exec dd if=/dev/zero of=${inContainer("late")} bs=1024 count=3`],
      });
      const wrote = (g: GadgetProcess, file: string, n: number, pid?: number) => () =>
        sum(rowsOf(g, inContainer(file), pid), "file.writes") >= n;
      for (let i = 0; i < 200 && !wrote(byNs, "loop", 4, pidL)(); i++) await sleep(100);
      for (let i = 0; i < 100 && !wrote(late, "late", 3)(); i++) await sleep(100);
      assert.ok(await byNs.waitFor((e) => e["proc.pid"] === pidR), `the reader: ${byNs.stderr()}`);
      await sleep(1500); // one more table: nothing counted twice
      for (const g of gadgets) assert.equal(await g.stop(), 0, g.stderr());

      const st = statSync(onHost("w"));
      assert.equal(st.size, 102400);
      // the writer: 25 writes of 4096 bytes, as many tables as its run took (exactly one or two)
      const w = rowsOf(byNs, inContainer("w"), pidW);
      assert.ok(w.length >= 1 && w.length <= 2, JSON.stringify(w));
      assert.equal(sum(w, "file.writes"), 25);
      assert.equal(sum(w, "file.wbytes"), 102400);
      assert.equal(sum(w, "file.reads"), 0);
      for (const r of w) {
        assert.equal(r["file.wbytes"], 4096 * Number(r["file.writes"]));
        assert.equal(r["proc.name"], "dd");
        assert.equal(r["thread.tid"], pidW);
        assert.equal(r["file.type"], "R");
        assert.equal(r["fd.ino"], st.ino);
        assert.equal(r["fd.dev"], st.dev);
        assert.equal(r["container.name"], "main");
        assert.equal(r["container.id"], cWeb.id.slice(0, 12));
        assert.equal(r["k8s.pod.name"], WEB);
        assert.equal(r["k8s.ns.name"], NS_A);
      }
      // the reader: 7 reads of 1000 bytes
      const rd = rowsOf(byNs, inContainer("w"), pidR);
      assert.equal(sum(rd, "file.reads"), 7);
      assert.equal(sum(rd, "file.rbytes"), 7000);
      assert.equal(sum(rd, "file.writes"), 0);
      assert.deepEqual(
        byNs.events
          .filter((e) => e["file.path"] === inContainer("w"))
          .map((e) => e["proc.pid"])
          .filter((p) => p !== pidW && p !== pidR),
        [],
      );
      // the shell: each table holds what it wrote in that interval only (1.5 s apart: one
      // write, or two when a late table spans two), 4 writes and 64 bytes in all
      const loop = rowsOf(byNs, inContainer("loop"), pidL);
      assert.equal(sum(loop, "file.writes"), 4, JSON.stringify(loop));
      assert.equal(sum(loop, "file.wbytes"), 64);
      assert.ok(loop.length >= 3, `one row per interval with writes: ${JSON.stringify(loop)}`);
      for (const r of loop) {
        assert.ok(Number(r["file.writes"]) <= 2, JSON.stringify(r));
        assert.equal(r["file.wbytes"], 16 * Number(r["file.writes"]));
        assert.equal(r["proc.name"], "sh");
      }
      assert.equal(new Set(loop.map((r) => r["evt.time"])).size, loop.length, "one row per table");
      // regular files only by default; nothing of the other pod, the host, or the later pod
      for (const e of byNs.events) {
        assert.equal(e["file.type"], "R", JSON.stringify(e));
        assert.equal(e["k8s.ns.name"], NS_A, JSON.stringify(e));
        assert.notEqual(e["proc.pid"], pidDb);
      }
      assert.deepEqual(rowsOf(byNs, inContainer("db")), []);
      assert.deepEqual(rowsOf(byNs, hostFile), []);
      // (runc's init, the same pid before it executes the shell, reads regular files)
      assert.deepEqual(
        byNs.events.filter((e) => e["proc.pid"] === pidP && e["proc.name"] === "dd"),
        [],
        "dd from /dev/zero to a pipe: no regular file",
      );

      // --all-files: /dev/zero (a character device) and the pipe
      const zero = all.events.filter((e) => e["proc.pid"] === pidW && e["file.path"] === "/dev/zero");
      assert.equal(sum(zero, "file.reads"), 25);
      assert.equal(sum(zero, "file.rbytes"), 102400);
      for (const r of zero) assert.equal(r["file.type"], "O");
      const piped = all.events.filter((e) => e["proc.pid"] === pidP && e["file.path"] === pipe);
      assert.equal(
        sum(piped, "file.writes"),
        9,
        JSON.stringify(all.events.filter((e) => e["proc.pid"] === pidP)),
      );
      assert.equal(sum(piped, "file.wbytes"), 4608);
      for (const r of piped) {
        assert.equal(r["file.type"], "O");
        assert.equal(r["fd.ino"], Number(/\d+/.exec(pipe)?.[0]));
      }
      assert.equal(sum(rowsOf(all, inContainer("w"), pidW), "file.writes"), 25);
      for (const e of all.events) assert.equal(e["k8s.ns.name"], NS_A);

      // -p web-2: the pod started after the gadget, and nothing else
      const l = rowsOf(late, inContainer("late"));
      assert.equal(sum(l, "file.writes"), 3);
      assert.equal(sum(l, "file.wbytes"), 3072);
      for (const r of l) {
        assert.equal(r["proc.pid"], cLate.pid);
        assert.equal(r["proc.name"], "dd");
        assert.equal(r["container.name"], "late");
      }
      for (const e of late.events) assert.equal(e["k8s.pod.name"], LATE, JSON.stringify(e));
    } finally {
      for (const g of gadgets) await g.stop();
    }
  });

  test("--max-rows cuts and --sort orders each table; bad input is exit 2", async () => {
    const g = await startGadget(["top", "file", "-n", NS_A, "-m", "2", "--sort", "file.path", "-o", "json"]);
    try {
      const pid = await shell(
        tc,
        cWeb,
        `sleep 1; for i in 1 2 3 4 5; do echo -n abc > ${inContainer("m")}$i; done; sleep 5`,
      );
      await g.waitFor((e) => e["proc.pid"] === pid);
      await sleep(2500);
    } finally {
      assert.equal(await g.stop(), 0, g.stderr());
    }
    for (const t of tables(g.events)) {
      assert.ok(t.length <= 2, JSON.stringify(t));
      const paths = t.map((e) => String(e["file.path"]));
      assert.deepEqual(paths, [...paths].sort(), "ascending file.path");
    }
    const mine = g.events.filter((e) => String(e["file.path"]).startsWith(inContainer("m")));
    // five files written within milliseconds: at most two tables, two rows each
    assert.ok(mine.length >= 2 && mine.length <= 4, JSON.stringify(mine));
    assert.ok(
      mine.some((e) => e["file.path"] === `${inContainer("m")}1`),
      "the smallest path is shown",
    );
    for (const e of mine) {
      assert.equal(e["file.writes"], 1);
      assert.equal(e["file.wbytes"], 3);
    }

    const cols = await runGadget([
      "top",
      "file",
      "-n",
      NS_A,
      "--timeout",
      "3.5",
      "-o",
      "columns=proc.pid,comm,file.writes,file.wbytes,file.path",
    ]);
    // (written while it runs: the table is printed at the end of the interval)
    assert.equal(cols.code, 0, cols.stderr);
    assert.match(cols.stdout, /^\s*PID\s+COMM\s+WRITES\s+WBYTES\s+FILE$/m);

    const bad: [string[], RegExp][] = [
      [["top", "file", "--sort", "nope"], /--sort: 'nope' is not a field of top file/],
      [["top", "file", "-m", "0"], /--max-rows: expected a positive integer/],
      [["top", "file", "--interval", "x"], /--interval: expected a positive number of seconds/],
      [["top", "file", "-o", "columns=file.nope"], /unknown column 'file.nope'/],
      [["top", "file", "--filter", "file.nope > 1"], /unknown field 'file.nope'/],
      [["top", "file", "--all-files=yes"], /--all-files/],
    ];
    for (const [args, re] of bad) {
      const b = await runGadget(args);
      assert.equal(b.code, 2, `${args.join(" ")}: ${b.stderr}`);
      assert.match(b.stderr, re, args.join(" "));
    }
  });
});
