/** K8sApiWatcher against the local API server stand-in (real list/watch JSON). */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KubeApiStandin } from "../../../test/helpers/kube-apiserver-standin.js";
import { K8sApiWatcher, ownerChainOf } from "./k8s-api-watcher.js";
import { formatLabels, podLabelsFromSandbox } from "./k8s-metadata.js";

const dir = mkdtempSync(join(tmpdir(), "lanner-k8s-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function until<T>(what: string, fn: () => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("K8sApiWatcher", () => {
  const api = new KubeApiStandin();
  let w: K8sApiWatcher;
  const logs: string[] = [];

  before(async () => {
    await api.start();
    api.addNamespace("shop", { team: "payments" });
    api.addNamespace("kube-system");
    api.addOwned("ReplicaSet", "shop", "web-7d9f8", {
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "web",
    });
    api.addPod({
      name: "web-7d9f8-abcde",
      namespace: "shop",
      nodeName: "node-1",
      labels: { app: "web", "pod-template-hash": "7d9f8" },
      ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-7d9f8", controller: true }],
      podIP: "10.0.0.7",
    });
    api.addPod({ name: "elsewhere", namespace: "shop", nodeName: "node-2", labels: { app: "other" } });
    api.addPod({
      name: "agent-x1",
      namespace: "kube-system",
      nodeName: "node-1",
      labels: { app: "agent" },
      ownerReferences: [{ apiVersion: "apps/v1", kind: "DaemonSet", name: "agent", controller: true }],
    });
    w = new K8sApiWatcher({
      nodeName: "node-1",
      kubeconfig: api.writeKubeconfig(join(dir, "kubeconfig")),
      requestTimeoutMs: 500,
      minBackoffMs: 50,
      maxBackoffMs: 200,
      logger: (m) => logs.push(m),
    });
    w.start();
    assert.equal(await w.whenSynced(5000), true);
  });

  after(async () => {
    await w?.close();
    await api.stop();
  });

  it("lists this node's pods with their labels, and only those", () => {
    const p = w.podByName("shop", "web-7d9f8-abcde");
    assert.ok(p);
    assert.deepEqual(p.labels, { app: "web", "pod-template-hash": "7d9f8" });
    assert.equal(p.ip, "10.0.0.7");
    assert.equal(w.podByUid(p.uid), p);
    assert.equal(w.podByName("shop", "elsewhere"), undefined);
    assert.ok(api.requests.some((r) => r.includes("fieldSelector=spec.nodeName%3Dnode-1")));
  });

  it("namespace labels", () => {
    assert.deepEqual(w.namespaceLabels("shop"), { "kubernetes.io/metadata.name": "shop", team: "payments" });
  });

  it("owners: ReplicaSet -> Deployment from the pod-template-hash label, DaemonSet; no read of ReplicaSets or Jobs", () => {
    const p = w.podByName("shop", "web-7d9f8-abcde");
    assert.ok(p);
    // at once: nothing is fetched
    assert.deepEqual(w.ownerChain(p), [
      { kind: "ReplicaSet", name: "web-7d9f8" },
      { kind: "Deployment", name: "web" },
    ]);
    const a = w.podByName("kube-system", "agent-x1");
    assert.ok(a);
    assert.deepEqual(w.ownerChain(a), [{ kind: "DaemonSet", name: "agent" }]);
    // the agent's ClusterRole allows list/watch of pods, namespaces and nodes only
    assert.deepEqual(
      api.requests.filter((r) => r.startsWith("/apis/")),
      [],
      "the watcher read something beyond pods and namespaces",
    );
  });

  it("watch: added, modified and deleted pods arrive", async () => {
    api.addPod({ name: "new-pod", namespace: "shop", nodeName: "node-1", labels: { v: "1" } });
    await until("new pod", () => w.podByName("shop", "new-pod"));
    api.addPod({ name: "new-pod", namespace: "shop", nodeName: "node-1", labels: { v: "2" } });
    await until("modified pod", () => w.podByName("shop", "new-pod")?.labels["v"] === "2");
    api.deletePod("shop", "new-pod");
    await until("deleted pod", () => w.podByName("shop", "new-pod") === undefined);
    api.addPod({ name: "on-node-2", namespace: "shop", nodeName: "node-2" });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(w.podByName("shop", "on-node-2"), undefined);
  });

  it("an outage keeps what is known; the watch recovers after a restart", async () => {
    await api.stop();
    const t0 = Date.now();
    assert.equal(w.podByName("shop", "web-7d9f8-abcde")?.labels["app"], "web", "known pods stay");
    assert.ok(Date.now() - t0 < 20);
    api.addPod({ name: "while-down", namespace: "shop", nodeName: "node-1", labels: { x: "y" } });
    await new Promise((r) => setTimeout(r, 400)); // several failed reconnects
    assert.ok(w.stats().errors >= 1);
    await api.start();
    await until("pod added during the outage", () => w.podByName("shop", "while-down"), 5000);
    api.addPod({ name: "after-restart", namespace: "shop", nodeName: "node-1" });
    await until("pod added after restart", () => w.podByName("shop", "after-restart"), 5000);
  });

  it("410 Gone: a compacted history makes the watch re-list", async () => {
    const before410 = w.stats().relists410;
    await api.stop();
    api.addPod({ name: "after-compaction", namespace: "shop", nodeName: "node-1" });
    api.compact();
    await api.start();
    await until("pod after compaction", () => w.podByName("shop", "after-compaction"), 5000);
    assert.ok(w.stats().relists410 > before410, "a 410 re-list happened");
  });

  it("each problem kind is logged once", () => {
    assert.equal(new Set(logs).size, logs.length, logs.join("\n"));
  });
});

describe("K8sApiWatcher with a hanging or absent API server", () => {
  it("never blocks; times out; logged once; closes promptly", async () => {
    const api = new KubeApiStandin();
    await api.start();
    api.hang(true);
    const logs: string[] = [];
    const w = new K8sApiWatcher({
      nodeName: "node-1",
      kubeconfig: api.writeKubeconfig(join(dir, "kubeconfig-hang")),
      requestTimeoutMs: 200,
      minBackoffMs: 50,
      maxBackoffMs: 100,
      logger: (m) => logs.push(m),
    });
    w.start();
    assert.equal(w.podByName("shop", "x"), undefined, "lookups answer at once");
    assert.equal(await w.whenSynced(800), false);
    assert.ok(w.stats().errors >= 2, `errors counted: ${w.stats().errors}`);
    assert.equal(new Set(logs).size, logs.length, logs.join("\n"));
    assert.ok(logs.length >= 1 && logs.length <= 2, logs.join("\n"));
    // The server comes back: the watcher syncs.
    api.hang(false);
    api.addNamespace("shop");
    assert.equal(await w.whenSynced(3000), true);
    const t0 = Date.now();
    await w.close();
    assert.ok(Date.now() - t0 < 1000);
    await api.stop();
  });

  it("a watch that goes silent is cut after watchIdleMs and resumed from its version", async () => {
    const api = new KubeApiStandin();
    await api.start();
    api.addNamespace("shop");
    const logs: string[] = [];
    const w = new K8sApiWatcher({
      nodeName: "n",
      kubeconfig: api.writeKubeconfig(join(dir, "kubeconfig-silent")),
      requestTimeoutMs: 200,
      watchIdleMs: 300,
      minBackoffMs: 30,
      maxBackoffMs: 60,
      logger: (m) => logs.push(m),
    });
    w.start();
    assert.equal(await w.whenSynced(3000), true);
    api.hang(true);
    api.addPod({ name: "missed", namespace: "shop", nodeName: "n" });
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(w.podByName("shop", "missed"), undefined);
    assert.ok(
      logs.some((l) => /no data within 300 ms|no answer within/.test(l)),
      logs.join("\n"),
    );
    const listsBefore = w.stats().lists;
    api.hang(false);
    await until("missed pod after the server answers again", () => w.podByName("shop", "missed"), 3000);
    assert.equal(w.stats().lists, listsBefore, "resumed by watch from its resourceVersion, no re-list");
    await w.close();
    await api.stop();
  });

  it("malformed replies: logged once, counted, retried; recovers", async () => {
    const api = new KubeApiStandin();
    await api.start();
    api.addNamespace("shop");
    api.garbage(true);
    const logs: string[] = [];
    const w = new K8sApiWatcher({
      nodeName: "n",
      kubeconfig: api.writeKubeconfig(join(dir, "kubeconfig-garbage")),
      requestTimeoutMs: 300,
      minBackoffMs: 30,
      maxBackoffMs: 60,
      logger: (m) => logs.push(m),
    });
    w.start();
    assert.equal(await w.whenSynced(500), false);
    assert.ok(w.stats().errors >= 4, `errors counted: ${w.stats().errors}`);
    assert.ok(logs.length >= 1 && logs.length <= 2, logs.join("\n"));
    assert.ok(
      logs.every((l) => /not JSON/.test(l)),
      logs.join("\n"),
    );
    api.garbage(false);
    assert.equal(await w.whenSynced(3000), true);
    assert.deepEqual(w.namespaceLabels("shop"), { "kubernetes.io/metadata.name": "shop" });
    await w.close();
    await api.stop();
  });

  it("absent server: refused connections are retried with backoff, never fatal", async () => {
    const api = new KubeApiStandin();
    await api.start();
    const kubeconfig = api.writeKubeconfig(join(dir, "kubeconfig-absent"));
    await api.stop();
    const logs: string[] = [];
    const w = new K8sApiWatcher({
      nodeName: "n",
      kubeconfig,
      requestTimeoutMs: 200,
      minBackoffMs: 50,
      maxBackoffMs: 100,
      logger: (m) => logs.push(m),
    });
    w.start();
    assert.equal(await w.whenSynced(500), false);
    assert.ok(w.stats().lists >= 2, "retried");
    assert.ok(logs.length >= 1 && logs.length <= 2, logs.join("\n"));
    await w.close();
  });
});

describe("pod labels from a CRI sandbox", () => {
  it("drops runtime keys", () => {
    const l = podLabelsFromSandbox({
      app: "web",
      "io.kubernetes.pod.name": "p",
      "io.cri-containerd.kind": "sandbox",
      "example.com/x": "y",
    });
    assert.deepEqual(l, { app: "web", "example.com/x": "y" });
    assert.deepEqual(formatLabels(l), ["app:web", "example.com/x:y"]);
  });
});

describe("ownerChainOf: owners from the pod alone, exact or not given", () => {
  const rs = (name: string) => [{ kind: "ReplicaSet", name, controller: true }];
  it("a Deployment's ReplicaSet: <deployment>-<pod-template-hash>", () => {
    assert.deepEqual(
      ownerChainOf({ labels: { "pod-template-hash": "5f7c9d8b6" }, ownerReferences: rs("api-v2-5f7c9d8b6") }),
      [
        { kind: "ReplicaSet", name: "api-v2-5f7c9d8b6" },
        { kind: "Deployment", name: "api-v2" },
      ],
    );
  });
  it("a ReplicaSet without the label, or whose name does not end in it, has no Deployment", () => {
    assert.deepEqual(ownerChainOf({ labels: {}, ownerReferences: rs("web-7d9f8") }), [
      { kind: "ReplicaSet", name: "web-7d9f8" },
    ]);
    assert.deepEqual(
      ownerChainOf({ labels: { "pod-template-hash": "abc12" }, ownerReferences: rs("web-7d9f8") }),
      [{ kind: "ReplicaSet", name: "web-7d9f8" }],
    );
    // the label is the whole name: no Deployment name is left
    assert.deepEqual(ownerChainOf({ labels: { "pod-template-hash": "x" }, ownerReferences: rs("-x") }), [
      { kind: "ReplicaSet", name: "-x" },
    ]);
    assert.deepEqual(ownerChainOf({ labels: { "pod-template-hash": "" }, ownerReferences: rs("web-") }), [
      { kind: "ReplicaSet", name: "web-" },
    ]);
  });
  it("a Job's CronJob is not given (a hand-made Job can have a CronJob's name shape)", () => {
    assert.deepEqual(
      ownerChainOf({
        labels: { "job-name": "report-28999", "batch.kubernetes.io/job-name": "report-28999" },
        ownerReferences: [{ kind: "Job", name: "report-28999", controller: true }],
      }),
      [{ kind: "Job", name: "report-28999" }],
    );
  });
  it("the controller reference wins; a pod without owners has none", () => {
    assert.deepEqual(
      ownerChainOf({
        labels: {},
        ownerReferences: [
          { kind: "Node", name: "n1", controller: false },
          { kind: "StatefulSet", name: "db", controller: true },
        ],
      }),
      [{ kind: "StatefulSet", name: "db" }],
    );
    assert.deepEqual(ownerChainOf({ labels: {}, ownerReferences: [] }), []);
  });
});
