/**
 * What a gadget run reads from the node besides its source: containers (the runtime's API
 * and event stream), pods (CRI labels), the node's name. Loaded in the background once the
 * gadget's programs are attached, so a gadget is ready as soon as the kernel side is (the
 * runtime clients are a large part of start-up); events that come first wait for it.
 */
import { existsSync } from "node:fs";
import type { AgentTap } from "../engine/agent.js";
import { HOST_CONTAINER, type ContainerInfo } from "../state/containers/container-info.js";
import type { ContainerStore } from "../state/containers/container-store.js";
import type { StateServices } from "../state/services.js";

export interface GadgetEnvironment {
  /** k8s.node.name */
  readonly node: string;
  /** true when neither a container runtime nor a cluster is there (then --host is implied) */
  readonly hostOnly: boolean;
  /** containers, pods, users: container() is undefined until `load` finished */
  readonly services: StateServices;
  /** starts loading (idempotent); resolves once containers can be looked up (the runtime's
   * containers listed once, or SYNC_MS passed) */
  load(): Promise<void>;
  /** the known containers (empty until loaded) */
  containers(): readonly ContainerInfo[];
  /** called for every container added or updated (after load) */
  onContainer(fn: (c: ContainerInfo) => void): () => void;
  close(): Promise<void>;
  /**
   * Inside the agent: the agent's own capture for a gadget's syscalls (no second capture
   * session). Absent (standalone CLI): the gadget starts its own.
   */
  captureFeed?(syscalls: readonly string[]): AgentTap;
  /**
   * false for a container that is not this node's (its pod is on another node): gadgets never
   * report it. Absent: every container is.
   */
  ownsContainer?(c: ContainerInfo): boolean;
}

/** What the agent's environment is made of (src/cli/commands/run.ts has them). */
export interface AgentEnvironmentOptions {
  readonly node: string;
  readonly services: StateServices;
  readonly containers: ContainerStore;
  /** opens a tap on the agent's capture (Agent.tap) */
  readonly tap: (syscalls: readonly string[]) => AgentTap;
  /**
   * The API server's view of this node's pods (K8sApiWatcher, listing spec.nodeName=NODE):
   * once it has listed them, a container of a pod it does not list is another node's.
   */
  readonly pods?: {
    whenSynced(timeoutMs?: number): Promise<boolean>;
    podByUid(uid: string): unknown;
    podByName(namespace: string, name: string): unknown;
  };
}

/**
 * The agent's environment for the gadgets it runs (the node API): its containers, pods and
 * capture, shared by every run (close() leaves them to the agent).
 */
export function agentEnvironment(o: AgentEnvironmentOptions): GadgetEnvironment {
  let podsSynced = false;
  let loading: Promise<void> | null = null;
  const load = (): Promise<void> => {
    loading ??= (async () => {
      const [, pods] = await Promise.all([
        o.containers.whenSynced(SYNC_MS),
        o.pods?.whenSynced(SYNC_MS) ?? Promise.resolve(false),
      ]);
      podsSynced = pods;
      // (a watcher that syncs later still decides from then on)
      if (!pods) void o.pods?.whenSynced(60 * 60_000).then((ok) => (podsSynced ||= ok));
    })();
    return loading;
  };
  return {
    node: o.node,
    hostOnly: false,
    services: o.services,
    load,
    containers: () => o.containers.all(),
    onContainer: (fn) => o.containers.onUpdate(fn),
    close: async () => undefined,
    captureFeed: (syscalls) => o.tap(syscalls),
    ownsContainer: (c) => {
      const pods = o.pods;
      if (pods === undefined || !podsSynced || c === HOST_CONTAINER || c.pod === null) return true;
      const p = c.pod;
      if (p.uid !== null && pods.podByUid(p.uid) !== undefined) return true;
      if (p.name !== null && p.namespace !== null && pods.podByName(p.namespace, p.name) !== undefined)
        return true;
      return false;
    },
  };
}

/** How long load() waits for the first listing of the runtime's containers (ms). */
const SYNC_MS = 2000;

const RUNTIME_SOCKETS = [
  "/run/containerd/containerd.sock",
  "/var/run/docker.sock",
  "/run/docker.sock",
  "/var/run/crio/crio.sock",
  "/run/crio/crio.sock",
];

/** StateServices that answer "unknown" until the real ones are there. */
class DeferredServices implements StateServices {
  real: StateServices | null = null;
  container(tgid: number, cgroupId: bigint | undefined): ContainerInfo | undefined {
    return this.real?.container(tgid, cgroupId);
  }
  pod(c: ContainerInfo): ReturnType<StateServices["pod"]> {
    return this.real?.pod(c) ?? null;
  }
  user(uid: number, pid: number, c: ContainerInfo | undefined): ReturnType<StateServices["user"]> {
    return this.real?.user(uid, pid, c) ?? null;
  }
  group(gid: number, pid: number, c: ContainerInfo | undefined): ReturnType<StateServices["group"]> {
    return this.real?.group(gid, pid, c) ?? null;
  }
  loginName(uid: number): string | null {
    return this.real?.loginName(uid) ?? null;
  }
  domainNames(ip: string): readonly string[] {
    return this.real?.domainNames(ip) ?? [];
  }
  watchDomains(names: readonly string[]): void {
    this.real?.watchDomains(names);
  }
}

/** This node's environment. */
export function nodeEnvironment(node: string): GadgetEnvironment {
  const hostOnly =
    !RUNTIME_SOCKETS.some((p) => existsSync(p)) &&
    process.env["KUBERNETES_SERVICE_HOST"] === undefined &&
    process.env["KUBECONFIG"] === undefined;
  const services = new DeferredServices();
  let store: ContainerStore | null = null;
  let closeK8s: (() => void) | null = null;
  let loading: Promise<void> | null = null;
  let closed = false;
  const listeners = new Set<(c: ContainerInfo) => void>();
  const load = (): Promise<void> => {
    loading ??= (async () => {
      const [{ ContainerStore }, { K8sMetadata }, { UserResolver }, { createStateServices }] =
        await Promise.all([
          import("../state/containers/container-store.js"),
          import("../state/k8s/k8s-metadata.js"),
          import("../state/users/index.js"),
          import("../state/services.js"),
        ]);
      if (closed) return;
      store = new ContainerStore({});
      store.start();
      const k8s = new K8sMetadata({ containers: store });
      closeK8s = () => k8s.close();
      services.real = createStateServices({ containers: store, k8s, users: new UserResolver() });
      store.onUpdate((c) => {
        for (const fn of listeners) fn(c);
      });
      // the runtime's containers listed once (bounded): a table collected now finds them
      await store.whenSynced(SYNC_MS);
    })();
    return loading;
  };
  return {
    node,
    hostOnly,
    services,
    load,
    containers: () => store?.all() ?? [],
    onContainer: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    close: async () => {
      closed = true;
      await loading?.catch(() => undefined);
      closeK8s?.();
      await store?.close();
    },
  };
}
