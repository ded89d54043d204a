/**
 * How the client reaches each discovered agent: through the API server's pod port-forward
 * (the default: one local tunnel per node) or directly at the pod's address (`--direct`),
 * always with mutual TLS.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { NodeTarget, NodeTls } from "../node-client.js";
import type { AgentEndpoint } from "./discovery.js";
import { PortForwardTunnel } from "./port-forward.js";

/** A node and where its agent answers. */
export interface ClusterNode {
  readonly name: string;
  readonly target: NodeTarget;
}

export interface ConnectOptions {
  /** podIP:port instead of the API server's port-forward */
  readonly direct: boolean;
  readonly tls: NodeTls;
  /** a tunnelled connection that failed, with the node it was for */
  readonly onError?: (node: string, message: string) => void;
}

export interface Connected {
  readonly nodes: ClusterNode[];
  /** the tunnels (port-forward mode), by node */
  readonly tunnels: ReadonlyMap<string, PortForwardTunnel>;
  close(): Promise<void>;
}

function hostPort(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export async function connectAgents(
  kc: KubeConfig,
  agents: readonly AgentEndpoint[],
  opts: ConnectOptions,
): Promise<Connected> {
  const tunnels = new Map<string, PortForwardTunnel>();
  const close = async (): Promise<void> => {
    await Promise.all([...tunnels.values()].map((t) => t.close()));
  };
  const nodes: ClusterNode[] = [];
  try {
    for (const a of agents) {
      if (opts.direct) {
        nodes.push({ name: a.node, target: { address: hostPort(a.podIP, a.port), tls: opts.tls } });
        continue;
      }
      const t = new PortForwardTunnel(kc, {
        namespace: a.namespace,
        pod: a.pod,
        port: a.port,
        onError: (m) => opts.onError?.(a.node, m),
      });
      tunnels.set(a.node, t);
      nodes.push({ name: a.node, target: { address: await t.listen(), tls: opts.tls } });
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { nodes, tunnels, close };
}
