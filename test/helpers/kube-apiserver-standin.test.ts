/**
 * The stand-in's own behaviour that the cluster tests rely on: label selectors parsed as the
 * API server parses them (accepted and refused forms), nodes listed and watched, one pod read,
 * the listen address, and a port-forward of a pod that is not running refused.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { KubeApiStandin, LabelSelectorError, parseLabelSelector } from "./kube-apiserver-standin.js";

const s = new KubeApiStandin({ host: "127.0.0.9" });

before(async () => {
  await s.start();
  s.addNamespace("sel");
  s.addNode({ name: "standin-n1", internalIP: "10.9.0.1" });
  s.addNode({ name: "standin-n2", ready: false });
  const pod = (name: string, labels: Record<string, string>): void => {
    s.addPod({ name, namespace: "sel", nodeName: "standin-n1", labels, podIP: "10.9.1.1" });
  };
  pod("p-web", { app: "web", tier: "front" });
  pod("p-db", { app: "db", tier: "back" });
  pod("p-bare", {});
  s.addPod({ name: "p-pending", namespace: "sel", nodeName: "standin-n2", phase: "Pending" });
});
after(() => s.stop());

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: s.host,
        port: s.port,
        path,
        headers: { authorization: `Bearer ${KubeApiStandin.TOKEN}`, ...headers },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
          // a watch never ends: its first lines are enough
          if (path.includes("watch=true") && body.includes("\n")) {
            res.destroy();
            resolve({ status: res.statusCode ?? 0, body });
          }
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function names(selector: string): Promise<string[]> {
  const r = await get(`/api/v1/namespaces/sel/pods?labelSelector=${encodeURIComponent(selector)}`);
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body) as { items: { metadata: { name: string } }[] }).items
    .map((i) => i.metadata.name)
    .sort();
}

test("stand-in: label selectors as the API server reads them", async () => {
  assert.equal(s.url, `http://127.0.0.9:${s.port}`);
  assert.deepEqual(await names("app=web"), ["p-web"]);
  assert.deepEqual(await names("app==web"), ["p-web"]);
  assert.deepEqual(await names("app!=web"), ["p-bare", "p-db", "p-pending"]);
  assert.deepEqual(await names("app in (web, db)"), ["p-db", "p-web"]);
  assert.deepEqual(await names("app notin (web)"), ["p-bare", "p-db", "p-pending"]);
  assert.deepEqual(await names("tier"), ["p-db", "p-web"]);
  assert.deepEqual(await names("!tier"), ["p-bare", "p-pending"]);
  assert.deepEqual(await names("app=db,tier=back"), ["p-db"]);
  assert.deepEqual(await names(""), ["p-bare", "p-db", "p-pending", "p-web"]);
  const bad = await get(`/api/v1/namespaces/sel/pods?labelSelector=${encodeURIComponent("app in (")}`);
  assert.equal(bad.status, 400);
  assert.equal((JSON.parse(bad.body) as { reason: string }).reason, "BadRequest");
  for (const text of ["a=b,", "=x", "a=b c", "-bad=x"])
    assert.throws(() => parseLabelSelector(text), LabelSelectorError, text);
});

test("stand-in: nodes listed and watched, one pod read, 404 for an unknown one", async () => {
  const list = JSON.parse((await get("/api/v1/nodes")).body) as {
    kind: string;
    items: { metadata: { name: string }; status: { conditions: { type: string; status: string }[] } }[];
  };
  assert.equal(list.kind, "NodeList");
  assert.deepEqual(
    list.items.map(
      (n) => `${n.metadata.name}:${n.status.conditions.find((c) => c.type === "Ready")?.status}`,
    ),
    ["standin-n1:True", "standin-n2:False"],
  );
  const w = await get("/api/v1/nodes?watch=true");
  const first = JSON.parse(w.body.split("\n")[0] as string) as { type: string; object: { kind: string } };
  assert.deepEqual([first.type, first.object.kind], ["ADDED", "Node"]);
  const one = await get("/api/v1/namespaces/sel/pods/p-web");
  const pod = JSON.parse(one.body) as { status: { phase: string; podIP: string } };
  assert.deepEqual([pod.status.phase, pod.status.podIP], ["Running", "10.9.1.1"]);
  const none = await get("/api/v1/namespaces/sel/pods/p-none");
  assert.equal(none.status, 404);
  assert.equal((JSON.parse(none.body) as { message: string }).message, 'pods "p-none" not found');
});

test("stand-in: port-forward to a pod that is not running is refused before the upgrade", async () => {
  const r = await get("/api/v1/namespaces/sel/pods/p-pending/portforward?ports=80", {
    connection: "Upgrade",
    upgrade: "websocket",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-protocol": "v4.channel.k8s.io",
  });
  assert.equal(r.status, 400);
  assert.match(r.body, /pod p-pending is not running \(phase Pending\)/);
});
