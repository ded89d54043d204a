/**
 * Pod metadata for real containerd containers: from CRI labels alone, then completed by the
 * API server stand-in, through an API outage and its recovery.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
  type RunningPod,
} from "../../../test/helpers/containerd.js";
import { KubeApiStandin } from "../../../test/helpers/kube-apiserver-standin.js";
import { ContainerStore } from "../containers/container-store.js";
import { K8sApiWatcher } from "./k8s-api-watcher.js";
import { K8sMetadata, ownerOfKind, type PodMeta } from "./k8s-metadata.js";
import { UserResolver } from "../users/user-resolver.js";
import { createStateServices } from "../services.js";
import { State } from "../state.js";
import { syscall } from "../test-events.js";
import { contextFor, fieldOf } from "../../../test/helpers/fields.js";

const avail = await containerdAvailable();
if (!avail.ok) console.log(`# skipping k8s metadata kernel tests: ${avail.reason}`);

async function until<T>(what: string, fn: () => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe(
  "K8sMetadata with containerd and the API server stand-in",
  { skip: avail.ok ? false : avail.reason },
  () => {
    const dir = mkdtempSync(join(tmpdir(), "lanner-k8smeta-"));
    const api = new KubeApiStandin();
    let tc: TestContainers;
    let pod: RunningPod;
    let app: RunningContainer;
    let store: ContainerStore;
    let watcher: K8sApiWatcher;
    let withApi: K8sMetadata;
    let criOnly: K8sMetadata;
    const logs: string[] = [];

    before(async () => {
      tc = new TestContainers();
      pod = await tc.startPod({
        name: "web-7d9f8-abcde",
        namespace: "shop",
        labels: { app: "web", tier: "frontend" },
      });
      app = await tc.start({ name: "nginx", pod });
      await api.start();
      api.addNamespace("shop", { team: "payments" });
      api.addPod({
        name: "web-7d9f8-abcde",
        namespace: "shop",
        uid: pod.spec.uid,
        nodeName: "node-1",
        labels: { app: "web", tier: "frontend", version: "v2", "pod-template-hash": "7d9f8" },
        ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-7d9f8", controller: true }],
        podIP: "10.1.2.3",
      });
      store = new ContainerStore({ logger: (m) => logs.push(m) });
      store.start();
      assert.equal(await store.whenSynced(10_000), true);
      watcher = new K8sApiWatcher({
        nodeName: "node-1",
        kubeconfig: api.writeKubeconfig(join(dir, "kubeconfig")),
        requestTimeoutMs: 300,
        minBackoffMs: 50,
        maxBackoffMs: 200,
        logger: (m) => logs.push(m),
      });
      watcher.start();
      assert.equal(await watcher.whenSynced(5000), true);
      withApi = new K8sMetadata({ containers: store, api: watcher });
      criOnly = new K8sMetadata({ containers: store });
    });

    after(async () => {
      withApi?.close();
      criOnly?.close();
      await watcher?.close();
      await api.stop();
      await store?.close();
      await tc?.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    function metaOfPid(m: K8sMetadata, pid: number): PodMeta | null {
      const c = store.byPid(pid);
      assert.ok(c);
      return m.forContainer(c);
    }

    it("from CRI labels alone: pod name, namespace, uid, sandbox and the pod labels of the sandbox", () => {
      const m = metaOfPid(criOnly, app.pid);
      assert.ok(m);
      assert.equal(m.name, "web-7d9f8-abcde");
      assert.equal(m.namespace, "shop");
      assert.equal(m.uid, pod.spec.uid);
      assert.equal(m.fullSandboxId, pod.sandbox.id);
      assert.equal(m.sandboxId, pod.sandbox.id.slice(0, 12));
      assert.deepEqual(m.labels, { app: "web", tier: "frontend" });
      assert.equal(m.source, "cri");
      assert.equal(m.namespaceLabels, null);
      assert.equal(m.owners, null);
    });

    it("with the API server: pod labels, namespace labels, owners and IP arrive", async () => {
      const m = await until("owners", () => {
        const r = metaOfPid(withApi, app.pid);
        return r?.owners?.length === 2 ? r : undefined;
      });
      assert.equal(m.source, "api");
      assert.deepEqual(m.labels, {
        app: "web",
        tier: "frontend",
        version: "v2",
        "pod-template-hash": "7d9f8",
      });
      assert.equal(m.namespaceLabels?.["team"], "payments");
      assert.equal(ownerOfKind(m, "Deployment"), "web");
      assert.equal(ownerOfKind(m, "ReplicaSet"), "web-7d9f8");
      assert.equal(m.ip, "10.1.2.3");
      assert.equal(store.byPid(process.pid)?.id, "host");
      assert.equal(withApi.forContainer(store.byPid(process.pid)!), null, "host has no pod");
    });

    it("serves container.*, k8s.* and user fields to the engine", async () => {
      // the registry's producers over a real State and these state services, as the agent reads them
      const services = createStateServices({ containers: store, k8s: withApi, users: new UserResolver() });
      const ctx = contextFor(new State(), services);
      const inApp = syscall("openat", app.pid, { ret: 3 });
      const onHost = syscall("openat", process.pid, { ret: 3 });
      const f = (name: string, arg?: string) => fieldOf(ctx, inApp, name, arg);
      assert.equal(f("container.id"), app.id.slice(0, 12));
      assert.equal(fieldOf(ctx, onHost, "container.id"), "host");
      assert.equal(f("container.name"), "nginx");
      assert.equal(f("container.full_id"), app.id);
      assert.equal(f("container.image.repository"), "docker.io/library/busybox");
      assert.equal(f("container.type"), "containerd");
      assert.equal(f("container.privileged"), false);
      assert.equal(f("container.mount.dest", "/proc*"), "/proc");
      assert.equal(f("container.host_network"), false);
      assert.equal(f("container.host_pid"), false);
      assert.equal(f("container.label", "io.kubernetes.container.name"), "nginx");
      assert.equal(f("k8s.pod.name"), "web-7d9f8-abcde");
      assert.equal(f("k8s.ns.name"), "shop");
      assert.equal(f("k8s.pod.uid"), pod.spec.uid);
      assert.equal(f("k8s.pod.sandbox_id"), pod.sandbox.id.slice(0, 12));
      assert.equal(f("k8s.pod.label", "version"), "v2");
      assert.ok((f("k8s.pod.labels") as string).split(",").includes("app:web"));
      assert.equal(f("k8s.ns.label", "team"), "payments");
      assert.equal(await until("deployment", () => f("k8s.deployment.name")), "web");
      assert.equal(f("k8smeta.deployment.name"), "web");
      assert.equal(f("k8smeta.pod.name"), "web-7d9f8-abcde");
      assert.equal(fieldOf(ctx, onHost, "container.name"), "host");
      assert.equal(fieldOf(ctx, onHost, "k8s.pod.name"), null);
      assert.equal(f("user.name"), "root");
      assert.equal(
        fieldOf(ctx, syscall("openat", app.pid, { ret: 3, euid: 4321 }), "user.name"),
        "lanner-app",
        "the container's passwd",
      );
      assert.equal(
        fieldOf(ctx, syscall("openat", process.pid, { ret: 3, euid: 4321 }), "user.name"),
        null,
        "not the host's",
      );
    });

    it("an API outage keeps lookups working with runtime-derived fields; the watch recovers", async () => {
      await api.stop();
      // A new pod and container appear while the API server is down.
      const pod2 = await tc.startPod({ name: "batch-x1", namespace: "jobs", labels: { app: "batch" } });
      const c2 = await tc.start({ name: "worker", pod: pod2 });
      const m2 = await until("runtime-derived metadata", () => {
        const c = store.byPid(c2.pid);
        const r = c?.complete === true ? withApi.forContainer(c) : null;
        return r?.labels !== null ? r : undefined;
      });
      const t0 = Date.now();
      for (let i = 0; i < 1000; i++) withApi.forContainer(store.byPid(c2.pid)!);
      assert.ok(Date.now() - t0 < 200, "lookups do not wait for the API server");
      assert.equal(m2.name, "batch-x1");
      assert.equal(m2.namespace, "jobs");
      assert.equal(m2.uid, pod2.spec.uid);
      assert.deepEqual(m2.labels, { app: "batch" });
      assert.equal(m2.source, "cri");
      // What the API said about the first pod stays.
      assert.equal(metaOfPid(withApi, app.pid)?.labels?.["version"], "v2");
      // Recovery: the server comes back with a changed pod and the new one.
      api.addPod({
        name: "web-7d9f8-abcde",
        namespace: "shop",
        uid: pod.spec.uid,
        nodeName: "node-1",
        labels: { app: "web", version: "v3" },
      });
      api.addPod({
        name: "batch-x1",
        namespace: "jobs",
        uid: pod2.spec.uid,
        nodeName: "node-1",
        labels: { app: "batch", run: "7" },
      });
      await api.start();
      await until(
        "changed labels after recovery",
        () => metaOfPid(withApi, app.pid)?.labels?.["version"] === "v3",
        5000,
      );
      const after2 = await until("new pod from the API", () => {
        const r = metaOfPid(withApi, c2.pid);
        return r?.source === "api" ? r : undefined;
      });
      assert.deepEqual(after2.labels, { app: "batch", run: "7" });
    });

    it("problems were logged once each", () => {
      assert.equal(new Set(logs).size, logs.length, logs.join("\n"));
    });
  },
);
