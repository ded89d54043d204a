/**
 * What a gadget run reads from the node besides its source: containers (the runtime's API
 * and event stream), pods (CRI labels), the node's name. Loaded in the background once the
 * gadget's programs are attached, so a gadget is ready as soon as the kernel side is (the
 * runtime clients are a large part of start-up); events that come first wait for it.
 */
import { existsSync } from "node:fs";
import type { ContainerInfo } from "../state/containers/container-info.js";
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
