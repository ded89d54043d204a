/**
 * k8s.*: the Kubernetes pod and namespace of the container (from the CRI labels, and from the
 * API server when the agent watches it), and the same data under the names of Falco's
 * k8smeta plugin (k8smeta.*).
 */
import type { FieldClass, FieldSpec, FieldType, FieldValue } from "../../rules/index.js";
import { ownerOfKind, type PodMeta } from "../../state/k8s/k8s-metadata.js";
import type { EventContext } from "./context.js";

type Spec = FieldSpec<EventContext>;

function labels(l: Readonly<Record<string, string>> | null): string | null {
  return l === null
    ? null
    : Object.entries(l)
        .map(([k, v]) => `${k}:${v}`)
        .join(",");
}

interface Row {
  readonly suffix: string;
  readonly type: FieldType;
  readonly desc: string;
  readonly get?: (p: PodMeta) => FieldValue;
  /** keyed by label name */
  readonly key?: (p: PodMeta, k: string) => FieldValue;
  readonly show?: boolean;
  readonly deprecated?: boolean;
}

const ROWS: readonly Row[] = [
  { suffix: "pod.name", type: "string", desc: "Pod name.", get: (p) => p.name, show: true },
  {
    suffix: "pod.id",
    type: "string",
    desc: "Pod uid (as k8s.pod.uid).",
    get: (p) => p.uid,
    deprecated: true,
  },
  { suffix: "pod.uid", type: "string", desc: "Pod uid.", get: (p) => p.uid, show: true },
  {
    suffix: "pod.sandbox_id",
    type: "string",
    desc: "Pod sandbox id, 12 characters.",
    get: (p) => p.sandboxId,
    show: true,
  },
  {
    suffix: "pod.full_sandbox_id",
    type: "string",
    desc: "Full pod sandbox id.",
    get: (p) => p.fullSandboxId,
  },
  {
    suffix: "pod.label",
    type: "string",
    desc: "One pod label: k8s.pod.label[app] or k8s.pod.label.app.",
    key: (p, k) => (p.labels === null ? null : (p.labels[k] ?? null)),
  },
  {
    suffix: "pod.labels",
    type: "string",
    desc: "Every pod label, key:value, comma separated.",
    get: (p) => labels(p.labels),
    show: true,
  },
  { suffix: "pod.ip", type: "ipaddr", desc: "Pod IP address (API server).", get: (p) => p.ip },
  { suffix: "ns.name", type: "string", desc: "Namespace name.", get: (p) => p.namespace, show: true },
  {
    suffix: "ns.label",
    type: "string",
    desc: "One label of the pod's namespace (API server).",
    key: (p, k) => (p.namespaceLabels === null ? null : (p.namespaceLabels[k] ?? null)),
  },
  {
    suffix: "ns.labels",
    type: "string",
    desc: "Every label of the pod's namespace (API server).",
    get: (p) => labels(p.namespaceLabels),
  },
  {
    suffix: "rs.name",
    type: "string",
    desc: "The ReplicaSet that owns the pod (API server).",
    get: (p) => ownerOfKind(p, "ReplicaSet"),
  },
  {
    suffix: "deployment.name",
    type: "string",
    desc: "The Deployment that owns the pod (API server).",
    get: (p) => ownerOfKind(p, "Deployment"),
  },
  {
    suffix: "daemonset.name",
    type: "string",
    desc: "The DaemonSet that owns the pod (API server).",
    get: (p) => ownerOfKind(p, "DaemonSet"),
  },
  {
    suffix: "statefulset.name",
    type: "string",
    desc: "The StatefulSet that owns the pod (API server).",
    get: (p) => ownerOfKind(p, "StatefulSet"),
  },
  {
    suffix: "job.name",
    type: "string",
    desc: "The Job that owns the pod (API server).",
    get: (p) => ownerOfKind(p, "Job"),
  },
];

/** The k8smeta plugin's names among ours. */
const K8SMETA = new Set([
  "pod.name",
  "pod.uid",
  "pod.label",
  "pod.labels",
  "pod.ip",
  "ns.name",
  "ns.label",
  "ns.labels",
  "rs.name",
  "deployment.name",
]);

function spec(prefix: string, r: Row, showIt: boolean): Spec {
  const name = `${prefix}.${r.suffix}`;
  const base = {
    name,
    type: r.type,
    desc: r.desc,
    show: showIt && r.show === true,
    deprecated: r.deprecated === true,
  };
  const key = r.key;
  if (key !== undefined)
    return {
      ...base,
      arg: "key",
      dotted: true,
      make: (arg) => {
        const k = String(arg);
        return (c) => {
          const p = c.pod();
          return p === null ? null : key(p, k);
        };
      },
    };
  const get = r.get as (p: PodMeta) => FieldValue;
  return {
    ...base,
    get: (c) => {
      const p = c.pod();
      return p === null ? null : get(p);
    },
  };
}

export const K8S_FIELDS: FieldClass<EventContext> = {
  name: "k8s",
  desc: "Kubernetes pod and namespace of the container (CRI labels; the API server for the rest).",
  fields: ROWS.map((r) => spec("k8s", r, true)),
};

export const K8SMETA_FIELDS: FieldClass<EventContext> = {
  name: "k8smeta",
  desc: "The same pod data under the names of Falco's k8smeta plugin.",
  fields: ROWS.filter((r) => K8SMETA.has(r.suffix)).map((r) => spec("k8smeta", r, false)),
};
