/**
 * Kernel tests of the record data that Falco's fields need (ABI v2), each filled from a real
 * event and compared with what stat(2), /proc or the workload itself says about the same
 * file or process: exec environment, exe inode and times, EXE_WRITABLE for root and for an
 * unprivileged user (owner, group and other bits, a read-only mount), overlay lower/upper
 * layers, pgid, the pid namespace init's start, open dev/ino, poll fds, syscall latency,
 * sendmsg/recvmsg peers. The process table and the /proc seed must agree with the kernel.
 */
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { LN_CONST } from "./abi.generated.js";
import type { DecodedEvent, ProcEvent, SyscallEvent } from "../decode/event.js";
import { ProcReader } from "../state/proc-seed.js";
import { ProcessTable } from "../state/process-table.js";
import { kernelSkipReason, PYTHON, recordDuring } from "../../test/helpers/kernel.js";
import { packageRoot } from "./paths.js";

const execFileP = promisify(execFile);
const skip = kernelSkipReason();
if (skip) console.log(`# SKIP record data kernel tests: ${skip}`);

const WORKLOAD = join(packageRoot(), "test/fixtures/record_data.py");
const NOBODY = 65534;
const WRITABLE = LN_CONST.LN_C_PF_EXE_WRITABLE;
const UPPER = LN_CONST.LN_C_PF_EXE_UPPER;
const LOWER = LN_CONST.LN_C_PF_EXE_LOWER;
const TICK_NS = 10_000_000n;

async function run(
  name: string,
  ...args: string[]
): Promise<Record<string, number> & { ready?: number[][] }> {
  const { stdout } = await execFileP(PYTHON, [WORKLOAD, name, ...args]);
  return JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as Record<string, number>;
}

const sys = (evs: DecodedEvent[], types: string[], pid: number | undefined): SyscallEvent[] =>
  evs.filter((e): e is SyscallEvent => e.kind === "syscall" && types.includes(e.type) && e.tgid === pid);
const execOf = (evs: DecodedEvent[], pid: number | undefined): ProcEvent[] =>
  evs.filter((e): e is ProcEvent => e.kind === "exec" && e.tgid === pid);

/** Boot-ns start of a live process from /proc/PID/stat (clock ticks: 10 ms resolution). */
function procStartNs(pid: number): bigint {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return BigInt(f[19] ?? "0") * TICK_NS;
}

function exited(c: ChildProcess): Promise<void> {
  return new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.on("exit", () => r())));
}

describe("record data for the rules' fields (kernel)", { skip: skip ?? false }, () => {
  let dir = "";
  before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "lanner-recdata-")));
    chmodSync(dir, 0o755); // the unprivileged execs below must reach their binaries
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("exec: env, exe inode and times, pgid, pid namespace init start: record, table and /proc agree", async () => {
    const exe = join(dir, "sleep-env");
    copyFileSync("/bin/sleep", exe);
    chmodSync(exe, 0o755);
    const env = { LANNER_A: "1", LANNER_B: "two words", LANNER_C: "" };
    let child: ChildProcess | undefined;
    let seeded: ReturnType<ProcReader["readProcess"]> = null;
    const rec = await recordDuring({ syscalls: ["execve", "execveat"] }, async () => {
      child = spawn(exe, ["30"], { env, detached: true, stdio: "ignore" }); // setsid: pgid = pid
      await new Promise((r) => setTimeout(r, 150));
      seeded = new ProcReader().readProcess(child.pid ?? 0);
      child.kill();
      await exited(child);
    });
    const pid = child?.pid;
    const st = statSync(exe, { bigint: true });
    const [ev] = execOf(rec.events, pid);
    assert.ok(ev, `exec record of ${pid}`);
    assert.deepEqual(ev.env, ["LANNER_A=1", "LANNER_B=two words", "LANNER_C="]);
    assert.equal(ev.exeIno, Number(st.ino));
    assert.equal(ev.exeCtimeNs, st.ctimeNs);
    assert.equal(ev.exeMtimeNs, st.mtimeNs);
    assert.equal(ev.pgid, pid);
    // the host pid namespace's init is pid 1; /proc has its start in 10 ms ticks
    const init = procStartNs(1);
    assert.ok(ev.pidnsInitStartNs >= init && ev.pidnsInitStartNs < init + TICK_NS, `${ev.pidnsInitStartNs}`);
    // the syscall record of the same exec carries the environment too
    const [call] = sys(rec.events, ["execve"], pid);
    assert.deepEqual(call?.env, ev.env);

    // the process table keeps what the record said
    const table = new ProcessTable({ seedFds: false, procRoot: "/nonexistent" });
    for (const e of rec.events) if (e.kind !== "syscall") table.apply(e, Date.now());
    const p = table.get(pid ?? 0);
    assert.ok(p);
    assert.deepEqual(p.env, ev.env);
    assert.equal(p.exeIno, Number(st.ino));
    assert.equal(p.exeCtimeNs, st.ctimeNs);
    assert.equal(p.exeMtimeNs, st.mtimeNs);
    assert.equal(p.pgid, pid);
    assert.equal(p.pidnsInitStartNs, ev.pidnsInitStartNs);

    // and /proc says the same about the live process (what seeding reads at start)
    const s = seeded as ReturnType<ProcReader["readProcess"]>;
    assert.ok(s, "the live process read from /proc");
    assert.deepEqual(s.env, ev.env);
    assert.equal(s.exeIno, Number(st.ino));
    assert.equal(s.exeCtimeNs, st.ctimeNs);
    assert.equal(s.exeMtimeNs, st.mtimeNs);
    assert.equal(s.pgid, pid);
    assert.equal(s.pidnsInitStartNs, init);
    assert.equal(s.exeFlags & WRITABLE, ev.flags & WRITABLE);
  });

  test("in a new pid namespace: the init's start, from the kernel and from /proc, for processes inside it", async () => {
    // sh is the namespace's init (pid 1 inside); sleep is pid 2 inside
    let child: ChildProcess | undefined;
    let seeded: ReturnType<ProcReader["readProcess"]> = null;
    let initStart = 0n;
    const rec = await recordDuring({ syscalls: ["execve"] }, async () => {
      child = spawn("unshare", ["--pid", "--fork", "/bin/sh", "-c", "/bin/sleep 30 & wait"], {
        stdio: "ignore",
      });
      await new Promise((r) => setTimeout(r, 300));
      const execs = nsPids(child.pid);
      seeded = execs.sleep === 0 ? null : new ProcReader().readProcess(execs.sleep);
      initStart = execs.sh === 0 ? 0n : procStartNs(execs.sh);
      child.kill("SIGKILL");
      for (const pid of [execs.sleep, execs.sh]) if (pid > 0) process.kill(pid, "SIGKILL");
      await exited(child);
    });
    /** host pids of the namespace's sh and sleep, from /proc (children of unshare's child) */
    function nsPids(unsharePid: number | undefined): { sh: number; sleep: number } {
      const kids = (pid: number): number[] => {
        try {
          return readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1")
            .trim()
            .split(/\s+/)
            .filter(Boolean)
            .map(Number);
        } catch {
          return [];
        }
      };
      const sh = kids(unsharePid ?? 0)[0] ?? 0;
      return { sh, sleep: kids(sh)[0] ?? 0 };
    }
    const sh = rec.events.find((e): e is ProcEvent => e.kind === "exec" && e.comm === "sh" && e.vpid === 1);
    const sleep = rec.events.find(
      (e): e is ProcEvent => e.kind === "exec" && e.comm === "sleep" && e.vpid === 2,
    );
    assert.ok(sh && sleep, "the exec records of the namespace's init and of a process inside it");
    assert.equal(sh.pidnsInitStartNs, sh.startNs, "the init's own start");
    assert.equal(sleep.pidnsInitStartNs, sh.startNs, "a process inside: its init's start");
    assert.equal(sleep.pidns, sh.pidns);
    const s = seeded as ReturnType<ProcReader["readProcess"]>;
    assert.ok(s, "the process inside read from /proc");
    assert.equal(s.pidnsInitStartNs, initStart, "from /proc: the init's start in clock ticks");
    assert.ok(sh.startNs >= initStart && sh.startNs < initStart + TICK_NS);
    assert.equal(s.pidns, sleep.pidns);
  });

  test("a child that stays in our process group carries our pgid", async () => {
    let child: ChildProcess | undefined;
    const rec = await recordDuring({ syscalls: ["execve"] }, async () => {
      child = spawn("/bin/true", [], { stdio: "ignore" });
      await exited(child);
    });
    const ourPgid = Number(readFileSync("/proc/self/stat", "latin1").split(") ")[1]?.split(" ")[2]);
    assert.equal(execOf(rec.events, child?.pid)[0]?.pgid, ourPgid);
  });

  test("EXE_WRITABLE as Falco decides it, for nobody and for root, read-only fs; /proc seeding agrees", async () => {
    const mk = (name: string, mode: number, uid = 0, gid = 0): string => {
      const p = join(dir, name);
      copyFileSync("/bin/sleep", p);
      chownSync(p, uid, gid);
      chmodSync(p, mode);
      return p;
    };
    const cases = [
      // [binary, run as nobody?, writable?]
      { exe: mk("ro-root", 0o755), nobody: true, writable: false }, // other bits r-x
      { exe: mk("ow-root", 0o757), nobody: true, writable: true }, // other bits rwx
      { exe: mk("own-nobody", 0o555, NOBODY, NOBODY), nobody: true, writable: true }, // owner may chmod it
      { exe: mk("grp-nogroup", 0o775, 0, NOBODY), nobody: true, writable: true }, // group bits rwx
      { exe: mk("grp-other", 0o755, 0, NOBODY), nobody: true, writable: false }, // group bits r-x
      { exe: join(dir, "ro-root"), nobody: false, writable: true }, // root: CAP_DAC_OVERRIDE
    ];
    // a read-only superblock: not writable even for root
    const roFs = join(dir, "ro-fs");
    mkdirSync(roFs);
    await execFileP("mount", ["-t", "tmpfs", "-o", "size=4m,mode=0755", "lanner-ro", roFs]);
    copyFileSync("/bin/sleep", join(roFs, "sleep"));
    chmodSync(join(roFs, "sleep"), 0o777);
    await execFileP("mount", ["-o", "remount,ro", roFs]);
    cases.push({ exe: join(roFs, "sleep"), nobody: false, writable: false });
    cases.push({ exe: join(roFs, "sleep"), nobody: true, writable: false });
    // a read-only bind mount of a writable fs leaves the superblock writable: Falco checks
    // only the superblock, so the exe still counts as writable
    const roBind = join(dir, "ro-bind");
    mkdirSync(roBind);
    await execFileP("mount", ["--bind", dir, roBind]);
    await execFileP("mount", ["-o", "remount,bind,ro", roBind]);
    cases.push({ exe: join(roBind, "ow-root"), nobody: true, writable: true });
    const kids: { pid: number; exe: string; writable: boolean; seeded: number }[] = [];
    try {
      const rec = await recordDuring({ syscalls: ["execve"] }, async () => {
        for (const c of cases) {
          const child = spawn(c.exe, ["30"], {
            stdio: "ignore",
            ...(c.nobody ? { uid: NOBODY, gid: NOBODY } : {}),
          });
          await new Promise((r) => setTimeout(r, 100));
          const s = new ProcReader().readProcess(child.pid ?? 0);
          kids.push({ pid: child.pid ?? 0, exe: c.exe, writable: c.writable, seeded: s?.exeFlags ?? -1 });
          child.kill();
          await exited(child);
        }
      });
      for (const k of kids) {
        const [ev] = execOf(rec.events, k.pid);
        assert.ok(ev, `exec of ${k.exe}`);
        assert.equal((ev.flags & WRITABLE) !== 0, k.writable, `kernel: ${k.exe} (uid ${ev.euid})`);
        assert.equal((k.seeded & WRITABLE) !== 0, k.writable, `/proc: ${k.exe}`);
      }
    } finally {
      await execFileP("umount", [roBind]);
      await execFileP("umount", [roFs]);
    }
  });

  test("overlayfs: execs and opens from the lower and the upper layer are told apart", async (t) => {
    const o = join(dir, "ovl");
    for (const d of ["lower", "upper", "work", "merged"]) mkdirSync(join(o, d), { recursive: true });
    copyFileSync("/bin/true", join(o, "lower", "true-lower"));
    chmodSync(join(o, "lower", "true-lower"), 0o755);
    try {
      await execFileP("mount", [
        "-t",
        "overlay",
        "overlay",
        "-o",
        `lowerdir=${o}/lower,upperdir=${o}/upper,workdir=${o}/work`,
        join(o, "merged"),
      ]);
    } catch (e) {
      t.skip(`overlay mount failed: ${String(e)}`);
      return;
    }
    try {
      const merged = join(o, "merged");
      copyFileSync("/bin/true", join(merged, "true-upper")); // created through the mount: upper
      chmodSync(join(merged, "true-upper"), 0o755);
      const pids: Record<string, number | undefined> = {};
      const opens: Record<string, Record<string, number>> = {};
      const rec = await recordDuring({ syscalls: ["execve", "openat", "open"] }, async () => {
        for (const n of ["true-lower", "true-upper"]) {
          const c = spawn(join(merged, n), [], { stdio: "ignore" });
          pids[n] = c.pid;
          await exited(c);
          opens[n] = await run("open-info", join(merged, n));
        }
      });
      const lower = execOf(rec.events, pids["true-lower"])[0];
      const upper = execOf(rec.events, pids["true-upper"])[0];
      assert.ok(lower && upper);
      assert.equal(lower.flags & (UPPER | LOWER), LOWER);
      assert.equal(upper.flags & (UPPER | LOWER), UPPER);
      const table = new ProcessTable({ seedFds: false, procRoot: "/nonexistent" });
      for (const e of rec.events) if (e.kind !== "syscall") table.apply(e, Date.now());
      assert.equal(table.get(lower.tgid)?.isExeLowerLayer, true);
      assert.equal(table.get(lower.tgid)?.isExeUpperLayer, false);
      assert.equal(table.get(upper.tgid)?.isExeLowerLayer, false);
      assert.equal(table.get(upper.tgid)?.isExeUpperLayer, true);
      for (const [n, want] of [
        ["true-lower", { upper: false, lower: true }],
        ["true-upper", { upper: true, lower: false }],
      ] as const) {
        const r = opens[n]!;
        const ev = sys(rec.events, ["openat", "open"], r["pid"]).find(
          (e) => e.ret === r["fd"] && e.paths.get(1) === join(merged, n),
        );
        assert.ok(ev?.fileInfo, `open of ${n}`);
        assert.deepEqual({ upper: ev.fileInfo.upper, lower: ev.fileInfo.lower }, want, n);
      }
    } finally {
      await execFileP("umount", [join(o, "merged")]);
    }
  });

  test("open: the returned file's dev and inode equal fstat's; latency is within the workload's own timing", async () => {
    const file = join(dir, "plain.txt");
    copyFileSync("/etc/hostname", file);
    let r: Record<string, number> = {};
    const rec = await recordDuring({ syscalls: ["openat", "open"] }, async () => {
      r = await run("open-info", file);
    });
    const ev = sys(rec.events, ["openat", "open"], r["pid"]).find(
      (e) => e.ret === r["fd"] && e.paths.get(1) === file,
    );
    assert.ok(ev?.fileInfo, "open of the file");
    assert.deepEqual(ev.fileInfo, { dev: r["dev"], ino: r["ino"], upper: false, lower: false });
    assert.ok(ev.latencyNs !== null && ev.latencyNs > 0, `latency ${ev.latencyNs}`);
    assert.ok(
      ev.latencyNs <= r["took_ns"]!,
      `latency ${ev.latencyNs} <= ${r["took_ns"]} measured around the call`,
    );
    // a failed open has no file
    const failed = sys(rec.events, ["openat", "open"], r["pid"]).filter((e) => e.ret < 0);
    for (const f of failed) assert.equal(f.fileInfo, null);
  });

  test("latency of an open that blocks on a FIFO covers the wait", async () => {
    let r: Record<string, number> = {};
    const rec = await recordDuring({ syscalls: ["openat", "open"] }, async () => {
      r = await run("fifo-wait", dir, "200");
    });
    const ev = sys(rec.events, ["openat", "open"], r["pid"]).find(
      (e) => e.ret === r["fd"] && e.paths.get(1)?.endsWith("fifo") === true,
    );
    assert.ok(ev, "the reader's open");
    // the writer's 200 ms sleep starts just before the reader's open, so the open blocks a
    // little less than 200 ms: the latency is checked against the wait the reader measured
    // around the call (its own bookkeeping there is microseconds)
    const took = r["took_ns"]!;
    assert.ok(took >= 150e6, `the open blocked: ${took} ns`);
    assert.ok(ev.latencyNs !== null && ev.latencyNs >= took - 5e6, `latency ${ev.latencyNs} ~ ${took}`);
    assert.ok(ev.latencyNs <= took, `latency ${ev.latencyNs} <= ${took}`);
    // syscalls without an entry stash carry none
    const others = rec.events.filter((e): e is SyscallEvent => e.kind === "syscall" && e.type === "close");
    for (const o of others) assert.equal(o.latencyNs, null);
  });

  test("poll: the pollfd array with events and revents as the call left it", async () => {
    let r: Record<string, number> & { ready?: number[][] } = {};
    const rec = await recordDuring({ syscalls: ["poll", "ppoll"] }, async () => {
      r = await run("poll");
    });
    const evs = sys(rec.events, ["poll", "ppoll"], r["pid"]).filter((e) => e.pollFds?.length === 3);
    assert.equal(evs.length, 1);
    const POLLIN = 1;
    const POLLOUT = 4;
    const POLLNVAL = 0x20;
    assert.deepEqual(evs[0]!.pollFds, [
      { fd: r["r"], events: POLLIN, revents: POLLIN },
      { fd: r["w"], events: POLLOUT, revents: POLLOUT },
      { fd: r["closed"], events: POLLIN, revents: POLLNVAL },
    ]);
    // what poll returned to the workload agrees
    assert.deepEqual(
      r.ready,
      [
        [r["r"], POLLIN],
        [r["w"], POLLOUT],
        [r["closed"], POLLNVAL],
      ].sort((a, b) => a[0]! - b[0]!),
    );
    assert.equal(evs[0]!.ret, 3);
  });

  test("sendmsg to an unconnected UDP peer and recvmsg carry the peer address (msg_name)", async () => {
    let r: Record<string, number> = {};
    const rec = await recordDuring({ syscalls: ["sendmsg", "recvmsg"] }, async () => {
      r = await run("udp-msg");
    });
    const send = sys(rec.events, ["sendmsg"], r["pid"]).find((e) => Number(e.args[0]) === r["tx_fd"]);
    assert.ok(send, "sendmsg seen");
    assert.deepEqual(send.sockaddrs.get(1), { family: 2, addr: "127.0.0.1", port: r["rx_port"] });
    assert.equal(send.tuple?.family, 2);
    assert.equal(send.tuple?.local.port, r["tx_port"]);
    assert.equal(send.tuple?.remote.port, 0, "unconnected: no peer in the socket itself");
    const recv = sys(rec.events, ["recvmsg"], r["pid"]).find((e) => Number(e.args[0]) === r["rx_fd"]);
    assert.ok(recv, "recvmsg seen");
    assert.deepEqual(recv.sockaddrs.get(1), { family: 2, addr: "127.0.0.1", port: r["tx_port"] });
    assert.equal(r["peer_port"], r["tx_port"]);
  });

  test("execve latency is positive and below the exec's wall time", async () => {
    let child: ChildProcess | undefined;
    let wallNs = 0n;
    const rec = await recordDuring({ syscalls: ["execve"] }, async () => {
      const t0 = process.hrtime.bigint();
      child = spawn("/bin/true", [], { stdio: "ignore" });
      await exited(child);
      wallNs = process.hrtime.bigint() - t0;
    });
    const [ev] = sys(rec.events, ["execve"], child?.pid);
    assert.ok(ev && ev.ret === 0);
    assert.ok(ev.latencyNs !== null && ev.latencyNs > 0 && BigInt(ev.latencyNs) < wallNs, `${ev.latencyNs}`);
  });
});
