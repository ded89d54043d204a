/**
 * Pod metadata for a container, synchronously: from the CRI labels the kubelet sets on every
 * container (always available when the runtime is), completed by the API server when a
 * K8sApiWatcher is given and has the pod (pod labels, namespace labels, owners).
 *
 * Pod labels without an API server come from the pod's sandbox: the kubelet passes the pod's
 * labels in the sandbox config and containerd's CRI puts them on the sandbox container's
 * record (with io.kubernetes.* and io.cri-containerd.* keys beside them, which are dropped).
 */
import type { ContainerInfo } from "../containers/container-info.js";
import type { ContainerStore } from "../containers/container-store.js";
import type { K8sApiWatcher, OwnerRef } from "./k8s-api-watcher.js";

export interface PodMeta {
  /** k8s.pod.name */
  readonly name: string | null;
  /** k8s.ns.name */
  readonly namespace: string | null;
  /** k8s.pod.uid (k8s.pod.id) */
  readonly uid: string | null;
  /** k8s.pod.sandbox_id: 12 characters */
  readonly sandboxId: string | null;
  /** k8s.pod.full_sandbox_id */
  readonly fullSandboxId: string | null;
  /** k8s.pod.label[k], k8s.pod.labels; null when neither the sandbox nor the API knows them. */
  readonly labels: Readonly<Record<string, string>> | null;
  /** Labels of the pod's namespace (API server only). */
  readonly namespaceLabels: Readonly<Record<string, string>> | null;
  /** Owner chain, top-most controller last: [ReplicaSet, Deployment], [DaemonSet], ... (API only). */
  readonly owners: readonly OwnerRef[] | null;
  /** k8s.pod.ip (API only). */
  readonly ip: string | null;
  /** Where the labels came from. */
  readonly source: "cri" | "api";
}

const RUNTIME_LABEL_PREFIXES = ["io.kubernetes.", "io.cri-containerd.", "io.containerd."];

/** The pod's own labels from a sandbox container's labels. */
export function podLabelsFromSandbox(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels))
    if (!RUNTIME_LABEL_PREFIXES.some((p) => k.startsWith(p))) out[k] = v;
  return out;
}

/** k8s.pod.labels as Falco renders it: `key:value` strings. */
export function formatLabels(labels: Readonly<Record<string, string>> | null): string[] {
  return labels === null ? [] : Object.entries(labels).map(([k, v]) => `${k}:${v}`);
}

/** The deployment/daemonset/statefulset/... that owns the pod, by kind. */
export function ownerOfKind(meta: PodMeta, kind: string): string | null {
  return meta.owners?.find((o) => o.kind === kind)?.name ?? null;
}

export interface K8sMetadataOptions {
  readonly containers: ContainerStore;
  readonly api?: K8sApiWatcher | null;
  readonly maxCached?: number;
}

export class K8sMetadata {
  private readonly containers: ContainerStore;
  private readonly api: K8sApiWatcher | null;
  private readonly cache = new Map<
    string,
    { info: ContainerInfo; sandbox: ContainerInfo | undefined; gen: number; meta: PodMeta }
  >();
  private readonly maxCached: number;
  private gen = 0;
  private readonly offs: Array<() => void> = [];

  constructor(opts: K8sMetadataOptions) {
    this.containers = opts.containers;
    this.api = opts.api ?? null;
    this.maxCached = opts.maxCached ?? 4096;
    if (this.api !== null) this.offs.push(this.api.onChange(() => this.gen++));
  }

  /** Pod metadata of a container; null for the host and for containers outside pods. */
  forContainer(info: ContainerInfo): PodMeta | null {
    const pod = info.pod;
    if (pod === null) return null;
    const sandbox = pod.sandboxId === null ? undefined : this.containers.byId(pod.sandboxId);
    const hit = this.cache.get(info.fullId);
    if (hit !== undefined && hit.info === info && hit.sandbox === sandbox && hit.gen === this.gen)
      return hit.meta;

    if (sandbox === undefined && pod.sandboxId !== null && pod.sandboxId !== info.fullId) {
      void this.containers.fetch(pod.sandboxId, info.type === "docker" ? "docker" : "containerd");
    }
    const criLabels = info.isSandbox
      ? podLabelsFromSandbox(info.labels)
      : sandbox?.complete === true
        ? podLabelsFromSandbox(sandbox.labels)
        : null;
    const apiPod =
      this.api === null
        ? undefined
        : ((pod.uid !== null ? this.api.podByUid(pod.uid) : undefined) ??
          (pod.name !== null && pod.namespace !== null
            ? this.api.podByName(pod.namespace, pod.name)
            : undefined));
    const namespace = pod.namespace ?? apiPod?.namespace ?? null;
    const meta: PodMeta = {
      name: pod.name ?? apiPod?.name ?? null,
      namespace,
      uid: pod.uid ?? apiPod?.uid ?? null,
      sandboxId: pod.sandboxId === null ? null : pod.sandboxId.slice(0, 12),
      fullSandboxId: pod.sandboxId,
      labels: apiPod?.labels ?? criLabels,
      namespaceLabels:
        namespace === null || this.api === null ? null : (this.api.namespaceLabels(namespace) ?? null),
      owners: apiPod === undefined || this.api === null ? null : this.api.ownerChain(apiPod),
      ip: apiPod?.ip ?? null,
      source: apiPod !== undefined ? "api" : "cri",
    };
    if (this.cache.size >= this.maxCached) this.cache.clear();
    this.cache.set(info.fullId, { info, sandbox, gen: this.gen, meta });
    return meta;
  }

  close(): void {
    for (const off of this.offs) off();
    this.offs.length = 0;
    this.cache.clear();
  }
}
