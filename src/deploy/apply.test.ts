/**
 * deploy and undeploy against the API-server stand-in (real HTTP, real @kubernetes/client-node
 * requests, the API server's Status bodies): every object created in order, re-deploy keeps
 * the Secrets, --rotate-certs replaces them and rolls the agents, undeploy removes everything
 * and waits for the namespace; errors name the object and the server's message.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KubeApiStandin } from "../../test/helpers/kube-apiserver-standin.js";
import { deploy, undeploy, undeployOrder } from "./apply.js";
import {
  buildManifests,
  CLIENT_TLS_SECRET,
  certificateFingerprint,
  defaultSpec,
  TLS_FINGERPRINT_ANNOTATION,
  TLS_SECRET,
  withTlsFingerprint,
  type DeploySpec,
} from "./manifests.js";
import { describeCertificate } from "./tls.js";

const dir = mkdtempSync(join(tmpdir(), "deploy-apply-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const EVERY = [
  "ClusterRole lanner",
  "ClusterRoleBinding lanner",
  "ConfigMap deploy-test/lanner-config",
  "DaemonSet deploy-test/lanner",
  "Namespace deploy-test",
  "Secret deploy-test/lanner-client-tls",
  "Secret deploy-test/lanner-tls",
  "Service deploy-test/lanner-metrics",
  "ServiceAccount deploy-test/lanner",
];

const b64 = (s: unknown): string => Buffer.from(String(s), "base64").toString("utf8");

describe("deploy and undeploy through the API server", () => {
  const api = new KubeApiStandin();
  let kubeconfig = "";
  const spec: DeploySpec = { ...defaultSpec(), namespace: "deploy-test", image: "registry.test/lanner:dev" };

  before(async () => {
    await api.start();
    kubeconfig = api.writeKubeconfig(join(dir, "kubeconfig"));
  });
  after(async () => {
    api.objects.close();
    await api.stop();
  });

  let firstServerCert = "";

  it("creates every object, namespace first and the DaemonSet last", async () => {
    const lines: string[] = [];
    const r = await deploy(spec, { kubeconfig, log: (l) => lines.push(l) });
    assert.equal(r.newCertificates, true);
    assert.deepEqual(
      r.objects.map((o) => `${o.outcome} ${o.object}`),
      [
        "created Namespace deploy-test",
        "created Secret deploy-test/lanner-tls",
        "created Secret deploy-test/lanner-client-tls",
        "created ServiceAccount deploy-test/lanner",
        "created ClusterRole lanner",
        "created ClusterRoleBinding lanner",
        "created ConfigMap deploy-test/lanner-config",
        "created Service deploy-test/lanner-metrics",
        "created DaemonSet deploy-test/lanner",
      ],
    );
    assert.equal(lines[0], "namespace/deploy-test created");
    assert.equal(lines[8], "daemonset.apps/lanner created");
    assert.deepEqual(api.objects.names(), EVERY);
    const ds = api.objects.get("DaemonSet", "deploy-test", "lanner");
    assert.ok(ds);
    const tmpl = (
      ds["spec"] as {
        template: {
          metadata: { annotations: Record<string, string> };
          spec: { containers: Array<{ image: string }> };
        };
      }
    ).template;
    assert.equal(tmpl.spec.containers[0]?.image, "registry.test/lanner:dev");
    const tls = api.objects.get("Secret", "deploy-test", TLS_SECRET);
    assert.ok(tls);
    assert.equal(tls["type"], "kubernetes.io/tls");
    const data = tls["data"] as Record<string, string>;
    assert.deepEqual(Object.keys(data).sort(), ["ca.crt", "tls.crt", "tls.key"]);
    firstServerCert = b64(data["tls.crt"]);
    assert.deepEqual(describeCertificate(firstServerCert).dnsNames, ["lanner-agent"]);
    assert.match(b64(data["tls.key"]), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.equal(
      tmpl.metadata.annotations[TLS_FINGERPRINT_ANNOTATION],
      certificateFingerprint(firstServerCert),
    );
    const client = api.objects.get("Secret", "deploy-test", CLIENT_TLS_SECRET);
    assert.equal(b64((client?.["data"] as Record<string, string>)["ca.crt"]), b64(data["ca.crt"]), "one CA");
    // discovery, then read-before-write of each object; nothing but POST/GET
    assert.ok(api.objects.requests.includes("GET /apis/apps/v1"));
    assert.ok(
      api.objects.requests.every((r) => /^(GET|POST) /.test(r)),
      api.objects.requests.join("\n"),
    );
  });

  it("the API server received every field rendered: the client's typed models dropped none (a misspelt field would be)", () => {
    const cert = b64(
      (api.objects.get("Secret", "deploy-test", TLS_SECRET)?.["data"] as Record<string, string>)["tls.crt"],
    );
    const fp = certificateFingerprint(cert);
    for (const o of buildManifests(spec).map((x) => withTlsFingerprint(x, fp))) {
      const got = api.objects.get(o.kind, o.metadata.namespace ?? "", o.metadata.name);
      assert.ok(got, `${o.kind} ${o.metadata.name}`);
      const { uid: _u, resourceVersion: _r, creationTimestamp: _c, ...meta } = got.metadata;
      const received: Record<string, unknown> = { ...got, metadata: meta };
      if (o.kind === "Namespace") {
        // what the API server adds to a namespace
        delete received["spec"];
        delete received["status"];
        delete (meta["labels"] as Record<string, string>)["kubernetes.io/metadata.name"];
      }
      assert.deepEqual(received, JSON.parse(JSON.stringify(o)), `${o.kind} ${o.metadata.name}`);
    }
  });

  it("re-deploy keeps the Secrets and replaces the rest with the version it read", async () => {
    const before = api.objects.get("Secret", "deploy-test", TLS_SECRET);
    const cmBefore = api.objects.get("ConfigMap", "deploy-test", "lanner-config");
    api.objects.requests.length = 0;
    const r = await deploy({ ...spec, image: "registry.test/lanner:dev2" }, { kubeconfig });
    assert.equal(r.newCertificates, false);
    assert.deepEqual(
      r.objects.map((o) => `${o.outcome} ${o.object}`),
      [
        "unchanged Namespace deploy-test",
        "unchanged Secret deploy-test/lanner-tls",
        "unchanged Secret deploy-test/lanner-client-tls",
        "configured ServiceAccount deploy-test/lanner",
        "configured ClusterRole lanner",
        "configured ClusterRoleBinding lanner",
        "configured ConfigMap deploy-test/lanner-config",
        "configured Service deploy-test/lanner-metrics",
        "configured DaemonSet deploy-test/lanner",
      ],
    );
    const after = api.objects.get("Secret", "deploy-test", TLS_SECRET);
    assert.deepEqual(after, before, "the Secret was not written");
    assert.ok(!api.objects.requests.some((r) => r.startsWith("PUT /api/v1/namespaces/deploy-test/secrets")));
    const cm = api.objects.get("ConfigMap", "deploy-test", "lanner-config");
    assert.equal(cm?.metadata.uid, cmBefore?.metadata.uid, "replaced, not re-created");
    assert.notEqual(cm?.metadata.resourceVersion, cmBefore?.metadata.resourceVersion);
    const ds = api.objects.get("DaemonSet", "deploy-test", "lanner");
    const tmpl = (
      ds?.["spec"] as {
        template: {
          metadata: { annotations: Record<string, string> };
          spec: { containers: Array<{ image: string }> };
        };
      }
    ).template;
    assert.equal(tmpl.spec.containers[0]?.image, "registry.test/lanner:dev2");
    assert.equal(
      tmpl.metadata.annotations[TLS_FINGERPRINT_ANNOTATION],
      certificateFingerprint(firstServerCert),
    );
  });

  it("--rotate-certs replaces both Secrets and changes the pod template", async () => {
    const r = await deploy(spec, { kubeconfig, rotateCerts: true });
    assert.equal(r.newCertificates, true);
    assert.deepEqual(
      r.objects.filter((o) => o.object.startsWith("Secret")).map((o) => `${o.outcome} ${o.object}`),
      ["configured Secret deploy-test/lanner-tls", "configured Secret deploy-test/lanner-client-tls"],
    );
    const cert = b64(
      (api.objects.get("Secret", "deploy-test", TLS_SECRET)?.["data"] as Record<string, string>)["tls.crt"],
    );
    assert.notEqual(cert, firstServerCert);
    const ds = api.objects.get("DaemonSet", "deploy-test", "lanner");
    const ann = (ds?.["spec"] as { template: { metadata: { annotations: Record<string, string> } } }).template
      .metadata.annotations;
    assert.equal(ann[TLS_FINGERPRINT_ANNOTATION], certificateFingerprint(cert));
  });

  it("a lone Secret is not kept: both are written from one new CA", async () => {
    // delete the client Secret behind deploy's back (through the API, as kubectl would)
    const res = await fetch(`${api.url}/api/v1/namespaces/deploy-test/secrets/${CLIENT_TLS_SECRET}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${KubeApiStandin.TOKEN}` },
    });
    assert.equal(res.status, 200);
    const r = await deploy(spec, { kubeconfig });
    assert.equal(r.newCertificates, true);
    const d = (n: string): Record<string, string> =>
      api.objects.get("Secret", "deploy-test", n)?.["data"] as Record<string, string>;
    assert.equal(d(TLS_SECRET)["ca.crt"], d(CLIENT_TLS_SECRET)["ca.crt"]);
    assert.equal(describeCertificate(b64(d(CLIENT_TLS_SECRET)["tls.crt"])).issuer, "CN=lanner CA, O=lanner");
  });

  it("undeploy deletes every object in reverse order and waits for the namespace", async () => {
    api.objects.setNamespaceTerminateMs(400);
    const lines: string[] = [];
    const t0 = Date.now();
    const r = await undeploy(spec, { kubeconfig, log: (l) => lines.push(l) });
    const took = Date.now() - t0;
    assert.equal(r.namespaceGone, true);
    assert.ok(took >= 400, `returned after ${took} ms, before the namespace was gone`);
    assert.deepEqual(
      r.objects.map((o) => `${o.outcome} ${o.object}`),
      [
        "deleted DaemonSet deploy-test/lanner",
        "deleted Service deploy-test/lanner-metrics",
        "deleted ConfigMap deploy-test/lanner-config",
        "deleted ClusterRoleBinding lanner",
        "deleted ClusterRole lanner",
        "deleted ServiceAccount deploy-test/lanner",
        "deleted Secret deploy-test/lanner-tls",
        "deleted Secret deploy-test/lanner-client-tls",
        "deleted Namespace deploy-test",
      ],
    );
    assert.equal(lines.at(-1), "namespace/deploy-test deleted");
    assert.deepEqual(api.objects.names(), []);
    // again: nothing left, nothing fails
    const again = await undeploy(spec, { kubeconfig });
    assert.ok(again.objects.every((o) => o.outcome === "not found"));
    assert.equal(again.namespaceGone, true);
  });

  it("the wait for the namespace is bounded", async () => {
    await deploy(spec, { kubeconfig });
    api.objects.setNamespaceTerminateMs(5000);
    const lines: string[] = [];
    const t0 = Date.now();
    const r = await undeploy(spec, { kubeconfig, waitMs: 300, log: (l) => lines.push(l) });
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(r.namespaceGone, false);
    assert.equal(
      lines.at(-1),
      "namespace/deploy-test still terminating after 0.3 s (the API server goes on removing it)",
    );
    assert.equal(api.objects.get("Namespace", "", "deploy-test")?.["status"] !== undefined, true);
    assert.deepEqual(
      (api.objects.get("Namespace", "", "deploy-test")?.["status"] as { phase: string }).phase,
      "Terminating",
    );
    // creating into a terminating namespace: the API server's Forbidden, naming the object
    await assert.rejects(deploy(spec, { kubeconfig }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "EKUBEAPI");
      assert.equal(
        e.message,
        'creating Secret deploy-test/lanner-tls: HTTP 403 Forbidden: secrets "lanner-tls" is forbidden: unable to create new content in namespace deploy-test because it is being terminated',
      );
      return true;
    });
    api.objects.close();
  });

  it("a namespace deploy did not create is used and never deleted", async () => {
    const ns = "deploy-test-own";
    const res = await fetch(`${api.url}/api/v1/namespaces`, {
      method: "POST",
      headers: { authorization: `Bearer ${KubeApiStandin.TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: ns, labels: { team: "x" } },
      }),
    });
    assert.equal(res.status, 201);
    const s2 = { ...spec, namespace: ns };
    const r = await deploy(s2, { kubeconfig });
    assert.equal(r.objects[0]?.outcome, "unchanged");
    assert.deepEqual(api.objects.get("Namespace", "", ns)?.metadata["labels"], {
      team: "x",
      "kubernetes.io/metadata.name": ns,
    });
    const u = await undeploy(s2, { kubeconfig });
    assert.equal(u.objects.at(-1)?.outcome, "kept");
    assert.equal(u.namespaceGone, false);
    assert.deepEqual(
      api.objects.names().filter((n) => !n.includes("deploy-test/") && n !== "Namespace deploy-test"),
      [`Namespace ${ns}`],
      "everything else of the deployment is gone",
    );
  });

  it("undeploy's order: namespaced objects and RBAC, the namespace last", () => {
    assert.deepEqual(
      undeployOrder(spec).map((o) => o.kind),
      [
        "DaemonSet",
        "Service",
        "ConfigMap",
        "ClusterRoleBinding",
        "ClusterRole",
        "ServiceAccount",
        "Secret",
        "Secret",
        "Namespace",
      ],
    );
  });

  it("an API server that refuses the token: the object and the message", async () => {
    const bad = join(dir, "bad-kubeconfig");
    api.writeKubeconfig(bad);
    const { readFileSync, writeFileSync } = await import("node:fs");
    writeFileSync(bad, readFileSync(bad, "utf8").replace(KubeApiStandin.TOKEN, "wrong-token"));
    await assert.rejects(deploy(spec, { kubeconfig: bad }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "EKUBEAPI");
      assert.equal(e.message, "reading Namespace deploy-test: HTTP 401 Unauthorized: Unauthorized");
      return true;
    });
  });

  it("an API server that does not answer: a bounded wait naming the object", async () => {
    api.hang(true);
    try {
      const t0 = Date.now();
      await assert.rejects(
        deploy(spec, { kubeconfig, requestTimeoutMs: 300 }),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, "ETIMEDOUT");
          assert.equal(e.message, `reading Namespace deploy-test: no answer from ${api.url} within 300 ms`);
          return true;
        },
      );
      assert.ok(Date.now() - t0 < 3000);
    } finally {
      api.hang(false);
    }
  });
});

describe("lanner deploy and undeploy (the commands) against the stand-in", () => {
  const api = new KubeApiStandin();
  let kubeconfig = "";
  before(async () => {
    await api.start();
    kubeconfig = api.writeKubeconfig(join(dir, "kubeconfig-cli"));
    api.objects.setNamespaceTerminateMs(100);
  });
  after(async () => {
    api.objects.close();
    await api.stop();
  });

  const run = async (
    fn: (argv: string[], io: { stdout(s: string): void; stderr(s: string): void }) => Promise<number>,
    argv: string[],
  ): Promise<{ code: number; out: string; err: string }> => {
    let out = "";
    let err = "";
    const code = await fn(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
    return { code, out, err };
  };

  it("deploy prints a line per object, kubectl-style; undeploy likewise and waits", async () => {
    const { deployCommand, undeployCommand } = await import("../cli/commands/deploy.js");
    const d = await run(deployCommand, [
      "--kubeconfig",
      kubeconfig,
      "--context",
      "standin",
      "-n",
      "deploy-cli",
      "--image",
      "registry.test/lanner:cli",
      "--node-selector",
      "pool=a",
    ]);
    assert.equal(d.code, 0, d.err);
    assert.equal(
      d.out,
      [
        "namespace/deploy-cli created",
        "secret/lanner-tls created",
        "secret/lanner-client-tls created",
        "serviceaccount/lanner created",
        "clusterrole.rbac.authorization.k8s.io/lanner created",
        "clusterrolebinding.rbac.authorization.k8s.io/lanner created",
        "configmap/lanner-config created",
        "service/lanner-metrics created",
        "daemonset.apps/lanner created",
        "",
      ].join("\n"),
    );
    const ds = api.objects.get("DaemonSet", "deploy-cli", "lanner");
    const pod = (ds?.["spec"] as { template: { spec: { nodeSelector: Record<string, string> } } }).template
      .spec;
    assert.deepEqual(pod.nodeSelector, { pool: "a" });
    const again = await run(deployCommand, ["--kubeconfig", kubeconfig, "-n", "deploy-cli"]);
    assert.match(again.out, /^secret\/lanner-tls unchanged \(kept; --rotate-certs replaces it\)$/m);
    const u = await run(undeployCommand, ["--kubeconfig", kubeconfig, "-n", "deploy-cli", "--wait", "5"]);
    assert.equal(u.code, 0, u.err);
    assert.equal(u.out.trim().split("\n").at(-1), "namespace/deploy-cli deleted");
    assert.deepEqual(api.objects.names(), []);
  });

  it("undeploy exits 1 when the namespace outlasts --wait", async () => {
    const { deployCommand, undeployCommand } = await import("../cli/commands/deploy.js");
    assert.equal((await run(deployCommand, ["--kubeconfig", kubeconfig, "-n", "deploy-cli2"])).code, 0);
    api.objects.setNamespaceTerminateMs(3000);
    const u = await run(undeployCommand, ["--kubeconfig", kubeconfig, "-n", "deploy-cli2", "--wait", "0.2"]);
    assert.equal(u.code, 1);
    assert.equal(u.err, "lanner undeploy: namespace deploy-cli2 is still terminating after 0.2 s\n");
    api.objects.close();
  });

  it("a context that is not in the kubeconfig: the error names it", async () => {
    const { deployCommand } = await import("../cli/commands/deploy.js");
    await assert.rejects(run(deployCommand, ["--kubeconfig", kubeconfig, "--context", "nosuch"]), {
      message: `kubeconfig ${kubeconfig}: context nosuch not found`,
    });
  });
});
