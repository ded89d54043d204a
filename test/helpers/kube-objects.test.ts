/**
 * The stand-in's object store speaks the API server's verbs and Status bodies (the apply
 * tests rely on them): raw HTTP here, so each answer is checked as the server would send it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { KubeApiStandin } from "./kube-apiserver-standin.js";

describe("KubeObjectStore behind the stand-in", () => {
  const api = new KubeApiStandin();
  before(() => api.start());
  after(async () => {
    api.objects.close();
    await api.stop();
  });

  async function req(method: string, path: string, body?: unknown, ct = "application/json") {
    const r = await fetch(`${api.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${KubeApiStandin.TOKEN}`,
        accept: "application/json",
        ...(body !== undefined ? { "content-type": ct } : {}),
      },
      ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  }
  const cm = (name: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, ...extra },
    data: { a: "1" },
  });

  it("discovery lists the kinds with their scope", async () => {
    const r = await req("GET", "/apis/rbac.authorization.k8s.io/v1");
    assert.equal(r.status, 200);
    assert.equal(r.body["kind"], "APIResourceList");
    assert.equal(r.body["groupVersion"], "rbac.authorization.k8s.io/v1");
    assert.deepEqual(
      (r.body["resources"] as Array<{ name: string; namespaced: boolean; kind: string }>).map(
        (x) => `${x.kind} ${x.name} ${x.namespaced}`,
      ),
      ["ClusterRole clusterroles false", "ClusterRoleBinding clusterrolebindings false"],
    );
  });

  it("create, AlreadyExists, read, list, replace with and without the current version, delete", async () => {
    const missing = await req("POST", "/api/v1/namespaces/objs/configmaps", cm("c1"));
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'namespaces "objs" not found',
      reason: "NotFound",
      details: { name: "objs", kind: "namespaces" },
      code: 404,
    });
    const ns = await req("POST", "/api/v1/namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "objs" },
    });
    assert.equal(ns.status, 201);
    assert.equal((ns.body["status"] as { phase: string }).phase, "Active");
    const c = await req("POST", "/api/v1/namespaces/objs/configmaps", cm("c1"));
    assert.equal(c.status, 201);
    const meta = c.body["metadata"] as { uid: string; resourceVersion: string; namespace: string };
    assert.equal(meta.namespace, "objs");
    const again = await req("POST", "/api/v1/namespaces/objs/configmaps", cm("c1"));
    assert.equal(again.status, 409);
    assert.equal(again.body["reason"], "AlreadyExists");
    assert.equal(again.body["message"], 'configmaps "c1" already exists');
    const got = await req("GET", "/api/v1/namespaces/objs/configmaps/c1");
    assert.deepEqual(got.body, c.body);
    const list = await req("GET", "/api/v1/namespaces/objs/configmaps");
    assert.equal(list.body["kind"], "ConfigMapList");
    assert.equal((list.body["items"] as unknown[]).length, 1);
    const put = await req(
      "PUT",
      "/api/v1/namespaces/objs/configmaps/c1",
      cm("c1", { resourceVersion: meta.resourceVersion }),
    );
    assert.equal(put.status, 200);
    const m2 = put.body["metadata"] as { uid: string; resourceVersion: string };
    assert.equal(m2.uid, meta.uid);
    assert.notEqual(m2.resourceVersion, meta.resourceVersion);
    const stale = await req(
      "PUT",
      "/api/v1/namespaces/objs/configmaps/c1",
      cm("c1", { resourceVersion: meta.resourceVersion }),
    );
    assert.equal(stale.status, 409);
    assert.equal(stale.body["reason"], "Conflict");
    assert.equal(
      stale.body["message"],
      'Operation cannot be fulfilled on configmaps "c1": the object has been modified; please apply your changes to the latest version and try again',
    );
    const del = await req("DELETE", "/api/v1/namespaces/objs/configmaps/c1");
    assert.equal(del.status, 200);
    assert.equal(del.body["status"], "Success");
    const gone = await req("DELETE", "/api/v1/namespaces/objs/configmaps/c1");
    assert.equal(gone.status, 404);
    assert.equal(gone.body["message"], 'configmaps "c1" not found');
    assert.equal(api.objects.get("ConfigMap", "objs", "c1"), undefined);
  });

  it("bad bodies: kind or namespace not the path's, no name, not JSON", async () => {
    const wrongKind = await req("POST", "/api/v1/namespaces/objs/secrets", cm("x"));
    assert.equal(wrongKind.status, 400);
    assert.equal(wrongKind.body["reason"], "BadRequest");
    const wrongNs = await req("POST", "/api/v1/namespaces/objs/configmaps", cm("x", { namespace: "other" }));
    assert.equal(wrongNs.status, 400);
    const noName = await req("POST", "/api/v1/namespaces/objs/configmaps", {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {},
    });
    assert.equal(noName.status, 422);
    assert.equal(noName.body["reason"], "Invalid");
    const notJson = await req("POST", "/api/v1/namespaces/objs/configmaps", "{nope");
    assert.equal(notJson.status, 400);
    const yaml = await req("POST", "/api/v1/namespaces/objs/configmaps", "a: 1", "application/yaml");
    assert.equal(yaml.status, 415);
    const patch = await req(
      "PATCH",
      "/api/v1/namespaces/objs/configmaps/x",
      {},
      "application/merge-patch+json",
    );
    assert.equal(patch.status, 405);
  });

  it("cluster-scoped kinds; the stand-in's own paths are left to it", async () => {
    const cr = await req("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "objs-role" },
      rules: [],
    });
    assert.equal(cr.status, 201);
    assert.equal((cr.body["metadata"] as { namespace?: string }).namespace, undefined);
    assert.equal(api.objects.get("ClusterRole", "", "objs-role")?.metadata.name, "objs-role");
    const notHere = await req("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/nope");
    assert.equal(notHere.status, 404);
    assert.equal(notHere.body["reason"], "NotFound");
    api.addNamespace("standin-ns");
    const nsList = await req("GET", "/api/v1/namespaces");
    assert.equal(nsList.body["kind"], "NamespaceList", "the stand-in's list");
    assert.ok(
      (nsList.body["items"] as Array<{ metadata: { name: string } }>).some(
        (n) => n.metadata.name === "standin-ns",
      ),
    );
  });

  it("a deleted namespace terminates, refuses new content, then goes with its objects", async () => {
    api.objects.setNamespaceTerminateMs(200);
    await req("POST", "/api/v1/namespaces/objs/configmaps", cm("c2"));
    const d = await req("DELETE", "/api/v1/namespaces/objs");
    assert.equal(d.status, 200);
    assert.equal((d.body["status"] as { phase: string }).phase, "Terminating");
    assert.ok((d.body["metadata"] as { deletionTimestamp?: string }).deletionTimestamp);
    const refused = await req("POST", "/api/v1/namespaces/objs/configmaps", cm("c3"));
    assert.equal(refused.status, 403);
    assert.equal(
      refused.body["message"],
      'configmaps "c3" is forbidden: unable to create new content in namespace objs because it is being terminated',
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(api.objects.get("Namespace", "", "objs"), undefined);
    assert.equal(api.objects.get("ConfigMap", "objs", "c2"), undefined);
  });
});
