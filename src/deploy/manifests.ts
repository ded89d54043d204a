/**
 * The Kubernetes objects of a Lanner deployment, built in code from one description
 * (`DeploySpec`): `lanner deploy` applies them, `lanner deploy --print` prints them, and
 * deploy/lanner.yaml is generated from them (`node dist/src/deploy/manifests.js --write`; a
 * test fails on drift). deploy/README.md says why each setting is what it is.
 *
 * Fixed names (the kubectl plugin and the agent rely on them): namespace `lanner`; DaemonSet
 * `lanner`, pods labelled app.kubernetes.io/name=lanner, container `lanner` with ports `grpc`
 * (7100, node API and alert API, mutual TLS) and `metrics` (8765); Secrets `lanner-tls`
 * (server) and `lanner-client-tls` (client; `kubectl lanner` reads it); ConfigMap
 * `lanner-config`; Service `lanner-metrics`; ServiceAccount, ClusterRole and
 * ClusterRoleBinding `lanner`.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { stringify } from "yaml";
import { LannerError } from "../errors.js";
import { packageRoot, packageVersion } from "../package.js";
import {
  APP_LABEL,
  CLIENT_TLS_SECRET,
  CONFIG_MAP,
  CONTAINER_PATHS,
  DEFAULT_NAMESPACE,
  GRPC_PORT,
  HOST_ROOT,
  METRICS_PORT,
  METRICS_SERVICE,
  NAME,
  TLS_FINGERPRINT_ANNOTATION,
  TLS_SECRET,
} from "./names.js";
import type { TlsMaterial } from "./tls.js";

export {
  APP_LABEL,
  CLIENT_TLS_SECRET,
  CONFIG_MAP,
  CONTAINER_PATHS,
  DEFAULT_NAMESPACE,
  GRPC_PORT,
  HOST_ROOT,
  METRICS_PORT,
  METRICS_SERVICE,
  NAME,
  SERVER_NAME,
  TLS_FINGERPRINT_ANNOTATION,
  TLS_SECRET,
} from "./names.js";

/** A Kubernetes object as sent to the API server. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** What varies between deployments; everything else is fixed. */
export interface DeploySpec {
  /** the agent image (default ghcr.io/lanner/lanner:<package version>) */
  readonly image: string;
  readonly namespace: string;
  /** the DaemonSet's nodeSelector (empty: every node) */
  readonly nodeSelector: Readonly<Record<string, string>>;
}

export { packageRoot, packageVersion } from "../package.js";

export function defaultSpec(): DeploySpec {
  return {
    image: `ghcr.io/lanner/lanner:${packageVersion()}`,
    namespace: DEFAULT_NAMESPACE,
    nodeSelector: {},
  };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Problems with a spec, each naming the field (empty: usable). */
export function specProblems(spec: DeploySpec): string[] {
  const out: string[] = [];
  if (!DNS_LABEL.test(spec.namespace))
    out.push(`namespace ${JSON.stringify(spec.namespace)} is not a DNS label (a-z, 0-9, '-', at most 63)`);
  if (spec.image === "" || /\s/.test(spec.image))
    out.push(`image ${JSON.stringify(spec.image)} is empty or contains white space`);
  for (const [k, v] of Object.entries(spec.nodeSelector)) {
    if (k.length > 316 || !LABEL_KEY.test(k))
      out.push(`node selector key ${JSON.stringify(k)} is not a label key`);
    if (!LABEL_VALUE.test(v))
      out.push(`node selector value ${JSON.stringify(v)} (of ${k}) is not a label value`);
  }
  return out;
}

/** The embedded default rules files (rules/*.yaml), by file name. */
export function defaultRulesFiles(): Record<string, string> {
  const dir = join(packageRoot(), "rules");
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort())
    if (/\.ya?ml$/.test(f)) out[f] = readFileSync(join(dir, f), "utf8");
  if (Object.keys(out).length === 0)
    throw new LannerError("ENORULES", `reading the default rules: no YAML file in ${dir}`);
  return out;
}

/** The agent's lanner.yaml in the ConfigMap (its flags in the DaemonSet win over it). */
export const AGENT_CONFIG = `# lanner.yaml of the DaemonSet's agents (ConfigMap ${CONFIG_MAP}).
# The DaemonSet's arguments set the rules, the gRPC listener and its TLS files, and the
# metrics listener; they win over this file.
# Alerts as JSON lines on stdout: kubectl logs and log collectors read them.
json_output: true
stdout_output:
  enabled: true
`;

function labels(): Record<string, string> {
  return { [APP_LABEL]: NAME, "app.kubernetes.io/part-of": NAME };
}

/** Every object but the TLS Secrets, in the order they are created (namespace first). */
export function buildManifests(spec: DeploySpec): KubeObject[] {
  const problems = specProblems(spec);
  if (problems.length > 0)
    throw new LannerError("EDEPLOYSPEC", `deployment description: ${problems.join("; ")}`);
  const ns = spec.namespace;
  const rules = defaultRulesFiles();
  const meta = (name: string): KubeObject["metadata"] => ({ name, namespace: ns, labels: labels() });
  const namespace: KubeObject = {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: ns, labels: labels() },
  };
  const serviceAccount: KubeObject = {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: meta(NAME),
  };
  // The agent watches the pods of its node and the namespaces (labels, owners); nodes for
  // the node's own metadata. Nothing else: no ReplicaSets or Jobs (a pod's Deployment comes
  // from its ReplicaSet's name and the pod-template-hash label), no writes.
  const clusterRole: KubeObject = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: NAME, labels: labels() },
    rules: [{ apiGroups: [""], resources: ["pods", "namespaces", "nodes"], verbs: ["list", "watch"] }],
  };
  const clusterRoleBinding: KubeObject = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: NAME, labels: labels() },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: NAME },
    subjects: [{ kind: "ServiceAccount", name: NAME, namespace: ns }],
  };
  const configMap: KubeObject = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta(CONFIG_MAP),
    data: { "lanner.yaml": AGENT_CONFIG, ...rules },
  };
  const service: KubeObject = {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(METRICS_SERVICE),
    spec: {
      selector: { [APP_LABEL]: NAME },
      ports: [{ name: "metrics", port: METRICS_PORT, targetPort: "metrics", protocol: "TCP" }],
    },
  };
  const hostPath = (
    name: string,
    path: string,
    type: "Directory" | "DirectoryOrCreate",
  ): { name: string; hostPath: { path: string; type: string } } => ({ name, hostPath: { path, type } });
  const daemonSet: KubeObject = {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: meta(NAME),
    spec: {
      selector: { matchLabels: { [APP_LABEL]: NAME } },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: labels() },
        spec: {
          serviceAccountName: NAME,
          hostPID: true,
          hostNetwork: true,
          dnsPolicy: "ClusterFirstWithHostNet",
          ...(Object.keys(spec.nodeSelector).length > 0 ? { nodeSelector: { ...spec.nodeSelector } } : {}),
          tolerations: [{ operator: "Exists" }],
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              name: NAME,
              image: spec.image,
              imagePullPolicy: "IfNotPresent",
              command: ["lanner"],
              args: [
                "run",
                "-c",
                CONTAINER_PATHS.config,
                "-r",
                CONTAINER_PATHS.rules,
                "--grpc",
                `0.0.0.0:${GRPC_PORT}`,
                "--grpc-tls-cert",
                `${CONTAINER_PATHS.tls}/tls.crt`,
                "--grpc-tls-key",
                `${CONTAINER_PATHS.tls}/tls.key`,
                "--grpc-tls-ca",
                `${CONTAINER_PATHS.tls}/ca.crt`,
                "--metrics",
                `0.0.0.0:${METRICS_PORT}`,
                "--node-name",
                "$(NODE_NAME)",
              ],
              env: [
                { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                { name: "LANNER_HOST_ROOT", value: HOST_ROOT },
              ],
              ports: [
                { name: "grpc", containerPort: GRPC_PORT, protocol: "TCP" },
                { name: "metrics", containerPort: METRICS_PORT, protocol: "TCP" },
              ],
              securityContext: { privileged: true },
              resources: {
                requests: { cpu: "100m", memory: "192Mi" },
                limits: { cpu: "1", memory: "512Mi" },
              },
              startupProbe: {
                httpGet: { path: "/healthz", port: "metrics" },
                periodSeconds: 2,
                failureThreshold: 60,
              },
              readinessProbe: {
                httpGet: { path: "/healthz", port: "metrics" },
                periodSeconds: 10,
                failureThreshold: 3,
              },
              livenessProbe: {
                httpGet: { path: "/healthz", port: "metrics" },
                periodSeconds: 10,
                timeoutSeconds: 5,
                failureThreshold: 6,
              },
              volumeMounts: [
                // (separate folders: a volume mounted inside a ConfigMap's read-only volume fails)
                { name: "config", mountPath: "/etc/lanner/config", readOnly: true },
                { name: "tls", mountPath: CONTAINER_PATHS.tls, readOnly: true },
                // the container runtimes' sockets (src/state/containers/: containerd also
                // serves CRI and Docker's containers through its moby namespace; CRI-O)
                { name: "containerd", mountPath: "/run/containerd" },
                { name: "crio", mountPath: "/run/crio" },
                // the node's accounts (user.name, group.name: src/state/users/, LANNER_HOST_ROOT)
                { name: "host-etc", mountPath: `${HOST_ROOT}/etc`, readOnly: true },
                // tracepoints' formats and ids (src/capture/features.ts: tracefs, or debugfs/tracing)
                { name: "tracefs", mountPath: "/sys/kernel/tracing" },
                { name: "debugfs", mountPath: "/sys/kernel/debug" },
                // the node's cgroup tree: a container's own cgroup namespace shows only itself
                { name: "cgroup", mountPath: "/sys/fs/cgroup", readOnly: true },
              ],
            },
          ],
          volumes: [
            {
              name: "config",
              configMap: {
                name: CONFIG_MAP,
                items: [
                  { key: "lanner.yaml", path: "lanner.yaml" },
                  ...Object.keys(rules).map((f) => ({ key: f, path: `rules/${f}` })),
                ],
              },
            },
            { name: "tls", secret: { secretName: TLS_SECRET, defaultMode: 0o400 } },
            hostPath("containerd", "/run/containerd", "DirectoryOrCreate"),
            hostPath("crio", "/run/crio", "DirectoryOrCreate"),
            hostPath("host-etc", "/etc", "Directory"),
            hostPath("tracefs", "/sys/kernel/tracing", "Directory"),
            hostPath("debugfs", "/sys/kernel/debug", "Directory"),
            hostPath("cgroup", "/sys/fs/cgroup", "Directory"),
          ],
        },
      },
    },
  };
  return [namespace, serviceAccount, clusterRole, clusterRoleBinding, configMap, service, daemonSet];
}

function tlsSecret(name: string, ns: string, cert: string, key: string, ca: string): KubeObject {
  const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: ns, labels: labels() },
    type: "kubernetes.io/tls",
    data: { "tls.crt": b64(cert), "tls.key": b64(key), "ca.crt": b64(ca) },
  };
}

/** The Secrets `lanner-tls` (the agents' server material) and `lanner-client-tls`. */
export function buildTlsSecrets(spec: DeploySpec, tls: TlsMaterial): KubeObject[] {
  return [
    tlsSecret(TLS_SECRET, spec.namespace, tls.server.cert, tls.server.key, tls.ca.cert),
    tlsSecret(CLIENT_TLS_SECRET, spec.namespace, tls.client.cert, tls.client.key, tls.ca.cert),
  ];
}

/** The SHA-256 of a PEM certificate, hex. */
export function certificateFingerprint(pem: string): string {
  return createHash("sha256").update(pem).digest("hex");
}

/** The object, and for the DaemonSet a copy with the certificate fingerprint on its pod template. */
export function withTlsFingerprint(o: KubeObject, fingerprint: string): KubeObject {
  if (o.kind !== "DaemonSet") return o;
  const out = structuredClone(o);
  const tmpl = (out["spec"] as { template: { metadata: { annotations?: Record<string, string> } } }).template;
  tmpl.metadata.annotations = { ...tmpl.metadata.annotations, [TLS_FINGERPRINT_ANNOTATION]: fingerprint };
  return out;
}

/**
 * Everything in creation order: the namespace, the Secrets right after it (the DaemonSet
 * mounts one), then the rest; with TLS material, the DaemonSet carries its fingerprint.
 */
export function allObjects(spec: DeploySpec, tls: TlsMaterial | null): KubeObject[] {
  const [ns, ...rest] = buildManifests(spec);
  if (tls === null) return [ns as KubeObject, ...rest];
  const fp = certificateFingerprint(tls.server.cert);
  return [ns as KubeObject, ...buildTlsSecrets(spec, tls), ...rest.map((o) => withTlsFingerprint(o, fp))];
}

/** Multi-document YAML, `---` between objects. */
export function toYaml(objects: readonly KubeObject[], header = ""): string {
  return header + objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n");
}

const FILE_HEADER = `# Lanner: the agent DaemonSet and what it needs. Generated by
# \`node dist/src/deploy/manifests.js --write\` from src/deploy/manifests.ts; do not edit.
# The TLS Secrets ${TLS_SECRET} and ${CLIENT_TLS_SECRET} are not here: \`lanner deploy\`
# generates them (\`lanner deploy --print\` prints them with the rest). See deploy/README.md.
`;

/** deploy/lanner.yaml: the default description's objects, without Secrets. */
export function manifestsFile(): string {
  return toYaml(buildManifests(defaultSpec()), FILE_HEADER);
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(process.argv[1]).href &&
  process.argv.includes("--write")
) {
  const out = join(packageRoot(), "deploy", "lanner.yaml");
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, manifestsFile());
  process.stdout.write(`wrote ${out}\n`);
}
