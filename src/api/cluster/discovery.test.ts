/**
 * Discovery through a real @kubernetes/client-node against the API-server stand-in: three
 * nodes with agent pods (one not ready), a node without an agent, pods of other apps, the
 * gRPC port by name, --node, and the client certificate from the Secret.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeApiStandin } from "../../../test/helpers/kube-apiserver-standin.js";
import { agentPort, clientTls, discoverAgents, DiscoveryError, podNode } from "./discovery.js";

const standin = new KubeApiStandin();
const dir = mkdtempSync(join(tmpdir(), "cluster-discovery-"));
let kc: KubeConfig;

const AGENT = { "app.kubernetes.io/name": "lanner" };

before(async () => {
  await standin.start();
  for (const n of ["cluster-a", "cluster-b", "cluster-c", "cluster-d"]) standin.addNode({ name: n });
  standin.addNamespace("lanner");
  const grpc = [
    {
      name: "main",
      ports: [
        { name: "metrics", containerPort: 9100 },
        { name: "grpc", containerPort: 7443 },
      ],
    },
  ];
  standin.addPod({
    name: "lanner-a",
    namespace: "lanner",
    nodeName: "cluster-a",
    labels: AGENT,
    podIP: "10.1.0.1",
    containers: grpc,
  });
  standin.addPod({
    name: "lanner-b",
    namespace: "lanner",
    nodeName: "cluster-b",
    labels: AGENT,
    podIP: "10.1.0.2",
  });
  // cluster-c's agent is still starting
  standin.addPod({
    name: "lanner-c",
    namespace: "lanner",
    nodeName: "cluster-c",
    labels: AGENT,
    podIP: "10.1.0.3",
    ready: false,
  });
  // not agents: another app in the namespace, an agent-labelled pod in another namespace
  standin.addPod({
    name: "other-d",
    namespace: "lanner",
    nodeName: "cluster-d",
    labels: { "app.kubernetes.io/name": "other" },
    podIP: "10.1.0.4",
  });
  standin.addPod({
    name: "lanner-x",
    namespace: "default",
    nodeName: "cluster-d",
    labels: AGENT,
    podIP: "10.1.0.5",
  });
  standin.addSecret(
    "lanner",
    "lanner-client-tls",
    { "tls.crt": "CERT", "tls.key": "KEY", "ca.crt": "CA" },
    "kubernetes.io/tls",
  );
  kc = new KubeConfig();
  kc.loadFromFile(standin.writeKubeconfig(join(dir, "kubeconfig")));
});

after(async () => {
  await standin.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("discovery: one ready agent per node, by label and namespace; the rest reported", async () => {
  const d = await discoverAgents(kc);
  assert.deepEqual(d.agents, [
    { node: "cluster-a", namespace: "lanner", pod: "lanner-a", podIP: "10.1.0.1", port: 7443 },
    { node: "cluster-b", namespace: "lanner", pod: "lanner-b", podIP: "10.1.0.2", port: 7100 },
  ]);
  assert.deepEqual(d.problems, [
    "node cluster-c: agent pod lanner/lanner-c is not ready (phase Running)",
    "node cluster-d: no lanner agent (no pod of app.kubernetes.io/name=lanner in namespace lanner)",
  ]);
  // the selector went to the API server, not filtered here
  assert.ok(
    standin.requests.some((r) =>
      r.startsWith("/api/v1/namespaces/lanner/pods?labelSelector=app.kubernetes.io%2Fname%3Dlanner"),
    ),
    standin.requests.join("\n"),
  );
});

test("discovery: --node picks nodes, an unknown one is reported", async () => {
  const d = await discoverAgents(kc, { nodes: ["cluster-b", "cluster-z", "cluster-d"] });
  assert.deepEqual(
    d.agents.map((a) => a.node),
    ["cluster-b"],
  );
  assert.deepEqual(d.problems, [
    "node cluster-z: no such node",
    "node cluster-d: no lanner agent (no pod of app.kubernetes.io/name=lanner in namespace lanner)",
  ]);
});

test("discovery: --agent-namespace and --agent-selector", async () => {
  const d = await discoverAgents(kc, {
    namespace: "default",
    selector: "app.kubernetes.io/name in (lanner,x)",
  });
  assert.deepEqual(
    d.agents.map((a) => `${a.node}:${a.pod}`),
    ["cluster-d:lanner-x"],
  );
  assert.equal(d.problems.length, 3);
  const bad = await discoverAgents(kc, { selector: "app.kubernetes.io/name!=lanner" });
  // != matches the pods without that value, the other app's included
  assert.deepEqual(
    bad.agents.map((a) => a.pod),
    ["other-d"],
  );
  await assert.rejects(discoverAgents(kc, { selector: "a in (" }), (e: unknown) => {
    assert.ok(e instanceof DiscoveryError);
    assert.match(
      e.message,
      /^listing the agent pods \(namespace lanner, selector a in \(\) at http:\/\/127\.0\.0\.1:\d+: HTTP 400/,
    );
    return true;
  });
});

test("discovery: an API server that refuses is an error naming what was asked", async () => {
  const bad = new KubeConfig();
  bad.loadFromOptions({
    clusters: [{ name: "c", server: standin.url, skipTLSVerify: true }],
    users: [{ name: "u", token: "wrong" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  await assert.rejects(discoverAgents(bad), /listing the agent pods .*: HTTP 401: Unauthorized/);
});

test("agentPort: the container port named grpc, else 7100", () => {
  assert.equal(
    agentPort({ spec: { containers: [{ name: "m", ports: [{ name: "grpc", containerPort: 1234 }] }] } }),
    1234,
  );
  assert.equal(agentPort({ spec: { containers: [{ name: "m", ports: [{ containerPort: 1234 }] }] } }), 7100);
});

test("client TLS: the Secret lanner-client-tls, or all three flags", async () => {
  const t = await clientTls(kc, {}, "lanner");
  assert.deepEqual(
    [t.cert.toString(), t.key.toString(), t.ca.toString(), t.serverName],
    ["CERT", "KEY", "CA", "lanner-agent"],
  );
  await assert.rejects(
    clientTls(kc, {}, "default"),
    /reading the Secret default\/lanner-client-tls .*HTTP 404/,
  );
  await assert.rejects(clientTls(kc, { cert: "/x" }, "lanner"), /--tls-key, --tls-ca missing/);
  await assert.rejects(
    clientTls(kc, { cert: "/nonexistent-c", key: "/k", ca: "/a" }, "lanner"),
    /--tls-cert: reading \/nonexistent-c: ENOENT/,
  );
});

test("podNode: the node of a pod (where a pod-scoped call goes); a missing pod is an error", async () => {
  assert.equal(await podNode(kc, "lanner", "lanner-b"), "cluster-b");
  assert.equal(await podNode(kc, "default", "lanner-x"), "cluster-d");
  await assert.rejects(
    podNode(kc, "lanner", "nope"),
    /^DiscoveryError: reading pod lanner\/nope: HTTP 404: pods "nope" not found$/,
  );
});
