export {
  containerFromCgroupPath,
  containerFromProcCgroup,
  shortContainerId,
  type CgroupMatch,
  type ContainerType,
} from "./cgroup-path.js";
export { CgroupResolver, findCgroup2Mount, type CgroupResolverOptions } from "./cgroup-resolver.js";
export {
  ContainerdClient,
  DEFAULT_CONTAINERD_SOCKET,
  type ContainerdRecord,
  type OciSpec,
} from "./containerd-client.js";
export {
  CRI,
  formatMounts,
  HOST_CONTAINER,
  parseImageRef,
  type ContainerInfo,
  type ContainerMount,
  type CriPodRef,
} from "./container-info.js";
export {
  ContainerStore,
  type ContainerStoreOptions,
  type ContainerStoreStats,
  type ContainerdOptions,
  type CriOptions,
  type DockerOptions,
} from "./container-store.js";
export {
  containerFromCriStatus,
  CriClient,
  DEFAULT_CRIO_SOCKET,
  type CriClientOptions,
  type CriContainerSummary,
  type CriPodSandbox,
} from "./cri-client.js";
export {
  containerFromDockerInspect,
  DEFAULT_DOCKER_SOCKET,
  DockerClient,
  parseDockerEvent,
  type DockerClientOptions,
  type DockerEvent,
} from "./docker-client.js";
export { NotSupportedError, StateError } from "./errors.js";
