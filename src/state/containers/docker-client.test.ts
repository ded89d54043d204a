/**
 * The Docker Engine API client and the store's Docker path: against the real engine (root,
 * /var/run/docker.sock answering; skipped otherwise) and against a missing and a hanging
 * socket (no root needed).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DOCKER_IMAGE, DockerContainers, dockerUnavailable } from "../../../test/helpers/docker.js";
import { findCgroup2Mount } from "./cgroup-resolver.js";
import { ContainerStore } from "./container-store.js";
import type { ContainerInfo } from "./container-info.js";
import {
  containerFromDockerConfig,
  containerFromDockerInspect,
  DockerClient,
  parseDockerEvent,
  rfc3339ToNs,
  splitJsonObjects,
} from "./docker-client.js";

const dir = mkdtempSync(join(tmpdir(), "lanner-docker-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until<T>(what: string, fn: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe("docker reply parsing", () => {
  it("maps inspect replies and events", () => {
    const id = "a".repeat(64);
    const info = containerFromDockerInspect({
      Id: id,
      Name: "/web",
      Image: "sha256:" + "b".repeat(64),
      Created: "2026-01-02T03:04:05.123456789Z",
      State: { Pid: 42, StartedAt: "2026-01-02T03:04:06.5Z" },
      Config: { Image: "reg:5000/app:1.2", Labels: { "io.kubernetes.container.name": "c1" } },
      HostConfig: { Privileged: true, PidMode: "host", NetworkMode: "none", IpcMode: "private" },
      Mounts: [{ Source: "/a", Destination: "/b", Mode: "ro", RW: false, Propagation: "rprivate" }],
    });
    assert.equal(info.name, "c1");
    assert.equal(info.imageRepository, "reg:5000/app");
    assert.equal(info.imageTag, "1.2");
    assert.equal(info.imageDigest, "sha256:" + "b".repeat(64));
    assert.equal(info.privileged, true);
    assert.equal(info.hostPid, true);
    assert.equal(info.hostNetwork, false);
    assert.equal(info.initPid, 42);
    assert.equal(info.startTs, 1767323046_500_000_000n);
    assert.deepEqual(info.mounts, [
      { source: "/a", dest: "/b", mode: "ro", rw: false, propagation: "rprivate" },
    ]);
    assert.throws(() => containerFromDockerInspect({ Id: "x" }), /EMALFORMED|container id/);
    assert.throws(() => containerFromDockerInspect([]), /not an object/);
    assert.equal(rfc3339ToNs("0001-01-01T00:00:00Z"), null);
    const ev = parseDockerEvent(
      JSON.stringify({
        Type: "container",
        Action: "start",
        Actor: { ID: id },
        timeNano: 1700000000000000000,
      }),
    );
    assert.equal(ev?.action, "start");
    assert.equal(ev?.id, id);
    assert.equal(
      parseDockerEvent(JSON.stringify({ Type: "network", Action: "connect", Actor: { ID: "n" } })),
      null,
    );
    assert.throws(() => parseDockerEvent("{nope"), /not JSON/);
    const split = splitJsonObjects('{"a":"}{"}{"b":[1,{"c":2}]}\n\n garbage\n{"d":"\\"}"}{"e"');
    assert.deepEqual(split.objects, ['{"a":"}{"}', '{"b":[1,{"c":2}]}', "garbage", '{"d":"\\"}"}']);
    assert.equal(split.rest, '{"e"');
  });
});
describe("Docker's on-disk container records", () => {
  it("map as inspect does: ID, MountPoints by destination, the host config apart", () => {
    const id = "ab".repeat(32);
    const info = containerFromDockerConfig(
      {
        ID: id,
        Name: "/web",
        Created: "2026-11-22T03:11:29.89758747Z",
        Image: `sha256:${"cd".repeat(32)}`,
        Config: { Image: "registry.example/shop/web:1.2", Labels: { app: "web" } },
        State: { Pid: 4242, StartedAt: "2026-11-22T03:11:30.5Z" },
        MountPoints: {
          "/data": { Source: "/srv/data", Destination: "/data", RW: true, Propagation: "rprivate" },
        },
      },
      { Privileged: true, NetworkMode: "host", PidMode: "" },
    );
    assert.equal(info.fullId, id);
    assert.equal(info.id, id.slice(0, 12));
    assert.equal(info.name, "web");
    assert.equal(info.type, "docker");
    assert.equal(info.image, "registry.example/shop/web:1.2");
    assert.equal(info.imageRepository, "registry.example/shop/web");
    assert.equal(info.imageTag, "1.2");
    assert.equal(info.initPid, 4242);
    assert.equal(info.privileged, true);
    assert.equal(info.hostNetwork, true);
    assert.equal(info.hostPid, false);
    assert.deepEqual(info.mounts, [
      { source: "/srv/data", dest: "/data", mode: "", rw: true, propagation: "rprivate" },
    ]);
    assert.equal(info.labels["app"], "web");
    assert.equal(info.complete, true);
    assert.throws(() => containerFromDockerConfig("[]", {}), /config.v2.json: not an object/);
  });
});

describe("missing and hanging Docker sockets", () => {
  const DOCKER_PID = 400;
  const procRoot = join(dir, "proc");
  before(async () => {
    const { mkdirSync, writeFileSync } = await import("node:fs");
    mkdirSync(join(procRoot, String(DOCKER_PID)), { recursive: true });
    writeFileSync(join(procRoot, String(DOCKER_PID), "cgroup"), `0::/docker/${"d".repeat(64)}\n`);
  });

  function storeOn(address: string, logs: string[]): ContainerStore {
    return new ContainerStore({
      containerd: false,
      docker: { address, timeoutMs: 150 },
      procRoot,
      cgroup: { root: null },
      refetchMs: 0,
      maxBackoffMs: 100,
      logger: (m) => logs.push(m),
    });
  }

  function assertFast(store: ContainerStore): void {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 1000; i++) {
      const d = store.byPid(DOCKER_PID);
      assert.equal(d?.type, "docker");
      assert.equal(d?.fullId, "d".repeat(64));
      assert.equal(d?.complete, false);
      store.forgetPid(DOCKER_PID);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(ms < 300, `1000 lookups took ${ms} ms`);
  }

  it("a missing socket is counted, logged once, never fatal", async () => {
    const logs: string[] = [];
    const client = new DockerClient({ address: join(dir, "absent.sock"), timeoutMs: 150 });
    await assert.rejects(client.inspect("d".repeat(64)), (e: { code?: string }) => e.code === "EUNAVAILABLE");
    // The store: a missing socket is not the Docker client's problem to report repeatedly.
    const store = storeOn(join(dir, "absent.sock"), logs);
    try {
      store.start();
      assertFast(store);
      await sleep(300);
      assertFast(store);
      await sleep(50);
      assert.equal(new Set(logs).size, logs.length, logs.join("\n"));
      assert.ok(logs.length <= 1, logs.join("\n"));
    } finally {
      await store.close();
    }
  });

  it("a socket that accepts but never answers times out, is counted and logged once", async () => {
    const sock = join(dir, "hang.sock");
    const conns = new Set<Socket>();
    const server = createServer((c) => {
      conns.add(c);
      c.on("close", () => conns.delete(c));
    });
    await new Promise<void>((r) => server.listen(sock, r));
    const logs: string[] = [];
    const store = storeOn(sock, logs);
    try {
      const client = new DockerClient({ address: sock, timeoutMs: 100 });
      const t0 = Date.now();
      await assert.rejects(client.inspect("d".repeat(64)), (e: { code?: string }) => e.code === "ETIMEDOUT");
      assert.ok(Date.now() - t0 < 1000);
      store.start();
      assertFast(store);
      await sleep(700); // fetches and event-stream reconnects time out
      assertFast(store);
      await sleep(300);
      const s = store.stats();
      assert.ok(s.timeouts >= 2, JSON.stringify(s));
      assert.ok(s.eventStreamRestarts >= 1, JSON.stringify(s));
      assert.ok((store.problemCounts().get("docker-inspect:ETIMEDOUT") ?? 0) >= 1);
      assert.equal(new Set(logs).size, logs.length, logs.join("\n"));
      assert.equal(logs.filter((l) => /docker inspect/.test(l)).length, 1, logs.join("\n"));
    } finally {
      await store.close();
      for (const c of conns) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe("malformed Docker replies", () => {
  it("are counted as malformed and logged once; the event stream continues", async () => {
    const sock = join(dir, "garbage.sock");
    const id = "e".repeat(64);
    const server = createHttpServer((req, res) => {
      if ((req.url ?? "").includes("/events")) {
        res.writeHead(200, { "content-type": "application/json" });
        res.write("garbage line\n");
        res.write(JSON.stringify({ Type: "container", Action: "destroy", Actor: { ID: id } }) + "\n");
        return; // stays open
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{not json");
    });
    await new Promise<void>((r) => server.listen(sock, r));
    const logs: string[] = [];
    const store = new ContainerStore({
      containerd: false,
      docker: { address: sock, timeoutMs: 300 },
      procRoot: join(dir, "no-proc"),
      cgroup: { root: null },
      refetchMs: 0,
      logger: (m) => logs.push(m),
    });
    try {
      store.start();
      for (let i = 0; i < 3; i++) await store.fetch(id, "docker", true);
      await until("event", () => (store.stats().events >= 1 ? true : undefined));
      const s = store.stats();
      assert.ok(s.malformed >= 4, JSON.stringify(s));
      assert.equal(store.problemCounts().get("docker-inspect:EMALFORMED"), 3);
      assert.equal(store.problemCounts().get("docker-event:EMALFORMED"), 1);
      assert.equal(new Set(logs).size, logs.length, logs.join("\n"));
    } finally {
      await store.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe("real Docker engine", async () => {
  const why = await dockerUnavailable();
  if (why !== "") {
    console.log(`# SKIP real Docker engine: ${why}`);
    return;
  }
  const containers = new DockerContainers();
  const tag = `lanner-t${process.pid}`;
  const logs: string[] = [];
  const store = new ContainerStore({ containerd: false, refetchMs: 0, logger: (m) => logs.push(m) });
  after(async () => {
    await store.close();
    await containers.cleanup();
  });

  const cgroupIdOf = (fullId: string): number | undefined => {
    const root = findCgroup2Mount(readFileSync("/proc/self/mountinfo", "utf8"));
    if (root === null) return undefined;
    try {
      return statSync(join(root, "docker", fullId)).ino;
    } catch {
      return undefined;
    }
  };

  it("describes a container started before the store", async () => {
    const c = await containers.run(`${tag}-web`, [
      "--label",
      "io.kubernetes.pod.name=web-7f9",
      "--label",
      "io.kubernetes.pod.namespace=shop",
      "--label",
      "app=web",
    ]);
    store.start();
    assert.equal(await store.whenSynced(5000), true, logs.join("\n"));
    const cg = cgroupIdOf(c.fullId);
    const first = cg !== undefined ? store.lookup(c.pid, cg) : store.byPid(c.pid);
    assert.equal(first?.fullId, c.fullId);
    const info = await until("complete record", () => {
      const r = store.byPid(c.pid);
      return r?.complete === true ? r : undefined;
    });
    assert.equal(info.id, c.fullId.slice(0, 12));
    assert.equal(info.fullId, c.fullId);
    assert.equal(info.type, "docker");
    assert.equal(info.name, `${tag}-web`);
    assert.equal(info.image, DOCKER_IMAGE);
    assert.equal(info.imageRepository, "lanner/busybox");
    assert.equal(info.imageTag, "test");
    assert.match(info.imageDigest ?? "", /^sha256:[0-9a-f]{64}$/);
    assert.equal(info.labels["app"], "web");
    assert.equal(info.pod?.name, "web-7f9");
    assert.equal(info.pod?.namespace, "shop");
    assert.equal(info.privileged, false);
    assert.equal(info.hostNetwork, false);
    assert.equal(info.initPid, c.pid);
    const startMs = Number((info.startTs ?? 0n) / 1_000_000n);
    assert.ok(Math.abs(Date.now() - startMs) < 120_000, `startTs ${String(info.startTs)}`);
    if (cg !== undefined) assert.equal(store.byCgroupId(cg)?.fullId, c.fullId);
    assert.equal(store.byId(info.id)?.fullId, c.fullId);
  });

  it("a container created after start() is complete at its first lookup", async () => {
    const seen: ContainerInfo[] = [];
    const off = store.onUpdate((i) => seen.push(i));
    try {
      const c = await containers.run(`${tag}-late`, ["--label", "app=late"]);
      // The first lookup comes from the event stream's fetch, not from a miss.
      await until("event-driven record", () =>
        seen.find((i) => i.fullId === c.fullId && i.complete && i.initPid === c.pid),
      );
      const before = store.stats().cgroupMisses;
      const cg = cgroupIdOf(c.fullId);
      const info = cg !== undefined ? store.lookup(c.pid, cg) : store.byPid(c.pid);
      assert.equal(info?.complete, true);
      assert.equal(info?.name, `${tag}-late`);
      assert.equal(info?.labels["app"], "late");
      if (cg !== undefined) assert.equal(store.stats().cgroupMisses, before);
    } finally {
      off();
    }
  });

  it("Docker's own files describe a container at once, with no engine call", async () => {
    const c = await containers.run(`${tag}-disk`, ["--label", "app=disk"]);
    // no socket: only <data-root>/containers/<id>/ can answer
    const offline = new ContainerStore({
      containerd: false,
      cri: false,
      docker: { address: "/nonexistent/docker.sock", dataRoot: "/var/lib/docker" },
      logger: (m) => logs.push(m),
    });
    try {
      const info = offline.byPid(c.pid);
      assert.equal(info?.complete, true, "complete at the first lookup");
      assert.equal(info?.fullId, c.fullId);
      assert.equal(info?.type, "docker");
      assert.equal(info?.name, `${tag}-disk`);
      assert.equal(info?.image, DOCKER_IMAGE);
      assert.equal(info?.labels["app"], "disk");
      assert.equal(info?.initPid, c.pid);
      assert.equal(info?.privileged, false);
    } finally {
      await offline.close();
    }
  });

  it("reports privileged containers", async () => {
    let info: ContainerInfo | undefined;
    try {
      const c = await containers.run(`${tag}-priv`, ["--privileged"]);
      info = await until("privileged record", () => {
        const r = store.byPid(c.pid);
        return r?.complete === true ? r : undefined;
      });
    } catch (err) {
      // A sandbox that cannot grant every capability cannot run a privileged container; the
      // engine still describes a created one.
      if (!/unable to apply caps|operation not permitted/.test(String(err))) throw err;
      console.log("# privileged container cannot start here (capabilities); checking a created one");
      const fullId = await containers.create(`${tag}-privc`, ["--privileged"]);
      info = await store.fetch(fullId, "docker", true);
      assert.equal(info?.complete, true);
      assert.equal(info?.fullId, fullId);
    }
    assert.equal(info?.privileged, true);
    assert.deepEqual(
      logs.filter((l) => /docker/i.test(l)),
      [],
    );
  });
});
