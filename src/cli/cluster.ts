/**
 * What every `kubectl lanner` command shares: the flags that say how to reach the cluster's
 * agents, and opening the connections (the API server's kubeconfig, the agents discovered as
 * the DaemonSet's pods, the client's TLS material, a port-forward tunnel or a direct address
 * per node). The API server's client and gRPC are loaded only when a command uses them: a
 * gadget on this node starts without them.
 */
import type { ParseArgsConfig } from "node:util";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Connected } from "../api/cluster/connect.js";
import type { CliIO } from "./io.js";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Flags = Readonly<Record<string, unknown>>;

export const TLS_OPTIONS: Options = {
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-ca": { type: "string" },
};

export const CLUSTER_OPTIONS: Options = {
  direct: { type: "boolean" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  "agent-namespace": { type: "string" },
  "agent-selector": { type: "string" },
  ...TLS_OPTIONS,
};

export const CLUSTER_HELP = `Cluster (kubectl lanner: every node's agent, found through the API server):
      --direct                connect to the agents' pod addresses (default: through the
                              API server's pod port-forward)
      --kubeconfig FILE       the kubeconfig (default $KUBECONFIG, ~/.kube/config, or the
                              pod's service account)
      --context NAME          the kubeconfig context
      --agent-namespace NS    the agents' namespace (default lanner)
      --agent-selector SEL    the agents' pod labels (default app.kubernetes.io/name=lanner)
      --tls-cert FILE         client certificate (PEM), with --tls-key and --tls-ca
      --tls-key FILE          (default: the Secret lanner-client-tls of the agent namespace)
      --tls-ca FILE
`;

/** The kubeconfig the cluster flags name (--kubeconfig, --context; else the usual places). */
export async function clusterKubeConfig(f: Flags): Promise<KubeConfig> {
  const { loadKubeConfig } = await import("../state/k8s/kube-config.js");
  return loadKubeConfig({
    ...(f["kubeconfig"] !== undefined ? { kubeconfig: f["kubeconfig"] as string } : {}),
    ...(f["context"] !== undefined ? { context: f["context"] as string } : {}),
  });
}

/**
 * Connects to the agents of `nodes` (every node when empty). What cannot be reached is said on
 * stderr; null when no node is left (said too).
 */
export async function openCluster(
  kc: KubeConfig,
  f: Flags,
  nodes: readonly string[],
  io: CliIO,
  what: string,
): Promise<Connected | null> {
  const [{ AGENT_NAMESPACE, clientTls, discoverAgents }, { connectAgents }] = await Promise.all([
    import("../api/cluster/discovery.js"),
    import("../api/cluster/connect.js"),
  ]);
  const namespace = (f["agent-namespace"] as string | undefined) ?? AGENT_NAMESPACE;
  const found = await discoverAgents(kc, {
    namespace,
    selector: f["agent-selector"] as string | undefined,
    nodes,
  });
  for (const p of found.problems) io.stderr(`lanner: ${p}\n`);
  if (found.agents.length === 0) {
    io.stderr(`lanner ${what}: no node to run on\n`);
    return null;
  }
  const tls = await clientTls(
    kc,
    {
      cert: f["tls-cert"] as string | undefined,
      key: f["tls-key"] as string | undefined,
      ca: f["tls-ca"] as string | undefined,
    },
    namespace,
  );
  return connectAgents(kc, found.agents, {
    direct: f["direct"] === true,
    tls,
    onError: (node, m) => io.stderr(`lanner: node ${node}: ${m}\n`),
  });
}
