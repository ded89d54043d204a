/**
 * trace open on real containerd containers with the kubelet's CRI labels: a busybox shell
 * in the selected pod opens known paths (absolute, relative to a known cwd, one that does
 * not exist, one it creates) through redirections, so the opening process is the shell whose
 * host pid the test knows and the fds are the ones it lists itself; --prefixes (in the
 * kernel) and --failed keep exactly what they should; other pods and the host are not
 * reported unless selected; a pod started after the gadget is.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
  type RunningPod,
} from "../../../test/helpers/containerd.js";
import {
  runGadget,
  runGadgetWithReady,
  startGadget,
  type GadgetEvent,
} from "../../../test/helpers/gadget.js";
import { kernelSkipReason } from "../../../test/helpers/kernel.js";

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
const skip = kernelSkip ?? (avail.ok ? null : avail.reason);
if (skip) console.log(`# SKIP trace open kernel tests: ${skip}`);

const byPid = (events: GadgetEvent[], pid: number): GadgetEvent[] =>
  events.filter((e) => e["proc.pid"] === pid);
const named = (events: GadgetEvent[], name: string): GadgetEvent[] =>
  events.filter((e) => e["fd.name"] === name);

/** `N -> /path` lines of `ls -l /proc/PID/fd`: the fd a path is open at. */
function fdsListed(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of text.split("\n")) {
    const x = / (\d+) -> (\S+)$/.exec(l);
    if (x) m.set(x[2] as string, Number(x[1]));
  }
  return m;
}

function runHost(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(args[0] as string, args.slice(1), { stdio: "ignore" });
    p.on("error", reject);
    p.on("exit", () => resolve(p.pid ?? 0));
  });
}

describe("trace open", { skip: skip ?? false }, () => {
  let tc: TestContainers;
  let web: RunningPod;
  let db: RunningPod;
  let cWeb: RunningContainer;
  let cDb: RunningContainer;
  let host = "";
  before(async () => {
    host = mkdtempSync(join(tmpdir(), "lanner-open-"));
    for (const d of ["in", "out"]) mkdirSync(join(host, d));
    writeFileSync(join(host, "in", "a.txt"), "a");
    writeFileSync(join(host, "out", "b.txt"), "b");
    const mounts = [{ source: host, destination: "/lanner" }];
    tc = new TestContainers();
    web = await tc.startPod({ name: "open-web-1", namespace: "open-a", labels: { app: "open-web" } });
    db = await tc.startPod({ name: "open-db-1", namespace: "open-b", labels: { app: "open-db" } });
    cWeb = await tc.start({ name: "main", pod: web, mounts });
    cDb = await tc.start({ name: "main", pod: db, mounts });
  });
  after(async () => {
    await tc.cleanup();
    rmSync(host, { recursive: true, force: true });
  });

  test("each selection reports exactly its pods' opens, with exact paths, fds, flags and errors", async () => {
    const inPrefix = startGadget([
      "trace",
      "open",
      "-n",
      "open-a",
      "--prefixes",
      "/lanner/in/,/etc/hostname",
      "-o",
      "json",
    ]);
    const failed = startGadget(["trace", "open", "-n", "open-a", "--failed", "-o", "json"]);
    const byLabel = startGadget([
      "trace",
      "open",
      "-l",
      "app=open-db",
      "--prefixes",
      "/lanner/",
      "-o",
      "json",
    ]);
    const excluding = startGadget([
      "trace",
      "open",
      "--host",
      "-p",
      "!open-web-1",
      "--prefixes",
      "/lanner",
      "-o",
      "json",
    ]);
    const all = await Promise.all([inPrefix, failed, byLabel, excluding]);
    const [a, f, b, x] = all as [
      Awaited<typeof inPrefix>,
      Awaited<typeof failed>,
      Awaited<typeof byLabel>,
      Awaited<typeof excluding>,
    ];
    try {
      await new Promise((r) => setTimeout(r, 1000));
      // the shell opens through redirections (no child), then lists its own fds
      const pidWeb = await tc.execDetached(cWeb, [
        "/bin/sh",
        "-c",
        "sleep 1; exec 3</etc/hostname; cd /lanner/in; exec 4<a.txt; true 5<missing-web; " +
          "echo web >/lanner/in/new-web.txt; exec 6<../out/b.txt; exec 7</lanner/out/b.txt; " +
          "ls -l /proc/$$/fd >/lanner/fds-web; exec sleep 30",
      ]);
      const pidDb = await tc.execDetached(cDb, [
        "/bin/sh",
        "-c",
        "sleep 1; exec 3</lanner/in/a.txt; true 4</lanner/in/missing-db; exec sleep 30",
      ]);
      const pidHost = await runHost(["/bin/cat", "/lanner-missing-host"]);
      // a pod that starts after the gadgets: its first process opens a file
      const late = await tc.startPod({
        name: "open-web-2",
        namespace: "open-a",
        labels: { app: "open-web" },
      });
      const cLate = await tc.start({
        name: "late",
        pod: late,
        command: ["/bin/sh", "-c", "exec 3</etc/hostname; exec sleep 3600"],
      });

      assert.ok(await a.waitFor((e) => e["fd.name"] === "/lanner/in/new-web.txt", 20000), a.stderr());
      assert.ok(await a.waitFor((e) => e["proc.pid"] === cLate.pid), `the later pod: ${a.stderr()}`);
      assert.ok(await f.waitFor((e) => e["fd.name"] === "/lanner/in/missing-web"), f.stderr());
      assert.ok(await b.waitFor((e) => e["fd.name"] === "/lanner/in/missing-db"), b.stderr());
      assert.ok(await x.waitFor((e) => e["fd.name"] === "/lanner/in/missing-db"), x.stderr());
      assert.ok(await x.waitFor((e) => e["fd.name"] === "/lanner-missing-host"), x.stderr());
      // the shell's fds as it listed them itself
      let listing = "";
      for (let i = 0; i < 100 && !listing.includes("/lanner/in/a.txt"); i++) {
        await new Promise((r) => setTimeout(r, 100));
        listing = (() => {
          try {
            return readFileSync(join(host, "fds-web"), "utf8");
          } catch {
            return "";
          }
        })();
      }
      const fds = fdsListed(listing);
      assert.equal(fds.get("/etc/hostname"), 3, listing);
      assert.equal(fds.get("/lanner/in/a.txt"), 4, listing);
      for (const g of all) assert.equal(await g.stop(), 0, g.stderr());

      // -n open-a --prefixes /lanner/in/,/etc/hostname: the web shell's opens under them
      const w = byPid(a.events, pidWeb);
      assert.deepEqual(
        w.map((e) => e["fd.name"]),
        ["/etc/hostname", "/lanner/in/a.txt", "/lanner/in/missing-web", "/lanner/in/new-web.txt"],
        "in order, and not ../out/b.txt nor /lanner/out/b.txt",
      );
      const [hostname, rel, missing, created] = w as [GadgetEvent, GadgetEvent, GadgetEvent, GadgetEvent];
      assert.equal(hostname["fd.num"], fds.get("/etc/hostname"));
      assert.equal(hostname["fd.nameraw"], "/etc/hostname");
      assert.equal(hostname["evt.res"], "SUCCESS");
      assert.equal(hostname["evt.rawres"], 3);
      assert.equal(hostname["open.flags"], "O_RDONLY");
      assert.equal(hostname["open.mode"], null, "no O_CREAT: no mode");
      assert.equal(hostname["evt.type"], "openat");
      assert.equal(hostname["proc.name"], "sh");
      assert.equal(hostname["container.name"], "main");
      assert.equal(hostname["container.id"], cWeb.id.slice(0, 12));
      assert.equal(hostname["k8s.pod.name"], "open-web-1");
      assert.equal(hostname["k8s.ns.name"], "open-a");
      assert.ok(Number(hostname["evt.latency"]) > 0, "the open's latency");
      assert.equal(rel["fd.num"], fds.get("/lanner/in/a.txt"));
      assert.equal(rel["fd.nameraw"], "a.txt", "as the shell passed it, relative to its cwd");
      assert.equal(missing["fd.num"], -1);
      assert.equal(missing["evt.rawres"], -2);
      assert.equal(missing["evt.res"], "ENOENT");
      assert.equal(missing["fd.nameraw"], "missing-web");
      assert.equal(created["open.flags"], "O_WRONLY|O_CREAT|O_TRUNC");
      assert.equal(created["open.mode"], "0666");
      assert.equal(created["evt.res"], "SUCCESS");
      assert.ok(Number(created["fd.num"]) >= 5, String(created["fd.num"]));
      const lateEv = byPid(a.events, cLate.pid);
      assert.deepEqual(
        lateEv.map((e) => e["fd.name"]),
        ["/etc/hostname"],
      );
      assert.equal((lateEv[0] as GadgetEvent)["k8s.pod.name"], "open-web-2");
      assert.equal((lateEv[0] as GadgetEvent)["container.name"], "late");
      assert.equal((lateEv[0] as GadgetEvent)["fd.num"], 3);
      for (const e of a.events) {
        assert.equal(e["k8s.ns.name"], "open-a", JSON.stringify(e));
        const n = String(e["fd.name"]);
        assert.ok(n.startsWith("/lanner/in/") || n.startsWith("/etc/hostname"), n);
      }
      assert.deepEqual(byPid(a.events, pidDb), []);

      // --failed: only the failed open of the web shell (and nothing of db or the host)
      const fw = byPid(f.events, pidWeb);
      assert.deepEqual(
        fw.map((e) => [e["fd.name"], e["evt.res"]]),
        [["/lanner/in/missing-web", "ENOENT"]],
      );
      for (const e of f.events) assert.ok(Number(e["evt.rawres"]) < 0, JSON.stringify(e));
      for (const e of f.events) assert.equal(e["k8s.ns.name"], "open-a", JSON.stringify(e));

      // -l app=open-db --prefixes /lanner/: the db shell only
      assert.deepEqual(
        byPid(b.events, pidDb).map((e) => [e["fd.name"], e["fd.num"], e["evt.res"]]),
        [
          ["/lanner/in/a.txt", 3, "SUCCESS"],
          ["/lanner/in/missing-db", -1, "ENOENT"],
        ],
      );
      for (const e of b.events) assert.equal(e["k8s.pod.name"], "open-db-1", JSON.stringify(e));

      // --host -p !open-web-1 --prefixes /lanner: the host's cat and the db shell; never open-web-1
      const hostEv = named(x.events, "/lanner-missing-host");
      assert.equal(hostEv.length, 1);
      assert.equal((hostEv[0] as GadgetEvent)["proc.pid"], pidHost);
      assert.equal((hostEv[0] as GadgetEvent)["proc.name"], "cat");
      assert.equal((hostEv[0] as GadgetEvent)["container.id"], "host");
      assert.equal((hostEv[0] as GadgetEvent)["evt.res"], "ENOENT");
      assert.equal(byPid(x.events, pidDb).length, 2);
      for (const e of x.events) assert.notEqual(e["k8s.pod.name"], "open-web-1", JSON.stringify(e));
    } finally {
      for (const g of all) await g.stop();
    }
  });

  test("columns output; bad input is exit 2 with the reason", async () => {
    const table = runGadgetWithReady([
      "trace",
      "open",
      "-n",
      "open-a",
      "-c",
      "main",
      "--prefixes",
      "/lanner/in/",
      "--timeout",
      "3",
      "-o",
      "columns=proc.pid,comm,fd.num,open.flags,open.mode,fd.name",
    ]);
    await table.ready;
    await tc.exec(cWeb, ["/bin/sh", "-c", "echo t >/lanner/in/lanner-table.txt"]);
    const r = await table.done;
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.deepEqual(lines[0]?.trim().split(/\s+/), ["PID", "COMM", "FD", "FLAGS", "MODE", "PATH"], r.stdout);
    const row = lines.find((l) => l.includes("/lanner/in/lanner-table.txt"));
    assert.ok(row, r.stdout);
    assert.deepEqual(row.trim().split(/\s+/).slice(1), [
      "sh",
      "3",
      "O_WRONLY|O_CREAT|O_TRUNC",
      "0666",
      "/lanner/in/lanner-table.txt",
    ]);

    const bad: [string[], RegExp][] = [
      [["trace", "open", "--prefixes", "etc"], /--prefixes: 'etc' is not an absolute path/],
      [
        ["trace", "open", "--prefixes", Array.from({ length: 17 }, (_, i) => `/p${i}`).join(",")],
        /--prefixes: at most 16 prefixes, got 17/,
      ],
      [["trace", "open", "--prefixes", `/${"x".repeat(128)}`], /longer than 128 bytes/],
      [["trace", "open", "-o", "columns=fd.name,nope"], /unknown column 'nope'/],
      [["trace", "open", "--filter", "open.nope=1"], /unknown field 'open.nope'/],
      [["trace", "open", "--failed=yes"], /--failed/],
    ];
    for (const [args, re] of bad) {
      const res = await runGadget(args);
      assert.equal(res.code, 2, `${args.join(" ")}: ${res.stderr}`);
      assert.match(res.stderr, re, args.join(" "));
    }
  });
});
