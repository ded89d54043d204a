/**
 * The state behind an event beyond processes and fds: its container, the container's pod,
 * user and group names, domain names. One object the engine's field producers read
 * (src/engine/fields/); every call is synchronous and cheap, unknown is undefined/null.
 */
import { HOST_CONTAINER, type ContainerInfo } from "./containers/container-info.js";
import type { ContainerStore } from "./containers/container-store.js";
import type { DomainNames } from "./dns/domain-names.js";
import type { K8sMetadata, PodMeta } from "./k8s/k8s-metadata.js";
import type { GroupInfo, UserInfo, UserResolver } from "./users/user-resolver.js";

export interface StateServices {
  /** The container of a process: HOST_CONTAINER outside containers, undefined when unknown. */
  container(tgid: number, cgroupId: bigint | undefined): ContainerInfo | undefined;
  /** The pod of a container (null outside pods or when unknown). */
  pod(c: ContainerInfo): PodMeta | null;
  /** The user of `uid` as process `pid` sees it (its container's passwd), or null without a resolver. */
  user(uid: number, pid: number, container: ContainerInfo | undefined): UserInfo | null;
  group(gid: number, pid: number, container: ContainerInfo | undefined): GroupInfo | null;
  /** user.loginname: the host's name of an audit login uid. */
  loginName(loginUid: number): string | null;
  /** The watched domain names whose addresses include `ip`; empty when none (or no resolver). */
  domainNames(ip: string): readonly string[];
  /** Keep these names resolved (the literals rules compare fd.*.name with). */
  watchDomains(names: readonly string[]): void;
}

export interface StateServicesOptions {
  readonly containers: ContainerStore;
  readonly k8s?: K8sMetadata | null;
  readonly users?: UserResolver | null;
  /** names for fd.*.name; without it those fields are unknown */
  readonly domains?: DomainNames | null;
}

const NO_NAMES: readonly string[] = Object.freeze([]);

export function createStateServices(opts: StateServicesOptions): StateServices {
  const { containers } = opts;
  const k8s = opts.k8s ?? null;
  const users = opts.users ?? null;
  const domains = opts.domains ?? null;
  const containerKey = (c: ContainerInfo | undefined): string | undefined =>
    c === undefined || c === HOST_CONTAINER ? undefined : c.fullId;
  return {
    container: (tgid, cgroupId) => containers.lookup(tgid, cgroupId),
    pod: (c) => (k8s === null || c === HOST_CONTAINER ? null : k8s.forContainer(c)),
    user: (uid, pid, c) => (users === null ? null : users.user(uid, pid, containerKey(c))),
    group: (gid, pid, c) => (users === null ? null : users.group(gid, pid, containerKey(c))),
    loginName: (uid) => (users === null ? null : users.loginName(uid)),
    domainNames: (ip) => (domains === null ? NO_NAMES : domains.namesOf(ip)),
    watchDomains: (names) => {
      if (domains !== null) void domains.watch(names);
    },
  };
}
