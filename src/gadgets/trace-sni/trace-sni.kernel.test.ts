/**
 * trace sni on real containerd containers: python's ssl module sends ClientHellos (a real
 * handshake with a server name and ALPN, one without a server name, one written over
 * several segments, one cut short) to a TCP listener in the same pod; both sockets report
 * each with exact names, ports and pids. Each selection sees exactly its pods (a pod started
 * after the gadget included); the host's and the other pods' hellos are left out.
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
  runGadget,
  startGadget,
  type GadgetEvent,
  type GadgetProcess,
} from "../../../test/helpers/gadget.js";
import { kernelSkipReason, PYTHON } from "../../../test/helpers/kernel.js";
import { hostLoopback, PacketWorkloads } from "../../../test/helpers/packets.js";
import { TRACE_SNI } from "./trace-sni.js";

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
const skip =
  kernelSkip ??
  (avail.ok ? null : avail.reason) ??
  TRACE_SNI.unavailable?.() ??
  (PYTHON === "/usr/bin/python3"
    ? null
    : "/usr/bin/python3 is missing (the workloads run the host's python)");
if (skip) console.log(`# SKIP trace sni kernel tests: ${skip}`);

interface Hello {
  server: string;
  port: number;
  sni: string | null;
  alpn?: string[];
  how: "handshake" | "split" | "cut";
}
interface ClientOut {
  hellos: { cport: number; size: number }[];
}

const PORT = 8443;

/** The events of the connection from client port `cport`. */
const conn = (events: GadgetEvent[], cport: number): GadgetEvent[] =>
  events.filter((e) => e["fd.cport"] === cport);

describe("trace sni", { skip: skip ?? false }, () => {
  let tc: TestContainers;
  let wl: PacketWorkloads;
  let podA: RunningPod;
  let podB: RunningPod;
  let cA: RunningContainer;
  let cB: RunningContainer;
  let listenB: number;
  let holdB: number;
  before(async () => {
    tc = new TestContainers();
    wl = new PacketWorkloads(tc);
    podA = await tc.startPod({ name: "sni-a", namespace: "lanner-sni", labels: { app: "tls" } });
    podB = await tc.startPod({ name: "sni-b", namespace: "lanner-sni-b" });
    cA = await tc.start({ name: "main", pod: podA, ...wl.containerSpec });
    cB = await tc.start({ name: "main", pod: podB, ...wl.containerSpec });
    // pod B's listeners are older than the gadgets: an accepted socket's process is learnt
    // when the server first reads it (right away on 8443, after 2 s on 8444)
    listenB = await wl.server(cB, "tcp-listen", "127.0.0.1", String(PORT), "0");
    holdB = await wl.server(cB, "tcp-listen", "127.0.0.1", String(PORT + 1), "2");
  });
  after(async () => {
    await tc.cleanup();
    wl.cleanup();
  });

  test("server names of ClientHellos, exact on both sockets; each selection its pods only", async () => {
    const gA = await startGadget(["trace", "sni", "-n", "lanner-sni", "-o", "json"]);
    const gX = await startGadget(["trace", "sni", "--host", "-p", "!sni-a", "-o", "json"]);
    const all: GadgetProcess[] = [gA, gX];
    try {
      const hostAddr = hostLoopback();
      const hostListen = await wl.server(null, "tcp-listen", hostAddr, String(PORT), "0");
      // Until the host's cgroup is resolved (the first host event starts a walk), the
      // container store falls back to its pid cache, which keeps pids of container processes
      // that exited and may since have been reused by host processes: one host hello first.
      await wl.client<ClientOut>(null, "tls-client", [
        { server: hostAddr, port: PORT, sni: "warm.lanner.test", how: "handshake" },
      ]);
      assert.ok(await gX.waitFor((e) => e["sni.name"] === "warm.lanner.test"));
      const listenA = await wl.server(cA, "tcp-listen", "127.0.0.1", String(PORT), "0");
      const to = { server: "127.0.0.1", port: PORT };
      const hellos: Hello[] = [
        { ...to, sni: "api.lanner.test", alpn: ["h2", "http/1.1"], how: "handshake" },
        { ...to, sni: null, how: "handshake" },
        { ...to, sni: "split.lanner.test", how: "split" },
        { ...to, sni: "cut.lanner.test", how: "cut" },
      ];
      const clientA = await wl.client<ClientOut>(cA, "tls-client", hellos);
      const clientB = await wl.client<ClientOut>(cB, "tls-client", [
        { ...to, sni: "b.lanner.test", how: "handshake" },
        { ...to, port: PORT + 1, sni: "hold.lanner.test", how: "handshake" },
      ]);
      const hostClient = await wl.client<ClientOut>(null, "tls-client", [
        { server: hostAddr, port: PORT, sni: "host.lanner.test", how: "handshake" },
      ]);
      const podC = await tc.startPod({ name: "sni-c", namespace: "lanner-sni" });
      const cC = await tc.start({ name: "late", pod: podC, ...wl.containerSpec });
      await wl.server(cC, "tcp-listen", "127.0.0.1", String(PORT), "0");
      const clientC = await wl.client<ClientOut>(cC, "tls-client", [
        { ...to, sni: "late.lanner.test", how: "handshake" },
      ]);

      const got = (name: string, pkt: string) => (e: GadgetEvent) =>
        e["sni.name"] === name && e["sni.pkt_type"] === pkt;
      assert.ok(await gA.waitFor(got("late.lanner.test", "HOST"), 15000), `the later pod: ${gA.stderr()}`);
      // the cut hello is given up after a second
      const cutPort = clientA.out.hellos[3]?.cport as number;
      assert.ok(await gA.waitFor((e) => e["fd.cport"] === cutPort && e["sni.pkt_type"] === "HOST", 5000));
      assert.ok(await gX.waitFor(got("late.lanner.test", "HOST")));
      assert.ok(await gX.waitFor(got("host.lanner.test", "HOST")));
      assert.ok(await gX.waitFor(got("b.lanner.test", "HOST")));
      assert.ok(await gX.waitFor(got("hold.lanner.test", "HOST")));
      for (const g of all) assert.equal(await g.stop(), 0, g.stderr());

      const a = gA.events;
      const check = (i: number, name: string | null, alpn: string[], partial: boolean): void => {
        const cport = clientA.out.hellos[i]?.cport as number;
        const evs = conn(a, cport);
        assert.equal(evs.length, 2, `hello ${i}: one event per socket: ${JSON.stringify(evs)}`);
        const out = evs.find((e) => e["sni.pkt_type"] === "OUTGOING") as GadgetEvent;
        const inc = evs.find((e) => e["sni.pkt_type"] === "HOST") as GadgetEvent;
        assert.ok(out && inc, `hello ${i}: sent and received`);
        assert.equal(out["proc.pid"], clientA.pid, "the client's socket");
        assert.equal(inc["proc.pid"], listenA, "the accepted socket: the listener's process");
        for (const e of [out, inc]) {
          assert.equal(e["sni.name"], name, `hello ${i}`);
          assert.deepEqual(e["sni.alpn"], alpn, `hello ${i}`);
          assert.equal(e["sni.partial"], partial, `hello ${i}`);
          assert.equal(e["fd.cip"], "127.0.0.1");
          assert.equal(e["fd.sip"], "127.0.0.1");
          assert.equal(e["fd.sport"], PORT);
          assert.equal(e["proc.name"], "python3");
          assert.equal(e["k8s.pod.name"], "sni-a");
          assert.equal(e["k8s.ns.name"], "lanner-sni");
          assert.equal(e["container.name"], "main");
        }
      };
      check(0, "api.lanner.test", ["h2", "http/1.1"], false);
      check(1, null, [], false);
      // written in 100-byte parts: the kernel follows the record over its segments
      assert.ok((clientA.out.hellos[2]?.size as number) > 300, "a hello of several parts");
      check(2, "split.lanner.test", [], false);
      // only the first 60 bytes were sent: the server name comes later
      check(3, null, [], true);
      const late = a.filter((e) => e["sni.name"] === "late.lanner.test");
      assert.equal(late.length, 2);
      for (const e of late) assert.equal(e["k8s.pod.name"], "sni-c");
      assert.equal(late.find((e) => e["sni.pkt_type"] === "OUTGOING")?.["proc.pid"], clientC.pid);
      for (const e of a)
        assert.equal(e["k8s.ns.name"], "lanner-sni", `only lanner-sni: ${JSON.stringify(e)}`);

      // --host -p !sni-a: the host, pod B and the later pod; never pod A
      const x = gX.events;
      const h = x.filter((e) => e["sni.name"] === "host.lanner.test");
      assert.equal(h.length, 2);
      assert.equal(h.find((e) => e["sni.pkt_type"] === "OUTGOING")?.["proc.pid"], hostClient.pid);
      assert.equal(h.find((e) => e["sni.pkt_type"] === "HOST")?.["proc.pid"], hostListen);
      assert.equal(h[0]?.["fd.sip"], hostAddr);
      for (const e of h) assert.equal(e["container.id"], "host", JSON.stringify(e));
      const b = x.filter((e) => e["sni.name"] === "b.lanner.test");
      assert.equal(b.length, 2);
      assert.equal(
        b.find((e) => e["sni.pkt_type"] === "OUTGOING")?.["fd.cport"],
        clientB.out.hellos[0]?.cport,
      );
      assert.equal(b.find((e) => e["sni.pkt_type"] === "OUTGOING")?.["proc.pid"], clientB.pid);
      // accepted from a listener older than the gadget: the process came with the server's read
      assert.equal(b.find((e) => e["sni.pkt_type"] === "HOST")?.["proc.pid"], listenB);
      // ... but a server that reads only 2 s later is too late: the pod without the process
      const hold = x.filter((e) => e["sni.name"] === "hold.lanner.test");
      assert.equal(hold.length, 2);
      const holdIn = hold.find((e) => e["sni.pkt_type"] === "HOST") as GadgetEvent;
      assert.equal(holdIn["proc.pid"], null, `the reader ${holdB} came too late`);
      assert.equal(holdIn["proc.name"], null);
      assert.equal(holdIn["k8s.pod.name"], "sni-b");
      assert.equal(holdIn["fd.sport"], PORT + 1);
      assert.equal(x.filter((e) => e["sni.name"] === "late.lanner.test").length, 2);
      for (const e of x) assert.notEqual(e["k8s.pod.name"], "sni-a", `sni-a excluded: ${JSON.stringify(e)}`);
      for (const hl of clientA.out.hellos)
        assert.deepEqual(
          conn(x, hl.cport).filter((e) => e["fd.sip"] === "127.0.0.1" && e["k8s.pod.name"] === "sni-a"),
          [],
        );
    } finally {
      for (const g of all) await g.stop();
    }
  });

  test("columns and --filter on the server name", async () => {
    await wl.server(cA, "tcp-listen", "127.0.0.1", "9443", "0");
    const table = runGadget([
      "trace",
      "sni",
      "-p",
      "sni-a",
      "--timeout",
      "4",
      "-o",
      "columns=proc.pid,comm,pod,sni.pkt_type,fd.sport,sni.name",
    ]);
    const filtered = runGadget([
      "trace",
      "sni",
      "-p",
      "sni-a",
      "--timeout",
      "4",
      "-o",
      "json",
      "--filter",
      "sni.name endswith .example and sni.pkt_type=OUTGOING",
    ]);
    await new Promise((r) => setTimeout(r, 2000));
    const c = await wl.client<ClientOut>(cA, "tls-client", [
      { server: "127.0.0.1", port: 9443, sni: "shop.example", how: "handshake" },
      { server: "127.0.0.1", port: 9443, sni: "table.lanner.test", how: "handshake" },
    ]);
    const r = await table;
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.deepEqual(lines[0]?.trim().split(/\s+/), ["PID", "COMM", "POD", "PKT", "SPORT", "NAME"]);
    const row = lines.find((l) => l.includes("table.lanner.test") && l.includes("OUTGOING"));
    assert.ok(row, r.stdout);
    assert.deepEqual(row.trim().split(/\s+/), [
      String(c.pid),
      "python3",
      "sni-a",
      "OUTGOING",
      "9443",
      "table.lanner.test",
    ]);
    const f = await filtered;
    assert.equal(f.code, 0, f.stderr);
    assert.deepEqual(
      f.events.map((e) => [e["sni.name"], e["fd.cport"]]),
      [["shop.example", c.out.hellos[0]?.cport]],
    );
    const bad = await runGadget(["trace", "sni", "--filter", "sni.nope=x"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown field 'sni.nope'/);
  });
});
