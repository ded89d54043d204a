/**
 * trace exec on real containerd containers with the kubelet's CRI labels: the execs of the
 * selected pods are reported with their exact pids, arguments and results; other pods and
 * the host are not (dropped in the kernel); a pod started after the gadget is picked up.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
  type RunningPod,
} from "../../../test/helpers/containerd.js";
import {
  startGadget,
  runGadget,
  runGadgetWithReady,
  type GadgetEvent,
} from "../../../test/helpers/gadget.js";
import { kernelSkipReason } from "../../../test/helpers/kernel.js";

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
const skip = kernelSkip ?? (avail.ok ? null : avail.reason);
if (skip) console.log(`# SKIP trace exec kernel tests: ${skip}`);

const marked = (events: GadgetEvent[], marker: string): GadgetEvent[] =>
  events.filter((e) => String(e["exec.args"] ?? "").includes(marker));

function runHost(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(args[0] as string, args.slice(1), { stdio: "ignore" });
    p.on("error", reject);
    p.on("exit", () => resolve(p.pid ?? 0));
  });
}

describe("trace exec", { skip: skip ?? false }, () => {
  let tc: TestContainers;
  let web: RunningPod;
  let db: RunningPod;
  let cWeb: RunningContainer;
  let cDb: RunningContainer;
  before(async () => {
    tc = new TestContainers();
    web = await tc.startPod({ name: "web-1", namespace: "team-a", labels: { app: "web", tier: "front" } });
    db = await tc.startPod({ name: "db-1", namespace: "team-b", labels: { app: "db" } });
    cWeb = await tc.start({ name: "main", pod: web, image: "docker.io/library/busybox:1.36" });
    cDb = await tc.start({ name: "main", pod: db, image: "docker.io/library/busybox:1.36" });
  });
  after(async () => {
    await tc.cleanup();
  });

  test("each selection reports exactly its pods' execs, with exact values; a later pod is picked up", async () => {
    const byNs = await startGadget(["trace", "exec", "-n", "team-a", "-o", "json"]);
    const byLabel = await startGadget(["trace", "exec", "-l", "app=db", "-o", "json"]);
    const excluding = await startGadget(["trace", "exec", "--host", "-p", "!web-1", "-o", "json"]);
    const byName = await startGadget(["trace", "exec", "-c", "late", "--ignore-failed", "-o", "json"]);
    const all = [byNs, byLabel, excluding, byName];
    try {
      // sh -c 'sleep 30' MARKER: the marker is sh's $0; sh then re-executes busybox (/proc/self/exe) as sleep
      const pidWeb = await tc.execDetached(cWeb, ["/bin/sh", "-c", "sleep 30", "lanner-web"]);
      const pidDb = await tc.execDetached(cDb, ["/bin/sh", "-c", "sleep 30", "lanner-db"]);
      const pidHost = await runHost(["/bin/sleep", "0.01", "lanner-host"]);
      // a failed execve inside the web container (runc itself refuses missing programs
      // before any execve, so a shell tries)
      await tc.exec(cWeb, ["/bin/sh", "-c", "/bin/lanner-missing x; true"]);
      // a pod that starts after the gadgets
      const late = await tc.startPod({ name: "web-2", namespace: "team-a", labels: { app: "web" } });
      const cLate = await tc.start({
        name: "late",
        pod: late,
        command: ["/bin/sh", "-c", "sleep 3600", "lanner-late"],
      });

      const got = await byNs.waitFor((e) => String(e["exec.args"]).includes("lanner-late"));
      assert.ok(got, `trace exec -n team-a saw the later pod's first process: ${byNs.stderr()}`);
      await excluding.waitFor((e) => String(e["exec.args"]).includes("lanner-late"));
      await byName.waitFor((e) => String(e["exec.args"]).includes("lanner-late"));
      await byLabel.waitFor((e) => String(e["exec.args"]).includes("lanner-db"));
      await byNs.waitFor((e) => e["exec.args"] === "/bin/lanner-missing x");
      for (const g of all) assert.equal(await g.stop(), 0, g.stderr());

      // -n team-a: the web pod's exec, its failed exec, the later pod; nothing else
      const a = byNs.events;
      const web1 = marked(a, "lanner-web");
      assert.equal(web1.length, 1, "one exec of lanner-web");
      const w = web1[0] as GadgetEvent;
      assert.equal(w["proc.pid"], pidWeb);
      assert.equal(w["proc.name"], "sh");
      assert.equal(w["exec.args"], "/bin/sh -c sleep 30 lanner-web");
      assert.equal(w["proc.cmdline"], "sh -c sleep 30 lanner-web");
      assert.equal(w["proc.exepath"], "/bin/busybox", "the executable behind the applet's link");
      assert.equal(w["evt.rawres"], 0);
      assert.equal(w["evt.res"], "SUCCESS");
      assert.equal(w["container.name"], "main");
      assert.equal(w["container.id"], cWeb.id.slice(0, 12));
      assert.equal(w["container.image"], "docker.io/library/busybox:1.36");
      assert.equal(w["k8s.pod.name"], "web-1");
      assert.equal(w["k8s.ns.name"], "team-a");
      assert.match(String(w["k8s.pod.labels"]), /app:web/);
      assert.equal(w["proc.is_exe_upper_layer"], false);
      const status = readFileSync(`/proc/${pidWeb}/status`, "utf8");
      assert.equal(w["user.uid"], Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]));
      const missing = a.filter((e) => e["exec.args"] === "/bin/lanner-missing x");
      assert.equal(missing.length, 1, "the failed exec is reported");
      assert.equal((missing[0] as GadgetEvent)["evt.rawres"], -2);
      assert.equal((missing[0] as GadgetEvent)["evt.res"], "ENOENT");
      assert.equal((missing[0] as GadgetEvent)["exec.args"], "/bin/lanner-missing x");
      assert.equal((missing[0] as GadgetEvent)["k8s.pod.name"], "web-1");
      assert.equal((missing[0] as GadgetEvent)["proc.name"], "sh", "the shell's child that tried");
      assert.equal((missing[0] as GadgetEvent)["proc.exepath"], null, "no new image");
      const lateEv = marked(a, "lanner-late");
      assert.equal(lateEv.length, 1);
      assert.equal((lateEv[0] as GadgetEvent)["proc.pid"], cLate.pid, "the later container's first process");
      assert.equal((lateEv[0] as GadgetEvent)["container.name"], "late");
      assert.equal((lateEv[0] as GadgetEvent)["k8s.pod.name"], "web-2");
      assert.deepEqual(marked(a, "lanner-db"), []);
      assert.deepEqual(marked(a, "lanner-host"), []);
      for (const e of a) assert.equal(e["k8s.ns.name"], "team-a", `only team-a: ${JSON.stringify(e)}`);

      // -l app=db: the db pod only
      const b = byLabel.events;
      assert.equal(marked(b, "lanner-db").length, 1);
      assert.equal((marked(b, "lanner-db")[0] as GadgetEvent)["proc.pid"], pidDb);
      for (const e of b) assert.equal(e["k8s.pod.name"], "db-1", `only the db pod: ${JSON.stringify(e)}`);

      // --host -p !web-1: the host, the db pod and the later pod; never web-1
      const x = excluding.events;
      // (the host's own ctr and runc command lines name the markers too: those are host events)
      const inPods = x.filter((e) => e["container.id"] !== "host");
      const h = marked(x, "lanner-host").filter((e) => e["proc.name"] === "sleep");
      assert.equal(h.length, 1);
      assert.equal((h[0] as GadgetEvent)["proc.pid"], pidHost);
      assert.equal((h[0] as GadgetEvent)["proc.ppid"], process.pid);
      assert.equal((h[0] as GadgetEvent)["proc.pname"], "node");
      assert.equal((h[0] as GadgetEvent)["container.id"], "host");
      assert.equal(marked(inPods, "lanner-db").length, 1);
      assert.equal(marked(inPods, "lanner-late").length, 1);
      for (const e of x) assert.notEqual(e["k8s.pod.name"], "web-1", `web-1 excluded: ${JSON.stringify(e)}`);

      // -c late --ignore-failed: the later container only
      const n = byName.events;
      assert.equal(marked(n, "lanner-late").length, 1);
      for (const e of n) assert.equal(e["container.name"], "late");
      for (const e of n) assert.equal(e["evt.rawres"], 0);
    } finally {
      for (const g of all) await g.stop();
    }
  });

  test("unselected processes are dropped in the kernel: a burst of host execs never reaches the gadget", async () => {
    const g = await startGadget(["trace", "exec", "-n", "team-a", "-o", "json"]);
    try {
      for (let i = 0; i < 100; i++) await runHost(["/bin/true", `lanner-burst-${i}`]);
      await tc.exec(cWeb, ["/bin/true", "lanner-after-burst"]);
      assert.ok(await g.waitFor((e) => String(e["exec.args"]).includes("lanner-after-burst")));
    } finally {
      assert.equal(await g.stop(), 0);
    }
    const stats = /lanner: stats .*not_selected=(\d+)/.exec(g.stderr());
    assert.ok(stats, `a stats line at exit: ${g.stderr()}`);
    // the host's namespace is marked "drop" before the first event: none of the 100 arrive
    assert.ok(Number(stats[1]) < 10, `host execs reached user space: ${stats[0]}`);
    assert.deepEqual(marked(g.events, "lanner-burst"), []);
  });

  test("columns output fits the selected columns; bad input is exit 2 with the reason", async () => {
    const table = runGadgetWithReady([
      "trace",
      "exec",
      "-n",
      "team-a",
      "--timeout",
      "3",
      "-o",
      "columns=proc.pid,comm,k8s,exec.args",
    ]);
    const plus = runGadgetWithReady([
      "trace",
      "exec",
      "-n",
      "team-a",
      "--timeout",
      "3",
      "-o",
      "columns=+proc.exepath,-k8s",
    ]);
    await Promise.all([table.ready, plus.ready]);
    await tc.exec(cWeb, ["/bin/sh", "-c", "true", "lanner-table"]);
    for (const [r, header, cells] of [
      [
        await table.done,
        ["PID", "COMM", "NODE", "NAMESPACE", "POD", "CONTAINER", "LABELS", "ARGS"],
        ["sh", "team-a", "web-1", "main"],
      ],
      [await plus.done, ["PID", "PPID", "COMM", "PCOMM", "RET", "ARGS", "EXEPATH"], ["sh", "/bin/busybox"]],
    ] as const) {
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split("\n");
      assert.deepEqual(lines[0]?.trim().split(/\s+/), header, r.stdout);
      const row = lines.find((l) => l.includes("lanner-table"));
      assert.ok(row, r.stdout);
      for (const c of cells) assert.ok(row.split(/\s+/).includes(c), `${c} in ${row}`);
    }
    const bad: [string[], RegExp][] = [
      [["trace", "nope"], /unknown gadget 'nope'/],
      [["trace", "exec", "-o", "columns=proc.pid,nope"], /unknown column 'nope'/],
      [["trace", "exec", "--filter", "proc.nope=1"], /--filter:1:1: error: unknown field 'proc.nope'/],
      [["trace", "exec", "--filter", "proc.name="], /--filter:1:11: error/],
      [["trace", "exec", "-l", "=web"], /--selector: selector requirement '=web' has no key/],
      [["trace", "exec", "--timeout", "x"], /--timeout: expected a positive number/],
      [["trace", "exec", "--bogus"], /Unknown option '--bogus'/],
      [["trace", "exec", "-n", "a", "-A"], /exclude each other/],
    ];
    for (const [args, re] of bad) {
      const b = await runGadget(args);
      assert.equal(b.code, 2, `${args.join(" ")}: ${b.stderr}`);
      assert.match(b.stderr, re, args.join(" "));
    }
  });
});
