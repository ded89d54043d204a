/**
 * State kernel tests: real workloads (test/fixtures/state_workload.py) under a real capture;
 * every record is applied to a State seeded from /proc after attach, and each event's fields
 * are rendered right after it is applied, as `lanner capture` does. Exact assertions on
 * ancestry, cwd, fds (dup2'ed socket, close-on-exec), memfd exec and threads.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { CaptureSession } from "../capture/capture-session.js";
import { packageRoot } from "../capture/paths.js";
import { decodeRecord, type DecodedEvent, type ProcEvent, type SyscallEvent } from "../decode/event.js";
import { RecordView, walkBatch } from "../decode/record-view.js";
import { SUPPORTED_SYSCALLS } from "../decode/syscall-params.js";
import { contextFor, snapshot, type Snapshot } from "../../test/helpers/fields.js";
import { capabilityNames, parseCapMask } from "./capabilities.js";
import { State } from "./state.js";
import { kernelSkipReason, openFdCount, PYTHON } from "../../test/helpers/kernel.js";

const execFileP = promisify(execFile);
const FIXTURE = join(packageRoot(), "test/fixtures/state_workload.py");

const skip = kernelSkipReason();
if (skip) console.log(`# SKIP state kernel tests: ${skip}`);

interface Seen {
  ev: DecodedEvent;
  f: Snapshot;
  /** fd numbers of the event's process right after the event was applied */
  fds: number[];
}

interface Run {
  seen: Seen[];
  state: State;
  res: Record<string, unknown>;
}

/** Captures while `fn` runs; keeps the events of the test's descendants, fields rendered as they arrive. */
async function captureDuring(fn: () => Promise<string>): Promise<Run> {
  const state = new State();
  const ctx = contextFor(state);
  const seen: Seen[] = [];
  const mine = new Set<number>();
  const view = new RecordView();
  const session = CaptureSession.start({
    syscalls: SUPPORTED_SYSCALLS,
    onBatch: (batch, bytes) =>
      walkBatch(view, batch, bytes, (v) => {
        // as lanner capture does: the raw record updates the state, the decoded event is rendered
        state.applyRecord(v);
        const ev = decodeRecord(v);
        if (!ev) return;
        if (ev.kind === "exec" && (ev.ppid === process.pid || mine.has(ev.ppid))) mine.add(ev.tgid);
        if (ev.kind === "fork" && mine.has(ev.tgid)) mine.add(ev.childTgid);
        if (!mine.has(ev.tgid)) return;
        const p = state.process(ev.tgid);
        seen.push({
          ev,
          f: snapshot(ctx, ev),
          fds: p ? p.fds.numbers() : [],
        });
      }),
  });
  state.seed(); // after attach: nothing falls between the /proc read and the first record
  let stdout: string;
  try {
    stdout = await fn();
    await new Promise((r) => setTimeout(r, 60));
    session.drain();
  } finally {
    session.close();
  }
  const line = stdout.split("\n").find((l) => l.startsWith("{")) ?? "{}";
  return { seen, state, res: JSON.parse(line) as Record<string, unknown> };
}

/** Runs a fixture subcommand under capture; its (first) JSON line is `res`. */
async function run(name: string, ...args: string[]): Promise<Run> {
  return captureDuring(async () => (await execFileP(PYTHON, [FIXTURE, name, ...args])).stdout);
}

const sysOf = (r: Run, type: string, pid?: unknown): Seen[] =>
  r.seen.filter(
    (s) => s.ev.kind === "syscall" && s.ev.type === type && (pid === undefined || s.ev.tgid === pid),
  );
const execOf = (r: Run, exe: string): Seen[] =>
  r.seen.filter((s) => s.ev.kind === "exec" && (s.ev as ProcEvent).exe === exe);

describe("state (kernel)", { skip: skip ?? false }, () => {
  let dir = "";
  let fdsBefore = 0;
  before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "lanner-state-")));
    fdsBefore = openFdCount();
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    assert.equal(openFdCount(), fdsBefore, "no fds leaked by the captures");
  });

  test("ancestry three levels deep: cat <- sh <- python3 <- the test's node process", async () => {
    const r = await run("ancestry");
    const catExec = execOf(r, realpathSync("/bin/cat"));
    assert.equal(catExec.length, 1);
    const cat = catExec[0]!.ev as ProcEvent;
    assert.equal(cat.ppid, r.res["shell"]);
    const opens = sysOf(r, "openat", cat.tgid).filter((s) => s.f["fd.name"] === "/etc/hostname");
    assert.equal(opens.length, 1);
    const f = opens[0]!.f;
    assert.equal(f["proc.name"], "cat");
    assert.equal(f["proc.exe"], "/bin/cat");
    assert.equal(f["proc.cmdline"], "cat /etc/hostname");
    assert.equal(f["proc.aname[1]"], "sh");
    assert.equal(f["proc.apid[1]"], r.res["shell"]);
    assert.equal(f["proc.aexepath[1]"], realpathSync("/bin/sh"));
    assert.equal(f["proc.aname[2]"], "python3");
    assert.equal(f["proc.apid[2]"], r.res["pid"]);
    assert.equal(f["proc.aexepath[2]"], realpathSync(PYTHON));
    assert.equal(f["proc.aname[3]"], readFileSync("/proc/self/comm", "utf8").trim());
    assert.equal(f["proc.apid[3]"], process.pid);
    assert.equal(f["proc.aexepath[3]"], realpathSync(process.execPath));
    assert.equal(f["proc.pname"], "sh");
    assert.equal(f["proc.pcmdline"], "sh -c /bin/cat /etc/hostname >/dev/null; true");
    assert.equal(f["proc.pexe"], "/bin/sh");
    assert.equal(f["proc.pexepath"], realpathSync("/bin/sh"));
    // session: the test's own session leader, known from the /proc seed
    const sid = Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ")[3]);
    assert.equal(f["proc.sid"], sid);
    // a test run started outside any session (sid 0, as under some CI runners) has no leader:
    // the field is null, which the snapshot leaves out
    const sname = sid > 0 ? readFileSync(`/proc/${sid}/comm`, "utf8").trim() : undefined;
    assert.equal(f["proc.sname"], sname);
    assert.equal(f["proc.is_exe_from_memfd"], false);
    assert.equal(f["proc.is_exe_upper_layer"], false);
    assert.equal(typeof f["proc.duration"], "number");
    assert.ok((f["proc.duration"] as number) > 0 && (f["proc.duration"] as number) < 10e9);
  });

  test("cwd after chdir, for the process and for a child exec'd after it", async () => {
    const d = join(dir, "cwd");
    mkdirSync(d);
    writeFileSync(join(d, "rel.txt"), "");
    const r = await run("chdir", d);
    const chdirs = sysOf(r, "chdir", r.res["pid"]);
    assert.equal(chdirs.length, 1);
    assert.equal(chdirs[0]!.f["proc.cwd"], d);
    const opens = sysOf(r, "openat", r.res["pid"]).filter(
      (s) => (s.ev as SyscallEvent).paths.get(1) === "rel.txt",
    );
    assert.equal(opens.length, 1);
    assert.equal(opens[0]!.f["proc.cwd"], d);
    assert.equal(opens[0]!.f["fd.name"], join(d, "rel.txt"));
    const childOpens = sysOf(r, "openat", r.res["child"]).filter(
      (s) => (s.ev as SyscallEvent).paths.get(1) === "rel.txt",
    );
    assert.equal(childOpens.length, 1);
    assert.equal(childOpens[0]!.f["proc.cwd"], d);
    assert.equal(childOpens[0]!.f["proc.name"], "cat");
    assert.equal(r.state.process(Number(r.res["child"]))?.cwd, d);
  });

  test("a socket dup2'ed onto stdout still names its peer when fd 1 is closed", async () => {
    const r = await run("dup2-socket");
    const pid = r.res["pid"];
    const dups = sysOf(r, "dup2", pid).filter((s) => (s.ev as SyscallEvent).ret === 1);
    assert.equal(dups.length, 1);
    const closes = sysOf(r, "close", pid).filter((s) => Number((s.ev as SyscallEvent).args[0]) === 1);
    assert.equal(closes.length, 1);
    const c = closes[0]!;
    assert.equal((c.ev as SyscallEvent).tuple, null, "close carries no tuple: the name comes from the table");
    assert.equal(c.f["fd.num"], 1);
    assert.equal(c.f["fd.type"], "ipv4");
    assert.equal(c.f["fd.typechar"], "4");
    assert.equal(c.f["fd.l4proto"], "tcp");
    assert.equal(c.f["fd.connected"], true);
    assert.equal(c.f["fd.sip"], "127.0.0.1");
    assert.equal(c.f["fd.sport"], r.res["port"]);
    assert.equal(c.f["fd.cip"], "127.0.0.1");
    assert.equal(c.f["fd.cport"], r.res["client_port"]);
    assert.equal(c.f["fd.lport"], r.res["client_port"]);
    assert.equal(c.f["fd.rport"], r.res["port"]);
    assert.equal(c.f["fd.name"], `127.0.0.1:${r.res["client_port"]}->127.0.0.1:${r.res["port"]}`);
    assert.deepEqual(c.f["fd.ip"], ["127.0.0.1", "127.0.0.1"], "both ends, client first");
    assert.equal(c.f["fd.snet"], "127.0.0.1");
    assert.ok(c.fds.includes(1), "the close event itself still sees fd 1");
    // and once the next record is applied, fd 1 is gone from the table
    const later = r.seen.filter((s) => s.ev.tgid === pid && s.ev.ts > c.ev.ts);
    assert.ok(later.length > 0);
    assert.ok(!later[0]!.fds.includes(1), "fd 1 removed after its close");
  });

  test("close-on-exec: O_CLOEXEC and dup3(O_CLOEXEC) fds are gone after exec; dup2 and F_DUPFD fds survive", async () => {
    const a = join(dir, "a.txt");
    const b = join(dir, "b.txt");
    writeFileSync(a, "a");
    writeFileSync(b, "b");
    const r = await run("cloexec", a, b);
    const pid = r.res["pid"] as number;
    const cloexecFd = r.res["cloexec_fd"] as number;
    // before the exec: all four are in the table
    const execs = r.seen.filter((s) => s.ev.kind === "exec" && s.ev.tgid === pid);
    assert.equal(execs.length, 2, "python exec'd by the test, then re-exec'd by itself");
    const reexec = execs[1]!;
    const before = r.seen.filter((s) => s.ev.tgid === pid && s.ev.ts < reexec.ev.ts).pop()!;
    for (const fd of [cloexecFd, 50, 51, 52]) assert.ok(before.fds.includes(fd), `fd ${fd} open before exec`);
    // right after the exec record
    assert.ok(!reexec.fds.includes(cloexecFd), `O_CLOEXEC fd ${cloexecFd} closed by exec`);
    assert.ok(!reexec.fds.includes(50), "dup3(O_CLOEXEC) fd 50 closed by exec");
    assert.ok(reexec.fds.includes(51), "dup2 fd 51 survives exec");
    assert.ok(reexec.fds.includes(52), "F_DUPFD fd 52 survives exec");
    // the new image closes 51: the table still knows the file; closing 50 fails
    const close51 = sysOf(r, "close", pid).filter(
      (s) => s.ev.ts > reexec.ev.ts && Number((s.ev as SyscallEvent).args[0]) === 51,
    );
    assert.equal(close51.length, 1);
    assert.equal(close51[0]!.f["fd.name"], b);
    assert.equal(close51[0]!.f["fd.filename"], "b.txt");
    assert.equal(close51[0]!.f["fd.directory"], dir);
    assert.equal(close51[0]!.f["fd.type"], "file");
    const close50 = sysOf(r, "close", pid).filter(
      (s) => s.ev.ts > reexec.ev.ts && Number((s.ev as SyscallEvent).args[0]) === 50,
    );
    assert.equal(close50.length, 1);
    assert.equal((close50[0]!.ev as SyscallEvent).ret, -9);
    assert.equal(close50[0]!.f["fd.name"], undefined, "no fd 50 in the table after exec");
  });

  test("proc.is_exe_from_memfd after fexecve of a memfd", async () => {
    const r = await run("memfd");
    const pid = r.res["pid"];
    const execs = r.seen.filter((s) => s.ev.kind === "exec" && s.ev.tgid === pid);
    assert.equal(execs.length, 2);
    const e = execs[1]!;
    assert.equal((e.ev as ProcEvent).exe, "/memfd:lanner-payload");
    assert.equal(e.f["proc.is_exe_from_memfd"], true);
    assert.equal(e.f["proc.exepath"], "memfd:lanner-payload", "Falco's form: the memfd's name");
    const opens = sysOf(r, "openat", pid).filter(
      (s) => s.ev.ts > e.ev.ts && s.f["fd.name"] === "/etc/hostname",
    );
    assert.equal(opens.length, 1);
    assert.equal(opens[0]!.f["proc.is_exe_from_memfd"], true);
    // comm of an image exec'd from an fd: the dentry name since Linux 6.11 (the fd number before)
    assert.ok(
      ["memfd:lanner-pa", "3"].includes(String(opens[0]!.f["proc.name"])),
      String(opens[0]!.f["proc.name"]),
    );
    assert.equal(opens[0]!.f["proc.exe"], "cat");
    assert.equal(opens[0]!.f["proc.aname[1]"], readFileSync("/proc/self/comm", "utf8").trim());
    // the python before the exec was not from a memfd
    assert.equal(execs[0]!.f["proc.is_exe_from_memfd"], false);
  });

  test("threads: each thread's event carries its tid, the process's thread count and its capabilities", async () => {
    const r = await run("threads", "3");
    const pid = r.res["pid"] as number;
    const tids = r.res["tids"] as number[];
    const fds = r.res["fds"] as number[];
    assert.equal(tids.length, 3);
    const forks = r.seen.filter(
      (s) => s.ev.kind === "fork" && (s.ev as ProcEvent).flags & 1 && s.ev.tgid === pid,
    );
    assert.deepEqual(forks.map((s) => (s.ev as ProcEvent).exitCode).sort(), [...tids].sort());
    const caps = capabilityNames(
      parseCapMask(/CapEff:\s*(\w+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? ""),
    );
    for (let i = 0; i < 3; i++) {
      const tid = tids[i]!;
      const opens = sysOf(r, "openat", pid).filter(
        (s) => s.ev.tid === tid && (s.ev as SyscallEvent).ret === fds[i],
      );
      assert.equal(opens.length, 1, `thread ${tid} open seen`);
      const f = opens[0]!.f;
      assert.equal(f["thread.tid"], tid);
      assert.equal(f["thread.vtid"], tid);
      assert.equal(f["thread.ismain"], false);
      assert.equal(f["proc.nthreads"], 4);
      assert.equal(f["thread.cap_effective"], caps);
      assert.equal(f["fd.name"], "/etc/hostname");
    }
    // all threads' fds were open together in the process's table
    const closes = sysOf(r, "close", pid).filter(
      (s) => tids.includes(s.ev.tid) && fds.includes(Number((s.ev as SyscallEvent).args[0])),
    );
    assert.equal(closes.length, 3);
    for (const fd of fds)
      assert.ok(closes[0]!.fds.includes(fd), `fd ${fd} in the shared table at the first close`);
    assert.equal(closes[0]!.f["fd.name"], "/etc/hostname");
    // after the process exits its threads are gone from the thread table
    for (const tid of tids) assert.equal(r.state.thread(tid), undefined);
  });

  test("proc.is_exe_upper_layer: a binary created in an overlay's upper layer, not one from its lower layer", async (t) => {
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
      copyFileSync("/bin/true", join(o, "merged", "true-upper")); // created through the mount: lives in upper
      chmodSync(join(o, "merged", "true-upper"), 0o755);
      const r = await captureDuring(async () => {
        await execFileP(join(o, "merged", "true-lower"));
        await execFileP(join(o, "merged", "true-upper"));
        return "{}";
      });
      const lower = execOf(r, join(o, "merged", "true-lower"));
      const upper = execOf(r, join(o, "merged", "true-upper"));
      assert.equal(lower.length, 1);
      assert.equal(upper.length, 1);
      assert.equal(lower[0]!.f["proc.is_exe_upper_layer"], false);
      assert.equal(upper[0]!.f["proc.is_exe_upper_layer"], true);
      assert.equal(upper[0]!.f["proc.is_exe_from_memfd"], false);
      assert.equal(upper[0]!.f["proc.exepath"], join(o, "merged", "true-upper"));
    } finally {
      await execFileP("umount", [join(o, "merged")]);
    }
  });
});
