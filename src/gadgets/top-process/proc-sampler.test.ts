/**
 * ProcSampler on a stand-in /proc and cgroup tree: the fields it reads, CPU percent between
 * two scans, processes that started in between, a reused pid, and cgroups the selection
 * drops (their processes are not read).
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseStat, ProcSampler, procUnits } from "./proc-sampler.js";

const dir = mkdtempSync(join(tmpdir(), "lanner-proc-sampler-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A /proc/PID/stat line: name, state, ppid, utime, stime, threads, start (ticks). */
function statLine(
  pid: number,
  comm: string,
  o: { ppid: number; utime: number; stime: number; threads: number; start: number },
): string {
  const f = [
    pid,
    `(${comm})`,
    "S",
    o.ppid,
    1,
    1,
    0,
    -1,
    4194560,
    10,
    0,
    0,
    0,
    o.utime,
    o.stime,
    0,
    0,
    20,
    0,
    o.threads,
    0,
    o.start,
    9999,
    123,
  ];
  return `${f.join(" ")} 0 0 0\n`;
}

test("parseStat: the fields after the last ')' (a name may hold spaces and parentheses)", () => {
  const s = parseStat(statLine(42, "a) (b c", { ppid: 7, utime: 30, stime: 12, threads: 3, start: 5000 }));
  assert.deepEqual(s, { comm: "a) (b c", state: "S", ppid: 7, ticks: 42, threads: 3, start: 5000 });
  assert.equal(parseStat("42 (x) S 1 2 3"), null);
  assert.equal(parseStat("garbage"), null);
});

test("scan: CPU between scans, sizes from statm, new and reused pids, dropped cgroups", () => {
  const { clkTck, pageKiB } = procUnits();
  const proc = join(dir, "proc");
  const cg = join(dir, "cgroup");
  mkdirSync(join(cg, "pod", "ctr"), { recursive: true });
  mkdirSync(join(cg, "host"), { recursive: true });
  const put = (pid: number, comm: string, utime: number, start: number, rssPages: number): void => {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(
      join(proc, String(pid), "stat"),
      statLine(pid, comm, { ppid: 1, utime, stime: 0, threads: 1, start }),
    );
    writeFileSync(join(proc, String(pid), "statm"), `600 ${rssPages} 50 10 0 100 0\n`);
  };
  writeFileSync(join(cg, "cgroup.procs"), "");
  writeFileSync(join(cg, "pod", "cgroup.procs"), "");
  writeFileSync(join(cg, "pod", "ctr", "cgroup.procs"), "100\n101\n");
  writeFileSync(join(cg, "host", "cgroup.procs"), "200\n");
  const hostId = statSync(join(cg, "host"), { bigint: true }).ino;
  const ctrId = statSync(join(cg, "pod", "ctr"), { bigint: true }).ino;
  put(100, "busy", 0, 10, 300);
  put(101, "idle", 5, 10, 200);
  put(200, "hostd", 0, 10, 100);
  const sampler = new ProcSampler(proc, cg);
  let now = 1000e9; // boot ns
  const clock = (): number => now;
  const first = sampler.scan((id) => id === hostId, clock);
  assert.deepEqual(
    first.samples.map((s) => [s.pid, s.cpu]),
    [
      [100, null],
      [101, null],
    ],
    "no CPU without a previous reading; the dropped cgroup's process is not read",
  );
  assert.equal(first.skippedCgroups, 1);
  const idle = first.samples.find((s) => s.pid === 101);
  assert.equal(idle?.cgroupId, ctrId);
  assert.equal(idle?.rssKiB, 200 * pageKiB);
  assert.equal(idle?.vmsizeKiB, 600 * pageKiB);
  assert.equal(idle?.comm, "idle");

  // one second later: busy used a whole second, idle nothing; 102 started half a second ago
  // and used a quarter second; 101's pid now belongs to another process (a new start time)
  now += 1e9;
  put(100, "busy", clkTck, 10, 300);
  put(102, "new", clkTck / 4, (now / 1e9 - 0.5) * clkTck, 100);
  writeFileSync(join(cg, "pod", "ctr", "cgroup.procs"), "100\n101\n102\n");
  const second = sampler.scan(() => false, clock);
  const cpu = new Map(second.samples.map((s) => [s.pid, s.cpu]));
  assert.ok(Math.abs((cpu.get(100) ?? 0) - 100) < 1, `busy: ${cpu.get(100)}`);
  assert.equal(cpu.get(101), 0);
  assert.ok(Math.abs((cpu.get(102) ?? 0) - 50) < 1, `new: ${cpu.get(102)}`);
  assert.ok(cpu.has(200), "no longer dropped: read");
  put(101, "reused", 0, 20, 100);
  now += 1e9;
  const third = sampler.scan(() => false, clock);
  assert.equal(third.samples.find((s) => s.pid === 101)?.cpu, null, "a reused pid has no previous reading");
});
