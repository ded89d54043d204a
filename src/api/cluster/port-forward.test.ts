/**
 * The port-forward tunnel through the stand-in's WebSocket port-forward, as the kubelet
 * speaks it to @kubernetes/client-node: bytes both ways, many connections, a refused port
 * reported in the kubelet's words, an unknown pod.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeApiStandin } from "../../../test/helpers/kube-apiserver-standin.js";
import { PortForwardTunnel } from "./port-forward.js";

const standin = new KubeApiStandin();
const dir = mkdtempSync(join(tmpdir(), "cluster-pf-"));
let kc: KubeConfig;
let echo: Server;
let echoPort = 0;

before(async () => {
  await standin.start();
  kc = new KubeConfig();
  kc.loadFromFile(standin.writeKubeconfig(join(dir, "kubeconfig")));
  // the "pod": echoes what it gets, after a greeting that says which connection it is
  let n = 0;
  echo = createServer((s) => {
    s.write(`conn${++n};`);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  echoPort = (echo.address() as { port: number }).port;
  standin.addPod({ name: "cluster-pf-pod", namespace: "lanner", nodeName: "n1", podIP: "127.0.0.1" });
});

after(async () => {
  await standin.stop();
  echo.close();
  rmSync(dir, { recursive: true, force: true });
});

function open(address: string): Promise<Socket> {
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const s = connect({ host: host as string, port: Number(port) }, () => resolve(s));
    s.once("error", reject);
  });
}

function read(s: Socket, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const on = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      if (got.length >= bytes) {
        s.off("data", on);
        resolve(got);
      }
    };
    s.on("data", on);
    s.once("close", () => reject(new Error(`closed after ${got.length} bytes: ${got.toString()}`)));
  });
}

test("port-forward: bytes both ways, one WebSocket per connection", async () => {
  const errors: string[] = [];
  const t = new PortForwardTunnel(kc, {
    namespace: "lanner",
    pod: "cluster-pf-pod",
    port: echoPort,
    onError: (m) => errors.push(m),
  });
  const address = await t.listen();
  assert.match(address, /^127\.0\.0\.1:\d+$/);
  const before = standin.portForwards;
  const a = await open(address);
  const b = await open(address);
  // the pod speaks first (its greeting comes before anything is sent), then echoes
  const greetA = (await read(a, 6)).toString();
  const greetB = (await read(b, 6)).toString();
  assert.deepEqual([greetA, greetB].sort(), ["conn1;", "conn2;"]);
  a.write("hello");
  assert.equal((await read(a, 5)).toString(), "hello");
  b.write("abc");
  assert.equal((await read(b, 3)).toString(), "abc");
  // a large write comes back whole and unchanged (binary, every byte value)
  const big = Buffer.alloc(300_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  const got = read(a, big.length);
  a.write(big);
  assert.ok((await got).equals(big));
  assert.equal(standin.portForwards - before, 2);
  assert.equal(t.connections, 2);
  assert.ok(
    standin.requests.some(
      (r) => r === `/api/v1/namespaces/lanner/pods/cluster-pf-pod/portforward?ports=${echoPort}`,
    ),
  );
  a.destroy();
  b.destroy();
  await t.close();
  assert.deepEqual(errors, []);
});

test("port-forward: a refused port is reported as the kubelet says it, and the connection ends", async () => {
  // a port nothing listens on
  const free = createServer();
  await new Promise<void>((r) => free.listen(0, "127.0.0.1", r));
  const port = (free.address() as { port: number }).port;
  await new Promise<void>((r) => free.close(() => r()));
  const errors: string[] = [];
  const t = new PortForwardTunnel(kc, {
    namespace: "lanner",
    pod: "cluster-pf-pod",
    port,
    onError: (m) => errors.push(m),
  });
  const s = await open(await t.listen());
  const closed = new Promise<void>((r) => s.once("close", () => r()));
  s.write("x");
  await closed;
  await t.close();
  assert.equal(errors.length, 1);
  assert.match(
    errors[0] as string,
    new RegExp(
      `^port-forward to pod lanner/cluster-pf-pod port ${port}: error forwarding port ${port} to pod [0-9a-f-]+, uid : ` +
        `failed to connect to 127\\.0\\.0\\.1:${port}: dial tcp4 127\\.0\\.0\\.1:${port}: connect: connection refused$`,
    ),
  );
});

test("port-forward: a pod the API server does not know is reported", async () => {
  const errors: string[] = [];
  const t = new PortForwardTunnel(kc, {
    namespace: "lanner",
    pod: "cluster-pf-none",
    port: 1,
    onError: (m) => errors.push(m),
  });
  const s = await open(await t.listen());
  await new Promise<void>((r) => s.once("close", () => r()));
  await t.close();
  assert.deepEqual(errors, [
    "port-forward to pod lanner/cluster-pf-none port 1: Unexpected server response: 404",
  ]);
});
