/**
 * container.*, k8s.* (and k8smeta.*) and user/group names for the engine, from the
 * ContainerStore, K8sMetadata and UserResolver. Shaped like the engine's `Enrichers`
 * (structurally; state/ does not import engine/). Everything here is synchronous and
 * returns unknown values as null; a field name it does not serve returns undefined.
 */
import {
  formatMounts,
  HOST_CONTAINER,
  type ContainerInfo,
  type ContainerMount,
} from "../containers/container-info.js";
import type { ContainerStore } from "../containers/container-store.js";
import type { DomainNames } from "../dns/domain-names.js";
import type { UserResolver } from "../users/user-resolver.js";
import { formatLabels, ownerOfKind, type K8sMetadata, type PodMeta } from "./k8s-metadata.js";

export type StateFieldValue = string | number | bigint | boolean | readonly string[] | null;

export interface StateEnrichers {
  containerId(ev: { readonly tgid: number; readonly cgroupId?: bigint }, proc?: unknown): string;
  userName(uid: number, pid: number): string | null;
  groupName(gid: number, pid: number): string | null;
  containerField(containerId: string, field: string, arg: string | undefined): StateFieldValue | undefined;
  domainNames?(ip: string): readonly string[];
  watchDomains?(names: readonly string[]): void;
}

/** Compiled globs by pattern: the patterns are the field arguments of the rules in force. */
const GLOBS = new Map<string, RegExp>();

/** Glob with `*` and `?` (container.mount.dest[/proc*]). */
function globMatch(pattern: string, s: string): boolean {
  if (!pattern.includes("*") && !pattern.includes("?")) return pattern === s;
  let re = GLOBS.get(pattern);
  if (re === undefined) {
    re = new RegExp(
      "^" +
        pattern
          .replace(/[.+^${}()|[\]\\]/g, "\\$&")
          .replace(/\*/g, ".*")
          .replace(/\?/g, ".") +
        "$",
    );
    if (GLOBS.size >= 256) GLOBS.clear();
    GLOBS.set(pattern, re);
  }
  return re.test(s);
}

function mountOf(c: ContainerInfo, arg: string | undefined): ContainerMount | undefined {
  if (arg === undefined) return undefined;
  if (/^\d+$/.test(arg)) return c.mounts[Number(arg)];
  return c.mounts.find((m) => globMatch(arg, m.dest));
}

type ContainerExtractor = (c: ContainerInfo, arg: string | undefined) => StateFieldValue;
type PodExtractor = (p: PodMeta, arg: string | undefined) => StateFieldValue;

const CONTAINER_FIELDS: Readonly<Record<string, ContainerExtractor>> = {
  "container.id": (c) => c.id,
  "container.full_id": (c) => c.fullId,
  "container.name": (c) => c.name,
  "container.image": (c) => c.image,
  "container.image.repository": (c) => c.imageRepository,
  "container.image.tag": (c) => c.imageTag,
  "container.image.digest": (c) => c.imageDigest,
  "container.image.id": () => null,
  "container.type": (c) => c.type,
  "container.privileged": (c) => c.privileged,
  "container.mounts": (c) => (c.complete ? formatMounts(c.mounts) : null),
  "container.mount": (c, a) => {
    const m = mountOf(c, a);
    return m === undefined ? null : formatMounts([m]);
  },
  "container.mount.source": (c, a) => mountOf(c, a)?.source ?? null,
  "container.mount.dest": (c, a) => mountOf(c, a)?.dest ?? null,
  "container.mount.mode": (c, a) => mountOf(c, a)?.mode ?? null,
  "container.mount.rdwr": (c, a) => {
    const m = mountOf(c, a);
    return m === undefined ? null : m.rw;
  },
  "container.mount.propagation": (c, a) => mountOf(c, a)?.propagation ?? null,
  "container.label": (c, a) => (a === undefined ? null : (c.labels[a] ?? null)),
  "container.labels": (c) => formatLabels(c.labels),
  "container.start_ts": (c) => c.startTs,
  "container.duration": (c) => (c.startTs === null ? null : BigInt(Date.now()) * 1_000_000n - c.startTs),
  "container.host_pid": (c) => c.hostPid,
  "container.host_network": (c) => c.hostNetwork,
  "container.host_ipc": (c) => c.hostIpc,
  "container.healthcheck": () => null,
  "container.ip": () => null,
  "container.cni.json": () => null,
};

const POD_FIELDS: Readonly<Record<string, PodExtractor>> = {
  "k8s.pod.name": (p) => p.name,
  "k8s.ns.name": (p) => p.namespace,
  "k8s.pod.id": (p) => p.uid,
  "k8s.pod.uid": (p) => p.uid,
  "k8s.pod.sandbox_id": (p) => p.sandboxId,
  "k8s.pod.full_sandbox_id": (p) => p.fullSandboxId,
  "k8s.pod.label": (p, a) => (a === undefined || p.labels === null ? null : (p.labels[a] ?? null)),
  "k8s.pod.labels": (p) => (p.labels === null ? null : formatLabels(p.labels)),
  "k8s.pod.ip": (p) => p.ip,
  "k8s.ns.label": (p, a) =>
    a === undefined || p.namespaceLabels === null ? null : (p.namespaceLabels[a] ?? null),
  "k8s.ns.labels": (p) => (p.namespaceLabels === null ? null : formatLabels(p.namespaceLabels)),
  "k8s.rs.name": (p) => ownerOfKind(p, "ReplicaSet"),
  "k8s.deployment.name": (p) => ownerOfKind(p, "Deployment"),
  "k8s.daemonset.name": (p) => ownerOfKind(p, "DaemonSet"),
  "k8s.statefulset.name": (p) => ownerOfKind(p, "StatefulSet"),
  "k8s.job.name": (p) => ownerOfKind(p, "Job"),
  "k8s.cronjob.name": (p) => ownerOfKind(p, "CronJob"),
};

// The k8smeta plugin's names for the same data.
const K8SMETA_ALIASES: Readonly<Record<string, string>> = {
  "k8smeta.pod.name": "k8s.pod.name",
  "k8smeta.pod.uid": "k8s.pod.uid",
  "k8smeta.pod.label": "k8s.pod.label",
  "k8smeta.pod.labels": "k8s.pod.labels",
  "k8smeta.pod.ip": "k8s.pod.ip",
  "k8smeta.ns.name": "k8s.ns.name",
  "k8smeta.ns.label": "k8s.ns.label",
  "k8smeta.ns.labels": "k8s.ns.labels",
  "k8smeta.rs.name": "k8s.rs.name",
  "k8smeta.deployment.name": "k8s.deployment.name",
};

/** Every field name served here. */
export const STATE_FIELD_NAMES: readonly string[] = [
  ...Object.keys(CONTAINER_FIELDS),
  ...Object.keys(POD_FIELDS),
  ...Object.keys(K8SMETA_ALIASES),
];

/** The value of a container/k8s field for a container (undefined: not a field served here). */
export function containerFieldValue(
  c: ContainerInfo,
  pod: PodMeta | null,
  field: string,
  arg: string | undefined,
): StateFieldValue | undefined {
  const cx = CONTAINER_FIELDS[field];
  if (cx !== undefined) return cx(c, arg);
  const name = K8SMETA_ALIASES[field] ?? field;
  const px = POD_FIELDS[name];
  if (px !== undefined) return pod === null ? null : px(pod, arg);
  return undefined;
}

export interface StateEnrichersOptions {
  readonly containers: ContainerStore;
  readonly k8s?: K8sMetadata | null;
  readonly users?: UserResolver | null;
  /** names for fd.*.name; without it those fields are unknown */
  readonly domains?: DomainNames | null;
}

export function createStateEnrichers(opts: StateEnrichersOptions): StateEnrichers {
  const { containers } = opts;
  const k8s = opts.k8s ?? null;
  const users = opts.users ?? null;
  const domains = opts.domains ?? null;
  const containerOfPid = (pid: number): string | undefined => {
    const c = containers.byPid(pid);
    return c === undefined || c === HOST_CONTAINER ? undefined : c.fullId;
  };
  return {
    containerId(ev) {
      const cg = ev.cgroupId;
      const c = containers.lookup(ev.tgid, cg === undefined || cg === 0n ? undefined : cg);
      return c?.id ?? "host";
    },
    userName(uid, pid) {
      return users === null ? null : users.user(uid, pid, containerOfPid(pid)).name;
    },
    groupName(gid, pid) {
      return users === null ? null : users.group(gid, pid, containerOfPid(pid)).name;
    },
    containerField(containerId, field, arg) {
      const c = containers.byId(containerId);
      if (c === undefined)
        return field.startsWith("container.") || field.startsWith("k8s") ? null : undefined;
      const pod = k8s === null || c === HOST_CONTAINER ? null : k8s.forContainer(c);
      return containerFieldValue(c, pod, field, arg);
    },
    ...(domains === null
      ? {}
      : {
          domainNames: (ip: string) => domains.namesOf(ip),
          watchDomains: (names: readonly string[]) => void domains.watch(names),
        }),
  };
}
