/** Loading the KubeConfig (@kubernetes/client-node) and authenticating to the stand-in. */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeApiStandin } from "../../../test/helpers/kube-apiserver-standin.js";
import { StateError } from "../containers/errors.js";
import { K8sApiWatcher } from "./k8s-api-watcher.js";
import { loadKubeConfig } from "./kube-config.js";

const dir = mkdtempSync(join(tmpdir(), "lanner-kubeconfig-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(
  name: string,
  server: string,
  extra: { insecure?: boolean; user?: string[] } = {},
): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: c",
      "  cluster:",
      `    server: ${server}`,
      ...(extra.insecure === true ? ["    insecure-skip-tls-verify: true"] : []),
      "users:",
      "- name: u",
      "  user:",
      ...(extra.user ?? ["    token: t"]),
      "contexts:",
      "- name: ctx",
      "  context:",
      "    cluster: c",
      "    user: u",
      "current-context: ctx",
      "",
    ].join("\n"),
  );
  return path;
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StateError, String(err));
    return err.code;
  }
  return "no error";
}

describe("loadKubeConfig", () => {
  it("a kubeconfig file, its current context or a named one", () => {
    const path = kubeconfig("ok", "https://10.0.0.1:6443");
    const kc = loadKubeConfig({ kubeconfig: path });
    assert.equal(kc.getCurrentCluster()?.server, "https://10.0.0.1:6443");
    assert.equal(kc.getCurrentUser()?.token, "t");
    assert.equal(loadKubeConfig({ kubeconfig: path, context: "ctx" }).getCurrentContext(), "ctx");
  });

  it("configuration problems are startup errors", () => {
    assert.equal(
      code(() => loadKubeConfig({ kubeconfig: join(dir, "missing") })),
      "EKUBECONFIG",
    );
    const path = kubeconfig("ctx", "https://10.0.0.1:6443");
    assert.equal(
      code(() => loadKubeConfig({ kubeconfig: path, context: "nope" })),
      "EKUBECONFIG",
    );
    // The library refuses plain http without insecure-skip-tls-verify: say so at once.
    assert.equal(
      code(() => loadKubeConfig({ kubeconfig: kubeconfig("http", "http://10.0.0.1") })),
      "EKUBECONFIG",
    );
    const badCert = kubeconfig("cert", "https://10.0.0.1", {
      user: ["    client-certificate: /nonexistent/crt", "    client-key: /nonexistent/key"],
    });
    assert.equal(
      code(() => loadKubeConfig({ kubeconfig: badCert })),
      "EKUBECONFIG",
    );
  });

  it("not in a pod and no kubeconfig anywhere: ENOKUBE", (t) => {
    if (existsSync("/var/run/secrets/kubernetes.io/serviceaccount/token")) {
      t.skip("this machine has a service account token");
      return;
    }
    const saved = { home: process.env["HOME"], kubeconfig: process.env["KUBECONFIG"] };
    process.env["HOME"] = join(dir, "no-home");
    delete process.env["KUBECONFIG"];
    try {
      assert.equal(
        code(() => loadKubeConfig({}, {})),
        "ENOKUBE",
      );
    } finally {
      if (saved.home !== undefined) process.env["HOME"] = saved.home;
      if (saved.kubeconfig !== undefined) process.env["KUBECONFIG"] = saved.kubeconfig;
    }
  });

  it("$KUBECONFIG through loadFromDefault", () => {
    const saved = process.env["KUBECONFIG"];
    process.env["KUBECONFIG"] = kubeconfig("env", "https://10.9.9.9:6443");
    try {
      assert.equal(loadKubeConfig({}, {}).getCurrentCluster()?.server, "https://10.9.9.9:6443");
    } finally {
      if (saved === undefined) delete process.env["KUBECONFIG"];
      else process.env["KUBECONFIG"] = saved;
    }
  });
});

describe("K8sApiWatcher credentials", () => {
  it("an endpoint with a token file: trimmed (the library would send its newline)", async () => {
    const api = new KubeApiStandin();
    await api.start();
    api.addNamespace("shop");
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, `${KubeApiStandin.TOKEN}\n`);
    const w = new K8sApiWatcher({
      nodeName: "n",
      endpoint: { server: api.url, tokenFile },
      requestTimeoutMs: 300,
      minBackoffMs: 30,
      maxBackoffMs: 60,
      logger: () => {},
    });
    w.start();
    assert.equal(await w.whenSynced(3000), true);
    assert.deepEqual(w.namespaceLabels("shop"), { "kubernetes.io/metadata.name": "shop" });
    await w.close();
    await api.stop();
  });

  it("a kubeconfig user's tokenFile (kubectl's field, which the library does not read)", async () => {
    const api = new KubeApiStandin();
    await api.start();
    api.addNamespace("shop");
    writeFileSync(join(dir, "kc-token"), `${KubeApiStandin.TOKEN}\n`);
    const path = kubeconfig("token-file", api.url, { insecure: true, user: ["    tokenFile: kc-token"] });
    const logs: string[] = [];
    const w = new K8sApiWatcher({
      nodeName: "n",
      kubeconfig: path,
      requestTimeoutMs: 300,
      logger: (m) => logs.push(m),
    });
    w.start();
    assert.equal(await w.whenSynced(3000), true, logs.join("\n"));
    await w.close();
    await api.stop();
  });

  it("a KubeConfig given by the caller", async () => {
    const api = new KubeApiStandin();
    await api.start();
    api.addNamespace("shop");
    const kc = new KubeConfig();
    kc.loadFromFile(api.writeKubeconfig(join(dir, "given")));
    const w = new K8sApiWatcher({ nodeName: "n", kubeConfig: kc, requestTimeoutMs: 300, logger: () => {} });
    w.start();
    assert.equal(await w.whenSynced(3000), true);
    await w.close();
    await api.stop();
  });

  it("a rejected token: 401 logged once per loop, counted, never fatal", async () => {
    const api = new KubeApiStandin();
    await api.start();
    api.addNamespace("shop");
    const logs: string[] = [];
    const w = new K8sApiWatcher({
      nodeName: "n",
      kubeconfig: kubeconfig("wrong-token", api.url, { insecure: true, user: ["    token: wrong"] }),
      requestTimeoutMs: 300,
      minBackoffMs: 30,
      maxBackoffMs: 60,
      logger: (m) => logs.push(m),
    });
    w.start();
    assert.equal(await w.whenSynced(400), false);
    assert.ok(w.stats().errors >= 4, `errors counted: ${w.stats().errors}`);
    assert.equal(logs.length, 2, logs.join("\n"));
    assert.ok(
      logs.every((l) => /HTTP 401/.test(l)),
      logs.join("\n"),
    );
    const t0 = Date.now();
    await w.close();
    assert.ok(Date.now() - t0 < 500);
    await api.stop();
  });
});
