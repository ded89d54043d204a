/**
 * ContainerStore against real containerd containers (root + containerd; skipped with a
 * printed reason otherwise). Containers are CRI-shaped (see test/helpers/containerd.ts).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
  type RunningPod,
} from "../../../test/helpers/containerd.js";
import { CgroupResolver } from "./cgroup-resolver.js";
import { formatMounts } from "./container-info.js";
import { ContainerStore } from "./container-store.js";

const avail = await containerdAvailable();
if (!avail.ok) console.log(`# skipping container store kernel tests: ${avail.reason}`);
const skip = avail.ok ? false : avail.reason;

function cgroupInode(c: RunningContainer): number {
  const root = new CgroupResolver().root;
  if (root === null) throw new Error("no cgroup2 mount");
  return Number(statSync(join(root, c.cgroupPath), { bigint: true }).ino);
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("ContainerStore with containerd", { skip }, () => {
  let tc: TestContainers;
  let pod: RunningPod;
  let app: RunningContainer;
  let store: ContainerStore;
  const logs: string[] = [];

  before(async () => {
    tc = new TestContainers();
    pod = await tc.startPod({
      name: "web-7d9f8-abcde",
      namespace: "shop",
      labels: { app: "web", tier: "frontend" },
    });
    app = await tc.start({
      name: "nginx",
      pod,
      image: "docker.io/library/busybox:1.36",
      imageRecord: true,
      labels: { "example.com/team": "blue" },
      mounts: [{ source: "/tmp", destination: "/hosttmp", readonly: true }],
    });
    store = new ContainerStore({ logger: (m) => logs.push(m) });
    store.start();
    assert.equal(await store.whenSynced(10_000), true);
  });

  after(async () => {
    await store?.close();
    await tc?.cleanup();
  });

  it("lists a running container with its CRI metadata", () => {
    const c = store.byId(app.id);
    assert.ok(c, "container known by full id");
    assert.equal(store.byId(app.id.slice(0, 12)), c, "and by 12-char id");
    assert.equal(c.id, app.id.slice(0, 12));
    assert.equal(c.fullId, app.id);
    assert.equal(c.name, "nginx");
    assert.equal(c.type, "containerd");
    assert.equal(c.image, "docker.io/library/busybox:1.36");
    assert.equal(c.imageRepository, "docker.io/library/busybox");
    assert.equal(c.imageTag, "1.36");
    assert.match(c.imageDigest ?? "", /^sha256:[0-9a-f]{64}$/);
    assert.equal(c.privileged, false);
    assert.equal(c.labels["example.com/team"], "blue");
    assert.equal(c.labels["io.kubernetes.pod.name"], "web-7d9f8-abcde");
    assert.deepEqual(c.pod, {
      name: "web-7d9f8-abcde",
      namespace: "shop",
      uid: pod.spec.uid,
      sandboxId: pod.sandbox.id,
    });
    assert.equal(c.initPid, app.pid);
    assert.equal(c.complete, true);
    assert.ok(c.startTs !== null && c.startTs > 1_600_000_000_000_000_000n);
    assert.match(formatMounts(c.mounts), /\/tmp:\/hosttmp:bind:false:rprivate/);
  });

  // Regression: the spec's Any was sent without its type URL (protobufjs names the field
  // type_url, not typeUrl), so `ctr containers info` failed with "type with url : not found".
  it("helper containers are well-formed for containerd's own tools", () => {
    const info = JSON.parse(
      execFileSync("ctr", ["-n", "k8s.io", "containers", "info", app.id], { encoding: "utf8" }),
    ) as {
      Image: string;
      Spec: { annotations: Record<string, string> };
    };
    assert.equal(info.Image, "docker.io/library/busybox:1.36");
    assert.equal(info.Spec.annotations["io.kubernetes.cri.container-name"], "nginx");
  });

  it("knows the sandbox and its pod labels", () => {
    const s = store.byId(pod.sandbox.id);
    assert.ok(s);
    assert.equal(s.isSandbox, true);
    assert.equal(s.labels["app"], "web");
    assert.equal(s.labels["tier"], "frontend");
  });

  it("resolves the container cgroup id (stat of its cgroup v2 directory)", () => {
    const c = store.byCgroupId(cgroupInode(app));
    assert.equal(c?.fullId, app.id);
    assert.equal(c?.name, "nginx");
  });

  it("resolves container pids: init and an exec", async () => {
    assert.equal(store.byPid(app.pid)?.fullId, app.id);
    const pid = await tc.execDetached(app, ["/bin/sleep", "30"]);
    const c = store.lookup(pid);
    assert.equal(c?.fullId, app.id);
    assert.equal(c?.name, "nginx");
  });

  it("host pids and the host cgroup are `host`", () => {
    assert.equal(store.byPid(process.pid)?.id, "host");
    assert.equal(store.byPid(1)?.id, "host");
    const root = new CgroupResolver().root as string;
    const hostIno = Number(statSync(root, { bigint: true }).ino);
    assert.equal(store.lookup(process.pid, hostIno)?.id, "host");
  });

  it("learns a container created after start from the event stream, before its first exec", async (t) => {
    // The record arrives with /containers/create, before the task exists; at the container's
    // first event (right after `ctr task start` returns), a lookup by cgroup id alone, with no
    // waiting, must already give the complete record.
    let firstComplete: { at: number; initPid: number | null } | null = null;
    const off = store.onUpdate((info) => {
      if (firstComplete === null && info.name === "late" && info.complete) {
        firstComplete = { at: Date.now(), initPid: info.initPid };
      }
    });
    const late = await tc.start({ name: "late", pod, image: "ghcr.io/example/late:v3", privileged: true });
    off();
    const first = store.byCgroupId(cgroupInode(late));
    assert.equal(first?.complete, true, "complete at the first lookup by cgroup id");
    assert.ok(firstComplete !== null);
    t.diagnostic(
      `record complete before the task existed: ${(firstComplete as { initPid: number | null }).initPid === null}`,
    );
    const c = await until(
      "late container with its init pid",
      () => {
        const r = store.byCgroupId(cgroupInode(late));
        return r?.initPid !== null ? r : undefined;
      },
      2000,
    );
    assert.equal(c.fullId, late.id);
    assert.equal(c.name, "late");
    assert.equal(c.image, "ghcr.io/example/late:v3");
    assert.equal(c.imageRepository, "ghcr.io/example/late");
    assert.equal(c.imageTag, "v3");
    assert.equal(c.privileged, true);
    assert.equal(c.pod?.name, "web-7d9f8-abcde");
    assert.equal(c.pod?.namespace, "shop");
    assert.equal(c.initPid, late.pid);
    assert.equal(store.byPid(late.pid)?.fullId, late.id);
    // A container of the `ctr` cgroup layout (/k8s.io/<id>) too.
    const plain = await tc.start({ name: "plain", cgroupStyle: "ctr" });
    const p = await until(
      "plain container",
      () => {
        const r = store.byCgroupId(cgroupInode(plain));
        return r?.complete === true ? r : undefined;
      },
      2000,
    );
    assert.equal(p.name, "plain");
    assert.equal(p.pod, null);
    await tc.remove(plain);
  });

  it("finds an unknown container cgroup by walking the hierarchy (no runtime)", async () => {
    const bare = new ContainerStore({ containerd: false, cgroup: { minRescanMs: 0 }, logger: () => {} });
    try {
      const ino = cgroupInode(app);
      assert.equal(bare.byCgroupId(ino), undefined, "first lookup misses and starts a walk");
      const c = await until("walk", () => bare.byCgroupId(ino), 5000);
      assert.equal(c.fullId, app.id);
      assert.equal(c.type, "cri");
      assert.equal(c.complete, false, "partial: no runtime to ask");
      assert.equal(c.name, null);
    } finally {
      await bare.close();
    }
  });

  it("logged nothing", () => {
    assert.deepEqual(logs, []);
  });
});
