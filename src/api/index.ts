/**
 * The node API: the agent's lanner.v1.Node service and its client (what `kubectl lanner`
 * uses to reach every node's agent).
 */
export {
  NodeCallError,
  NodeClient,
  type BpftraceCall,
  type BpftraceStreamSink,
  type GadgetCall,
  type GadgetStreamSink,
  type KernelFeatureStatus,
  type NodeClientOptions,
  type NodeStatus,
  type NodeTarget,
  type NodeTls,
} from "./node-client.js";
export {
  NodeService,
  type AgentStatusSource,
  type BpftraceRunning,
  type BpftraceStarter,
  type NodeServiceOptions,
} from "./node-service.js";
export { CodecError } from "./codec.js";
