/**
 * trace dns on real containerd containers: a DNS server and a client (python, the host's
 * /usr mounted) in a pod's own network namespace, over UDP (IPv4 and IPv6) and TCP (split
 * over segments; longer than the copy limit), with exact names, types, rcodes, answers, ids,
 * ports and pids on both sockets of each exchange, and latencies; each selection sees
 * exactly its pods (a pod started after the gadget included), the host's and the other
 * pods' DNS are left out, in the kernel.
 */
import assert from "node:assert/strict";
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
  type GadgetEvent,
  type GadgetProcess,
} from "../../../test/helpers/gadget.js";
import { kernelSkipReason, PYTHON } from "../../../test/helpers/kernel.js";
import { hostLoopback, PacketWorkloads } from "../../../test/helpers/packets.js";
import { TRACE_DNS } from "./trace-dns.js";

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
const skip =
  kernelSkip ??
  (avail.ok ? null : avail.reason) ??
  TRACE_DNS.unavailable?.() ??
  (PYTHON === "/usr/bin/python3"
    ? null
    : "/usr/bin/python3 is missing (the workloads run the host's python)");
if (skip) console.log(`# SKIP trace dns kernel tests: ${skip}`);

interface Query {
  proto: "udp" | "tcp";
  server: string;
  name: string;
  type: number;
  id: number;
  split?: boolean;
}
interface ClientOut {
  queries: { id: number; cport: number; rcode: number; ancount: number; bytes: number }[];
}

const byId = (events: GadgetEvent[], id: number): GadgetEvent[] => events.filter((e) => e["dns.id"] === id);
const one = (events: GadgetEvent[], id: number, qr: "Q" | "R", pkt: "OUTGOING" | "HOST"): GadgetEvent => {
  const hits = byId(events, id).filter((e) => e["dns.qr"] === qr && e["dns.pkt_type"] === pkt);
  assert.equal(hits.length, 1, `one ${qr} ${pkt} of id ${id}: ${JSON.stringify(byId(events, id))}`);
  return hits[0] as GadgetEvent;
};

describe("trace dns", { skip: skip ?? false }, () => {
  let tc: TestContainers;
  let wl: PacketWorkloads;
  let podA: RunningPod;
  let podB: RunningPod;
  let cA: RunningContainer;
  let cB: RunningContainer;
  let serverB: number;
  const hostAddr = hostLoopback();
  before(async () => {
    tc = new TestContainers();
    wl = new PacketWorkloads(tc);
    podA = await tc.startPod({ name: "dns-a", namespace: "lanner-dns", labels: { app: "dns" } });
    podB = await tc.startPod({ name: "dns-b", namespace: "lanner-dns-b" });
    cA = await tc.start({ name: "main", pod: podA, ...wl.containerSpec });
    cB = await tc.start({ name: "main", pod: podB, ...wl.containerSpec });
    // pod B's server is older than the gadgets: its socket has no process until it is used
    serverB = await wl.server(cB, "dns-server", "127.0.0.1");
  });
  after(async () => {
    await tc.cleanup();
    wl.cleanup();
  });

  test("queries and responses over UDP and TCP, exact on both sockets; each selection its pods only", async () => {
    const gA = await startGadget(["trace", "dns", "-n", "lanner-dns", "-o", "json"]);
    const gShort = await startGadget([
      "trace",
      "dns",
      "-n",
      "lanner-dns",
      "--dns-timeout",
      "1",
      "-o",
      "json",
    ]);
    const gB = await startGadget(["trace", "dns", "-p", "dns-b", "-o", "json"]);
    const gX = await startGadget(["trace", "dns", "--host", "-p", "!dns-a", "-P", "53", "-o", "json"]);
    const all: GadgetProcess[] = [gA, gShort, gB, gX];
    try {
      const hostServer = await wl.server(null, "dns-server", hostAddr);
      // Until the host's cgroup is resolved (the first host event starts a walk), the
      // container store falls back to its pid cache, which keeps pids of container processes
      // that exited and may since have been reused by host processes: one host exchange first.
      await wl.client<ClientOut>(null, "dns-client", [
        { proto: "udp", server: hostAddr, name: "warm.lanner.test", type: 1, id: 0x3300 },
      ]);
      assert.ok(await gX.waitFor((e) => e["dns.id"] === 0x3300));
      const serverA = await wl.server(cA, "dns-server", "127.0.0.1,::1");
      const queriesA: Query[] = [
        { proto: "udp", server: "127.0.0.1", name: "web.lanner.test", type: 1, id: 0x1101 },
        { proto: "udp", server: "::1", name: "web.lanner.test", type: 28, id: 0x1102 },
        { proto: "udp", server: "127.0.0.1", name: "nx.lanner.test", type: 1, id: 0x1103 },
        { proto: "tcp", server: "127.0.0.1", name: "split.lanner.test", type: 1, id: 0x1104, split: true },
        { proto: "tcp", server: "127.0.0.1", name: "big.lanner.test", type: 1, id: 0x1105 },
        { proto: "udp", server: "127.0.0.1", name: "slow.lanner.test", type: 1, id: 0x1106 },
      ];
      const clientA = await wl.client<ClientOut>(cA, "dns-client", queriesA);
      const clientB = await wl.client<ClientOut>(cB, "dns-client", [
        { proto: "udp", server: "127.0.0.1", name: "web.lanner.test", type: 1, id: 0x2201 },
      ]);
      const hostClient = await wl.client<ClientOut>(null, "dns-client", [
        { proto: "udp", server: hostAddr, name: "host.lanner.test", type: 1, id: 0x3301 },
      ]);
      // a pod that starts after the gadgets
      const podC = await tc.startPod({ name: "dns-c", namespace: "lanner-dns" });
      const cC = await tc.start({ name: "late", pod: podC, ...wl.containerSpec });
      const serverC = await wl.server(cC, "dns-server", "127.0.0.1");
      const clientC = await wl.client<ClientOut>(cC, "dns-client", [
        { proto: "udp", server: "127.0.0.1", name: "late.lanner.test", type: 1, id: 0x4401 },
      ]);

      const rcvd = (id: number) => (e: GadgetEvent) =>
        e["dns.id"] === id && e["dns.qr"] === "R" && e["dns.pkt_type"] === "HOST";
      assert.ok(
        await gA.waitFor(rcvd(0x4401), 15000),
        `trace dns -n lanner-dns saw the later pod: ${gA.stderr()}`,
      );
      assert.ok(await gA.waitFor(rcvd(0x1106)));
      assert.ok(await gShort.waitFor(rcvd(0x1106)));
      assert.ok(await gB.waitFor(rcvd(0x2201)));
      assert.ok(await gX.waitFor(rcvd(0x4401)));
      assert.ok(await gX.waitFor(rcvd(0x3301)));
      for (const g of all) assert.equal(await g.stop(), 0, g.stderr());

      // ---- -n lanner-dns: pod A, every exchange seen by both of its sockets
      const a = gA.events;
      const cport = (id: number): number => clientA.out.queries.find((q) => q.id === id)?.cport as number;
      const exchange = (id: number, proto: string, name: string, qtype: string, cip: string, sip: string) => {
        const q = one(a, id, "Q", "OUTGOING");
        const qIn = one(a, id, "Q", "HOST");
        const r = one(a, id, "R", "OUTGOING");
        const rIn = one(a, id, "R", "HOST");
        assert.equal(byId(a, id).length, 4, `id ${id}: four messages`);
        for (const e of [q, qIn, r, rIn]) {
          assert.equal(e["dns.name"], name);
          assert.equal(e["dns.qtype"], qtype);
          assert.equal(e["fd.l4proto"], proto);
          assert.equal(e["fd.cip"], cip);
          assert.equal(e["fd.cport"], cport(id));
          assert.equal(e["fd.sip"], sip);
          assert.equal(e["fd.sport"], 53);
          assert.equal(e["proc.name"], "python3");
          assert.equal(e["k8s.pod.name"], "dns-a");
          assert.equal(e["k8s.ns.name"], "lanner-dns");
          assert.equal(e["container.name"], "main");
          assert.equal(e["container.id"], cA.id.slice(0, 12));
        }
        // the client's socket sent the query and received the response; the server's the reverse
        assert.equal(q["proc.pid"], clientA.pid);
        assert.equal(rIn["proc.pid"], clientA.pid);
        assert.equal(qIn["proc.pid"], serverA);
        assert.equal(r["proc.pid"], serverA);
        for (const e of [q, qIn]) {
          assert.equal(e["dns.rcode"], null);
          assert.equal(e["dns.addresses"], null);
          assert.equal(e["dns.latency_ns"], null);
          assert.equal(e["dns.num_answers"], 0);
          assert.equal(e["dns.partial"], false);
        }
        // latency: the client waited longer than the server took
        const lc = rIn["dns.latency_ns"] as number;
        const ls = r["dns.latency_ns"] as number;
        assert.ok(ls > 0 && lc > ls, `latencies: server ${ls} ns < client ${lc} ns`);
        assert.deepEqual(r["dns.addresses"], rIn["dns.addresses"]);
        return rIn;
      };
      const web = exchange(0x1101, "udp", "web.lanner.test.", "A", "127.0.0.1", "127.0.0.1");
      assert.equal(web["dns.rcode"], "NoError");
      assert.equal(web["dns.num_answers"], 2);
      assert.deepEqual(web["dns.addresses"], ["10.0.0.1", "10.0.0.2"]);
      assert.equal(web["dns.partial"], false);
      const v6 = exchange(0x1102, "udp", "web.lanner.test.", "AAAA", "::1", "::1");
      assert.deepEqual(v6["dns.addresses"], ["fd00::1"]);
      assert.equal(v6["dns.num_answers"], 1);
      const nx = exchange(0x1103, "udp", "nx.lanner.test.", "A", "127.0.0.1", "127.0.0.1");
      assert.equal(nx["dns.rcode"], "NXDomain");
      assert.equal(nx["dns.num_answers"], 0);
      assert.deepEqual(nx["dns.addresses"], []);
      // TCP: the query written as prefix, half, rest; the response too: put back together
      const split = exchange(0x1104, "tcp", "split.lanner.test.", "A", "127.0.0.1", "127.0.0.1");
      assert.deepEqual(split["dns.addresses"], ["10.0.0.1", "10.0.0.2"]);
      assert.equal(split["dns.partial"], false);
      assert.ok((split["dns.latency_ns"] as number) >= 100e6, "the server wrote its response over 100 ms");
      // TCP: a 20 833-byte response in one segment; 16 384 bytes are copied (2 of them the
      // length prefix): the header, the question (21 bytes) and 1021 whole 16-byte answers
      const big = exchange(0x1105, "tcp", "big.lanner.test.", "A", "127.0.0.1", "127.0.0.1");
      assert.equal(clientA.out.queries.find((q) => q.id === 0x1105)?.bytes, 20833);
      assert.equal(big["dns.num_answers"], 1300);
      assert.equal(big["dns.partial"], true);
      const addrs = big["dns.addresses"] as string[];
      assert.equal(addrs.length, Math.floor((16384 - 2 - 12 - 21) / 16));
      assert.equal(addrs[0], "10.1.0.0");
      assert.equal(addrs[1020], "10.1.3.252");
      // slow: answered after 1.5 s; with --dns-timeout 1 the query was given up
      const slow = exchange(0x1106, "udp", "slow.lanner.test.", "A", "127.0.0.1", "127.0.0.1");
      assert.deepEqual(slow["dns.addresses"], ["10.0.0.9"]);
      assert.ok((slow["dns.latency_ns"] as number) >= 1.5e9, `slow: ${slow["dns.latency_ns"]}`);
      const slowShort = byId(gShort.events, 0x1106).filter((e) => e["dns.qr"] === "R");
      assert.equal(slowShort.length, 2);
      for (const e of slowShort)
        assert.equal(e["dns.latency_ns"], null, "--dns-timeout 1: no latency after 1.5 s");
      assert.ok((one(gShort.events, 0x1101, "R", "HOST")["dns.latency_ns"] as number) > 0);
      // the later pod
      const late = one(a, 0x4401, "R", "HOST");
      assert.equal(late["proc.pid"], clientC.pid);
      assert.equal(late["k8s.pod.name"], "dns-c");
      assert.equal(late["container.name"], "late");
      assert.equal(one(a, 0x4401, "Q", "HOST")["proc.pid"], serverC);
      // nothing else
      assert.deepEqual(byId(a, 0x2201), []);
      assert.deepEqual(byId(a, 0x3301), []);
      for (const e of a)
        assert.equal(e["k8s.ns.name"], "lanner-dns", `only lanner-dns: ${JSON.stringify(e)}`);

      // ---- -p dns-b: its server's socket predates the gadget: the first query it receives
      // comes before the kernel knows the socket's process; it is learnt as the server reads
      const b = gB.events;
      const bq = one(b, 0x2201, "Q", "OUTGOING");
      assert.equal(bq["proc.pid"], clientB.pid);
      assert.equal(bq["fd.cport"], clientB.out.queries[0]?.cport);
      const bqIn = one(b, 0x2201, "Q", "HOST");
      assert.equal(bqIn["proc.pid"], serverB);
      assert.equal(bqIn["proc.name"], "python3");
      assert.equal(bqIn["k8s.pod.name"], "dns-b");
      assert.equal(one(b, 0x2201, "R", "OUTGOING")["proc.pid"], serverB);
      assert.equal(one(b, 0x2201, "R", "HOST")["proc.pid"], clientB.pid);
      for (const e of b) assert.equal(e["k8s.pod.name"], "dns-b", `only dns-b: ${JSON.stringify(e)}`);

      // ---- --host -p !dns-a: the host, pod B and the later pod; never pod A
      const x = gX.events;
      const h = one(x, 0x3301, "Q", "OUTGOING");
      assert.equal(h["proc.pid"], hostClient.pid);
      assert.equal(h["container.id"], "host");
      assert.equal(h["fd.sip"], hostAddr);
      assert.equal(h["dns.name"], "host.lanner.test.");
      assert.equal(one(x, 0x3301, "R", "OUTGOING")["proc.pid"], hostServer);
      assert.equal(byId(x, 0x2201).length, 4);
      assert.equal(byId(x, 0x4401).length, 4);
      for (const id of [0x1101, 0x1102, 0x1103, 0x1104, 0x1105, 0x1106]) assert.deepEqual(byId(x, id), []);
      for (const e of x) assert.notEqual(e["k8s.pod.name"], "dns-a", `dns-a excluded: ${JSON.stringify(e)}`);
    } finally {
      for (const g of all) await g.stop();
    }
  });

  test("other pods' and the host's DNS is dropped in the kernel: a burst never reaches the gadget", async () => {
    const addr = hostLoopback();
    await wl.server(null, "dns-server", addr);
    const g = await startGadget(["trace", "dns", "-n", "lanner-dns", "-o", "json"]);
    try {
      const burst = Array.from({ length: 100 }, (_, i) => ({
        proto: "udp",
        server: addr,
        name: `burst${i}.lanner.test`,
        type: 1,
        id: 0x5000 + i,
      }));
      await wl.client<ClientOut>(null, "dns-client", burst);
      await wl.client<ClientOut>(cA, "dns-client", [
        { proto: "udp", server: "127.0.0.1", name: "after.lanner.test", type: 1, id: 0x5f00 },
      ]);
      assert.ok(
        await g.waitFor((e) => e["dns.id"] === 0x5f00 && e["dns.qr"] === "R" && e["dns.pkt_type"] === "HOST"),
      );
    } finally {
      assert.equal(await g.stop(), 0);
    }
    const stats = /lanner: stats .*not_selected=(\d+)/.exec(g.stderr());
    assert.ok(stats, `a stats line at exit: ${g.stderr()}`);
    // 400 messages on the host (100 exchanges, each seen by two sockets): the host's cgroups
    // are marked "drop" before the first packet
    assert.ok(Number(stats[1]) < 10, `host DNS reached user space: ${stats[0]}`);
    assert.deepEqual(
      g.events.filter((e) => String(e["dns.name"]).startsWith("burst")),
      [],
    );
  });

  test("columns; bad ports and timeouts are exit 2 naming the value", async () => {
    const table = runGadget([
      "trace",
      "dns",
      "-n",
      "lanner-dns",
      "--timeout",
      "4",
      "-o",
      "columns=proc.pid,comm,pod,dns.qr,dns.pkt_type,dns.name,dns.rcode,dns.addresses",
    ]);
    const filtered = runGadget([
      "trace",
      "dns",
      "-n",
      "lanner-dns",
      "--timeout",
      "4",
      "-o",
      "json",
      "--filter",
      "dns.rcode=NXDomain and fd.sip=127.0.0.1",
    ]);
    await new Promise((r) => setTimeout(r, 2000));
    const c = await wl.client<ClientOut>(cA, "dns-client", [
      { proto: "udp", server: "127.0.0.1", name: "table.lanner.test", type: 1, id: 0x6001 },
      { proto: "udp", server: "127.0.0.1", name: "nxtable.lanner.test", type: 1, id: 0x6002 },
    ]);
    const f = await filtered;
    assert.equal(f.code, 0, f.stderr);
    assert.deepEqual(
      f.events.map((e) => [e["dns.id"], e["dns.qr"], e["dns.pkt_type"], e["dns.rcode"]]).sort(),
      [
        [0x6002, "R", "HOST", "NXDomain"],
        [0x6002, "R", "OUTGOING", "NXDomain"],
      ],
      "--filter on the gadget's fields",
    );
    const r = await table;
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.deepEqual(lines[0]?.trim().split(/\s+/), [
      "PID",
      "COMM",
      "POD",
      "QR",
      "PKT",
      "NAME",
      "RCODE",
      "ADDRESSES",
    ]);
    const row = lines.find(
      (l) => l.includes("table.lanner.test.") && l.includes(" R ") && l.includes("HOST"),
    );
    assert.ok(row, r.stdout);
    assert.deepEqual(row.trim().split(/\s+/), [
      String(c.pid),
      "python3",
      "dns-a",
      "R",
      "HOST",
      "table.lanner.test.",
      "NoError",
      "10.0.0.1,10.0.0.2",
    ]);
    const bad: [string[], RegExp][] = [
      [["trace", "dns", "--ports", "0"], /--ports: '0' is not a port/],
      [["trace", "dns", "--ports", "53,x"], /--ports: 'x' is not a port/],
      [["trace", "dns", "-P", "1,2,3,4,5,6,7,8,9"], /--ports: at most 8 ports, got 9/],
      [
        ["trace", "dns", "--dns-timeout", "soon"],
        /--dns-timeout: expected a positive number of seconds, got 'soon'/,
      ],
      [
        ["trace", "dns", "--dns-timeout", "0"],
        /--dns-timeout: expected a positive number of seconds, got '0'/,
      ],
      [["trace", "dns", "--filter", "dns.nope=1"], /unknown field 'dns.nope'/],
      [["trace", "dns", "-o", "columns=dns.nope"], /unknown column 'dns.nope'/],
    ];
    for (const [args, re] of bad) {
      const res = await runGadget(args);
      assert.equal(res.code, 2, `${args.join(" ")}: ${res.stderr}`);
      assert.match(res.stderr, re, args.join(" "));
    }
  });
});
