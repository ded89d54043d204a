/**
 * A pod on this node, as bpftrace is scoped to it: its containers' cgroup v2 ids (what
 * bpftrace's `cgroup` builtin returns) and the host pid of the container `$container_pid`
 * stands for. Resolved through the node's GadgetEnvironment (the runtime's containers, the
 * pods from their CRI labels).
 */
import { existsSync } from "node:fs";
import { cgroupIdOf } from "../gadgets/container-filter.js";
import type { GadgetEnvironment } from "../gadgets/environment.js";
import type { ContainerInfo } from "../state/containers/container-info.js";
import { BpftraceInputError } from "./input-error.js";

export interface ScopedContainer {
  readonly name: string;
  /** the runtime's id, 12 characters */
  readonly id: string;
  /** host pid of its main process */
  readonly pid: number;
  readonly cgroupId: bigint;
}

export interface PodScope {
  readonly pod: string;
  readonly namespace: string;
  /** the containers selected (all the pod's, or the one -c named), in start order */
  readonly containers: readonly ScopedContainer[];
  readonly cgroupIds: readonly bigint[];
  /** $container_pid: the main pid of the first selected container */
  readonly containerPid: number;
}

export interface ScopeRequest {
  readonly pod: string;
  /** default "default" */
  readonly namespace?: string | undefined;
  /** a container name (the pod's sandbox only when named by its id) */
  readonly container?: string | undefined;
  /** how long to wait for the runtime's containers to be described (ms) */
  readonly settleMs?: number;
}

function podOf(
  env: GadgetEnvironment,
  c: ContainerInfo,
): { name: string | null; namespace: string | null } | null {
  const meta = env.services.pod(c);
  if (meta !== null) return { name: meta.name, namespace: meta.namespace };
  return c.pod === null ? null : { name: c.pod.name, namespace: c.pod.namespace };
}

function started(c: ContainerInfo): bigint {
  return c.startTs ?? 0n;
}

/** Resolves `req` on this node; throws BpftraceInputError naming the pod or container. */
export async function resolvePodScope(env: GadgetEnvironment, req: ScopeRequest): Promise<PodScope> {
  const namespace = req.namespace ?? "default";
  const ref = `${namespace}/${req.pod}`;
  await env.load();
  const inPod = (): ContainerInfo[] =>
    env.containers().filter((c) => {
      const p = podOf(env, c);
      return p !== null && p.name === req.pod && (p.namespace ?? "default") === namespace;
    });
  // containers seen only by their cgroup are described by the runtime a moment later
  const deadline = Date.now() + (req.settleMs ?? 3000);
  let found = inPod();
  while (found.filter((c) => !c.isSandbox).length === 0 && Date.now() < deadline) {
    if (!env.containers().some((c) => !c.complete)) break;
    await new Promise((r) => setTimeout(r, 100));
    found = inPod();
  }
  if (found.length === 0) throw new BpftraceInputError(`pod ${ref} is not on this node (${env.node})`);
  // in start order: the first is the one $container_pid stands for, and messages list them so
  found.sort((a, b) => (started(a) < started(b) ? -1 : started(a) > started(b) ? 1 : 0));
  let selected: ContainerInfo[];
  if (req.container !== undefined) {
    const want = req.container;
    selected = found.filter((c) =>
      c.isSandbox
        ? c.id === want || c.fullId === want
        : c.name === want || c.id === want || c.fullId === want,
    );
    if (selected.length === 0) {
      const names = found.filter((c) => !c.isSandbox).map((c) => c.name ?? c.id);
      throw new BpftraceInputError(
        `pod ${ref} has no container ${want} (its containers: ${names.length > 0 ? names.join(", ") : "none"})`,
      );
    }
  } else selected = found.filter((c) => !c.isSandbox);
  const containers: ScopedContainer[] = [];
  for (const c of selected) {
    if (c.initPid === null || !existsSync(`/proc/${c.initPid}`)) continue;
    const cgroupId = cgroupIdOf(c.initPid);
    if (cgroupId === undefined) continue;
    containers.push({ name: c.name ?? c.id, id: c.id, pid: c.initPid, cgroupId });
  }
  const first = containers[0];
  if (first === undefined) {
    const which = req.container !== undefined ? `container ${req.container} of pod ${ref}` : `pod ${ref}`;
    throw new BpftraceInputError(`${which} has no running container on this node (${env.node})`);
  }
  return {
    pod: req.pod,
    namespace,
    containers,
    cgroupIds: [...new Set(containers.map((c) => c.cgroupId))],
    containerPid: first.pid,
  };
}
