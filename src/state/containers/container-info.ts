/**
 * The container record Lanner attaches to events, and its derivation from a runtime record
 * (pure functions: image reference parsing, privileged detection, mounts, CRI labels).
 */
import type { ContainerdRecord, OciSpec } from "./containerd-client.js";
import { shortContainerId, type ContainerType } from "./cgroup-path.js";

export interface ContainerMount {
  readonly source: string;
  readonly dest: string;
  /** The mount type (bind, proc, tmpfs, ...). */
  readonly mode: string;
  readonly rw: boolean;
  /** rprivate, rshared, rslave, private, shared, slave or "". */
  readonly propagation: string;
}

/** Pod identity from the CRI labels the kubelet sets on every container. */
export interface CriPodRef {
  readonly name: string | null;
  readonly namespace: string | null;
  readonly uid: string | null;
  /** Full id of the pod's sandbox container. */
  readonly sandboxId: string | null;
}

export interface ContainerInfo {
  /** container.id: 12 characters, or `host`. */
  readonly id: string;
  /** container.full_id: the runtime's id, or `host`. */
  readonly fullId: string;
  /** container.name: the CRI container name, else the runtime's id; null until known. */
  readonly name: string | null;
  readonly image: string | null;
  readonly imageRepository: string | null;
  readonly imageTag: string | null;
  readonly imageDigest: string | null;
  /** container.type: null for the host. */
  readonly type: ContainerType | null;
  readonly privileged: boolean | null;
  readonly mounts: readonly ContainerMount[];
  readonly labels: Readonly<Record<string, string>>;
  /** container.start_ts: ns since the epoch (task start, else creation); null when unknown. */
  readonly startTs: bigint | null;
  /** The runtime's namespace (containerd: k8s.io, default, moby). */
  readonly runtimeNamespace: string | null;
  /** Host pid of the container's init process, when known. */
  readonly initPid: number | null;
  readonly pod: CriPodRef | null;
  /** Shares the host's pid / network / ipc namespace (from the OCI spec); null when unknown. */
  readonly hostPid: boolean | null;
  readonly hostNetwork: boolean | null;
  readonly hostIpc: boolean | null;
  /** True for a CRI pod sandbox (the pause container). */
  readonly isSandbox: boolean;
  /**
   * False while only the cgroup path is known (metadata is being fetched or the runtime is
   * unreachable); true once the runtime described it.
   */
  readonly complete: boolean;
}

export const HOST_CONTAINER: ContainerInfo = Object.freeze({
  id: "host",
  fullId: "host",
  name: "host",
  image: null,
  imageRepository: null,
  imageTag: null,
  imageDigest: null,
  type: null,
  privileged: false,
  mounts: Object.freeze([]) as readonly ContainerMount[],
  labels: Object.freeze({}) as Readonly<Record<string, string>>,
  startTs: null,
  runtimeNamespace: null,
  initPid: 1,
  hostPid: true,
  hostNetwork: true,
  hostIpc: true,
  pod: null,
  isSandbox: false,
  complete: true,
});

/** The CRI labels and annotations Lanner reads. */
export const CRI = {
  podName: "io.kubernetes.pod.name",
  podNamespace: "io.kubernetes.pod.namespace",
  podUid: "io.kubernetes.pod.uid",
  containerName: "io.kubernetes.container.name",
  /** dockershim's label; containerd's CRI puts the sandbox id in an annotation instead. */
  sandboxIdLabel: "io.kubernetes.sandbox.id",
  /** containerd CRI: "sandbox" or "container" (label on the containerd record). */
  kind: "io.cri-containerd.kind",
  annContainerType: "io.kubernetes.cri.container-type",
  annSandboxId: "io.kubernetes.cri.sandbox-id",
  annSandboxName: "io.kubernetes.cri.sandbox-name",
  annSandboxNamespace: "io.kubernetes.cri.sandbox-namespace",
  annSandboxUid: "io.kubernetes.cri.sandbox-uid",
  annContainerName: "io.kubernetes.cri.container-name",
  annImageName: "io.kubernetes.cri.image-name",
} as const;

export interface ImageRef {
  readonly repository: string;
  readonly tag: string | null;
  readonly digest: string | null;
}

/**
 * Splits an image reference: `docker.io/library/busybox:1.36@sha256:ab..` ->
 * repository `docker.io/library/busybox`, tag `1.36`, digest `sha256:ab..`. A registry port
 * (`host:5000/app`) is not a tag. Returns null for an empty reference.
 */
export function parseImageRef(ref: string): ImageRef | null {
  if (ref === "") return null;
  let rest = ref;
  let digest: string | null = null;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1) || null;
    rest = rest.slice(0, at);
  }
  let tag: string | null = null;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1) || null;
    rest = rest.slice(0, colon);
  }
  if (rest === "") return null;
  return { repository: rest, tag, digest };
}

const ALWAYS_PRIVILEGED_CAPS = [
  "CAP_SYS_ADMIN",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_PTRACE",
  "CAP_NET_ADMIN",
  "CAP_MAC_ADMIN",
];

/**
 * Whether an OCI spec describes a privileged container, as CRI and ctr --privileged build it:
 * every capability in the bounding set (the admin capabilities and at least 38 in all), or
 * access to every device with no masked paths.
 */
export function isPrivilegedSpec(spec: OciSpec | null): boolean | null {
  if (spec === null) return null;
  const bounding = spec.process?.capabilities?.bounding ?? [];
  if (bounding.length >= 38 && ALWAYS_PRIVILEGED_CAPS.every((c) => bounding.includes(c))) return true;
  const devices = spec.linux?.resources?.devices ?? [];
  const allDevices = devices.some(
    (d) =>
      d.allow === true &&
      (d.type === undefined || d.type === "a") &&
      (d.access ?? "rwm").includes("r") &&
      (d.access ?? "rwm").includes("w"),
  );
  const deniedAny = devices.some((d) => d.allow === false);
  const masked = spec.linux?.maskedPaths?.length ?? 0;
  if (allDevices && !deniedAny && masked === 0 && bounding.includes("CAP_SYS_ADMIN")) return true;
  return false;
}

const PROPAGATIONS = new Set(["rprivate", "private", "rshared", "shared", "rslave", "slave"]);

export function mountsFromSpec(spec: OciSpec | null): ContainerMount[] {
  const out: ContainerMount[] = [];
  for (const m of spec?.mounts ?? []) {
    const opts = m.options ?? [];
    out.push({
      source: m.source ?? "",
      dest: m.destination ?? "",
      mode: m.type ?? "",
      rw: !opts.includes("ro"),
      propagation: opts.find((o) => PROPAGATIONS.has(o)) ?? "",
    });
  }
  return out;
}

/** container.mounts as Falco renders it: `source:dest:mode:rdwr:propagation,...`. */
export function formatMounts(mounts: readonly ContainerMount[]): string {
  return mounts
    .map((m) => `${m.source}:${m.dest}:${m.mode}:${m.rw ? "true" : "false"}:${m.propagation}`)
    .join(",");
}

/**
 * Whether the container shares the host's namespace of a type: the spec lists no namespace of
 * that type (runc then stays in the runtime's, i.e. the host's) or joins pid 1's. A namespace
 * joined by another path is the pod sandbox's (CRI omits the namespace for hostNetwork,
 * hostPID and hostIPC pods instead), so not the host's.
 */
export function sharesHostNamespace(spec: OciSpec | null, type: string): boolean | null {
  if (spec === null || spec.linux === undefined) return null;
  const ns = (spec.linux.namespaces ?? []).find((n) => n.type === type);
  if (ns === undefined) return true;
  if (ns.path === undefined || ns.path === "") return false;
  return /^\/proc\/1\/ns\//.test(ns.path);
}

function nonEmpty(v: string | undefined): string | null {
  return v === undefined || v === "" ? null : v;
}

/** A record for a container known only by its cgroup path. */
export function partialContainer(fullId: string, type: ContainerType): ContainerInfo {
  return {
    ...HOST_CONTAINER,
    id: shortContainerId(fullId),
    fullId,
    name: null,
    type,
    privileged: null,
    initPid: null,
    hostPid: null,
    hostNetwork: null,
    hostIpc: null,
    complete: false,
  };
}

export interface RecordExtras {
  readonly type?: ContainerType;
  readonly initPid?: number | null;
  readonly startedAtNs?: bigint | null;
  readonly imageDigest?: string | null;
}

/** The ContainerInfo of a containerd record (type containerd unless told otherwise). */
export function containerFromContainerd(rec: ContainerdRecord, extras: RecordExtras = {}): ContainerInfo {
  const labels = rec.labels;
  const ann = rec.spec?.annotations ?? {};
  const image = nonEmpty(rec.image) ?? nonEmpty(ann[CRI.annImageName]);
  const ref = image === null ? null : parseImageRef(image);
  const containerType = ann[CRI.annContainerType];
  const isSandbox = labels[CRI.kind] === "sandbox" || containerType === "sandbox";
  const podName = nonEmpty(labels[CRI.podName]) ?? nonEmpty(ann[CRI.annSandboxName]);
  const podNs = nonEmpty(labels[CRI.podNamespace]) ?? nonEmpty(ann[CRI.annSandboxNamespace]);
  const podUid = nonEmpty(labels[CRI.podUid]) ?? nonEmpty(ann[CRI.annSandboxUid]);
  const sandboxId = isSandbox
    ? rec.id
    : (nonEmpty(ann[CRI.annSandboxId]) ?? nonEmpty(labels[CRI.sandboxIdLabel]));
  const pod: CriPodRef | null =
    podName !== null || podNs !== null || podUid !== null || sandboxId !== null
      ? { name: podName, namespace: podNs, uid: podUid, sandboxId }
      : null;
  return {
    id: shortContainerId(rec.id),
    fullId: rec.id,
    name: nonEmpty(labels[CRI.containerName]) ?? nonEmpty(ann[CRI.annContainerName]) ?? rec.id,
    image,
    imageRepository: ref?.repository ?? null,
    imageTag: ref?.tag ?? null,
    imageDigest: ref?.digest ?? extras.imageDigest ?? null,
    type: extras.type ?? "containerd",
    privileged: isPrivilegedSpec(rec.spec),
    mounts: mountsFromSpec(rec.spec),
    labels,
    startTs: extras.startedAtNs ?? rec.createdAtNs,
    runtimeNamespace: rec.namespace,
    initPid: extras.initPid ?? null,
    hostPid: sharesHostNamespace(rec.spec, "pid"),
    hostNetwork: sharesHostNamespace(rec.spec, "network"),
    hostIpc: sharesHostNamespace(rec.spec, "ipc"),
    pod,
    isSandbox,
    complete: true,
  };
}
