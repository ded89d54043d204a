/**
 * snapshot socket on real containerd containers (each in its own network namespace): the
 * sockets of the selected pods' processes with exact states, addresses, ports, owners and
 * fds, checked against what the kernel's own /proc/PID/net/{tcp,tcp6,udp,udp6} and
 * /proc/PID/fd say; other pods and the host are not listed; --proto picks the protocol.
 */
import assert from "node:assert/strict";
import { readFileSync, readlinkSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { ipv4, ipv6 } from "../../decode/sockaddr.js";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
  type RunningPod,
} from "../../../test/helpers/containerd.js";
import { runGadget, type GadgetEvent } from "../../../test/helpers/gadget.js";
import { kernelSkipReason } from "../../../test/helpers/kernel.js";
import { buildSnapshotWorkload, type SnapshotWorkload } from "../../../test/helpers/snapshot-workload.js";

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
let skip = kernelSkip ?? (avail.ok ? null : avail.reason);
const workload = skip === null ? await buildSnapshotWorkload() : null;
if (typeof workload === "string") skip = workload;
if (skip) console.log(`# SKIP snapshot socket kernel tests: ${skip}`);

/** A socket as the kernel's /proc/PID/net/* tables show it. */
interface ProcSocket {
  proto: "tcp" | "udp";
  family: "ipv4" | "ipv6";
  lip: string;
  lport: number;
  rip: string;
  rport: number;
  st: number;
  txq: number;
  rxq: number;
  inode: bigint;
}

function hexAddr(hex: string): string {
  const b = Buffer.alloc(hex.length / 2);
  // each 32-bit word is printed in host (little-endian) order
  for (let i = 0; i < hex.length / 8; i++) b.writeUInt32LE(parseInt(hex.slice(i * 8, i * 8 + 8), 16), i * 4);
  return hex.length === 8 ? ipv4(b, 0) : ipv6(b, 0);
}

/** Every TCP and UDP socket of the network namespace `pid` is in. */
function procSockets(pid: number): Map<bigint, ProcSocket> {
  const out = new Map<bigint, ProcSocket>();
  for (const [file, proto, family] of [
    ["tcp", "tcp", "ipv4"],
    ["tcp6", "tcp", "ipv6"],
    ["udp", "udp", "ipv4"],
    ["udp6", "udp", "ipv6"],
  ] as const) {
    for (const line of readFileSync(`/proc/${pid}/net/${file}`, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [la, lp] = (f[1] as string).split(":") as [string, string];
      const [ra, rp] = (f[2] as string).split(":") as [string, string];
      const [tx, rx] = (f[4] as string).split(":") as [string, string];
      const inode = BigInt(f[9] as string);
      out.set(inode, {
        proto,
        family,
        lip: hexAddr(la),
        lport: parseInt(lp, 16),
        rip: hexAddr(ra),
        rport: parseInt(rp, 16),
        st: parseInt(f[3] as string, 16),
        txq: parseInt(tx, 16),
        rxq: parseInt(rx, 16),
        inode,
      });
    }
  }
  return out;
}

const STATES: Record<number, string> = { 1: "ESTABLISHED", 7: "CLOSE", 10: "LISTEN" };

function children(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}

async function until<T>(what: string, get: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    let v: T | undefined;
    try {
      v = get();
    } catch {
      v = undefined;
    }
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function snapshot(args: string[]): Promise<{ rows: GadgetEvent[]; stderr: string }> {
  const r = await runGadget(["snapshot", "socket", ...args, "-o", "json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /lanner: ready \(gadget=snapshot socket, source=iter\/task_file/);
  return { rows: r.events, stderr: r.stderr };
}

const ownedBy = (rows: GadgetEvent[], pid: number): GadgetEvent[] =>
  rows.filter((r) => r["proc.pid"] === pid);

describe("snapshot socket", { skip: skip ?? false }, () => {
  const wl = workload as SnapshotWorkload;
  let tc: TestContainers;
  let web: RunningPod;
  let db: RunningPod;
  let cWeb: RunningContainer;
  let cDb: RunningContainer;
  let server: number; // nc -l -p 18080, then the accepted connection
  let client: number; // nc 127.0.0.1 18080
  let listener: number; // nc -l -p 18081, never connected
  let udp: number;
  let udp6: number;
  let tcpq: number;
  let dbListener: number;
  before(async () => {
    tc = new TestContainers();
    web = await tc.startPod({ name: "web-1", namespace: "sock-a", labels: { app: "web" } });
    db = await tc.startPod({ name: "db-1", namespace: "sock-b", labels: { app: "db" } });
    cWeb = await tc.start({
      name: "main",
      pod: web,
      mounts: [{ source: wl.dir, destination: "/run", readonly: true }],
    });
    cDb = await tc.start({ name: "main", pod: db });
    server = await tc.execDetached(cWeb, ["/bin/nc", "-l", "-p", "18080"]);
    listener = await tc.execDetached(cWeb, ["/bin/nc", "-l", "-p", "18081"]);
    dbListener = await tc.execDetached(cDb, ["/bin/nc", "-l", "-p", "18080"]);
    await until("the listeners", () =>
      [...procSockets(server).values()].filter((s) => s.st === 10).length >= 2 ? true : undefined,
    );
    // the client's stdin stays open (sleep holds the pipe), so the connection stays up
    const sh = await tc.execDetached(cWeb, ["/bin/sh", "-c", "sleep 3600 | nc 127.0.0.1 18080"]);
    client = await until("the client nc", () =>
      children(sh).find((p) => readFileSync(`/proc/${p}/comm`, "utf8").trim() === "nc"),
    );
    udp = await tc.execDetached(cWeb, [wl.inContainer, "udp", "15353"]);
    udp6 = await tc.execDetached(cWeb, [wl.inContainer, "udp6", "15354"]);
    tcpq = await tc.execDetached(cWeb, [wl.inContainer, "tcp", "18082"]);
    await until("the connections", () => {
      const s = [...procSockets(server).values()];
      const up = s.filter((x) => x.st === 1 && x.proto === "tcp").length;
      return up >= 4 && s.some((x) => x.lport === 15354) ? true : undefined;
    });
  });
  after(async () => {
    await tc.cleanup();
    wl.remove();
  });

  test("every socket of the selected pod, as the kernel's tables say, with its owner and fd", async () => {
    // a pod started just before the snapshot is in it
    const late = await tc.startPod({ name: "web-2", namespace: "sock-a", labels: { app: "web" } });
    const cLate = await tc.start({ name: "late", pod: late, command: ["/bin/nc", "-l", "-p", "18083"] });
    await until("the later listener", () =>
      [...procSockets(cLate.pid).values()].some((s) => s.lport === 18083) ? true : undefined,
    );
    const { rows, stderr } = await snapshot(["-n", "sock-a"]);
    const pids = [server, client, listener, udp, udp6, tcpq];
    const kernel = procSockets(server);
    for (const r of rows) assert.equal(r["k8s.ns.name"], "sock-a", JSON.stringify(r));
    // each row: one fd of its process, pointing at a socket the namespace's tables list
    for (const r of rows.filter((x) => pids.includes(x["proc.pid"] as number))) {
      const pid = r["proc.pid"] as number;
      const ino = BigInt(r["socket.inode"] as number);
      assert.equal(readlinkSync(`/proc/${pid}/fd/${r["fd.num"] as number}`), `socket:[${ino}]`);
      const k = kernel.get(ino);
      assert.ok(k, `socket ${ino} in the pod's network namespace`);
      assert.equal(r["fd.l4proto"], k.proto);
      assert.equal(r["fd.type"], k.family);
      assert.equal(r["fd.lip"], k.lip);
      assert.equal(r["fd.lport"], k.lport);
      assert.equal(r["fd.rip"], k.rip);
      assert.equal(r["fd.rport"], k.rport);
      const state = k.proto === "udp" ? (k.st === 1 ? "ESTABLISHED" : "UNCONNECTED") : STATES[k.st];
      assert.equal(r["socket.state"], state);
      if (k.st !== 10) {
        assert.equal(r["socket.rx_queue"], k.rxq, `receive queue of ${ino}`);
        assert.equal(r["socket.tx_queue"], k.txq, `send queue of ${ino}`);
      }
      assert.equal(r["k8s.pod.name"], "web-1");
      assert.equal(r["container.name"], "main");
      assert.equal(r["container.id"], cWeb.id.slice(0, 12));
    }
    // every socket the pod's processes hold is listed: what the tables have, by inode
    const listed = new Set(rows.map((r) => BigInt(r["socket.inode"] as number)));
    for (const ino of kernel.keys()) assert.ok(listed.has(ino), `socket ${ino} listed`);
    // the established pair, end to end
    const [srv] = ownedBy(rows, server);
    const [cli] = ownedBy(rows, client);
    assert.ok(srv && cli, "the server's and the client's socket");
    assert.equal(ownedBy(rows, server).length, 1, "nc closed its listener after accepting");
    assert.equal(srv["socket.state"], "ESTABLISHED");
    assert.equal(srv["fd.type"], "ipv6", "nc listens on [::], the connection is v4-mapped");
    assert.equal(srv["socket.local"], "127.0.0.1:18080");
    assert.equal(srv["proc.name"], "nc");
    assert.equal(cli["socket.state"], "ESTABLISHED");
    assert.equal(cli["fd.type"], "ipv4");
    assert.equal(cli["socket.remote"], "127.0.0.1:18080");
    assert.equal(cli["fd.lport"], srv["fd.rport"], "the client's port is the server's peer");
    assert.equal(cli["fd.rport"], 18080);
    assert.equal(cli["fd.num"], 3);
    // the idle listener
    const lis = ownedBy(rows, listener);
    assert.equal(lis.length, 1);
    assert.equal(lis[0]?.["socket.state"], "LISTEN");
    assert.equal(lis[0]?.["socket.local"], "[::]:18081");
    assert.equal(lis[0]?.["socket.remote"], "[::]:0");
    // UDP: the bound socket holds the unread datagram; the connected one has its peer
    const [bound, conn] = ownedBy(rows, udp).sort(
      (a, b) => (a["fd.num"] as number) - (b["fd.num"] as number),
    );
    assert.equal(bound?.["fd.num"], 3);
    assert.equal(bound?.["socket.local"], "0.0.0.0:15353");
    assert.equal(bound?.["socket.state"], "UNCONNECTED");
    assert.ok((bound?.["socket.rx_queue"] as number) > 0, "the datagram waits");
    assert.equal(conn?.["fd.num"], 4);
    assert.equal(conn?.["socket.state"], "ESTABLISHED");
    assert.equal(conn?.["socket.remote"], "127.0.0.1:15353");
    assert.equal(conn?.["fd.lip"], "127.0.0.1");
    const [u6] = ownedBy(rows, udp6);
    assert.equal(u6?.["socket.local"], "[::1]:15354");
    assert.equal(u6?.["fd.lip"], "::1");
    assert.equal(u6?.["fd.type"], "ipv6");
    // TCP queues: the listener's backlog, and 11 unread bytes on the accepted end
    const q = new Map(ownedBy(rows, tcpq).map((r) => [r["fd.num"], r]));
    assert.equal(q.get(3)?.["socket.state"], "LISTEN");
    assert.equal(q.get(3)?.["socket.rx_queue"], 0);
    assert.equal(q.get(3)?.["socket.tx_queue"], 7, "listen(fd, 7)");
    assert.equal(q.get(4)?.["socket.remote"], "127.0.0.1:18082");
    assert.equal(q.get(5)?.["socket.local"], "127.0.0.1:18082");
    assert.equal(q.get(5)?.["socket.rx_queue"], 11, "the bytes the client sent");
    // one namespace for the pod's sockets; the later pod's is another
    assert.equal(
      new Set(rows.filter((r) => r["k8s.pod.name"] === "web-1").map((r) => r["socket.netns"])).size,
      1,
    );
    const lateRows = ownedBy(rows, cLate.pid);
    assert.equal(lateRows.length, 1, "the later pod's listener");
    assert.equal(lateRows[0]?.["socket.local"], "[::]:18083");
    assert.equal(lateRows[0]?.["k8s.pod.name"], "web-2");
    assert.notEqual(lateRows[0]?.["socket.netns"], srv["socket.netns"]);
    assert.deepEqual(ownedBy(rows, dbListener), [], "not the other namespace's");
    // the rest of the node was dropped in the kernel
    const stats = /lanner: stats events=(\d+)/.exec(stderr);
    assert.ok(stats && Number(stats[1]) <= rows.length + 5, stderr);
  });

  test("-l selects the other pod: its own namespace, the same port", async () => {
    const { rows } = await snapshot(["-l", "app=db"]);
    const d = ownedBy(rows, dbListener);
    assert.equal(d.length, 1);
    assert.equal(d[0]?.["socket.local"], "[::]:18080");
    assert.equal(d[0]?.["socket.state"], "LISTEN");
    assert.equal(d[0]?.["k8s.pod.name"], "db-1");
    assert.equal(d[0]?.["container.id"], cDb.id.slice(0, 12));
    for (const r of rows) assert.equal(r["k8s.pod.name"], "db-1");
  });

  test("--proto picks TCP or UDP; a bad value is exit 2", async () => {
    const tcp = await snapshot(["-n", "sock-a", "--proto", "tcp"]);
    const udpOnly = await snapshot(["-n", "sock-a", "--proto", "udp"]);
    assert.ok(tcp.rows.length >= 6);
    for (const r of tcp.rows) assert.equal(r["fd.l4proto"], "tcp");
    const connected = ownedBy(udpOnly.rows, udp).find((r) => r["socket.state"] === "ESTABLISHED");
    assert.deepEqual(
      udpOnly.rows.map((r) => r["socket.local"]).sort(),
      ["0.0.0.0:15353", `127.0.0.1:${String(connected?.["fd.lport"])}`, "[::1]:15354"].sort(),
    );
    for (const r of udpOnly.rows) assert.equal(r["fd.l4proto"], "udp");
    const bad = await runGadget(["snapshot", "socket", "--proto", "sctp"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--proto: expected all, tcp or udp, got 'sctp'/);
    const table = await runGadget(["snapshot", "socket", "-n", "sock-a", "--proto", "udp"]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assert.deepEqual(lines[0]?.trim().split(/\s+/), [
      "NAMESPACE",
      "POD",
      "CONTAINER",
      "COMM",
      "PID",
      "PROTOCOL",
      "LOCAL",
      "REMOTE",
      "STATE",
    ]);
    assert.ok(
      lines.some((l) => /\[::1\]:15354\s+\[::\]:0\s+UNCONNECTED/.test(l)),
      table.stdout,
    );
  });
});
