/**
 * State tables driven by synthetic events (no kernel): processes, ancestry, threads,
 * capabilities, purge and eviction, fds through open/socket/connect/dup/fcntl/pipe/close,
 * fork copies and CLONE_FILES sharing, close-on-exec, cwd.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { capabilityNames } from "./capabilities.js";
import { FdInfo } from "./fd-table.js";
import { contextFor, contextForTable, snapshot } from "../../test/helpers/fields.js";
import { State } from "./state.js";
import {
  BatchWriter,
  cstrBytes,
  exec,
  exit,
  fork,
  PF_EXE_MEMFD,
  PF_EXE_UPPER,
  sockaddr4Bytes,
  syscall,
  tcp4,
  tcp4Bytes,
  threadFork,
} from "./test-events.js";
import { LN_TAIL_KIND } from "../capture/abi.generated.js";
import { decodeRecord } from "../decode/event.js";
import { RecordView, walkBatch } from "../decode/record-view.js";
import { syscallNr } from "../decode/syscall-params.js";
import type { DecodedEvent } from "../decode/event.js";

const emptyProc = mkdtempSync(join(tmpdir(), "lanner-noproc-"));
after(() => rmSync(emptyProc, { recursive: true, force: true }));

/** A state that never reads the real /proc (synthetic pids may exist on this machine). */
function newState(opts: { maxEntries?: number; exitGraceMs?: number } = {}): State {
  return new State({ procRoot: emptyProc, ...opts });
}

/** Every field of `ev` as the rules would see it now (the event names its fd itself). */
function fields(s: State, ev: DecodedEvent): Record<string, unknown> {
  return snapshot(contextFor(s), ev);
}

/** bash(100) -> sh(200) -> cat(300), with cwd and argv */
function family(s: State): void {
  s.apply(
    exec(100, "/usr/bin/bash", ["bash", "-l"], { ppid: 1, cwd: "/root", sid: 100, tty: (136 << 20) | 2 }),
  );
  s.apply(fork(100, 200, { comm: "bash", sid: 100 }));
  s.apply(exec(200, "/usr/bin/dash", ["sh", "-c", "cat /etc/hostname"], { ppid: 100, sid: 100 }));
  s.apply(fork(200, 300, { comm: "sh", sid: 100 }));
  s.apply(exec(300, "/usr/bin/cat", ["cat", "/etc/hostname"], { ppid: 200, sid: 100, vpid: 7, vpgid: 7 }));
}

describe("process table", () => {
  test("fork and exec build the ancestry: aname, apid, aexepath, pname, pcmdline", () => {
    const s = newState();
    family(s);
    const f = fields(s, syscall("openat", 300, { ret: 3 }));
    assert.equal(f["proc.exe"], "cat");
    assert.equal(f["proc.exepath"], "/usr/bin/cat");
    assert.equal(f["proc.vpid"], 7);
    assert.equal(f["proc.vpgid"], 7);
    assert.equal(f["proc.ppid"], 200);
    assert.equal(f["proc.pname"], "dash");
    assert.equal(f["proc.pexe"], "sh");
    assert.equal(f["proc.pexepath"], "/usr/bin/dash");
    assert.equal(f["proc.pcmdline"], "dash -c cat /etc/hostname");
    assert.equal(f["proc.aname[1]"], "dash");
    assert.equal(f["proc.aname[2]"], "bash");
    assert.equal(f["proc.apid[1]"], 200);
    assert.equal(f["proc.apid[2]"], 100);
    assert.equal(f["proc.aexepath[2]"], "/usr/bin/bash");
    assert.equal(f["proc.aname[3]"], undefined, "pid 1 is not in this table");
    assert.equal(f["proc.cwd"], "/root", "cwd is inherited through fork and exec");
    assert.equal(f["proc.sid"], 100);
    assert.equal(f["proc.sname"], "bash");
    assert.equal(f["proc.tty"], 0, "cat's own exec record had no tty");
    assert.equal(s.process(100)?.tty, (136 << 20) | 2);
    assert.equal(f["proc.duration"], 2_000_000_000 - 500_000_000);
    assert.equal(f["proc.is_exe_from_memfd"], false);
  });

  test("exe flags: memfd and overlay upper layer are per image", () => {
    const s = newState();
    s.apply(exec(10, "/memfd:payload", ["x"], { flags: PF_EXE_MEMFD }));
    assert.equal(s.process(10)?.isExeFromMemfd, true);
    s.apply(exec(10, "/usr/bin/true", ["true"], { flags: PF_EXE_UPPER }));
    assert.equal(s.process(10)?.isExeFromMemfd, false);
    assert.equal(s.process(10)?.isExeUpperLayer, true);
  });

  test("threads: created, counted, named capabilities, capset, exit; exec by a non-leader", () => {
    const s = newState();
    const caps = (1n << 0n) | (1n << 21n);
    s.apply(
      exec(50, "/usr/bin/python3", ["python3"], { capEffective: caps, capPermitted: caps | (1n << 12n) }),
    );
    s.apply(threadFork(50, 51, { capEffective: caps, capPermitted: caps }));
    s.apply(threadFork(50, 52, { capEffective: 0n, capPermitted: caps }));
    assert.equal(s.process(50)?.nthreads, 3);
    assert.equal(s.thread(51)?.pid, 50);
    const f = fields(s, syscall("openat", 50, { tid: 52, ret: 3 }));
    assert.equal(f["thread.cap_effective"], "");
    assert.equal(f["thread.cap_permitted"], "CAP_CHOWN CAP_SYS_ADMIN");
    assert.equal(f["thread.ismain"], false);
    assert.equal(
      fields(s, syscall("openat", 50, { ret: 3 }))["thread.cap_permitted"],
      "CAP_CHOWN CAP_NET_ADMIN CAP_SYS_ADMIN",
    );
    // capset(2) on thread 51 drops everything but CAP_CHOWN
    const data = Buffer.alloc(24);
    data.writeUInt32LE(1, 0);
    data.writeUInt32LE(1, 4);
    s.apply(syscall("capset", 50, { tid: 51, data }));
    assert.equal(capabilityNames(s.thread(51)!.capEffective), "CAP_CHOWN");
    s.apply(exit(50, 52, false));
    assert.equal(s.thread(52), undefined);
    assert.equal(s.process(50)?.nthreads, 2);
    assert.equal(s.process(50)?.exitedAt, 0, "a thread exit does not end the process");
    // thread 51 execs: it becomes the leader (tid 50), tid 51 is gone
    s.apply(exec(50, "/usr/bin/env", ["env"], { tid: 50, exitCode: 51 }));
    assert.equal(s.thread(51), undefined);
    assert.equal(s.thread(50)?.pid, 50);
  });

  test("exited processes stay for the grace period, then are purged", () => {
    const s = newState({ exitGraceMs: 1000 });
    family(s);
    s.apply(exit(300), 10_000);
    assert.equal(s.process(300)?.exitedAt, 10_000, "late events still find it");
    assert.equal(s.purge(10_500), 0);
    assert.equal(s.purge(11_001), 1);
    assert.equal(s.process(300), undefined);
    assert.equal(s.stats().purged, 1);
    assert.equal(s.process(200)?.exitedAt, 0);
  });

  test("lost exit records: a sweep finds processes gone from /proc; purge drops them and their threads", () => {
    const s = new State({ procRoot: emptyProc, exitGraceMs: 1000, sweepMs: 60_000 });
    family(s);
    s.apply(threadFork(300, 301));
    assert.equal(s.purge(1_000), 0, "first purge: starts the sweep clock");
    assert.equal(s.purge(61_000), 0, "sweep: all three are gone from this /proc, marked exited");
    assert.equal(s.stats().swept, 3);
    assert.equal(s.process(300)?.exitedAt, 61_000);
    assert.equal(s.purge(62_001), 3);
    assert.equal(s.thread(301), undefined, "threads of purged processes go too");
    assert.equal(s.stats().threads, 0);
  });

  test("size limit: exited processes are evicted first, then the oldest; counted", () => {
    const s = newState({ maxEntries: 3 });
    s.apply(exec(1, "/a", ["a"]));
    s.apply(exec(2, "/b", ["b"]));
    s.apply(exec(3, "/c", ["c"]));
    s.apply(exit(2), 5);
    s.apply(exec(4, "/d", ["d"]));
    assert.deepEqual(
      [1, 2, 3, 4].map((p) => s.procs.get(p) !== undefined),
      [true, false, true, true],
    );
    s.apply(exec(5, "/e", ["e"]));
    assert.deepEqual(
      [1, 3, 4, 5].map((p) => s.procs.get(p) !== undefined),
      [false, true, true, true],
    );
    assert.equal(s.stats().evictions, 2);
    assert.equal(s.stats().size, 3);
  });
});

describe("fd table", () => {
  test("open: file, directory, relative path resolved; close is seen by the close event itself", () => {
    const s = newState();
    family(s);
    s.apply(
      syscall("openat", 300, {
        ret: 3,
        args: [-100, 0, 0o2000000],
        paths: [[1, "notes.txt"]],
        dirs: [[1, "/root"]],
      }),
    );
    s.apply(syscall("openat", 300, { ret: 4, args: [-100, 0, 0o200000], paths: [[1, "/etc"]] }));
    const f = fields(s, syscall("close", 300, { args: [3] }));
    assert.equal(f["fd.name"], "/root/notes.txt");
    assert.equal(f["fd.type"], "file");
    assert.equal(f["fd.typechar"], "f");
    assert.equal(f["fd.directory"], "/root");
    assert.equal(f["fd.filename"], "notes.txt");
    assert.equal(s.fd(300, 4)?.type, "directory");
    const close = syscall("close", 300, { args: [3] });
    s.apply(close);
    assert.equal(fields(s, close)["fd.name"], "/root/notes.txt", "the close event still names the fd");
    s.apply(syscall("getpid", 300));
    assert.equal(s.fd(300, 3), undefined, "gone once the next event is applied");
  });

  test("a socket dup2'ed onto stdout keeps naming its peer; close(1) shows it", () => {
    const s = newState();
    family(s);
    s.apply(syscall("socket", 300, { ret: 5, args: [2, 1 | 0o2000000, 0] }));
    assert.equal(s.fd(300, 5)?.l4proto, "tcp");
    s.apply(syscall("connect", 300, { args: [5], tuple: tcp4("127.0.0.1", 40000, "10.0.0.9", 443) }));
    s.apply(syscall("dup2", 300, { ret: 1, args: [5, 1] }));
    const fd1 = s.fd(300, 1);
    assert.equal(fd1?.name, "127.0.0.1:40000->10.0.0.9:443");
    assert.equal(fd1?.cloexec, false, "dup2 clears close-on-exec");
    assert.equal(s.fd(300, 5)?.cloexec, true);
    const close = syscall("close", 300, { args: [1] });
    s.apply(close);
    const f = fields(s, close);
    assert.equal(f["fd.type"], "ipv4");
    assert.equal(f["fd.typechar"], "4");
    assert.equal(f["fd.sip"], "10.0.0.9");
    assert.equal(f["fd.sport"], 443);
    assert.equal(f["fd.cip"], "127.0.0.1");
    assert.equal(f["fd.cport"], 40000);
    assert.equal(f["fd.rport"], 443);
    assert.equal(f["fd.lport"], 40000);
    assert.equal(f["fd.l4proto"], "tcp");
    assert.equal(f["fd.connected"], true);
    assert.deepEqual(f["fd.ip"], ["127.0.0.1", "10.0.0.9"]);
    assert.deepEqual(f["fd.net"], ["127.0.0.1", "10.0.0.9"]);
    assert.equal(f["fd.snet"], "10.0.0.9");
    assert.equal(f["fd.cnet"], "127.0.0.1");
  });

  test("a bare ProcessTable (lifecycle records only) never names an event's fd from its stale tables", async () => {
    const { ProcessTable } = await import("./process-table.js");
    const t = new ProcessTable({ procRoot: emptyProc });
    t.apply(exec(300, "/usr/bin/cat", ["cat"]), 1);
    t.get(300)!.fds.set(3, new FdInfo("file", "/seeded/long/ago", false));
    const out = snapshot(contextForTable(t), syscall("close", 300, { args: [3] }));
    assert.equal(out["fd.name"], undefined);
    assert.equal(out["proc.exepath"], "/usr/bin/cat", "process fields still come from it");
  });

  test("accept: the server side; listen marks the listener", () => {
    const s = newState();
    family(s);
    s.apply(syscall("socket", 300, { ret: 3, args: [10, 1, 0] }));
    s.apply(syscall("bind", 300, { args: [3], tuple: { ...tcp4("::", 8080, "::", 0), family: 10 } }));
    s.apply(syscall("listen", 300, { args: [3] }));
    assert.equal(s.fd(300, 3)?.role, 2);
    s.apply(
      syscall("accept4", 300, {
        ret: 4,
        args: [3, 0, 0, 0o2000000],
        tuple: { ...tcp4("::1", 8080, "::1", 51000), family: 10 },
      }),
    );
    const a = s.fd(300, 4)!;
    assert.equal(a.type, "ipv6");
    assert.equal(a.name, "::1:51000->::1:8080");
    assert.equal(a.sport, 8080);
    assert.equal(a.cport, 51000);
    assert.equal(a.cloexec, true);
  });

  test("close-on-exec: O_CLOEXEC, SOCK_CLOEXEC, F_DUPFD_CLOEXEC, dup3 and pipe2 fds go; others stay", () => {
    const s = newState();
    family(s);
    s.apply(syscall("openat", 300, { ret: 3, args: [-100, 0, 0o2000000], paths: [[1, "/a"]] }));
    s.apply(syscall("openat", 300, { ret: 4, args: [-100, 0, 0], paths: [[1, "/b"]] }));
    s.apply(syscall("fcntl", 300, { ret: 5, args: [4, 1030, 0] }));
    s.apply(syscall("fcntl", 300, { ret: 6, args: [3, 0, 0] }));
    s.apply(syscall("dup3", 300, { ret: 7, args: [4, 7, 0o2000000] }));
    s.apply(syscall("pipe2", 300, { args: [0, 0o2000000], fds: [8, 9] }));
    s.apply(syscall("pipe", 300, { fds: [10, 11] }));
    s.apply(syscall("socketpair", 300, { args: [1, 1 | 0o2000000, 0], fds: [12, 13] }));
    s.apply(syscall("memfd_create", 300, { ret: 14, args: [0, 1], paths: [[0, "m"]] }));
    s.apply(syscall("openat", 300, { ret: 15, args: [-100, 0, 0o2000000], paths: [[1, "/c"]] }));
    s.apply(syscall("fcntl", 300, { args: [15, 2, 0] })); // F_SETFD 0: keep across exec
    assert.equal(s.fd(300, 14)?.name, "memfd:m");
    assert.equal(s.fd(300, 8)?.type, "pipe");
    s.apply(exec(300, "/usr/bin/env", ["env"], { ppid: 200 }));
    const left = s.process(300)!.fds.numbers();
    assert.deepEqual(left, [4, 6, 10, 11, 15]);
    assert.equal(s.fd(300, 6)?.name, "/a", "F_DUPFD copies without close-on-exec");
  });

  test("fork copies the table; threads and CLONE_FILES children share it", () => {
    const s = newState();
    family(s);
    s.apply(syscall("openat", 300, { ret: 3, paths: [[1, "/x"]] }));
    s.apply(fork(300, 400, { comm: "cat" }));
    s.apply(syscall("close", 400, { args: [3] }));
    s.apply(syscall("getpid", 400));
    assert.equal(s.fd(400, 3), undefined);
    assert.equal(s.fd(300, 3)?.name, "/x", "the parent's fd survives the child's close");
    // a thread closes: the process's table loses it
    s.apply(threadFork(300, 301));
    s.apply(syscall("openat", 300, { tid: 301, ret: 4, paths: [[1, "/y"]] }));
    assert.equal(s.fd(300, 4)?.name, "/y");
    // clone(CLONE_FILES) child: one table for both
    s.apply(fork(300, 500, { comm: "cat" }));
    s.apply(syscall("clone", 300, { ret: 500, args: [0x400 | 17] }));
    s.apply(syscall("openat", 500, { ret: 6, paths: [[1, "/z"]] }));
    assert.equal(s.fd(300, 6)?.name, "/z");
  });

  test("dup of an fd the table does not know takes the kernel's name for the new fd", () => {
    const s = newState();
    family(s);
    s.apply(syscall("dup", 300, { ret: 9, args: [2], fdPaths: [[6, "/dev/pts/3"]] }));
    assert.equal(s.fd(300, 9)?.name, "/dev/pts/3");
    s.apply(syscall("dup", 300, { ret: 10, args: [8], tuple: tcp4("1.2.3.4", 5, "6.7.8.9", 80) }));
    assert.equal(s.fd(300, 10)?.sip, "6.7.8.9");
  });

  test("chdir and fchdir keep proc.cwd; exec keeps it", () => {
    const s = newState();
    family(s);
    s.apply(syscall("chdir", 300, { paths: [[0, "sub"]], cwd: "/root/sub" }));
    assert.equal(s.process(300)?.cwd, "/root/sub");
    s.apply(syscall("chdir", 300, { paths: [[0, "../tmp"]], dirs: [[0, "/root/sub"]] }));
    assert.equal(s.process(300)?.cwd, "/root/tmp", "without the CWD tail: the path resolved");
    s.apply(syscall("openat", 300, { ret: 3, args: [-100, 0, 0o200000], paths: [[1, "/var/log"]] }));
    s.apply(syscall("fchdir", 300, { args: [3] }));
    assert.equal(s.process(300)?.cwd, "/var/log");
    s.apply(exec(300, "/usr/bin/ls", ["ls"], { ppid: 200 }));
    assert.equal(s.process(300)?.cwd, "/var/log");
    s.apply(syscall("chdir", 300, { ret: -2, paths: [[0, "/nope"]] }));
    assert.equal(s.process(300)?.cwd, "/var/log", "failed chdir changes nothing");
  });

  test("events of unknown processes are counted, not fatal", () => {
    const s = newState();
    s.apply(syscall("openat", 999, { ret: 3, paths: [[1, "/x"]] }));
    s.apply(syscall("close", 999, { args: [3] }));
    s.apply(exit(999));
    assert.equal(s.stats().unknownProcess, 2);
    assert.equal(s.process(999), undefined);
  });
});

describe("raw records", () => {
  test("an fd closed and reopened: the entry is reused only for the same path and flags", () => {
    const T = LN_TAIL_KIND;
    const nr = (n: string): number => syscallNr(n)!;
    const w = new BatchWriter(1 << 14);
    const open = (path: string, flags: number): void =>
      w.syscall(300, nr("openat"), 3, [-100, 0, flags], [[T.LN_T_PATH, 1, cstrBytes(path)]]);
    const close = (): void => w.syscall(300, nr("close"), 0, [3], []);
    const s = newState();
    family(s);
    const seen: (string | boolean | undefined)[][] = [];
    const v = new RecordView();
    open("/etc/hostname", 0);
    close();
    open("/etc/hostname", 0); // reused
    close();
    open("/etc/hostnamX", 0); // same length, other bytes
    close();
    open("/etc/hostnamX", 0o2000000); // other flags
    close();
    open("/etc/héllo", 0); // non-ASCII: slow path, same result
    walkBatch(v, w.buf, w.off, (r) => {
      s.applyRecord(r);
      if (r.nr === nr("openat")) seen.push([s.fd(300, 3)?.name, s.fd(300, 3)?.cloexec]);
    });
    assert.deepEqual(seen, [
      ["/etc/hostname", false],
      ["/etc/hostname", false],
      ["/etc/hostnamX", false],
      ["/etc/hostnamX", true],
      ["/etc/héllo", false],
    ]);
  });

  test("applyRecord (straight from the ring batch) builds the same tables as apply(decodeRecord)", () => {
    const T = LN_TAIL_KIND;
    const nr = (n: string): number => syscallNr(n)!;
    const w = new BatchWriter(1 << 16);
    const fds4 = Buffer.alloc(8);
    fds4.writeInt32LE(7, 0);
    fds4.writeInt32LE(8, 4);
    const capData = Buffer.alloc(24);
    capData.writeUInt32LE(1 << 21, 0);
    capData.writeUInt32LE((1 << 21) | 1, 4);
    w.syscall(
      300,
      nr("openat"),
      3,
      [-100, 0, 0o2000000],
      [
        [T.LN_T_PATH, 1, cstrBytes("data/x.json")],
        [T.LN_T_DIR, 1, cstrBytes("/srv")],
      ],
    );
    w.syscall(300, nr("openat"), 4, [-100, 0, 0o200000], [[T.LN_T_PATH, 1, cstrBytes("/etc//ssl/")]]);
    w.syscall(300, nr("socket"), 5, [2, 1 | 0o2000000, 0], []);
    w.syscall(
      300,
      nr("connect"),
      -115,
      [5],
      [
        [T.LN_T_SOCKADDR, 1, sockaddr4Bytes([10, 1, 2, 3], 443)],
        [T.LN_T_TUPLE, 0, tcp4Bytes([10, 0, 0, 9], 40001, [10, 1, 2, 3], 443)],
      ],
    );
    w.syscall(300, nr("dup2"), 1, [5, 1], []);
    w.syscall(300, nr("close"), 0, [3], []);
    w.syscall(300, nr("pipe2"), 0, [0, 0o2000000], [[T.LN_T_FDS, 0, fds4]]);
    w.syscall(300, nr("fcntl"), 9, [4, 1030, 0], []);
    w.syscall(
      300,
      nr("chdir"),
      0,
      [0],
      [
        [T.LN_T_PATH, 0, cstrBytes("sub")],
        [T.LN_T_CWD, 7, cstrBytes("/root/sub")],
      ],
    );
    w.syscall(300, nr("memfd_create"), 10, [0, 1], [[T.LN_T_PATH, 0, cstrBytes("blob")]]);
    w.syscall(300, nr("capset"), 0, [0, 0], [[T.LN_T_DATA, 1, capData]]);
    w.syscall(300, nr("getpid"), 300, [], []);
    const raw = newState();
    const decoded = newState();
    family(raw);
    family(decoded);
    const v = new RecordView();
    walkBatch(v, w.buf, w.off, (r) => {
      raw.applyRecord(r);
      const ev = decodeRecord(r);
      if (ev) decoded.apply(ev);
    });
    const dump = (s: State): unknown => ({
      fds: s.process(300)!.fds.entries(),
      cwd: s.process(300)!.cwd,
      caps: [s.thread(300)!.capEffective, s.thread(300)!.capPermitted],
    });
    assert.deepEqual(dump(raw), dump(decoded));
    assert.equal(raw.fd(300, 1)?.name, "10.0.0.9:40001->10.1.2.3:443");
    assert.equal(
      raw.fd(300, 4)?.name,
      "/etc/ssl/",
      "normalised as decode/ resolvePath does (trailing slash kept)",
    );
    assert.equal(raw.fd(300, 9)?.cloexec, true);
    assert.equal(raw.fd(300, 3), undefined);
    assert.equal(raw.fd(300, 7)?.type, "pipe");
    assert.equal(raw.fd(300, 10)?.name, "memfd:blob");
    assert.equal(raw.process(300)?.cwd, "/root/sub");
    assert.equal(capabilityNames(raw.thread(300)!.capPermitted), "CAP_CHOWN CAP_SYS_ADMIN");
  });
});
