/**
 * top tcp on real containerd containers: busybox nc pairs over 127.0.0.1 and [::1] inside a
 * pod send known byte counts both ways; the bytes each process sent and received on each
 * connection, summed over the intervals, are exactly those counts. Each selection (namespace,
 * --pid, --family) gets exactly its rows, a pod started after the gadget included; tables
 * are sorted by bytes sent.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
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
  type GadgetProcess,
} from "../../../test/helpers/gadget.js";
import { kernelSkipReason } from "../../../test/helpers/kernel.js";
import { clientPort, ncClient, ncServer, waitListening } from "../../../test/helpers/tcp.js";

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
const skip = kernelSkip ?? (avail.ok ? null : avail.reason);
if (skip) console.log(`# SKIP top tcp kernel tests: ${skip}`);

const tag = randomBytes(3).toString("hex");
const NS_A = `toptcp-a-${tag}`;
const NS_B = `toptcp-b-${tag}`;

interface Totals {
  sent: number;
  received: number;
  rows: number;
}

/** A connection's bytes for one process, summed over every interval's row. */
function totals(events: GadgetEvent[], pid: number | null, src: string, dst: string): Totals {
  const t = { sent: 0, received: 0, rows: 0 };
  for (const e of events) {
    if ((pid !== null && e["proc.pid"] !== pid) || e["tcp.src"] !== src || e["tcp.dst"] !== dst) continue;
    t.sent += Number(e["tcp.sent"]);
    t.received += Number(e["tcp.received"]);
    t.rows++;
  }
  return t;
}

/** Until the sums reach `want` (rows come once an interval). */
async function waitTotals(
  g: GadgetProcess,
  pid: number | null,
  src: string,
  dst: string,
  want: Omit<Totals, "rows">,
): Promise<Totals> {
  const deadline = Date.now() + 15000;
  for (;;) {
    const t = totals(g.events, pid, src, dst);
    if ((t.sent >= want.sent && t.received >= want.received) || Date.now() > deadline) return t;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A pair in `c`: the client sends `up` bytes, the server replies `down` bytes. */
async function pair(
  tc: TestContainers,
  c: RunningContainer,
  host: string,
  port: number,
  up: number,
  down: number,
  beforeClient?: (server: number) => Promise<void>,
): Promise<{ server: number; client: number; clientPort: number; parent: [number, string] }> {
  const server = await ncServer(tc, c, port, down);
  await beforeClient?.(server);
  const client = await ncClient(tc, c, host, port, up, 3);
  // the client's parent while it runs (it is gone when the rows are read)
  const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${client.pid}/status`, "utf8"))?.[1]);
  const parent: [number, string] = [ppid, readFileSync(`/proc/${ppid}/comm`, "utf8").trim()];
  await client.go();
  return { server, client: client.pid, clientPort: await clientPort(client.pid, port), parent };
}

describe("top tcp", { skip: skip ?? false, timeout: 180_000 }, () => {
  let tc: TestContainers;
  let web: RunningPod;
  let cWeb: RunningContainer;
  let cDb: RunningContainer;
  before(async () => {
    tc = new TestContainers();
    web = await tc.startPod({ name: `web-${tag}`, namespace: NS_A });
    const db = await tc.startPod({ name: `db-${tag}`, namespace: NS_B });
    cWeb = await tc.start({ name: "main", pod: web });
    cDb = await tc.start({ name: "main", pod: db });
  });
  after(async () => {
    await tc.cleanup();
  });

  test("bytes per process and connection are exactly what was sent and received; per selection", async () => {
    const byNs = await startGadget(["top", "tcp", "-n", NS_A, "-o", "json", "--max-rows", "50"]);
    const v6 = await startGadget(["top", "tcp", "-n", NS_A, "--family", "6", "-o", "json"]);
    const hostAll = await startGadget(["top", "tcp", "--host", "-o", "json", "--max-rows", "1000"]);
    const gadgets: GadgetProcess[] = [byNs, v6, hostAll];
    try {
      let byPid: GadgetProcess | undefined;
      const p4 = await pair(tc, cWeb, "127.0.0.1", 6001, 123457, 54321, async (server) => {
        byPid = await startGadget(["top", "tcp", "--pid", String(server), "-o", "json"]);
        gadgets.push(byPid);
      });
      if (byPid === undefined) throw new Error("no --pid gadget");
      const p4b = await pair(tc, cWeb, "127.0.0.1", 6001 + 10, 200001, 7);
      const p6 = await pair(tc, cWeb, "::1", 6002, 8888, 777);
      const d4 = await pair(tc, cDb, "127.0.0.1", 6001, 5555, 66);
      // a pod started after the gadgets: its first process runs a pair
      const late = await tc.startPod({ name: `late-${tag}`, namespace: NS_A });
      await tc.start({
        name: "late",
        pod: late,
        command: [
          "/bin/sh",
          "-c",
          `mkfifo /tmp/lanner-late-${tag}; (rm /tmp/lanner-late-${tag}; sleep 3600) > /tmp/lanner-late-${tag} & ` +
            `/bin/nc -l -p 6003 < /tmp/lanner-late-${tag} > /dev/null & sleep 1; ` +
            "head -c 4242 /dev/zero | /bin/nc 127.0.0.1 6003; sleep 3600",
        ],
      });
      // a connection on the host
      const hs = spawn("/bin/busybox", ["nc", "-l", "-p", String(41000 + (process.pid % 20000))], {
        stdio: ["pipe", "ignore", "ignore"],
      });
      const hostPort = 41000 + (process.pid % 20000);
      await waitListening(hs.pid as number, hostPort);
      const hc = spawn("/bin/busybox", ["nc", "127.0.0.1", String(hostPort)], {
        stdio: ["pipe", "ignore", "ignore"],
      });
      hc.stdin.end(Buffer.alloc(3333));

      const s4 = `127.0.0.1:${p4.clientPort}`;
      const c4 = await waitTotals(byNs, p4.client, s4, "127.0.0.1:6001", { sent: 123457, received: 54321 });
      const srv4 = await waitTotals(byNs, p4.server, "127.0.0.1:6001", s4, { sent: 54321, received: 123457 });
      const s4b = `127.0.0.1:${p4b.clientPort}`;
      const c4b = await waitTotals(byNs, p4b.client, s4b, "127.0.0.1:6011", { sent: 200001, received: 7 });
      const srv4b = await waitTotals(byNs, p4b.server, "127.0.0.1:6011", s4b, { sent: 7, received: 200001 });
      const s6 = `[::1]:${p6.clientPort}`;
      const c6 = await waitTotals(byNs, p6.client, s6, "[::1]:6002", { sent: 8888, received: 777 });
      const srv6 = await waitTotals(byNs, p6.server, "[::1]:6002", s6, { sent: 777, received: 8888 });
      const lateRecv = async (g: GadgetProcess): Promise<number> => {
        const deadline = Date.now() + 15000;
        for (;;) {
          const n = g.events
            .filter((e) => e["container.name"] === "late" && e["fd.lport"] === 6003)
            .reduce((a, e) => a + Number(e["tcp.received"]), 0);
          if (n >= 4242 || Date.now() > deadline) return n;
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      const lateIn = await lateRecv(byNs);
      const dbHost = await waitTotals(hostAll, d4.client, `127.0.0.1:${d4.clientPort}`, "127.0.0.1:6001", {
        sent: 5555,
        received: 66,
      });
      const hostSent = await (async () => {
        const deadline = Date.now() + 15000;
        for (;;) {
          const n = hostAll.events
            .filter((e) => e["proc.pid"] === hc.pid && e["fd.rport"] === hostPort)
            .reduce((a, e) => a + Number(e["tcp.sent"]), 0);
          if (n >= 3333 || Date.now() > deadline) return n;
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      await waitTotals(byPid, p4.server, "127.0.0.1:6001", s4, { sent: 54321, received: 123457 });
      await waitTotals(v6, p6.server, "[::1]:6002", s6, { sent: 777, received: 8888 });
      hs.stdin.end();
      await new Promise((r) => setTimeout(r, 1500)); // one more interval: nothing more may come
      for (const g of gadgets) assert.equal(await g.stop(), 0, g.stderr());

      assert.deepEqual([c4.sent, c4.received], [123457, 54321], "IPv4 client");
      assert.deepEqual([srv4.sent, srv4.received], [54321, 123457], "IPv4 server");
      assert.deepEqual([c4b.sent, c4b.received], [200001, 7], "second IPv4 client");
      assert.deepEqual([srv4b.sent, srv4b.received], [7, 200001], "second IPv4 server");
      assert.deepEqual([c6.sent, c6.received], [8888, 777], "IPv6 client");
      assert.deepEqual([srv6.sent, srv6.received], [777, 8888], "IPv6 server");
      assert.equal(lateIn, 4242, "the later pod's server received what its client sent");
      assert.deepEqual([dbHost.sent, dbHost.received], [5555, 66], "--host sees the other pod");
      assert.equal(
        hostSent,
        3333,
        `--host sees the host: ${JSON.stringify(hostAll.events.filter((e) => e["fd.rport"] === hostPort || e["fd.lport"] === hostPort || e["proc.pid"] === hc.pid))} ${hostAll.stderr()}`,
      );

      // the rows' other columns: the process, its container, the IP version
      const row = byNs.events.find((e) => e["proc.pid"] === p4.client) as GadgetEvent;
      assert.equal(row["proc.name"], "nc");
      const age = Date.now() - Number(row["evt.time"]) / 1e6;
      assert.ok(age >= 0 && age < 60_000, `evt.time is the interval's end: ${String(row["evt.time"])}`);
      assert.deepEqual(
        [row["proc.ppid"], row["proc.pname"]],
        p4.parent,
        "the client's parent, from the kernel",
      );
      assert.equal(row["tcp.family"], 4);
      assert.equal(row["fd.lip"], "127.0.0.1");
      assert.equal(row["fd.lport"], p4.clientPort);
      assert.equal(row["fd.rport"], 6001);
      assert.equal(row["container.name"], "main");
      assert.equal(row["k8s.pod.name"], `web-${tag}`);
      assert.equal(row["k8s.ns.name"], NS_A);
      assert.equal(row["container.id"], cWeb.id.slice(0, 12));
      const row6 = byNs.events.find((e) => e["proc.pid"] === p6.server) as GadgetEvent;
      assert.equal(row6["tcp.family"], 6);
      assert.equal(row6["fd.lip"], "::1");

      // selections: only their rows
      for (const e of byNs.events) assert.equal(e["k8s.ns.name"], NS_A, `only ${NS_A}: ${JSON.stringify(e)}`);
      for (const pid of [d4.client, d4.server, hc.pid, hs.pid])
        assert.deepEqual(
          byNs.events.filter((e) => e["proc.pid"] === pid),
          [],
          `no row of pid ${pid}`,
        );
      assert.ok(byPid.events.length > 0);
      for (const e of byPid.events) assert.equal(e["proc.pid"], p4.server, `--pid: ${JSON.stringify(e)}`);
      assert.ok(v6.events.length > 0);
      for (const e of v6.events) assert.equal(e["tcp.family"], 6, `--family 6: ${JSON.stringify(e)}`);
      assert.deepEqual(totals(v6.events, p6.client, s6, "[::1]:6002"), {
        sent: 8888,
        received: 777,
        rows: c6.rows,
      });
    } finally {
      for (const g of gadgets) await g.stop();
    }
  });

  test("user.uid and group.gid are the effective ids", async () => {
    // a host process with real ids 0 and effective ids 65534 sends 3210 bytes to itself
    const script = [
      "import os, socket",
      "srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)",
      "os.setresgid(0, 65534, 0); os.setresuid(0, 65534, 0)",
      "c = socket.create_connection(srv.getsockname()); a, _ = srv.accept()",
      "c.sendall(b'x' * 3210); n = 0",
      "while n < 3210: n += len(a.recv(65536))",
      "print(os.getpid(), c.getsockname()[1], flush=True)",
      "c.close(); a.close()",
    ].join("\n");
    const g = await startGadget(["top", "tcp", "--host", "-o", "json", "--max-rows", "1000"]);
    try {
      const out = await new Promise<string>((resolve, reject) => {
        execFile("/usr/bin/python3", ["-c", script], (err, stdout) => (err ? reject(err) : resolve(stdout)));
      });
      const [pid, cport] = out.trim().split(" ").map(Number) as [number, number];
      const sent = (): GadgetEvent[] =>
        g.events.filter((e) => e["proc.pid"] === pid && e["fd.lport"] === cport);
      assert.ok(await g.waitFor(() => sent().length > 0, 15000), `the client's row: ${g.stderr()}`);
      assert.equal(await g.stop(), 0, g.stderr());
      const row = sent()[0] as GadgetEvent;
      assert.equal(row["tcp.sent"], 3210);
      assert.equal(row["user.uid"], 65534, JSON.stringify(row));
      assert.equal(row["group.gid"], 65534, JSON.stringify(row));
    } finally {
      await g.stop();
    }
  });

  test("tables are sorted by bytes sent, cut to --max-rows; bad input is exit 2", async () => {
    const run = runGadgetWithReady([
      "top",
      "tcp",
      "-n",
      NS_A,
      "--timeout",
      "6",
      "--interval",
      "2",
      "-o",
      "columns=proc.pid,tcp.sent,tcp.received",
      "--max-rows",
      "3",
    ]);
    await run.ready;
    for (let i = 0; i < 4; i++) await pair(tc, cWeb, "127.0.0.1", 6020 + i, 1000 * (i + 1), 10);
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    const tables = r.stdout
      .split("\n\n")
      .map((t) =>
        t
          .trim()
          .split("\n")
          .slice(1)
          .map((l) => l.trim().split(/\s+/).map(Number)),
      )
      .filter((rows) => rows.length > 0);
    assert.ok(
      tables.some((t) => t.length >= 2),
      r.stdout,
    );
    for (const t of tables) {
      assert.ok(t.length <= 3, `--max-rows 3: ${JSON.stringify(t)}`);
      for (let i = 1; i < t.length; i++)
        assert.ok((t[i - 1]?.[1] ?? 0) >= (t[i]?.[1] ?? 0), `sorted by -tcp.sent: ${r.stdout}`);
    }
    for (const [args, re] of [
      [["top", "tcp", "--family", "5"], /--family: expected 4 or 6, got '5'/],
      [["top", "tcp", "--pid", "0"], /--pid: expected a positive process id, got '0'/],
      [["top", "tcp", "--sort", "nope"], /--sort: 'nope' is not a field of top tcp/],
      [["top", "tcp", "--max-rows", "0"], /--max-rows: expected a positive integer/],
    ] as const) {
      const b = await runGadget(args);
      assert.equal(b.code, 2, `${args.join(" ")}: ${b.stderr}`);
      assert.match(b.stderr, re);
    }
  });
});
