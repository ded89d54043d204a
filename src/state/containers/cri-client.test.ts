/**
 * CriClient and the store's CRI path against hostile sockets: missing, accepting but never
 * answering (raw socket), and a gRPC server answering malformed replies. Nothing may hang
 * or throw out of the store; problems are logged once and counted.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { ContainerStore } from "./container-store.js";
import { containerFromCriStatus, CriClient, criRuntimeService, parseVerboseInfo } from "./cri-client.js";
import { StateError } from "./errors.js";

const dir = mkdtempSync(join(tmpdir(), "lanner-cri-hostile-"));
const ID = "a".repeat(64);
const cleanups: Array<() => void | Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

function hangingSocket(name: string): Promise<string> {
  const path = join(dir, name);
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return new Promise((resolve) => server.listen(path, () => resolve(path)));
}

async function grpcServer(name: string, impl: grpc.UntypedServiceImplementation): Promise<string> {
  const path = join(dir, name);
  const server = new grpc.Server();
  server.addService(criRuntimeService().service, impl);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err === null ? resolve() : reject(err),
    ),
  );
  cleanups.push(() => void server.forceShutdown());
  return path;
}

async function rejectsWith(p: Promise<unknown>, code: string, withinMs: number): Promise<void> {
  const t0 = Date.now();
  await assert.rejects(p, (err: unknown) => err instanceof StateError && err.code === code);
  assert.ok(Date.now() - t0 < withinMs, `took ${Date.now() - t0} ms`);
}

describe("CriClient against hostile sockets", () => {
  it("a missing socket fails fast with EUNAVAILABLE", async () => {
    const c = new CriClient({ address: join(dir, "missing.sock"), timeoutMs: 1000 });
    try {
      await rejectsWith(c.containerStatus(ID), "EUNAVAILABLE", 1500);
    } finally {
      c.close();
    }
  });

  it("a socket that never answers times out at the deadline", async () => {
    const c = new CriClient({ address: await hangingSocket("hang.sock"), timeoutMs: 300 });
    try {
      await rejectsWith(c.containerStatus(ID), "ETIMEDOUT", 2000);
      await rejectsWith(c.listContainers(), "ETIMEDOUT", 2000);
    } finally {
      c.close();
    }
  });

  it("malformed replies are EMALFORMED; unknown ids are null", async () => {
    const path = await grpcServer("bad.sock", {
      ContainerStatus: (
        call: grpc.ServerUnaryCall<{ containerId: string }, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        if (call.request.containerId === ID) cb(null, { status: { id: ID }, info: { info: "{not json" } });
        else if (call.request.containerId === "b".repeat(64)) cb(null, {});
        else cb({ code: grpc.status.NOT_FOUND, details: "container not found" });
      },
      ListContainers: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
    });
    const c = new CriClient({ address: path, timeoutMs: 1000 });
    try {
      await rejectsWith(c.containerStatus(ID), "EMALFORMED", 1500);
      await rejectsWith(c.containerStatus("b".repeat(64)), "EMALFORMED", 1500);
      assert.equal(await c.containerStatus("c".repeat(64)), null);
      // An empty list decodes as [] (proto3 defaults), not as an error.
      assert.deepEqual(await c.listContainers(), []);
    } finally {
      c.close();
    }
  });

  it("the store logs a hanging CRI socket once, counts it and never throws", async () => {
    const logs: string[] = [];
    const store = new ContainerStore({
      containerd: false,
      docker: false,
      cri: { address: await hangingSocket("store-hang.sock"), timeoutMs: 200 },
      refetchMs: 0,
      logger: (m) => logs.push(m),
    });
    try {
      for (let i = 0; i < 3; i++) assert.equal(await store.fetch(ID, "cri-o", true), undefined);
      assert.equal(logs.filter((l) => l.includes("CRI container status")).length, 1, logs.join("\n"));
      assert.equal(store.stats().timeouts, 3);
    } finally {
      await store.close();
    }
  });

  it("the store reports a missing CRI-O socket as not supported, once", async () => {
    const logs: string[] = [];
    const store = new ContainerStore({
      containerd: false,
      docker: false,
      cri: { address: join(dir, "no-crio.sock") },
      refetchMs: 0,
      logger: (m) => logs.push(m),
    });
    try {
      await store.fetch(ID, "cri-o", true);
      await store.fetch(ID, "cri-o", true);
      assert.equal(logs.length, 1, logs.join("\n"));
      assert.match(
        logs[0] ?? "",
        /CRI-O container metadata: not supported \(needs the CRI API on .*no-crio\.sock/,
      );
      assert.equal(store.stats().notSupported, 2);
    } finally {
      await store.close();
    }
  });
});

describe("CRI replies to ContainerInfo", () => {
  it("maps a CRI-O style verbose status", () => {
    const info = containerFromCriStatus(
      {
        status: {
          id: ID,
          metadata: { name: "web" },
          image: { image: "quay.io/acme/web:1.2" },
          imageRef: "quay.io/acme/web@sha256:" + "d".repeat(64),
          startedAt: "1700000000000000000",
          labels: {
            "io.kubernetes.pod.name": "web-0",
            "io.kubernetes.pod.namespace": "prod",
            "io.kubernetes.pod.uid": "u-1",
          },
          mounts: [{ containerPath: "/data", hostPath: "/srv/data", readonly: true, propagation: 1 }],
        },
        info: {
          info: JSON.stringify({
            sandboxID: "f".repeat(64),
            pid: 4242,
            privileged: true,
            runtimeSpec: { linux: { namespaces: [{ type: "pid" }, { type: "mount" }] } },
          }),
        },
      },
      "cri-o",
    );
    assert.equal(info.name, "web");
    assert.equal(info.image, "quay.io/acme/web:1.2");
    assert.equal(info.imageTag, "1.2");
    assert.equal(info.imageDigest, "sha256:" + "d".repeat(64));
    assert.equal(info.privileged, true);
    assert.equal(info.initPid, 4242);
    assert.equal(info.startTs, 1700000000000000000n);
    assert.deepEqual(info.pod, { name: "web-0", namespace: "prod", uid: "u-1", sandboxId: "f".repeat(64) });
    assert.deepEqual(info.mounts, [
      { source: "/srv/data", dest: "/data", mode: "bind", rw: false, propagation: "rslave" },
    ]);
    // No network namespace in the spec: the host's.
    assert.equal(info.hostNetwork, true);
    assert.equal(info.hostPid, false);
  });

  it("takes containerd's namespace modes from its config", () => {
    const v = parseVerboseInfo({
      info: JSON.stringify({
        pid: 7,
        config: { linux: { security_context: { namespace_options: { network: 2, pid: 1 } } } },
      }),
    });
    assert.deepEqual(v.namespaceModes, { network: 2, pid: 1, ipc: 0 });
    assert.equal(v.privileged, false);
  });
});
