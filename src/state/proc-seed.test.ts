/**
 * Seeding from a fake /proc tree: processes, threads, fds (files, directories, memfds,
 * pipes, TCP sockets on both sides, unix sockets), close-on-exec flags from fdinfo, and
 * processes that vanish mid-read (counted, never fatal). Plus the /proc/net address and
 * tty decoders against values read on a real kernel.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { capabilityNames } from "./capabilities.js";
import { envFromProc, exeWritable, parseProcNetAddr, ttyFromProc, type ExeAccess } from "./proc-seed.js";
import { State } from "./state.js";
import { exec, syscall } from "./test-events.js";

const root = mkdtempSync(join(tmpdir(), "lanner-fakeproc-"));
after(() => rmSync(root, { recursive: true, force: true }));

interface FakeProc {
  pid: number;
  ppid: number;
  comm: string;
  argv: string[];
  exe: string;
  cwd: string;
  threads?: number[];
  fds?: [number, string, number][]; // fd, link target, fdinfo flags (octal number)
  ttyNr?: number;
  session?: number;
  startTicks?: number;
  environ?: string;
}

function status(pid: number, ppid: number, comm: string, nthreads: number, vpid = pid): string {
  return [
    `Name:\t${comm}`,
    `Tgid:\t${pid}`,
    `Pid:\t${pid}`,
    `PPid:\t${ppid}`,
    "Uid:\t1000\t1001\t1001\t1001",
    "Gid:\t100\t101\t101\t101",
    `NSpid:\t${pid}\t${vpid}`,
    `NSpgid:\t${pid}\t${vpid}`,
    `Threads:\t${nthreads}`,
    "CapPrm:\t0000000000200001",
    "CapEff:\t0000000000000001",
    "",
  ].join("\n");
}

function makeProc(p: FakeProc): void {
  const d = join(root, String(p.pid));
  mkdirSync(join(d, "fd"), { recursive: true });
  mkdirSync(join(d, "fdinfo"));
  mkdirSync(join(d, "ns"));
  mkdirSync(join(d, "net"));
  const threads = p.threads ?? [p.pid];
  writeFileSync(join(d, "status"), status(p.pid, p.ppid, p.comm, threads.length, p.pid + 1000));
  // comm with a space and a parenthesis, as real ones can have
  writeFileSync(
    join(d, "stat"),
    `${p.pid} (${p.comm}) S ${p.ppid} ${p.pid} ${p.session ?? p.pid} ${p.ttyNr ?? 0} -1 4194560 0 0 0 0 0 0 0 0 20 0 ${threads.length} 0 ${p.startTicks ?? 250} 0 0\n`,
  );
  writeFileSync(join(d, "cmdline"), p.argv.join("\0") + "\0");
  if (p.environ !== undefined) writeFileSync(join(d, "environ"), p.environ);
  writeFileSync(join(d, "loginuid"), "1000");
  symlinkSync(p.exe, join(d, "exe"));
  symlinkSync(p.cwd, join(d, "cwd"));
  symlinkSync("net:[4026531840]", join(d, "ns", "net"));
  for (const [fd, target, flags] of p.fds ?? []) {
    symlinkSync(target, join(d, "fd", String(fd)));
    writeFileSync(join(d, "fdinfo", String(fd)), `pos:\t0\nflags:\t0${flags.toString(8)}\nmnt_id:\t24\n`);
  }
  for (const tid of threads) {
    mkdirSync(join(d, "task", String(tid)), { recursive: true });
    writeFileSync(
      join(d, "task", String(tid), "status"),
      status(p.pid, p.ppid, p.comm, threads.length, tid + 1000),
    );
  }
}

// /proc/net tables of the namespace (same for every process here)
function netTables(pid: number): void {
  const d = join(root, String(pid), "net");
  writeFileSync(
    join(d, "tcp"),
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7001 1 0 100 0 0 10 0\n" +
      "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 7002 1 0 100 0 0 10 0\n" +
      "   2: 0100007F:C351 0200000A:01BB 01 00000000:00000000 00:00000000 00000000     0        0 7003 1 0 100 0 0 10 0\n",
  );
  writeFileSync(
    join(d, "tcp6"),
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
      "   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7004 1 0 100 0 0 10 0\n",
  );
  writeFileSync(
    join(d, "unix"),
    "Num       RefCount Protocol Flags    Type St Inode Path\n" +
      "0000000000000000: 00000002 00000000 00010000 0001 01 7005 /run/lanner.sock\n" +
      "0000000000000000: 00000003 00000000 00000000 0001 03 7006\n",
  );
}

const O_CLOEXEC = 0o2000000;
const O_DIRECTORY = 0o200000;

makeProc({ pid: 1, ppid: 0, comm: "init", argv: ["/sbin/init"], exe: "/usr/lib/systemd/systemd", cwd: "/" });
makeProc({
  pid: 42,
  ppid: 1,
  comm: "my (app)",
  argv: ["./app", "--port", "8080"],
  exe: "/srv/app (deleted)",
  cwd: "/srv",
  environ: "HOME=/srv\0PATH=/usr/bin:/bin\0EMPTY=\0",
  threads: [42, 43, 44],
  ttyNr: (136 << 8) | 5, // /dev/pts/5
  session: 1,
  startTicks: 1234,
  fds: [
    [0, "/dev/null", 0o100000],
    [3, "/var/log/app.log", 0o2100001 | O_CLOEXEC],
    [4, "/srv", O_DIRECTORY | O_CLOEXEC],
    [5, "socket:[7001]", O_CLOEXEC],
    [6, "socket:[7002]", 0o2],
    [7, "socket:[7003]", 0o2],
    [8, "socket:[7004]", 0o2],
    [9, "socket:[7005]", 0o2],
    [10, "pipe:[9999]", 0],
    [11, "/memfd:blob (deleted)", 0],
    [12, "anon_inode:[eventpoll]", O_CLOEXEC],
    [13, "socket:[123456]", 0],
  ],
});
netTables(42);
makeProc({ pid: 77, ppid: 42, comm: "payload", argv: ["payload"], exe: "/memfd:x (deleted)", cwd: "/tmp" });
// a process that vanished between the readdir of /proc and the read of its files
mkdirSync(join(root, "666"));

describe("seed from /proc", () => {
  const s = new State({ procRoot: root });
  const n = s.seed();

  test("processes are read; one that vanished mid-read is counted, not fatal", () => {
    assert.equal(n, 3);
    assert.equal(s.stats().seedErrors, 1);
    assert.equal(s.stats().size, 3);
  });

  test("process fields: comm with parentheses, argv, exe (deleted), cwd, ids, tty, start, threads", () => {
    const p = s.process(42)!;
    assert.equal(p.comm, "my (app)");
    assert.deepEqual(p.argv, ["./app", "--port", "8080"]);
    assert.equal(p.exe, "./app");
    assert.equal(p.exepath, "/srv/app");
    assert.equal(p.isExeFromMemfd, false);
    assert.equal(p.cwd, "/srv");
    assert.equal(p.ppid, 1);
    assert.equal(p.vpid, 1042);
    assert.equal(p.uid, 1001);
    assert.equal(p.loginuid, 1000);
    assert.equal(p.sid, 1);
    assert.equal(p.tty, (136 << 20) | 5);
    assert.equal(p.startNs, 1234n * 10_000_000n);
    assert.equal(p.nthreads, 3);
    assert.equal(s.thread(43)?.pid, 42);
    assert.equal(s.thread(43)?.vtid, 1043);
    assert.equal(capabilityNames(s.thread(44)!.capPermitted), "CAP_CHOWN CAP_SYS_ADMIN");
    assert.equal(capabilityNames(s.thread(44)!.capEffective), "CAP_CHOWN");
    assert.equal(s.process(77)?.isExeFromMemfd, true);
    assert.equal(s.process(77)?.exepath, "memfd:x", "Falco's form: the memfd's name");
    assert.equal(s.procs.ancestor(s.process(77)!, 2)?.comm, "init");
  });

  test("environment from environ, pgid from stat; unreadable ones are empty and 0", () => {
    const p = s.process(42)!;
    assert.deepEqual(p.env, ["HOME=/srv", "PATH=/usr/bin:/bin", "EMPTY="]);
    assert.equal(p.pgid, 42); // the fake stat's pgrp field
    assert.deepEqual(s.process(77)?.env, []);
    assert.equal(s.process(77)?.exeIno, 0, "an exe link to nothing has no inode");
  });

  test("fds: files, directories, sockets with both roles, unix, pipe, memfd, anon inodes; cloexec from fdinfo", () => {
    const fd = (n: number) => s.fd(42, n)!;
    assert.equal(fd(0).type, "file");
    assert.equal(fd(0).cloexec, false);
    assert.equal(fd(3).name, "/var/log/app.log");
    assert.equal(fd(3).cloexec, true);
    assert.equal(fd(4).type, "directory");
    // listening socket
    assert.equal(fd(5).type, "ipv4");
    assert.equal(fd(5).role, 2);
    assert.equal(fd(5).name, "127.0.0.1:8080");
    assert.equal(fd(5).connected, false);
    // accepted: local port is a listening port -> server side
    assert.equal(fd(6).name, "127.0.0.1:50000->127.0.0.1:8080");
    assert.equal(fd(6).sport, 8080);
    assert.equal(fd(6).cport, 50000);
    // outbound
    assert.equal(fd(7).name, "127.0.0.1:50001->10.0.0.2:443");
    assert.equal(fd(7).sip, "10.0.0.2");
    assert.equal(fd(7).l4proto, "tcp");
    assert.equal(fd(8).type, "ipv6");
    assert.equal(fd(8).lip, "::1");
    assert.equal(fd(8).lport, 80);
    assert.equal(fd(9).type, "unix");
    assert.equal(fd(9).name, "/run/lanner.sock");
    assert.equal(fd(10).type, "pipe");
    assert.equal(fd(11).type, "memfd");
    assert.equal(fd(11).name, "memfd:blob");
    assert.equal(fd(12).type, "eventpoll");
    assert.equal(fd(13).type, "socket", "a socket in no table (netlink, packet, gone) stays a socket");
  });

  test("exec drops the seeded close-on-exec fds", () => {
    s.apply(syscall("getpid", 42));
    const before = s.process(42)!.fds.size;
    s.apply(exec(42, "/srv/app2", ["app2"], { ppid: 1 }));
    assert.equal(s.process(42)!.fds.size, before - 4);
    assert.equal(s.fd(42, 3), undefined);
    assert.equal(s.fd(42, 6)?.sport, 8080);
    assert.equal(s.process(42)!.cwd, "/srv");
  });

  test("a pid first seen in an event is read from /proc once; a missing one is not retried at once", () => {
    const s2 = new State({ procRoot: root });
    assert.equal(s2.process(77)?.comm, "payload");
    assert.equal(s2.stats().lazyReads, 1);
    assert.equal(s2.process(31337), undefined);
    assert.equal(s2.process(31337), undefined);
    assert.equal(s2.stats().seedErrors, 1, "the second lookup of a missing pid does not read /proc again");
  });
});

test("seedAsync reads the same as seed, in slices", async () => {
  const a = new State({ procRoot: root });
  const n = await a.seedAsync(0); // one process per slice
  assert.equal(n, 3);
  assert.equal(a.stats().seedErrors, 1);
  assert.equal(a.fd(42, 7)?.sip, "10.0.0.2");
});

describe("EXE_WRITABLE from user space (Falco's rule)", () => {
  const base: ExeAccess = {
    mode: 0o100755,
    uid: 0,
    gid: 0,
    readOnly: false,
    immutable: false,
    fsuid: 1000,
    fsgid: 1000,
    groups: [],
    capEffective: 0n,
    uidMap: null,
    gidMap: null,
  };
  const w = (o: Partial<ExeAccess>): boolean => exeWritable({ ...base, ...o });
  test("owner, group (fsgid or a supplementary group) and other bits", () => {
    assert.equal(w({}), false);
    assert.equal(w({ uid: 1000, mode: 0o100555 }), true, "the owner may chmod it");
    assert.equal(w({ mode: 0o100757 }), true, "other bits rwx");
    assert.equal(w({ mode: 0o100775 }), false, "group bits, not in the group");
    assert.equal(w({ mode: 0o100775, gid: 1000 }), true, "group bits, fsgid");
    assert.equal(w({ mode: 0o100775, gid: 27, groups: [4, 27] }), true, "group bits, supplementary group");
    assert.equal(w({ mode: 0o100757, gid: 27, groups: [27] }), false, "in the group: its bits, not other's");
  });
  test("read-only superblock, immutable inode, unmapped ids", () => {
    assert.equal(w({ uid: 1000, readOnly: true }), false);
    assert.equal(
      w({ mode: 0o20666, readOnly: true }),
      true,
      "a device node on a read-only fs stays writable",
    );
    assert.equal(w({ uid: 1000, immutable: true }), false);
    assert.equal(w({ uid: 0xffffffff, mode: 0o100777 }), false);
  });
  test("CAP_DAC_OVERRIDE needs uid and gid mapped, CAP_FOWNER the uid only", () => {
    const dac = 1n << 1n;
    const fowner = 1n << 3n;
    assert.equal(w({ capEffective: dac }), true, "no user namespace: everything maps");
    const uidMap = "         0     100000      65536\n";
    assert.equal(w({ capEffective: dac, uidMap, gidMap: uidMap }), false, "uid 0 of the host is unmapped");
    assert.equal(w({ capEffective: dac, uid: 100000, gid: 100000, uidMap, gidMap: uidMap }), true);
    assert.equal(w({ capEffective: fowner, uid: 100000, gid: 7, uidMap, gidMap: uidMap }), true);
    assert.equal(w({ capEffective: dac, uid: 100000, gid: 7, uidMap, gidMap: uidMap }), false);
  });
});

describe("/proc decoders", () => {
  test("environ is bounded like the kernel's LN_T_ENV: 4096 bytes, the last string cut", () => {
    assert.deepEqual(envFromProc(Buffer.from("A=1\0B=2\0")), ["A=1", "B=2"]);
    assert.deepEqual(envFromProc(Buffer.alloc(0)), []);
    const long = Buffer.from(`X=${"x".repeat(5000)}\0Y=1\0`);
    const env = envFromProc(long);
    assert.equal(env.length, 1);
    assert.equal(env[0], `X=${"x".repeat(4093)}`); // 4095 bytes, then the NUL at 4095
  });

  test("/proc/net addresses: IPv4 and IPv6 as the kernel prints them on little-endian hosts", () => {
    assert.deepEqual(parseProcNetAddr("0100007F:1F90"), { ip: "127.0.0.1", port: 8080 });
    assert.deepEqual(parseProcNetAddr("00000000000000000000000001000000:0050"), { ip: "::1", port: 80 });
    assert.deepEqual(parseProcNetAddr("0000000000000000FFFF00000100007F:0016"), {
      ip: "127.0.0.1",
      port: 22,
    });
    assert.deepEqual(parseProcNetAddr("B80D0120000000000000000001000000:01BB"), {
      ip: "2001:db8::1",
      port: 443,
    });
  });

  test("tty_nr to major << 20 | minor", () => {
    assert.equal(ttyFromProc((136 << 8) | 5), (136 << 20) | 5);
    assert.equal(ttyFromProc((4 << 8) | 1), (4 << 20) | 1);
    // minor 300 of major 136: low 8 bits of the minor, then the major, then the minor's high bits
    assert.equal(ttyFromProc((300 & 0xff) | (136 << 8) | ((300 & ~0xff) << 12)), (136 << 20) | 300);
    assert.equal(ttyFromProc(0), 0);
  });
});

describe("seed from the real /proc", () => {
  test("this process: exe, cwd, ppid, threads, an open file and a listening TCP socket; churn never throws", async () => {
    const { createServer } = await import("node:net");
    const { openSync, closeSync, realpathSync } = await import("node:fs");
    const { spawn } = await import("node:child_process");
    const file = join(root, "open-me.txt");
    writeFileSync(file, "x");
    const fd = openSync(file, "r");
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    // processes that come and go while /proc is read
    const churn = spawn("/bin/sh", ["-c", "for i in $(seq 100); do /bin/true & done; wait"]);
    try {
      const s = new State();
      s.seed();
      const me = s.process(process.pid)!;
      assert.ok(me, "this process is in the table");
      assert.equal(me.exepath, realpathSync(process.execPath));
      assert.equal(me.cwd, process.cwd());
      assert.equal(me.ppid, process.ppid);
      assert.ok(me.nthreads >= 1);
      assert.equal(s.thread(process.pid)?.pid, process.pid);
      const f = s.fd(process.pid, fd)!;
      assert.equal(f.name, file);
      assert.equal(f.type, "file");
      assert.equal(f.cloexec, true, "Node opens files with O_CLOEXEC");
      const listeners = me.fds.entries().filter(([, i]) => i.type === "ipv4" && i.lport === port);
      assert.equal(listeners.length, 1);
      const l = listeners[0]![1];
      assert.equal(l.role, 2);
      assert.equal(l.lip, "127.0.0.1");
      assert.equal(l.l4proto, "tcp");
      assert.equal(l.connected, false);
      assert.equal(l.name, `127.0.0.1:${port}`);
    } finally {
      closeSync(fd);
      server.close();
      await new Promise((r) => churn.on("exit", r));
    }
  });
});
