/**
 * A container runtime socket that is missing, hangs, or answers garbage: every problem is
 * logged once, counted, never fatal, and lookups never wait for the runtime.
 * (No root needed: the "runtime" is a fake server on a temporary unix socket, and pids are
 * served from a fake /proc.)
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { containerdServiceDefinitions, ContainerdClient } from "./containerd-client.js";
import { ContainerStore } from "./container-store.js";
import { readProtoFields } from "./containerd-events.js";

const dir = mkdtempSync(join(tmpdir(), "lanner-hostile-"));
const ID = "f".repeat(8) + "1234567890abcdef".repeat(3) + "e".repeat(8);
const HOST_PID = 100;
const CONTAINER_PID = 200;
const procRoot = join(dir, "proc");
mkdirSync(join(procRoot, String(HOST_PID)), { recursive: true });
mkdirSync(join(procRoot, String(CONTAINER_PID)), { recursive: true });
writeFileSync(join(procRoot, String(HOST_PID), "cgroup"), "0::/user.slice\n");
writeFileSync(join(procRoot, String(CONTAINER_PID), "cgroup"), `4:memory:/k8s.io/${ID}\n0::/k8s.io/${ID}\n`);
const CRIO_PID = 300;
const DOCKER_PID = 400;
mkdirSync(join(procRoot, String(CRIO_PID)), { recursive: true });
mkdirSync(join(procRoot, String(DOCKER_PID)), { recursive: true });
writeFileSync(
  join(procRoot, String(CRIO_PID), "cgroup"),
  `0::/kubepods.slice/kubepods-pod1.slice/crio-${ID}.scope\n`,
);
writeFileSync(
  join(procRoot, String(DOCKER_PID), "cgroup"),
  `0::/system.slice/docker-${"d".repeat(64)}.scope\n`,
);

after(() => rmSync(dir, { recursive: true, force: true }));

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Lookups answer at once, whatever the runtime does. */
function assertLookupsFast(store: ContainerStore): void {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) {
    assert.equal(store.byPid(HOST_PID)?.id, "host");
    const c = store.byPid(CONTAINER_PID);
    assert.equal(c?.id, ID.slice(0, 12));
    assert.equal(c?.fullId, ID);
    assert.equal(c?.type, "containerd");
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.ok(ms < 200, `2000 lookups took ${ms} ms`);
}

function makeStore(address: string, logs: string[], timeoutMs = 200): ContainerStore {
  return new ContainerStore({
    containerd: { address, timeoutMs },
    // only the hostile containerd: the machine's Docker or CRI-O sockets (answering or stale) are not this test's
    docker: false,
    cri: false,
    procRoot,
    cgroup: { root: null },
    refetchMs: 0,
    maxBackoffMs: 100,
    logger: (m) => logs.push(m),
  });
}

describe("missing runtime socket", () => {
  it("is logged once, counted, retried, never fatal", async () => {
    const logs: string[] = [];
    const store = makeStore(join(dir, "absent.sock"), logs);
    after(() => store.close());
    store.start();
    assert.equal(await store.whenSynced(3000), false);
    assertLookupsFast(store);
    await sleep(600); // several reconnect attempts and fetches
    for (let i = 0; i < 5; i++) {
      store.byPid(CONTAINER_PID);
      await sleep(20);
    }
    const st = store.stats();
    assert.ok(st.unavailable >= 3, `unavailable counted: ${st.unavailable}`);
    assert.ok(st.eventStreamRestarts >= 2, `stream retried: ${st.eventStreamRestarts}`);
    // One line per kind of problem, however often it happened.
    assert.deepEqual(new Set(logs).size, logs.length, logs.join("\n"));
    assert.ok(logs.length >= 1 && logs.length <= 3, logs.join("\n"));
    assert.ok(
      logs.every((l) => l.includes("containerd")),
      logs.join("\n"),
    );
    await store.close();
  });
});

describe("runtime socket that accepts but never answers", () => {
  const sockets = new Set<Socket>();
  let server: Server;
  it("times out, is logged once, counted, never blocks", async () => {
    const path = join(dir, "hang.sock");
    server = createServer((s) => {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(path, r));
    const logs: string[] = [];
    const store = makeStore(path, logs, 200);
    after(async () => {
      await store.close();
      for (const s of sockets) s.destroy();
      server.close();
    });
    store.start();
    const t0 = Date.now();
    assertLookupsFast(store);
    assert.equal(await store.whenSynced(3000), false);
    assert.ok(Date.now() - t0 < 2000, "the listing gave up at its deadline");
    await sleep(300);
    store.byPid(CONTAINER_PID);
    await sleep(400);
    const st = store.stats();
    assert.ok(st.timeouts >= 2, `timeouts counted: ${st.timeouts}`);
    // One line per operation that timed out (listing, get, ...), each once.
    const deadlines = logs.filter((l) => /deadline/i.test(l)).length;
    assert.ok(deadlines >= 1 && deadlines <= 4, logs.join("\n"));
    assert.equal(new Set(logs).size, logs.length);
    await store.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
});

describe("malformed runtime replies", () => {
  it("garbage bytes, a bad spec and a bad event payload: logged once each, counted", async () => {
    const defs = containerdServiceDefinitions();
    const server = new grpc.Server();
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    // Containers.List answers bytes that are not a ListContainersResponse.
    const containersDef = {
      ...defs.containers,
      List: { ...defs.containers["List"], responseSerialize: () => garbage },
    } as grpc.ServiceDefinition;
    let getCalls = 0;
    server.addService(containersDef, {
      List: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
      // Get answers a well-formed record whose spec is not JSON.
      Get: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
        getCalls++;
        cb(null, {
          container: {
            id: ID,
            labels: { "io.kubernetes.container.name": "x" },
            spec: {
              type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec",
              value: Buffer.from("{not json"),
            },
          },
        });
      },
      Create: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb({ code: grpc.status.UNIMPLEMENTED }),
      Delete: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb({ code: grpc.status.UNIMPLEMENTED }),
    });
    server.addService(defs.tasks, {
      Get: (_c: unknown, cb: grpc.sendUnaryData<unknown>) =>
        cb({ code: grpc.status.NOT_FOUND, details: "no task" }),
      List: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { tasks: [] }),
    });
    // Events: a payload that is not protobuf, one with a truncated varint, then a good one.
    server.addService(defs.events, {
      Subscribe: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        const env = (topic: string, value: Buffer) => ({
          namespace: "k8s.io",
          topic,
          event: { type_url: "containerd.events.X", value },
        });
        call.write(env("/tasks/start", Buffer.from([0x0a, 0x7f, 0x41])));
        call.write(env("/tasks/exit", Buffer.from([0x18, 0xff])));
        call.write(env("/tasks/start", Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63, 0x10, 0x07])));
      },
    });
    const path = join(dir, "bad.sock");
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    const logs: string[] = [];
    const store = makeStore(path, logs, 500);
    try {
      store.start();
      assert.equal(await store.whenSynced(3000), false, "the garbage listing is a failed sync");
      assertLookupsFast(store);
      await sleep(300);
      store.byPid(CONTAINER_PID);
      await sleep(300);
      const st = store.stats();
      assert.ok(getCalls >= 1);
      assert.ok(st.malformed >= 4, `malformed counted: ${st.malformed}`);
      assert.equal(store.byPid(CONTAINER_PID)?.complete, false, "a bad record leaves the container partial");
      assert.ok(
        logs.some((l) => /spec is not JSON/.test(l)),
        logs.join("\n"),
      );
      assert.ok(
        logs.some((l) => /truncated varint|length past end/.test(l)),
        logs.join("\n"),
      );
      assert.equal(new Set(logs).size, logs.length, logs.join("\n"));
      assert.ok(st.events >= 1, "the good event after bad ones was processed");
    } finally {
      await store.close();
      server.forceShutdown();
    }
  });

  it("the protobuf reader rejects hostile bytes without throwing anything but StateError", () => {
    const samples = [
      [0x08],
      [0x0a, 0x05, 0x01],
      [0x0f],
      [0x00],
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
      [0x0b],
    ];
    for (const s of samples) {
      assert.throws(
        () => readProtoFields(Uint8Array.from(s)),
        (e: unknown) => (e as { code?: string }).code === "EMALFORMED",
      );
    }
    for (let i = 0; i < 2000; i++) {
      const buf = Uint8Array.from({ length: 1 + (i % 40) }, () => Math.floor(Math.random() * 256));
      try {
        readProtoFields(buf);
      } catch (e) {
        assert.equal((e as { code?: string }).code, "EMALFORMED");
      }
    }
  });

  it("a client call on a closed client rejects, never hangs", async () => {
    const c = new ContainerdClient({ address: join(dir, "absent.sock"), timeoutMs: 100 });
    c.close();
    await assert.rejects(c.listContainers("k8s.io"), /closed/);
  });
});

describe("runtimes without a client (CRI-O, Docker, Podman)", () => {
  it("identify containers from cgroups and report the missing metadata once as NotSupported", async () => {
    const logs: string[] = [];
    const store = new ContainerStore({
      containerd: false,
      docker: false,
      procRoot,
      cgroup: { root: null },
      refetchMs: 0,
      logger: (m) => logs.push(m),
    });
    try {
      for (let i = 0; i < 3; i++) {
        const c = store.byPid(CRIO_PID);
        assert.equal(c?.type, "cri-o");
        assert.equal(c?.id, ID.slice(0, 12));
        assert.equal(c?.complete, false);
        store.forgetPid(CRIO_PID);
        await sleep(10);
      }
      const d = store.byPid(DOCKER_PID);
      assert.equal(d?.type, "docker");
      assert.equal(d?.fullId, "d".repeat(64));
      await sleep(20);
      assert.ok(store.stats().notSupported >= 4);
      assert.equal(
        logs.filter((l) => /CRI-O container metadata: not supported/.test(l)).length,
        1,
        logs.join("\n"),
      );
      assert.equal(
        logs.filter((l) => /Docker container metadata: not supported/.test(l)).length,
        1,
        logs.join("\n"),
      );
      assert.equal(new Set(logs).size, logs.length);
    } finally {
      await store.close();
    }
  });
});
