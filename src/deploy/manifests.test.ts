/**
 * The deployment's objects: every object of `lanner deploy --print` validated against the
 * Kubernetes OpenAPI schemas (kubernetes-models, generated from the official OpenAPI
 * definitions, with ajv), the least RBAC, the DaemonSet as the node API and the agent need it,
 * and deploy/lanner.yaml in step with the code.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { parseAllDocuments } from "yaml";
import { deployCommand, undeployCommand } from "../cli/commands/deploy.js";
import { UsageError } from "../cli/io.js";
import {
  allObjects,
  buildManifests,
  certificateFingerprint,
  defaultRulesFiles,
  defaultSpec,
  manifestsFile,
  packageRoot,
  packageVersion,
  TLS_FINGERPRINT_ANNOTATION,
  type KubeObject,
} from "./manifests.js";
import { describeCertificate, generateTlsMaterial } from "./tls.js";

type Validatable = { validate(): void };
const MODELS: Record<string, new (o: never) => Validatable> = {
  "v1/Namespace": Namespace,
  "v1/Secret": Secret,
  "v1/ServiceAccount": ServiceAccount,
  "v1/ConfigMap": ConfigMap,
  "v1/Service": Service,
  "apps/v1/DaemonSet": DaemonSet,
  "rbac.authorization.k8s.io/v1/ClusterRole": ClusterRole,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ClusterRoleBinding,
};

/** Throws the schema's complaint, naming the object. */
function validate(o: KubeObject): void {
  const Model = MODELS[`${o.apiVersion}/${o.kind}`];
  if (Model === undefined) throw new Error(`no schema for ${o.apiVersion}/${o.kind} (${o.metadata.name})`);
  try {
    new Model(structuredClone(o) as never).validate();
  } catch (e) {
    throw new Error(`${o.kind} ${o.metadata.name}: ${(e as Error).message}`, { cause: e });
  }
}

async function printed(argv: string[] = []): Promise<KubeObject[]> {
  let out = "";
  const code = await deployCommand(["--print", ...argv], { stdout: (s) => (out += s), stderr: () => {} });
  assert.equal(code, 0);
  return parseAllDocuments(out).map((d) => d.toJS() as KubeObject);
}

type Container = {
  name: string;
  image: string;
  command: string[];
  args: string[];
  env: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  ports: Array<{ name: string; containerPort: number; protocol: string }>;
  securityContext: { privileged?: boolean };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
  startupProbe: { httpGet: { path: string; port: string } };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
};
type PodSpec = {
  hostPID?: boolean;
  hostNetwork?: boolean;
  serviceAccountName: string;
  tolerations: unknown[];
  nodeSelector?: Record<string, string>;
  containers: Container[];
  volumes: Array<{
    name: string;
    hostPath?: { path: string; type: string };
    secret?: { secretName: string };
    configMap?: { name: string; items: Array<{ key: string; path: string }> };
  }>;
};
function daemonSet(objs: readonly KubeObject[]): {
  ds: KubeObject;
  pod: PodSpec;
  c: Container;
  spec: {
    selector: { matchLabels: Record<string, string> };
    updateStrategy: unknown;
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> } };
  };
} {
  const ds = objs.find((o) => o.kind === "DaemonSet");
  assert.ok(ds);
  const spec = ds["spec"] as ReturnType<typeof daemonSet>["spec"] & { template: { spec: PodSpec } };
  const pod = spec.template.spec;
  const c = pod.containers[0];
  assert.ok(c);
  return { ds, pod, c, spec };
}

describe("lanner deploy --print", () => {
  it("every object passes the Kubernetes OpenAPI schema", async () => {
    const objs = await printed();
    assert.deepEqual(
      objs.map((o) => `${o.kind} ${o.metadata.name}`),
      [
        "Namespace lanner",
        "Secret lanner-tls",
        "Secret lanner-client-tls",
        "ServiceAccount lanner",
        "ClusterRole lanner",
        "ClusterRoleBinding lanner",
        "ConfigMap lanner-config",
        "Service lanner-metrics",
        "DaemonSet lanner",
      ],
    );
    for (const o of objs) validate(o);
    // with every option too
    for (const o of await printed([
      "--image",
      "registry.test/x/lanner@sha256:" + "a".repeat(64),
      "-n",
      "sec",
      "--node-selector",
      "kubernetes.io/os=linux,pool=b",
    ]))
      validate(o);
  });

  it("the schema check catches what it should (it is not a check that passes anything)", async () => {
    const { ds } = daemonSet(await printed());
    const bad = structuredClone(ds);
    const c = (bad["spec"] as { template: { spec: { containers: Array<Record<string, unknown>> } } }).template
      .spec.containers[0] as Record<string, unknown>;
    c["ports"] = [{ name: "grpc", containerPort: "7100" }];
    assert.throws(() => validate(bad), /containerPort must be integer/);
    const noSelector = structuredClone(ds);
    delete (noSelector["spec"] as Record<string, unknown>)["selector"];
    assert.throws(() => validate(noSelector), /selector/);
    const role = structuredClone(
      buildManifests(defaultSpec()).find((o) => o.kind === "ClusterRole") as KubeObject,
    );
    (role["rules"] as Array<Record<string, unknown>>)[0]!["verbs"] = "list";
    assert.throws(() => validate(role), /verbs must be array/);
  });

  it("RBAC: exactly list and watch of pods, namespaces and nodes, bound to the agent's ServiceAccount", async () => {
    const objs = await printed();
    const role = objs.find((o) => o.kind === "ClusterRole");
    assert.deepEqual(role?.["rules"], [
      { apiGroups: [""], resources: ["pods", "namespaces", "nodes"], verbs: ["list", "watch"] },
    ]);
    assert.equal(role?.["aggregationRule"], undefined);
    const binding = objs.find((o) => o.kind === "ClusterRoleBinding");
    assert.deepEqual(binding?.["roleRef"], {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "lanner",
    });
    assert.deepEqual(binding?.["subjects"], [
      { kind: "ServiceAccount", name: "lanner", namespace: "lanner" },
    ]);
    // no other role of any kind
    assert.deepEqual(
      objs.filter((o) => /Role/.test(o.kind)).map((o) => o.kind),
      ["ClusterRole", "ClusterRoleBinding"],
    );
    const { pod } = daemonSet(objs);
    assert.equal(pod.serviceAccountName, "lanner");
  });

  it("the DaemonSet: privileged, host PID and network, NODE_NAME, the two ports, probes on /healthz, every node", async () => {
    const objs = await printed();
    const { ds, pod, c, spec } = daemonSet(objs);
    assert.equal(ds.metadata.namespace, "lanner");
    assert.deepEqual(spec.selector.matchLabels, { "app.kubernetes.io/name": "lanner" });
    assert.equal(spec.template.metadata.labels["app.kubernetes.io/name"], "lanner");
    assert.deepEqual(spec.updateStrategy, { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } });
    assert.equal(pod.hostPID, true);
    assert.equal(pod.hostNetwork, true);
    assert.deepEqual(pod.tolerations, [{ operator: "Exists" }]);
    assert.equal(pod.nodeSelector, undefined);
    assert.equal(c.name, "lanner");
    assert.equal(c.image, `ghcr.io/lanner/lanner:${packageVersion()}`);
    assert.deepEqual(c.securityContext, { privileged: true });
    assert.deepEqual(
      c.env.find((e) => e.name === "NODE_NAME"),
      {
        name: "NODE_NAME",
        valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } },
      },
    );
    assert.deepEqual(c.ports, [
      { name: "grpc", containerPort: 7100, protocol: "TCP" },
      { name: "metrics", containerPort: 8765, protocol: "TCP" },
    ]);
    for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe])
      assert.deepEqual(p.httpGet, { path: "/healthz", port: "metrics" });
    assert.deepEqual(c.command, ["lanner"]);
    assert.deepEqual(c.args, [
      "run",
      "-c",
      "/etc/lanner/config/lanner.yaml",
      "-r",
      "/etc/lanner/config/rules",
      "--grpc",
      "0.0.0.0:7100",
      "--grpc-tls-cert",
      "/etc/lanner/tls/tls.crt",
      "--grpc-tls-key",
      "/etc/lanner/tls/tls.key",
      "--grpc-tls-ca",
      "/etc/lanner/tls/ca.crt",
      "--metrics",
      "0.0.0.0:8765",
      "--node-name",
      "$(NODE_NAME)",
    ]);
    // memory: above the agent's measured peak (~185 MB with 10k processes), a limit with room
    assert.deepEqual(c.resources, {
      requests: { cpu: "100m", memory: "192Mi" },
      limits: { cpu: "1", memory: "512Mi" },
    });
    // the TLS Secret read-only, the ConfigMap's lanner.yaml and every default rules file
    const mount = (name: string) => c.volumeMounts.find((m) => m.name === name);
    const vol = (name: string) => pod.volumes.find((v) => v.name === name);
    assert.deepEqual(mount("tls"), { name: "tls", mountPath: "/etc/lanner/tls", readOnly: true });
    assert.equal(vol("tls")?.secret?.secretName, "lanner-tls");
    assert.deepEqual(mount("config"), { name: "config", mountPath: "/etc/lanner/config", readOnly: true });
    assert.deepEqual(vol("config")?.configMap?.items, [
      { key: "lanner.yaml", path: "lanner.yaml" },
      ...Object.keys(defaultRulesFiles()).map((f) => ({ key: f, path: `rules/${f}` })),
    ]);
    // every hostPath is one the agent reads
    assert.deepEqual(
      pod.volumes
        .filter((v) => v.hostPath !== undefined)
        .map(
          (v) =>
            `${v.hostPath?.path} -> ${mount(v.name)?.mountPath}${mount(v.name)?.readOnly ? " (ro)" : ""}`,
        ),
      [
        "/run/containerd -> /run/containerd",
        "/run/crio -> /run/crio",
        "/etc -> /host/etc (ro)",
        "/sys/kernel/tracing -> /sys/kernel/tracing",
        "/sys/kernel/debug -> /sys/kernel/debug",
        "/sys/fs/cgroup -> /sys/fs/cgroup (ro)",
      ],
    );
    assert.deepEqual(
      c.env.find((e) => e.name === "LANNER_HOST_ROOT"),
      { name: "LANNER_HOST_ROOT", value: "/host" },
    );
  });

  it("the ConfigMap holds lanner.yaml and the embedded default rules, byte for byte", async () => {
    const cm = (await printed()).find((o) => o.kind === "ConfigMap");
    const data = cm?.["data"] as Record<string, string>;
    const rules = defaultRulesFiles();
    assert.ok(Object.keys(rules).length >= 1);
    for (const [f, text] of Object.entries(rules)) assert.equal(data[f], text, f);
    assert.match(data["lanner.yaml"] ?? "", /^json_output: true$/m);
    assert.deepEqual(Object.keys(data).sort(), ["lanner.yaml", ...Object.keys(rules)].sort());
  });

  it("the Secrets: new certificates each time, the server's for lanner-agent, the DaemonSet carries its fingerprint", async () => {
    const a = await printed();
    const b = await printed();
    const sec = (objs: KubeObject[], n: string) =>
      objs.find((o) => o.kind === "Secret" && o.metadata.name === n)?.["data"] as Record<string, string>;
    const pem = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");
    assert.notEqual(sec(a, "lanner-tls")["tls.crt"], sec(b, "lanner-tls")["tls.crt"]);
    const server = describeCertificate(pem(sec(a, "lanner-tls")["tls.crt"]));
    assert.deepEqual(server.dnsNames, ["lanner-agent"]);
    assert.equal(server.publicKeyAlgorithm, "ECDSA P-256");
    assert.equal(
      describeCertificate(pem(sec(a, "lanner-client-tls")["tls.crt"])).subject,
      "CN=kubectl-lanner, O=lanner",
    );
    assert.equal(sec(a, "lanner-tls")["ca.crt"], sec(a, "lanner-client-tls")["ca.crt"]);
    assert.equal(
      daemonSet(a).spec.template.metadata.annotations?.[TLS_FINGERPRINT_ANNOTATION],
      certificateFingerprint(pem(sec(a, "lanner-tls")["tls.crt"])),
    );
  });

  it("options: image, namespace (everywhere it appears), node selector", async () => {
    const objs = await printed([
      "--image",
      "registry.test/lanner:1",
      "--namespace",
      "sec",
      "--node-selector",
      "pool=b",
      "--node-selector",
      "kubernetes.io/os=linux",
    ]);
    assert.equal(objs[0]?.metadata.name, "sec");
    for (const o of objs.slice(1))
      if (!o.kind.startsWith("Cluster"))
        assert.equal(o.metadata.namespace, "sec", `${o.kind} ${o.metadata.name}`);
    const binding = objs.find((o) => o.kind === "ClusterRoleBinding");
    assert.deepEqual(binding?.["subjects"], [{ kind: "ServiceAccount", name: "lanner", namespace: "sec" }]);
    const { pod, c } = daemonSet(objs);
    assert.equal(c.image, "registry.test/lanner:1");
    assert.deepEqual(pod.nodeSelector, { pool: "b", "kubernetes.io/os": "linux" });
  });

  it("bad input: a usage error naming the flag", async () => {
    const io = { stdout: () => {}, stderr: () => {} };
    const cases: Array<[string[], string]> = [
      [
        ["--namespace", "Not_A_Label"],
        `--namespace: namespace "Not_A_Label" is not a DNS label (a-z, 0-9, '-', at most 63)`,
      ],
      [["--image", "a b"], `--image: image "a b" is empty or contains white space`],
      [["--node-selector", "pool"], "--node-selector: expected KEY=VALUE, got 'pool'"],
      [
        ["--node-selector", "pool=a b"],
        `--node-selector: node selector value "a b" (of pool) is not a label value`,
      ],
      [["--timeout", "soon"], "--timeout: expected a number of seconds above 0, got 'soon'"],
      [
        ["--print", "--rotate-certs"],
        "--print applies nothing: --rotate-certs, --kubeconfig and --context do not go with it",
      ],
    ];
    for (const [argv, msg] of cases)
      await assert.rejects(deployCommand(argv, io), (e: Error) => {
        assert.ok(e instanceof UsageError, `${argv.join(" ")}: ${e.message}`);
        assert.equal(e.message, msg);
        return true;
      });
    await assert.rejects(
      undeployCommand(["--wait=-1"], io),
      /^UsageError: --wait: expected a number of seconds, got '-1'$/,
    );
    await assert.rejects(deployCommand(["--bogus"], io), { code: "ERR_PARSE_ARGS_UNKNOWN_OPTION" });
  });

  it("undeploy --print names what it would delete, the namespace last", async () => {
    let out = "";
    assert.equal(await undeployCommand(["--print"], { stdout: (s) => (out += s), stderr: () => {} }), 0);
    const objs = parseAllDocuments(out).map((d) => d.toJS() as KubeObject);
    assert.deepEqual(
      objs.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? "-"}/${o.metadata.name}`),
      [
        "apps/v1 DaemonSet lanner/lanner",
        "v1 Service lanner/lanner-metrics",
        "v1 ConfigMap lanner/lanner-config",
        "rbac.authorization.k8s.io/v1 ClusterRoleBinding -/lanner",
        "rbac.authorization.k8s.io/v1 ClusterRole -/lanner",
        "v1 ServiceAccount lanner/lanner",
        "v1 Secret lanner/lanner-tls",
        "v1 Secret lanner/lanner-client-tls",
        "v1 Namespace -/lanner",
      ],
    );
  });
});

describe("deploy/lanner.yaml", () => {
  it("is what the code renders (run `node dist/src/deploy/manifests.js --write` after a change)", () => {
    const file = readFileSync(join(packageRoot(), "deploy", "lanner.yaml"), "utf8");
    assert.equal(file, manifestsFile());
  });

  it("holds every object but the Secrets, each valid, without a certificate fingerprint", () => {
    const docs = parseAllDocuments(readFileSync(join(packageRoot(), "deploy", "lanner.yaml"), "utf8")).map(
      (d) => d.toJS() as KubeObject,
    );
    assert.deepEqual(
      docs.map((o) => o.kind),
      [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Service",
        "DaemonSet",
      ],
    );
    for (const o of docs) validate(o);
    assert.equal(daemonSet(docs).spec.template.metadata.annotations, undefined);
    assert.deepEqual(allObjects(defaultSpec(), null), buildManifests(defaultSpec()));
  });

  it("generateTlsMaterial rejects what is not a DNS name", async () => {
    await assert.rejects(generateTlsMaterial({ serverNames: ["bad name"] }), {
      code: "ETLS",
      message: 'making TLS material: server names ["bad name"] are not DNS names',
    });
    await assert.rejects(generateTlsMaterial({ days: 0 }), {
      code: "ETLS",
      message: "making TLS material: validity 0 days is not a positive integer",
    });
  });
});
