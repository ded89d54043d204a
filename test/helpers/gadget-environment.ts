/**
 * A stand-in for a node's gadget environment (src/gadgets/environment.ts) in the runner's
 * unit tests: the containers are known only once load() has resolved, after `loadMs`, as
 * with a container runtime that answers late.
 */
import type { GadgetEnvironment } from "../../src/gadgets/environment.js";
import type { ContainerInfo } from "../../src/state/containers/container-info.js";
import type { StateServices } from "../../src/state/services.js";

export interface StandInOptions {
  /** how long load() takes (ms) */
  readonly loadMs: number;
  /** the container of (pid, cgroup id) once loaded; undefined: not known (yet) */
  readonly container: (pid: number, cgroupId: bigint | undefined) => ContainerInfo | undefined;
  /** what containers() lists once loaded */
  readonly containers?: readonly ContainerInfo[];
}

export function standInEnvironment(o: StandInOptions): GadgetEnvironment {
  let loaded = false;
  const services: StateServices = {
    container: (pid, cg) => (loaded ? o.container(pid, cg) : undefined),
    pod: () => null,
    user: () => null,
    group: () => null,
    loginName: () => null,
    domainNames: () => [],
    watchDomains: () => undefined,
  };
  return {
    node: "node-1",
    hostOnly: false,
    services,
    load: () =>
      new Promise<void>((r) =>
        setTimeout(() => {
          loaded = true;
          r();
        }, o.loadMs),
      ),
    containers: () => (loaded ? (o.containers ?? []) : []),
    onContainer: () => () => undefined,
    close: async () => undefined,
  };
}
