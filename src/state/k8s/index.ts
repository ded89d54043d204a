export {
  defaultNodeName,
  K8sApiWatcher,
  type ApiPod,
  type K8sApiStats,
  type K8sApiWatcherOptions,
  type OwnerRef,
} from "./k8s-api-watcher.js";
export {
  formatLabels,
  K8sMetadata,
  ownerOfKind,
  podLabelsFromSandbox,
  type K8sMetadataOptions,
  type PodMeta,
} from "./k8s-metadata.js";
export { loadKubeConfig, type KubeConfigSource, type KubeEndpoint } from "./kube-config.js";
