/**
 * trace signal on real containerd containers with the kubelet's CRI labels: a busybox shell
 * (kill is a shell builtin, so the sender is the shell whose host pid the test knows) sends
 * SIGUSR1 and SIGKILL to known processes of its container, by their pids in the container's
 * pid namespace, and SIGUSR1 to a pid that does not exist (ESRCH); the host sends one too.
 * Each selection reports exactly its pods' signals (a pod started after the gadget
 * included), --kill-only, --failed-only, --signal and --pid keep what they should; the host
 * sends with pidfd_send_signal and rt_sigqueueinfo too.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
  type RunningPod,
} from "../../../test/helpers/containerd.js";
import { runGadget, startGadget, type GadgetEvent } from "../../../test/helpers/gadget.js";
import { kernelSkipReason, PYTHON } from "../../../test/helpers/kernel.js";

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
const skip = kernelSkip ?? (avail.ok ? null : avail.reason);
if (skip) console.log(`# SKIP trace signal kernel tests: ${skip}`);

type GP = Awaited<ReturnType<typeof startGadget>>;

const byPid = (events: GadgetEvent[], pid: number): GadgetEvent[] =>
  events.filter((e) => e["proc.pid"] === pid);
/** What the tests compare: syscall, signal, target, result. */
const sent = (e: GadgetEvent): unknown[] => [
  e["evt.type"],
  e["signal.num"],
  e["signal.name"],
  e["signal.tpid"],
  e["signal.thostpid"],
  e["evt.res"],
];

/** A process's pid in its own (innermost) pid namespace, from the host's /proc. */
function nsPid(hostPid: number): number {
  const line = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${hostPid}/status`, "utf8"))?.[1] ?? "";
  return Number(line.trim().split(/\s+/).pop());
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 1000));

describe("trace signal", { skip: skip ?? false }, () => {
  let tc: TestContainers;
  let web: RunningPod;
  let db: RunningPod;
  let cWeb: RunningContainer;
  let cDb: RunningContainer;
  before(async () => {
    tc = new TestContainers();
    web = await tc.startPod({ name: "signal-web-1", namespace: "sig-a", labels: { app: "signal-web" } });
    db = await tc.startPod({ name: "signal-db-1", namespace: "sig-b", labels: { app: "signal-db" } });
    cWeb = await tc.start({ name: "main", pod: web });
    cDb = await tc.start({ name: "main", pod: db });
  });
  after(async () => {
    await tc.cleanup();
  });

  /** In signal-web-1: a shell sends SIGUSR1 and SIGKILL to two sleeps and SIGUSR1 to a missing pid. */
  async function webKills(): Promise<{
    target: number;
    victim: number;
    t: number;
    v: number;
    sender: number;
  }> {
    const target = await tc.execDetached(cWeb, ["sleep", "3600"]);
    const victim = await tc.execDetached(cWeb, ["sleep", "3601"]);
    const [t, v] = [nsPid(target), nsPid(victim)];
    const sender = await tc.execDetached(cWeb, [
      "/bin/sh",
      "-c",
      `sleep 1; kill -USR1 ${t}; kill -9 ${v}; kill -USR1 99999; exec sleep 30`,
    ]);
    return { target, victim, t, v, sender };
  }

  test("each selection reports exactly its pods' signals, with exact signals, targets and results", async () => {
    const gadgets = await Promise.all([
      startGadget(["trace", "signal", "-n", "sig-a", "-o", "json"]),
      startGadget(["trace", "signal", "-l", "app=signal-db", "-o", "json"]),
      startGadget(["trace", "signal", "--host", "-p", "!signal-web-1", "-o", "json"]),
    ]);
    const [a, b, x] = gadgets as [GP, GP, GP];
    try {
      await settle();
      const { target, victim, t, v, sender } = await webKills();
      const dbTarget = await tc.execDetached(cDb, ["sleep", "3602"]);
      const dt = nsPid(dbTarget);
      const dbSender = await tc.execDetached(cDb, [
        "/bin/sh",
        "-c",
        `sleep 1; kill -TERM ${dt}; exec sleep 30`,
      ]);
      // the host: kill, rt_sigqueueinfo and pidfd_send_signal to a process of its own
      const hostTarget = spawn("/bin/sleep", ["3603"], { stdio: "ignore" });
      const ht = hostTarget.pid ?? 0;
      const { stdout } = await promisify(execFile)(PYTHON, [
        "-c",
        [
          "import ctypes, os, signal",
          "libc = ctypes.CDLL(None, use_errno=True)",
          `os.kill(${ht}, signal.SIGCONT)`,
          "info = ctypes.create_string_buffer(128)",
          "ctypes.memmove(info, (ctypes.c_int * 3)(signal.SIGCONT, 0, -1), 12)",
          `libc.syscall(129, ${ht}, signal.SIGCONT, info)`,
          `fd = os.pidfd_open(${ht})`,
          "signal.pidfd_send_signal(fd, signal.SIGCONT)",
          "print(os.getpid())",
        ].join("\n"),
      ]);
      const hostSender = Number(stdout.trim());
      // a pod that starts after the gadgets: its shell (pid 1 in the pod) checks on itself
      const late = await tc.startPod({
        name: "signal-web-2",
        namespace: "sig-a",
        labels: { app: "signal-web" },
      });
      const cLate = await tc.start({
        name: "late",
        pod: late,
        command: ["/bin/sh", "-c", "kill -0 1; exec sleep 3600"],
      });

      assert.ok(
        await a.waitFor((e) => e["proc.pid"] === sender && e["evt.res"] === "ESRCH", 20000),
        a.stderr(),
      );
      assert.ok(await a.waitFor((e) => e["proc.pid"] === cLate.pid), `the later pod: ${a.stderr()}`);
      assert.ok(await b.waitFor((e) => e["proc.pid"] === dbSender), b.stderr());
      assert.ok(
        await x.waitFor((e) => e["evt.type"] === "pidfd_send_signal" && e["proc.pid"] === hostSender),
        x.stderr(),
      );
      assert.ok(await x.waitFor((e) => e["proc.pid"] === cLate.pid), x.stderr());
      for (const g of gadgets) assert.equal(await g.stop(), 0, g.stderr());
      hostTarget.kill("SIGKILL");

      // -n sig-a: the shell's three kills, in order, with their targets' host pids and names
      const s = byPid(a.events, sender).filter((e) => e["evt.type"] === "kill");
      assert.deepEqual(s.map(sent), [
        ["kill", 10, "SIGUSR1", t, target, "SUCCESS"],
        ["kill", 9, "SIGKILL", v, victim, "SUCCESS"],
        ["kill", 10, "SIGUSR1", 99999, null, "ESRCH"],
      ]);
      const [usr1Ev, killEv, esrch] = s as [GadgetEvent, GadgetEvent, GadgetEvent];
      assert.equal(usr1Ev["signal.tcomm"], "sleep");
      assert.equal(usr1Ev["proc.name"], "sh");
      assert.equal(usr1Ev["signal.ttid"], null);
      assert.equal(usr1Ev["evt.rawres"], 0);
      assert.equal(usr1Ev["k8s.pod.name"], "signal-web-1");
      assert.equal(usr1Ev["k8s.ns.name"], "sig-a");
      assert.equal(usr1Ev["container.name"], "main");
      assert.equal(usr1Ev["container.id"], cWeb.id.slice(0, 12));
      assert.equal(killEv["signal.tpid"], v);
      assert.equal(esrch["evt.rawres"], -3);
      assert.equal(esrch["signal.tcomm"], null);
      const lateEv = byPid(a.events, cLate.pid).filter((e) => e["evt.type"] === "kill");
      assert.deepEqual(lateEv.map(sent), [["kill", 0, null, 1, cLate.pid, "SUCCESS"]]);
      assert.equal((lateEv[0] as GadgetEvent)["k8s.pod.name"], "signal-web-2");
      assert.equal((lateEv[0] as GadgetEvent)["signal.tcomm"], "sh");
      for (const e of a.events) assert.equal(e["k8s.ns.name"], "sig-a", JSON.stringify(e));
      assert.deepEqual(byPid(a.events, dbSender), []);
      assert.deepEqual(byPid(a.events, hostSender), []);

      // -l app=signal-db: the db shell's SIGTERM only
      assert.deepEqual(b.events.filter((e) => e["evt.type"] === "kill").map(sent), [
        ["kill", 15, "SIGTERM", dt, dbTarget, "SUCCESS"],
      ]);
      for (const e of b.events) assert.equal(e["k8s.pod.name"], "signal-db-1", JSON.stringify(e));

      // --host -p !signal-web-1: the host's kill, rt_sigqueueinfo and pidfd_send_signal (the pidfd's
      // target from its pidfd_open), db's and the later pod's; nothing of signal-web-1
      assert.deepEqual(byPid(x.events, hostSender).map(sent), [
        ["kill", 18, "SIGCONT", ht, ht, "SUCCESS"],
        ["rt_sigqueueinfo", 18, "SIGCONT", ht, ht, "SUCCESS"],
        ["pidfd_send_signal", 18, "SIGCONT", ht, ht, "SUCCESS"],
      ]);
      assert.equal((byPid(x.events, hostSender)[0] as GadgetEvent)["container.id"], "host");
      assert.equal((byPid(x.events, hostSender)[0] as GadgetEvent)["signal.tcomm"], "sleep");
      assert.equal(byPid(x.events, dbSender).filter((e) => e["evt.type"] === "kill").length, 1);
      assert.equal(byPid(x.events, cLate.pid).filter((e) => e["evt.type"] === "kill").length, 1);
      for (const e of x.events) assert.notEqual(e["k8s.pod.name"], "signal-web-1", JSON.stringify(e));
    } finally {
      for (const g of gadgets) await g.stop();
    }
  });

  test("--kill-only, --failed-only and --signal keep exactly their signals", async () => {
    const gadgets = await Promise.all([
      startGadget(["trace", "signal", "-n", "sig-a", "--kill-only", "-o", "json"]),
      startGadget(["trace", "signal", "-n", "sig-a", "--failed-only", "-o", "json"]),
      startGadget(["trace", "signal", "-n", "sig-a", "--signal", "usr1", "-o", "json"]),
    ]);
    const [kill, failed, usr1] = gadgets as [GP, GP, GP];
    try {
      await settle();
      const { target, victim, t, v, sender } = await webKills();
      assert.ok(await failed.waitFor((e) => e["proc.pid"] === sender, 20000), failed.stderr());
      for (const g of [kill, usr1]) assert.ok(await g.waitFor((e) => e["proc.pid"] === sender), g.stderr());
      await new Promise((r) => setTimeout(r, 500));
      for (const g of gadgets) assert.equal(await g.stop(), 0, g.stderr());
      assert.deepEqual(kill.events.map(sent), [["kill", 9, "SIGKILL", v, victim, "SUCCESS"]]);
      assert.deepEqual(failed.events.map(sent), [["kill", 10, "SIGUSR1", 99999, null, "ESRCH"]]);
      assert.deepEqual(usr1.events.map(sent), [
        ["kill", 10, "SIGUSR1", t, target, "SUCCESS"],
        ["kill", 10, "SIGUSR1", 99999, null, "ESRCH"],
      ]);
    } finally {
      for (const g of gadgets) await g.stop();
    }
  });

  test("--pid: signals to one target, by its pid in the pod or on the host", async () => {
    const target = await tc.execDetached(cWeb, ["sleep", "3604"]);
    const other = await tc.execDetached(cWeb, ["sleep", "3605"]);
    const [t, o] = [nsPid(target), nsPid(other)];
    const byHost = await startGadget([
      "trace",
      "signal",
      "-n",
      "sig-a",
      "--pid",
      String(target),
      "-o",
      "json",
    ]);
    const byNs = await startGadget(["trace", "signal", "-n", "sig-a", "--pid", String(t), "-o", "json"]);
    try {
      await settle();
      const sender = await tc.execDetached(cWeb, [
        "/bin/sh",
        "-c",
        `sleep 1; kill -USR2 ${o}; kill -HUP ${t}; exec sleep 30`,
      ]);
      for (const g of [byHost, byNs]) assert.ok(await g.waitFor((e) => e["proc.pid"] === sender), g.stderr());
      for (const g of [byHost, byNs]) assert.equal(await g.stop(), 0);
      for (const g of [byHost, byNs])
        assert.deepEqual(g.events.map(sent), [["kill", 1, "SIGHUP", t, target, "SUCCESS"]]);
    } finally {
      for (const g of [byHost, byNs]) await g.stop();
    }
  });

  test("bad input is exit 2 with the reason", async () => {
    const bad: [string[], RegExp][] = [
      [["trace", "signal", "--signal", "SIGNOPE"], /--signal: 'SIGNOPE' is not a signal/],
      [["trace", "signal", "--signal", "65"], /--signal: '65' is not a signal/],
      [["trace", "signal", "--pid", "x"], /--pid: expected an integer, got 'x'/],
      [["trace", "signal", "-o", "columns=signal.nope"], /unknown column 'signal.nope'/],
      [["trace", "signal", "--filter", "signal.num>"], /--filter:1:/],
    ];
    for (const [args, re] of bad) {
      const res = await runGadget(args);
      assert.equal(res.code, 2, `${args.join(" ")}: ${res.stderr}`);
      assert.match(res.stderr, re, args.join(" "));
    }
  });
});
