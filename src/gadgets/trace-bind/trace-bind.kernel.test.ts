/**
 * trace bind on real containerd containers with the kubelet's CRI labels: busybox servers
 * bind known ports inside the pod's own network namespace (nc on [::]:PORT, httpd on
 * 127.0.0.1:PORT, syslogd on the unix socket /dev/log), a second nc on a taken port fails
 * with EADDRINUSE; the host binds UDP. Each selection reports exactly its pods' binds (a pod
 * started after the gadget included), --ports and --ignore-errors keep what they should.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
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
if (skip) console.log(`# SKIP trace bind kernel tests: ${skip}`);

const byPid = (events: GadgetEvent[], pid: number): GadgetEvent[] =>
  events.filter((e) => e["proc.pid"] === pid);

/** A host process that binds a UDP socket to 127.0.0.1:port (0: any) and prints the port. */
function hostUdpBind(port: number): Promise<{ pid: number; port: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      PYTHON,
      [
        "-c",
        `import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", ${port})); print(s.getsockname()[1])`,
      ],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.on("error", reject);
    p.on("exit", () => resolve({ pid: p.pid ?? 0, port: Number(out.trim()) }));
  });
}

describe("trace bind", { skip: skip ?? false }, () => {
  let tc: TestContainers;
  let web: RunningPod;
  let db: RunningPod;
  let cWeb: RunningContainer;
  let cDb: RunningContainer;
  before(async () => {
    tc = new TestContainers();
    web = await tc.startPod({ name: "bind-web-1", namespace: "bind-a", labels: { app: "bind-web" } });
    db = await tc.startPod({ name: "bind-db-1", namespace: "bind-b", labels: { app: "bind-db" } });
    cWeb = await tc.start({ name: "main", pod: web });
    cDb = await tc.start({ name: "main", pod: db });
  });
  after(async () => {
    await tc.cleanup();
  });

  test("each selection reports exactly its pods' binds, with exact addresses, ports and errors", async () => {
    const gadgets = await Promise.all([
      startGadget(["trace", "bind", "-n", "bind-a", "-o", "json"]),
      startGadget(["trace", "bind", "-n", "bind-a", "--ports", "4321,4322", "--ignore-errors", "-o", "json"]),
      startGadget(["trace", "bind", "-l", "app=bind-db", "-o", "json"]),
      startGadget(["trace", "bind", "--host", "-p", "!bind-web-1", "-o", "json"]),
    ]);
    const [a, ports, b, x] = gadgets as [GP, GP, GP, GP];
    type GP = Awaited<ReturnType<typeof startGadget>>;
    try {
      await new Promise((r) => setTimeout(r, 1000));
      // every server runs in the pod's own network namespace, so the same ports do not clash
      const ncWeb = await tc.execDetached(cWeb, ["nc", "-l", "-p", "4321"]);
      const taken = await tc.execDetached(cWeb, ["/bin/sh", "-c", "sleep 1; exec nc -l -p 4321"]);
      const httpd = await tc.execDetached(cWeb, ["httpd", "-f", "-p", "127.0.0.1:4322"]);
      const syslogd = await tc.execDetached(cWeb, ["syslogd", "-n", "-O", "/tmp/lanner-log"]);
      const ncDb = await tc.execDetached(cDb, ["nc", "-l", "-p", "4321"]);
      const udp = await hostUdpBind(0);
      const late = await tc.startPod({
        name: "bind-web-2",
        namespace: "bind-a",
        labels: { app: "bind-web" },
      });
      const cLate = await tc.start({ name: "late", pod: late, command: ["nc", "-l", "-p", "4323"] });

      assert.ok(
        await a.waitFor((e) => e["proc.pid"] === taken && e["evt.res"] === "EADDRINUSE", 20000),
        a.stderr(),
      );
      assert.ok(await a.waitFor((e) => e["proc.pid"] === cLate.pid), `the later pod: ${a.stderr()}`);
      assert.ok(await a.waitFor((e) => e["proc.pid"] === syslogd), a.stderr());
      assert.ok(await ports.waitFor((e) => e["proc.pid"] === httpd), ports.stderr());
      assert.ok(await b.waitFor((e) => e["proc.pid"] === ncDb), b.stderr());
      assert.ok(await x.waitFor((e) => e["proc.pid"] === udp.pid), x.stderr());
      assert.ok(await x.waitFor((e) => e["proc.pid"] === cLate.pid), x.stderr());
      for (const g of gadgets) assert.equal(await g.stop(), 0, g.stderr());

      // -n bind-a: nc on [::]:4321, the second nc's EADDRINUSE, httpd on 127.0.0.1:4322,
      // syslogd on /dev/log, the later pod's nc on 4323
      const [n1] = byPid(a.events, ncWeb) as [GadgetEvent];
      assert.equal(byPid(a.events, ncWeb).length, 1);
      assert.equal(n1["proc.name"], "nc");
      assert.equal(n1["fd.l4proto"], "tcp");
      assert.equal(n1["bind.family"], "inet6");
      assert.equal(n1["bind.addr"], "::");
      assert.equal(n1["bind.port"], 4321);
      assert.equal(n1["fd.lip"], "::");
      assert.equal(n1["fd.lport"], 4321);
      assert.equal(n1["evt.res"], "SUCCESS");
      assert.equal(n1["evt.rawres"], 0);
      assert.equal(typeof n1["fd.num"], "number");
      assert.equal(n1["k8s.pod.name"], "bind-web-1");
      assert.equal(n1["k8s.ns.name"], "bind-a");
      assert.equal(n1["container.name"], "main");
      assert.equal(n1["container.id"], cWeb.id.slice(0, 12));
      const t = byPid(a.events, taken);
      assert.equal(t.length, 1);
      assert.equal((t[0] as GadgetEvent)["bind.port"], 4321);
      assert.equal((t[0] as GadgetEvent)["evt.rawres"], -98);
      assert.equal((t[0] as GadgetEvent)["evt.res"], "EADDRINUSE");
      assert.equal((t[0] as GadgetEvent)["fd.lport"], 0, "not bound");
      const h = byPid(a.events, httpd);
      assert.deepEqual(
        h.map((e) => [
          e["fd.l4proto"],
          e["bind.family"],
          e["bind.addr"],
          e["bind.port"],
          e["fd.lip"],
          e["evt.res"],
        ]),
        [["tcp", "inet", "127.0.0.1", 4322, "127.0.0.1", "SUCCESS"]],
      );
      const s = byPid(a.events, syslogd);
      assert.deepEqual(
        s.map((e) => [e["bind.family"], e["bind.addr"], e["bind.port"], e["fd.l4proto"], e["evt.res"]]),
        [["unix", "/dev/log", null, null, "SUCCESS"]],
      );
      // (runc's init, the same process before it becomes nc, binds netlink sockets first)
      const l = byPid(a.events, cLate.pid).filter((e) => e["bind.family"] !== "netlink");
      assert.deepEqual(
        l.map((e) => [e["bind.port"], e["fd.lport"], e["k8s.pod.name"], e["container.name"]]),
        [[4323, 4323, "bind-web-2", "late"]],
      );
      assert.deepEqual(byPid(a.events, ncDb), []);
      assert.deepEqual(byPid(a.events, udp.pid), []);
      for (const e of a.events) assert.equal(e["k8s.ns.name"], "bind-a", JSON.stringify(e));

      // --ports 4321,4322 --ignore-errors: the two servers on those ports, not the failure,
      // syslogd (no port) or the later pod's 4323
      assert.deepEqual(
        ports.events.map((e) => [e["proc.pid"], e["bind.port"]]),
        [
          [ncWeb, 4321],
          [httpd, 4322],
        ],
      );

      // -l app=bind-db: the db pod's nc, on the same port as web's (its own network namespace)
      assert.deepEqual(
        b.events.map((e) => [e["proc.pid"], e["bind.port"], e["evt.res"], e["k8s.pod.name"]]),
        [[ncDb, 4321, "SUCCESS", "bind-db-1"]],
      );

      // --host -p !bind-web-1: the host's UDP bind (port 0: fd.lport is the kernel's choice), db, late
      const u = byPid(x.events, udp.pid);
      assert.deepEqual(
        u.map((e) => [e["fd.l4proto"], e["bind.addr"], e["bind.port"], e["fd.lport"], e["container.id"]]),
        [["udp", "127.0.0.1", 0, udp.port, "host"]],
      );
      assert.ok(udp.port > 0);
      assert.equal(byPid(x.events, ncDb).length, 1);
      assert.equal(byPid(x.events, cLate.pid).filter((e) => e["bind.port"] === 4323).length, 1);
      for (const e of x.events) assert.notEqual(e["k8s.pod.name"], "bind-web-1", JSON.stringify(e));
    } finally {
      for (const g of gadgets) await g.stop();
    }
  });

  test("bad input is exit 2 with the reason", async () => {
    const bad: [string[], RegExp][] = [
      [["trace", "bind", "--ports", "80,http"], /--ports: 'http' is not a port/],
      [["trace", "bind", "--ports", "70000"], /--ports: '70000' is not a port/],
      [["trace", "bind", "-o", "columns=bind.nope"], /unknown column 'bind.nope'/],
      [["trace", "bind", "--filter", "bind.port=x"], /--filter/],
    ];
    for (const [args, re] of bad) {
      const res = await runGadget(args);
      assert.equal(res.code, 2, `${args.join(" ")}: ${res.stderr}`);
      assert.match(res.stderr, re, args.join(" "));
    }
  });
});
