/**
 * Kernel tests: real workloads through the real kernel programs, with exact assertions on
 * what arrives in TypeScript. Skips only with a printed reason (CI runs them as root).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DecodedEvent, ProcEvent, SyscallEvent } from "../decode/event.js";
import { SUPPORTED_SYSCALLS } from "../decode/syscall-params.js";
import { packageRoot } from "./paths.js";
import { kernelSkipReason, openFdCount, recordDuring, workload } from "../../test/helpers/kernel.js";

const skip = kernelSkipReason();
if (skip) console.log(`# SKIP capture kernel tests: ${skip}`);

const sys = (evs: DecodedEvent[], type: string, pid?: number): SyscallEvent[] =>
  evs.filter(
    (e): e is SyscallEvent =>
      e.kind === "syscall" && e.type === type && (pid === undefined || e.tgid === pid),
  );

describe("capture (kernel)", { skip: skip ?? false }, () => {
  let dir = "";
  before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "lanner-cap-")));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("/bin/true exec'd by the test is seen exactly once with pid, ppid, argv, exe path, ret 0", async () => {
    let childPid = 0;
    const rec = await recordDuring({ syscalls: SUPPORTED_SYSCALLS }, async () => {
      const child = spawn("/bin/true", ["lanner-arg1", "arg two"], { stdio: "ignore" });
      childPid = child.pid ?? 0;
      await new Promise((r) => child.on("exit", r));
    });
    const execs = sys(rec.events, "execve", childPid);
    assert.equal(execs.length, 1, `exactly one execve of pid ${childPid}, got ${execs.length}`);
    const ev = execs[0]!;
    assert.equal(ev.ret, 0);
    assert.equal(ev.tgid, childPid);
    const f = rec.fields(ev);
    assert.equal(f["proc.pid"], childPid);
    assert.equal(f["proc.ppid"], process.pid);
    assert.equal(f["evt.res"], "SUCCESS");
    assert.equal(f["proc.exepath"], realpathSync("/bin/true"));
    assert.deepEqual(ev.argv, ["/bin/true", "lanner-arg1", "arg two"]);
    assert.equal(f["proc.name"], "true");
    assert.equal(f["proc.cmdline"], "true lanner-arg1 arg two");
    // the lifecycle record agrees
    const procExec = rec.events.filter((e): e is ProcEvent => e.kind === "exec" && e.tgid === childPid);
    assert.equal(procExec.length, 1);
    assert.equal(procExec[0]!.ppid, process.pid);
    assert.equal(procExec[0]!.exe, realpathSync("/bin/true"));
  });

  test("a temp file opened O_CREAT|O_WRONLY carries its absolute path, flags and fd", async () => {
    const path = join(dir, "created.txt");
    let res: Record<string, number> = {};
    const rec = await recordDuring({ syscalls: ["openat", "open", "close"] }, async () => {
      res = await workload("open-create", path);
    });
    const opens = sys(rec.events, "openat", res["pid"]).filter((e) => rec.fields(e)["fd.name"] === path);
    assert.equal(opens.length, 1);
    const f = rec.fields(opens[0]!);
    assert.equal(f["evt.arg.flags"], "O_WRONLY|O_CREAT|O_CLOEXEC"); // Python adds O_CLOEXEC (PEP 446)
    assert.equal(f["evt.arg.mode"], "S_IRGRP|S_IWUSR|S_IRUSR"); // 0640, named as Falco does
    assert.equal(f["fd.num"], res["fd"]);
    assert.equal(f["evt.rawres"], res["fd"]);
    assert.equal(f["evt.arg.name"], path);
    assert.equal(f["fd.directory"], dir);
    assert.equal(f["fd.filename"], "created.txt");
    const closes = sys(rec.events, "close", res["pid"]).filter((e) => Number(e.args[0]) === res["fd"]);
    assert.ok(closes.length >= 1, "its close is seen");
  });

  test("a failed open of a missing file carries its negative errno", async () => {
    const path = join(dir, "does-not-exist");
    let res: Record<string, number> = {};
    const rec = await recordDuring({ syscalls: ["openat"] }, async () => {
      res = await workload("open-missing", path);
    });
    const opens = sys(rec.events, "openat", res["pid"]).filter((e) => e.paths.get(1) === path);
    assert.equal(opens.length, 1);
    assert.equal(opens[0]!.ret, -2);
    const f = rec.fields(opens[0]!);
    assert.equal(f["evt.res"], "ENOENT");
    assert.equal(f["evt.rawres"], -2);
    assert.equal(f["evt.failed"], true);
  });

  test("relative paths are resolved against the cwd and the dirfd", async () => {
    let res: Record<string, number> = {};
    const rec = await recordDuring({ syscalls: ["openat", "mkdir", "mkdirat", "chdir"] }, async () => {
      res = await workload("relative", dir);
    });
    const byFd = (fd: number | undefined, name: string): SyscallEvent | undefined =>
      sys(rec.events, "openat", res["pid"]).find((e) => e.ret === fd && e.paths.get(1) === name);
    const cwdOpen = byFd(res["fd1"], "rel-cwd.txt");
    assert.ok(cwdOpen, "cwd-relative open seen");
    assert.equal(cwdOpen.paths.get(1), "rel-cwd.txt");
    assert.equal(rec.fields(cwdOpen)["fd.name"], join(dir, "rel-cwd.txt"));
    const dirfdOpen = byFd(res["fd2"], "rel-dirfd.txt");
    assert.ok(dirfdOpen, "dirfd-relative open seen");
    assert.equal(Number(dirfdOpen.args[0]), res["dirfd"]);
    assert.equal(rec.fields(dirfdOpen)["fd.name"], join(dir, "sub", "rel-dirfd.txt"));
    const mk = [...sys(rec.events, "mkdir", res["pid"]), ...sys(rec.events, "mkdirat", res["pid"])];
    assert.equal(mk.length, 1);
    assert.equal(rec.fields(mk[0]!)["fs.path.name"], join(dir, "sub"));
  });

  test("a loopback TCP connect and the matching accept carry addresses and ports", async () => {
    let res: Record<string, number> = {};
    const rec = await recordDuring(
      { syscalls: ["connect", "accept", "accept4", "bind", "listen", "socket"] },
      async () => {
        res = await workload("tcp");
      },
    );
    const conns = sys(rec.events, "connect", res["pid"]).filter(
      (e) => Number(e.args[0]) === res["client_fd"],
    );
    assert.equal(conns.length, 1);
    const c = rec.fields(conns[0]!);
    assert.equal(c["evt.res"], "SUCCESS");
    assert.equal(c["fd.type"], "ipv4");
    assert.equal(c["fd.l4proto"], "tcp");
    assert.equal(c["fd.sip"], "127.0.0.1");
    assert.equal(c["fd.sport"], res["port"]);
    assert.equal(c["fd.cip"], "127.0.0.1");
    assert.equal(c["fd.cport"], res["client_port"]);
    assert.equal(c["evt.arg.addr"], `127.0.0.1:${res["port"]}`);
    assert.equal(c["fd.name"], `127.0.0.1:${res["client_port"]}->127.0.0.1:${res["port"]}`);
    const accepts = [...sys(rec.events, "accept", res["pid"]), ...sys(rec.events, "accept4", res["pid"])];
    assert.equal(accepts.length, 1);
    const a = rec.fields(accepts[0]!);
    assert.equal(a["fd.num"], res["accepted_fd"]);
    assert.equal(a["fd.sip"], "127.0.0.1");
    assert.equal(a["fd.sport"], res["port"]);
    assert.equal(a["fd.cip"], "127.0.0.1");
    assert.equal(a["fd.cport"], res["client_port"]);
    const binds = sys(rec.events, "bind", res["pid"]);
    assert.equal(binds.length, 1);
    assert.equal(rec.fields(binds[0]!)["evt.arg.addr"], "127.0.0.1:0");
  });

  test("unlink, rename, mkdir, symlink and chmod are seen with their arguments", async () => {
    const d = join(dir, "files");
    let res: Record<string, number> = {};
    const rec = await recordDuring(
      {
        syscalls: [
          "unlink",
          "unlinkat",
          "rename",
          "renameat",
          "renameat2",
          "mkdir",
          "mkdirat",
          "symlink",
          "symlinkat",
          "chmod",
          "fchmodat",
        ],
      },
      async () => {
        const { mkdirSync } = await import("node:fs");
        mkdirSync(d);
        res = await workload("files", d);
      },
    );
    const pid = res["pid"];
    const one = (...types: string[]): SyscallEvent => {
      const evs = types.flatMap((t) => sys(rec.events, t, pid));
      assert.equal(evs.length, 1, `one of ${types.join("/")} (got ${evs.length})`);
      return evs[0]!;
    };
    const ren = rec.fields(one("rename", "renameat", "renameat2"));
    assert.equal(ren["fs.path.source"], join(d, "a.txt"));
    assert.equal(ren["fs.path.target"], join(d, "b.txt"));
    assert.equal(ren["evt.res"], "SUCCESS");
    const mk = rec.fields(one("mkdir", "mkdirat"));
    assert.equal(mk["fs.path.name"], join(d, "newdir"));
    assert.equal(mk["evt.arg.mode"], "S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR"); // 0750
    const sl = rec.fields(one("symlink", "symlinkat"));
    assert.equal(sl["evt.arg.target"], "/etc/hostname");
    // libsinsp's table: a symlink has a source (the link) and a target (what it points to), no name
    assert.equal(sl["fs.path.source"], join(d, "link"));
    assert.equal(sl["fs.path.target"], "/etc/hostname");
    assert.equal(sl["fs.path.name"], undefined);
    const ch = rec.fields(one("chmod", "fchmodat"));
    assert.equal(ch["fs.path.name"], join(d, "b.txt"));
    assert.equal(ch["evt.arg.mode"], "S_IWUSR|S_IRUSR"); // 0600
    const un = rec.fields(one("unlink", "unlinkat"));
    assert.equal(un["fs.path.name"], join(d, "b.txt"));
  });

  test("truncate and ftruncate carry the file and the 64-bit length", async () => {
    const d = join(dir, "trunc");
    let res: Record<string, number> = {};
    const rec = await recordDuring({ syscalls: ["truncate", "ftruncate"] }, async () => {
      const { mkdirSync } = await import("node:fs");
      mkdirSync(d);
      res = await workload("truncate", d);
    });
    const [t] = sys(rec.events, "truncate", res["pid"]);
    const [ft] = sys(rec.events, "ftruncate", res["pid"]);
    assert.ok(t && ft, "both seen");
    const tf = rec.fields(t);
    assert.equal(tf["evt.arg.path"], "log.txt");
    assert.equal(tf["fs.path.name"], join(d, "log.txt"), "relative path resolved against the cwd");
    assert.equal(tf["evt.arg.length"], 0);
    assert.equal(tf["evt.res"], "SUCCESS");
    const ff = rec.fields(ft);
    assert.equal(ff["fd.num"], res["fd"]);
    assert.equal(ff["fd.name"], join(d, "log.txt"));
    assert.equal(ff["evt.arg.length"], 5 * 2 ** 30);
  });

  test("setuid, ptrace and memfd_create are seen with their arguments", async () => {
    let su: Record<string, number> = {};
    let pt: Record<string, number> = {};
    let mf: Record<string, number> = {};
    const rec = await recordDuring({ syscalls: ["setuid", "ptrace", "memfd_create"] }, async () => {
      su = await workload("setuid");
      pt = await workload("ptrace");
      mf = await workload("memfd");
    });
    const setuids = sys(rec.events, "setuid", su["child"]);
    assert.equal(setuids.length, 1);
    assert.equal(rec.fields(setuids[0]!)["evt.arg.uid"], 65534);
    assert.equal(setuids[0]!.ret, 0);
    const attaches = sys(rec.events, "ptrace", pt["pid"]).filter(
      (e) => rec.fields(e)["evt.arg.request"] === "PTRACE_ATTACH",
    );
    assert.equal(attaches.length, 1);
    assert.equal(rec.fields(attaches[0]!)["evt.arg.pid"], pt["target"]);
    assert.equal(attaches[0]!.ret, 0);
    const memfds = sys(rec.events, "memfd_create", mf["pid"]);
    assert.equal(memfds.length, 1);
    const m = rec.fields(memfds[0]!);
    assert.equal(m["evt.arg.name"], "lanner-test");
    assert.equal(m["evt.arg.flags"], "MFD_CLOEXEC");
    assert.equal(m["fd.num"], mf["fd"]);
  });

  test("fallback chain: raw_tracepoint programs and all-mode with the interest map give the same events", async () => {
    const cases: ("tp_btf" | "tracepoint")[][] = [["tp_btf"], ["tp_btf", "tracepoint"], ["tracepoint"]];
    for (const avoid of cases) {
      let childPid = 0;
      const path = join(dir, `fallback-${avoid.join("-")}`);
      let res: Record<string, number> = {};
      const rec = await recordDuring({ syscalls: ["execve", "openat"], avoid }, async () => {
        const child = spawn("/bin/true", ["x"], { stdio: "ignore" });
        childPid = child.pid ?? 0;
        await new Promise((r) => child.on("exit", r));
        res = await workload("open-create", path);
      });
      const report = rec.session.report;
      assert.ok(report.fallbacks.length >= 1, `fallback reported for ${avoid.join(",")}`);
      assert.equal(report.mode, avoid.includes("tracepoint") ? "all" : "selected");
      if (avoid.includes("tp_btf")) assert.ok(report.attached.every((a) => a.how !== "tp_btf"));
      const execs = sys(rec.events, "execve", childPid);
      assert.equal(execs.length, 1, `one execve with avoid=${avoid.join(",")}`);
      assert.deepEqual(execs[0]!.argv, ["/bin/true", "x"]);
      const opens = sys(rec.events, "openat", res["pid"]).filter((e) => rec.fields(e)["fd.name"] === path);
      assert.equal(opens.length, 1);
      // the interest map keeps everything else out, in every mode
      const others = rec.events.filter(
        (e) => e.kind === "syscall" && e.type !== "execve" && e.type !== "openat",
      );
      assert.deepEqual(
        others.map((e) => (e as SyscallEvent).type),
        [],
      );
    }
  });

  test("the agent's own syscalls are never traced", async () => {
    const rec = await recordDuring({ syscalls: ["openat"] }, async () => {
      const { readFileSync } = await import("node:fs");
      readFileSync("/etc/hostname");
    });
    assert.equal(rec.events.filter((e) => e.tgid === process.pid).length, 0);
  });

  test("a flood beyond what the consumer takes: drops are counted, capture keeps running, memory bounded", async () => {
    const { execFileSync } = await import("node:child_process");
    const loadgen = join(packageRoot(), "bench/.output/loadgen");
    const rssBefore = process.memoryUsage().rss;
    let seen = 0;
    const { CaptureSession } = await import("./capture-session.js");
    const s = CaptureSession.start({
      syscalls: "all",
      ringBytes: 1 << 18, // 256 KiB: fills in a blink
      onBatch: (_b, _bytes, records) => {
        seen += records;
        // a deliberately slow consumer: 1 ms per batch
        const t = process.hrtime.bigint();
        while (process.hrtime.bigint() - t < 1_000_000n);
      },
    });
    try {
      execFileSync(loadgen, ["getppid", "0.5"]);
      await new Promise((r) => setTimeout(r, 50));
      s.drain();
      const st = s.stats();
      assert.ok(st.dropRing > 0, `ring drops counted (got ${st.dropRing})`);
      assert.equal(
        st.dropRingByCpu.reduce((a, b) => a + b, 0),
        st.dropRing,
      );
      assert.ok(st.delivered > 0);
      assert.equal(st.delivered, seen);
      // still running: a new event arrives after the flood
      const before = s.stats().delivered;
      execFileSync("/bin/true");
      await new Promise((r) => setTimeout(r, 50));
      s.drain();
      assert.ok(s.stats().delivered > before, "capture still delivers after the flood");
    } finally {
      s.close();
    }
    const grown = process.memoryUsage().rss - rssBefore;
    assert.ok(grown < 64 << 20, `RSS grew ${grown >> 20} MiB (bounded by the ring and the batch)`);
  });

  test("a ring filling past the wakeup threshold wakes the consumer long before its timer", async () => {
    const { execFile } = await import("node:child_process");
    const { promisify } = await import("node:util");
    const loadgen = join(packageRoot(), "bench/.output/loadgen");
    let seen = 0;
    const { CaptureSession } = await import("./capture-session.js");
    const t0 = Date.now();
    const s = CaptureSession.start({
      syscalls: "all",
      ringBytes: 4 << 20,
      wakeupBytes: 256 << 10,
      pollMs: 60_000, // the timer cannot be what delivers
      onBatch: (_b, _bytes, records) => (seen += records),
    });
    try {
      // the loop runs in another process while this event loop stays free for wakeups
      await promisify(execFile)(loadgen, ["getppid", "0.3"]);
      await new Promise((r) => setTimeout(r, 100));
      const st = s.stats();
      assert.ok(st.wakeups > 0, "forced wakeups counted");
      assert.ok(seen > 0 && seen === st.delivered, `delivered by wakeups (got ${seen})`);
      // at most one forced wakeup per millisecond per CPU
      const ms = Date.now() - t0 + 1;
      assert.ok(st.wakeups <= ms * st.dropRingByCpu.length, `${st.wakeups} wakeups in ${ms} ms`);
    } finally {
      s.close();
    }
  });

  test("stashEntries sizes the kernel's entry-time stash", async () => {
    const { execFileSync } = await import("node:child_process");
    const { CaptureSession } = await import("./capture-session.js");
    const stashSizes = (): number[] =>
      (
        JSON.parse(execFileSync("bpftool", ["map", "list", "-j"], { encoding: "utf8" })) as {
          name?: string;
          max_entries?: number;
        }[]
      )
        .filter((m) => m.name === "ln_stash")
        .map((m) => m.max_entries ?? 0);
    const before = stashSizes();
    const s = CaptureSession.start({ syscalls: ["openat"], stashEntries: 777, onBatch: () => {} });
    try {
      const now = stashSizes();
      assert.ok(!before.includes(777), "no 777-entry stash before");
      assert.ok(now.includes(777), `a 777-entry ln_stash (sizes ${now.join(",")})`);
    } finally {
      s.close();
    }
  });

  test("a corrupt record in a real batch is skipped and counted in stats().corrupt; the rest arrive", async () => {
    const { CaptureSession } = await import("./capture-session.js");
    const { RecordView, walkBatch } = await import("../decode/record-view.js");
    const { LN_HDR } = await import("./abi.generated.js");
    const view = new RecordView();
    let broken = 0;
    let delivered = 0;
    let walked = 0;
    const s = CaptureSession.start({
      syscalls: ["openat", "close"],
      pollMs: 5,
      onBatch: (batch, bytes, records) => {
        // as memory corruption would: the first record of every batch claims a size it has not
        if (records > 0) {
          batch.writeUInt16LE(batch.readUInt16LE(8 + LN_HDR.SIZE) + 1, 8 + LN_HDR.SIZE);
          broken++;
        }
        delivered += records;
        return walkBatch(view, batch, bytes, () => walked++);
      },
    });
    try {
      await workload("open-missing", join(dir, "nothing-here"));
      await new Promise((r) => setTimeout(r, 50));
      s.drain();
      const st = s.stats();
      assert.ok(broken > 0, "batches arrived");
      assert.equal(st.corrupt, broken);
      assert.equal(view.corrupt, broken);
      assert.equal(walked, delivered - broken, "every other record was still delivered");
    } finally {
      s.close();
    }
  });

  test("close leaks no fds", async () => {
    const before = openFdCount();
    await recordDuring({ syscalls: ["openat"] }, async () => {});
    await recordDuring({ syscalls: "all" }, async () => {});
    assert.equal(openFdCount(), before);
  });
});
