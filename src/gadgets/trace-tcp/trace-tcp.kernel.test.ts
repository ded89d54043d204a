/**
 * trace tcp on real containerd containers: busybox nc servers and clients over 127.0.0.1 and
 * [::1] inside a pod's network namespace. Connects, accepts and closes are reported with
 * their exact pids, addresses and ports (the client's ephemeral port read back from
 * /proc/PID/net/tcp), a refused connect with ECONNREFUSED; each close once, by the process
 * that closed; each selection gets exactly its pods' connections, a pod started after the
 * gadget included, the host's only with --host.
 */
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
  type RunningPod,
} from "../../../test/helpers/containerd.js";
import { runGadget, startGadget, type GadgetEvent } from "../../../test/helpers/gadget.js";
import { kernelSkipReason } from "../../../test/helpers/kernel.js";
import { clientPort, ncClient, ncServer, waitListening } from "../../../test/helpers/tcp.js";

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
const skip = kernelSkip ?? (avail.ok ? null : avail.reason);
if (skip) console.log(`# SKIP trace tcp kernel tests: ${skip}`);

type Ev = GadgetEvent;
// unique names: other test files (and other engineers' runs) use pods and namespaces too
const tag = randomBytes(3).toString("hex");
const NS_A = `tcp-a-${tag}`;
const NS_B = `tcp-b-${tag}`;
const WEB = `web-${tag}`;
const DB = `db-${tag}`;
const LATE = `web2-${tag}`;

const of = (events: Ev[], type: string, pid: number): Ev[] =>
  events.filter((e) => e["tcp.type"] === type && e["proc.pid"] === pid);

/** The one event of `type` by `pid`, checked against the expected fields. */
function one(events: Ev[], type: string, pid: number, want: Record<string, unknown>, what: string): Ev {
  const hits = of(events, type, pid);
  assert.equal(hits.length, 1, `${what}: one ${type} by pid ${pid}: ${JSON.stringify(hits)}`);
  const e = hits[0] as Ev;
  for (const [k, v] of Object.entries(want)) assert.equal(e[k], v, `${what}: ${type} ${k}`);
  return e;
}

/** A connection on the host: busybox nc server (stdin kept open) and client; their pids. */
async function hostConnection(port: number): Promise<{ server: number; client: number }> {
  const exited = (p: ChildProcess): Promise<unknown> => new Promise((r) => p.on("exit", r));
  const srv = spawn("/bin/busybox", ["nc", "-l", "-p", String(port)], {
    stdio: ["pipe", "ignore", "ignore"],
  });
  const srvDone = exited(srv);
  await waitListening(srv.pid as number, port);
  const cli = spawn("/bin/busybox", ["nc", "127.0.0.1", String(port)], {
    stdio: ["pipe", "ignore", "ignore"],
  });
  const cliDone = exited(cli);
  cli.stdin.end("lanner-host\n");
  await cliDone;
  srv.stdin.end();
  await srvDone;
  return { server: srv.pid as number, client: cli.pid as number };
}

function comm(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
}

describe("trace tcp", { skip: skip ?? false, timeout: 180_000 }, () => {
  let tc: TestContainers;
  let web: RunningPod;
  let db: RunningPod;
  let cWeb: RunningContainer;
  let cDb: RunningContainer;
  before(async () => {
    tc = new TestContainers();
    web = await tc.startPod({ name: WEB, namespace: NS_A, labels: { app: `web-${tag}` } });
    db = await tc.startPod({ name: DB, namespace: NS_B, labels: { app: `db-${tag}` } });
    cWeb = await tc.start({ name: "main", pod: web });
    cDb = await tc.start({ name: "main", pod: db });
  });
  after(async () => {
    await tc.cleanup();
  });

  test("connect, accept, close and a refused connect, with exact ends; each selection gets its pods only", async () => {
    const byNs = await startGadget(["trace", "tcp", "-n", NS_A, "-o", "json"]);
    const dbV6 = await startGadget(["trace", "tcp", "-l", `app=db-${tag}`, "--family", "6", "-o", "json"]);
    const connects = await startGadget([
      "trace",
      "tcp",
      "--host",
      "-p",
      `!${WEB}`,
      "--connect-only",
      "-o",
      "json",
    ]);
    const failures = await startGadget(["trace", "tcp", "-p", WEB, "--failure-only", "-o", "json"]);
    const all = [byNs, dbV6, connects, failures];
    try {
      // web-1: IPv4 and IPv6 connections (server and client in the pod), a refused connect
      const s4 = await ncServer(tc, cWeb, 5001);
      const s6 = await ncServer(tc, cWeb, 5002);
      const c4 = await ncClient(tc, cWeb, "127.0.0.1", 5001, 1000, 2);
      const c6 = await ncClient(tc, cWeb, "::1", 5002, 1000, 2);
      const refused = await ncClient(tc, cWeb, "127.0.0.1", 5009, 10, 0);
      // db-1: the same connections in its own network namespace
      const d4 = await ncServer(tc, cDb, 5001);
      const d6 = await ncServer(tc, cDb, 5002);
      const dc4 = await ncClient(tc, cDb, "127.0.0.1", 5001, 1000, 2);
      const dc6 = await ncClient(tc, cDb, "::1", 5002, 1000, 2);
      for (const c of [c4, c6, refused, dc4, dc6]) await c.go();
      const port4 = await clientPort(c4.pid, 5001);
      const port6 = await clientPort(c6.pid, 5002);
      const dport4 = await clientPort(dc4.pid, 5001);
      const dport6 = await clientPort(dc6.pid, 5002);
      const names = { s4: comm(s4), c4: comm(c4.pid) };
      const host = await hostConnection(40000 + (process.pid % 20000));
      // a pod that starts after the gadgets: its first process connects to a closed port
      const late = await tc.startPod({ name: LATE, namespace: NS_A, labels: { app: `web-${tag}` } });
      const cLate = await tc.start({
        name: "late",
        pod: late,
        command: ["/bin/sh", "-c", "nc 127.0.0.1 5008; sleep 3600"],
      });

      const closed = (pid: number) => (e: Ev) => e["tcp.type"] === "close" && e["proc.pid"] === pid;
      for (const [g, pid] of [
        [byNs, c4.pid],
        [byNs, s4],
        [byNs, c6.pid],
        [byNs, s6],
        [dbV6, dc6.pid],
        [dbV6, d6],
      ] as const)
        assert.ok(await g.waitFor(closed(pid), 15000), `close by ${pid}: ${g.stderr()}`);
      assert.ok(await byNs.waitFor((e) => e["fd.rport"] === 5008, 15000), "the later pod's connect");
      assert.ok(
        await connects.waitFor((e) => e["fd.rport"] === 5008, 15000),
        "the later pod's connect (--host)",
      );
      assert.ok(await failures.waitFor((e) => e["fd.rport"] === 5009));
      assert.ok(await connects.waitFor((e) => e["proc.pid"] === host.client));
      await new Promise((r) => setTimeout(r, 500)); // duplicates, if any, would come now
      for (const g of all) assert.equal(await g.stop(), 0, g.stderr());

      // -n team-a: web-1's connections, exactly; web-2's connect; nothing else
      const a = byNs.events;
      const v4 = { "k8s.pod.name": WEB, "container.name": "main", "k8s.ns.name": NS_A };
      one(
        a,
        "connect",
        c4.pid,
        {
          ...v4,
          "proc.name": names.c4,
          "tcp.family": 4,
          "tcp.src": `127.0.0.1:${port4}`,
          "tcp.dst": "127.0.0.1:5001",
          "fd.lip": "127.0.0.1",
          "fd.lport": port4,
          "fd.rip": "127.0.0.1",
          "fd.rport": 5001,
          "evt.rawres": 0,
          "evt.res": "SUCCESS",
          "container.id": cWeb.id.slice(0, 12),
        },
        "ipv4 client",
      );
      const acc = one(
        a,
        "accept",
        s4,
        {
          ...v4,
          "proc.name": names.s4,
          "tcp.family": 4, // IPv4 on nc's dual-stack listener
          "tcp.src": "127.0.0.1:5001",
          "tcp.dst": `127.0.0.1:${port4}`,
          "evt.res": "SUCCESS",
        },
        "ipv4 server",
      );
      assert.equal(acc["evt.rawres"], acc["fd.num"], "accept returns the new fd");
      assert.ok(Number(acc["fd.num"]) >= 0);
      one(
        a,
        "close",
        c4.pid,
        {
          ...v4,
          "tcp.src": `127.0.0.1:${port4}`,
          "tcp.dst": "127.0.0.1:5001",
          "tcp.family": 4,
          "proc.name": names.c4,
        },
        "ipv4 client",
      );
      one(
        a,
        "close",
        s4,
        {
          ...v4,
          "tcp.src": "127.0.0.1:5001",
          "tcp.dst": `127.0.0.1:${port4}`,
          "tcp.family": 4,
          "proc.name": names.s4,
        },
        "ipv4 server",
      );
      one(
        a,
        "connect",
        c6.pid,
        {
          ...v4,
          "tcp.family": 6,
          "tcp.src": `[::1]:${port6}`,
          "tcp.dst": "[::1]:5002",
          "fd.rip": "::1",
          "evt.rawres": 0,
        },
        "ipv6 client",
      );
      one(
        a,
        "accept",
        s6,
        { ...v4, "tcp.family": 6, "tcp.src": "[::1]:5002", "tcp.dst": `[::1]:${port6}` },
        "ipv6 server",
      );
      one(
        a,
        "close",
        c6.pid,
        { ...v4, "tcp.family": 6, "tcp.src": `[::1]:${port6}`, "tcp.dst": "[::1]:5002" },
        "ipv6 client",
      );
      one(
        a,
        "close",
        s6,
        { ...v4, "tcp.family": 6, "tcp.src": "[::1]:5002", "tcp.dst": `[::1]:${port6}` },
        "ipv6 server",
      );
      one(
        a,
        "connect",
        refused.pid,
        {
          ...v4,
          "tcp.dst": "127.0.0.1:5009",
          "fd.rport": 5009,
          "tcp.src": null,
          "evt.rawres": -111,
          "evt.res": "ECONNREFUSED",
        },
        "refused",
      );
      assert.deepEqual(of(a, "close", refused.pid), [], "a refused connect has no connection to close");
      const lateEv = a.filter((e) => e["fd.rport"] === 5008);
      assert.equal(lateEv.length, 1, JSON.stringify(lateEv));
      assert.equal(lateEv[0]?.["proc.ppid"], cLate.pid, "the later container's shell ran nc");
      assert.equal(lateEv[0]?.["k8s.pod.name"], LATE);
      assert.equal(lateEv[0]?.["container.name"], "late");
      assert.equal(lateEv[0]?.["evt.res"], "ECONNREFUSED");
      for (const e of a) assert.equal(e["k8s.ns.name"], NS_A, `only ${NS_A}: ${JSON.stringify(e)}`);
      for (const pid of [d4, d6, dc4.pid, dc6.pid, host.server, host.client])
        assert.deepEqual(
          a.filter((e) => e["proc.pid"] === pid),
          [],
          `nothing of pid ${pid}`,
        );

      // -l app=db --family 6: db-1's IPv6 connection only
      const b = dbV6.events;
      one(
        b,
        "connect",
        dc6.pid,
        { "tcp.src": `[::1]:${dport6}`, "tcp.dst": "[::1]:5002", "k8s.pod.name": DB },
        "db ipv6",
      );
      one(b, "accept", d6, { "tcp.src": "[::1]:5002", "tcp.dst": `[::1]:${dport6}` }, "db ipv6");
      one(b, "close", dc6.pid, { "tcp.dst": "[::1]:5002" }, "db ipv6");
      one(b, "close", d6, { "tcp.dst": `[::1]:${dport6}` }, "db ipv6");
      for (const e of b) {
        assert.equal(e["tcp.family"], 6, `IPv6 only: ${JSON.stringify(e)}`);
        assert.equal(e["k8s.pod.name"], DB, `${DB} only: ${JSON.stringify(e)}`);
      }

      // --host -p !web-1 --connect-only: db-1's, the host's and web-2's connects; never web-1
      const x = connects.events;
      one(
        x,
        "connect",
        dc4.pid,
        { "tcp.src": `127.0.0.1:${dport4}`, "tcp.dst": "127.0.0.1:5001", "k8s.pod.name": DB },
        "--host",
      );
      one(x, "connect", dc6.pid, { "tcp.dst": "[::1]:5002" }, "--host");
      const hostConnect = one(
        x,
        "connect",
        host.client,
        { "container.id": "host", "evt.rawres": 0 },
        "--host",
      );
      assert.match(String(hostConnect["tcp.dst"]), /^127\.0\.0\.1:\d+$/);
      assert.equal(x.filter((e) => e["fd.rport"] === 5008).length, 1, "web-2's connect");
      for (const e of x) {
        assert.equal(e["tcp.type"], "connect", `connects only: ${JSON.stringify(e)}`);
        assert.notEqual(e["k8s.pod.name"], WEB, `${WEB} excluded: ${JSON.stringify(e)}`);
      }
      assert.deepEqual(of(x, "connect", d4), []);

      // -p web-1 --failure-only: the refused connect, nothing else
      const f = failures.events;
      assert.equal(f.length, 1, JSON.stringify(f));
      one(
        f,
        "connect",
        refused.pid,
        { "evt.res": "ECONNREFUSED", "tcp.dst": "127.0.0.1:5009" },
        "--failure-only",
      );
    } finally {
      for (const g of all) await g.stop();
    }
  });

  test("a connection reset before its close is reported once, by the process that closed it", async () => {
    const g = await startGadget(["trace", "tcp", "-p", WEB, "-o", "json"]);
    try {
      // a listener that never accepts (stopped): the kernel completes the handshake; killing
      // it resets the queued connection, and the client closes a socket already CLOSE
      const listener = await ncServer(tc, cWeb, 5003);
      process.kill(listener, "SIGSTOP");
      const client = await ncClient(tc, cWeb, "127.0.0.1", 5003, 100, 30);
      await client.go();
      const port = await clientPort(client.pid, 5003);
      process.kill(listener, "SIGKILL");
      const ev = await g.waitFor((e) => e["tcp.type"] === "close" && e["proc.pid"] === client.pid, 15000);
      assert.ok(ev, `the client's close: ${g.stderr()}`);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await g.stop(), 0, g.stderr());
      one(
        g.events,
        "close",
        client.pid,
        { "tcp.src": `127.0.0.1:${port}`, "tcp.dst": "127.0.0.1:5003" },
        "reset",
      );
      one(g.events, "connect", client.pid, { "tcp.src": `127.0.0.1:${port}`, "evt.rawres": 0 }, "reset");
      // the listener accepted nothing and closed no connection
      assert.deepEqual(
        g.events.filter((e) => e["proc.pid"] === listener),
        [],
      );
    } finally {
      await g.stop();
    }
  });

  test("user.uid and group.gid are the effective ids, for connects, accepts and closes alike", async () => {
    // a host process whose real ids stay 0 and whose effective ids are 65534 connects to its
    // own listener, accepts, and closes both ends
    const script = [
      "import os, socket, sys",
      "srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)",
      "os.setresgid(0, 65534, 0); os.setresuid(0, 65534, 0)",
      "c = socket.create_connection(srv.getsockname()); a, _ = srv.accept()",
      "print(os.getpid(), srv.getsockname()[1], c.getsockname()[1], flush=True)",
      "c.close(); a.close()",
    ].join("\n");
    const g = await startGadget(["trace", "tcp", "--host", "-o", "json"]);
    try {
      const out = await new Promise<string>((resolve, reject) => {
        execFile("/usr/bin/python3", ["-c", script], (err, stdout) => (err ? reject(err) : resolve(stdout)));
      });
      const [pid, sport, cport] = out.trim().split(" ").map(Number) as [number, number, number];
      const mine = (e: Ev): boolean =>
        e["proc.pid"] === pid && (e["fd.lport"] === sport || e["fd.lport"] === cport);
      assert.ok(
        await g.waitFor(
          () => g.events.filter((e) => mine(e) && e["tcp.type"] === "close").length >= 2,
          15000,
        ),
        `both closes: ${g.stderr()}`,
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await g.stop(), 0, g.stderr());
      const evs = g.events.filter(mine);
      assert.deepEqual(evs.map((e) => e["tcp.type"]).sort(), ["accept", "close", "close", "connect"]);
      for (const e of evs) {
        assert.equal(e["user.uid"], 65534, `effective uid: ${JSON.stringify(e)}`);
        assert.equal(e["group.gid"], 65534, `effective gid: ${JSON.stringify(e)}`);
      }
    } finally {
      await g.stop();
    }
  });

  test("columns and bad input", async () => {
    const table = runGadget([
      "trace",
      "tcp",
      "-n",
      NS_A,
      "--timeout",
      "4",
      "-o",
      "columns=tcp.type,proc.pid,tcp.src,tcp.dst",
    ]);
    await new Promise((r) => setTimeout(r, 2000));
    const c = await ncClient(tc, cWeb, "127.0.0.1", 5007, 10, 0);
    await c.go();
    const r = await table;
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.deepEqual(lines[0]?.trim().split(/\s+/), ["TYPE", "PID", "SRC", "DST"]);
    assert.ok(
      lines.some((l) => l.trim().split(/\s+/).join(" ") === `connect ${c.pid} 127.0.0.1:5007`),
      r.stdout,
    );
    const bad: [string[], RegExp][] = [
      [["trace", "tcp", "--family", "5"], /--family: expected 4 or 6, got '5'/],
      [["trace", "tcp", "--family", "x"], /--family: expected an integer, got 'x'/],
      [["trace", "tcp", "--connect-only", "--accept-only"], /exclude each other/],
      [["trace", "tcp", "--failure-only", "--accept-only"], /excludes --accept-only/],
      [["trace", "tcp", "--filter", "tcp.nope=1"], /unknown field 'tcp.nope'/],
      [["trace", "tcp", "-o", "columns=tcp.type,nope"], /unknown column 'nope'/],
    ];
    for (const [args, re] of bad) {
      const b = await runGadget(args);
      assert.equal(b.code, 2, `${args.join(" ")}: ${b.stderr}`);
      assert.match(b.stderr, re, args.join(" "));
    }
  });
});
