/**
 * Finding the agents of a cluster through its API server: the DaemonSet's pods (namespace
 * `lanner`, label `app.kubernetes.io/name=lanner` unless overridden), each one's node
 * (spec.nodeName), address (status.podIP) and gRPC port (the container port named `grpc`,
 * 7100 when none is named), and the cluster's nodes, so that a node without an agent is
 * reported rather than silently left out. Also the client's mutual TLS material: files given
 * on the command line, else the Secret `lanner-client-tls` of the agent namespace.
 */
import { readFileSync } from "node:fs";
import { ApiException, CoreV1Api, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { LannerError, errorMessage } from "../../errors.js";
import type { NodeTls } from "../node-client.js";

export const AGENT_NAMESPACE = "lanner";
export const AGENT_SELECTOR = "app.kubernetes.io/name=lanner";
export const AGENT_PORT_NAME = "grpc";
export const AGENT_PORT = 7100;
/** The Secret holding the client's certificate (tls.crt, tls.key) and the agents' CA (ca.crt). */
export const CLIENT_TLS_SECRET = "lanner-client-tls";
/** The name in every agent's server certificate (pod addresses are not known when it is issued). */
export const AGENT_SERVER_NAME = "lanner-agent";

/** A problem with discovery or the cluster's API: code EDISCOVERY. */
export class DiscoveryError extends LannerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("EDISCOVERY", message, options);
  }
}

/** One node's agent. */
export interface AgentEndpoint {
  readonly node: string;
  readonly namespace: string;
  readonly pod: string;
  readonly podIP: string;
  readonly port: number;
}

export interface DiscoveryOptions {
  /** the agents' namespace (default `lanner`) */
  readonly namespace?: string | undefined;
  /** the agents' label selector (default `app.kubernetes.io/name=lanner`) */
  readonly selector?: string | undefined;
  /** only these nodes (`--node`); empty or absent: every node */
  readonly nodes?: readonly string[] | undefined;
}

export interface Discovery {
  /** one ready agent per node, sorted by node name */
  readonly agents: AgentEndpoint[];
  /** what could not be used, one line each: `node X: no lanner agent`... */
  readonly problems: string[];
}

function apiFailure(what: string, e: unknown): DiscoveryError {
  if (e instanceof ApiException) {
    const ex = e as ApiException<unknown>;
    let msg = "";
    const body: unknown = typeof ex.body === "string" ? safeJson(ex.body) : ex.body;
    if (
      body !== null &&
      typeof body === "object" &&
      typeof (body as { message?: unknown }).message === "string"
    )
      msg = (body as { message: string }).message;
    // without a body the library keeps the status text in its message ("Message: Unauthorized")
    if (msg === "") msg = /^Message: (.+)$/m.exec(ex.message)?.[1] ?? "";
    return new DiscoveryError(`${what}: HTTP ${ex.code}${msg !== "" ? `: ${msg}` : ""}`, { cause: e });
  }
  return new DiscoveryError(`${what}: ${errorMessage(e)}`, { cause: e });
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return s;
  }
}

function isReady(p: V1Pod): boolean {
  return (
    p.status?.phase === "Running" &&
    (p.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
  );
}

/** The pod's gRPC port: the container port named `grpc`, else 7100. */
export function agentPort(p: V1Pod): number {
  for (const c of p.spec?.containers ?? [])
    for (const port of c.ports ?? []) if (port.name === AGENT_PORT_NAME) return port.containerPort;
  return AGENT_PORT;
}

/**
 * Lists the agent pods and the nodes; returns one ready agent per node (the `nodes` asked
 * for, else all) and a line for every node that has none. Throws DiscoveryError when the
 * API server cannot be asked.
 */
export async function discoverAgents(kc: KubeConfig, opts: DiscoveryOptions = {}): Promise<Discovery> {
  const namespace = opts.namespace ?? AGENT_NAMESPACE;
  const selector = opts.selector ?? AGENT_SELECTOR;
  const core = kc.makeApiClient(CoreV1Api);
  const server = kc.getCurrentCluster()?.server ?? "the API server";
  let pods: V1Pod[];
  try {
    pods = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
  } catch (e) {
    throw apiFailure(`listing the agent pods (namespace ${namespace}, selector ${selector}) at ${server}`, e);
  }
  let nodeNames: string[];
  try {
    nodeNames = (await core.listNode()).items.map((n) => n.metadata?.name ?? "").filter((n) => n !== "");
  } catch (e) {
    throw apiFailure(`listing the nodes at ${server}`, e);
  }
  const problems: string[] = [];
  const wanted = opts.nodes !== undefined && opts.nodes.length > 0 ? [...new Set(opts.nodes)] : null;
  const known = new Set(nodeNames);
  const byNode = new Map<string, V1Pod[]>();
  for (const p of pods) {
    const node = p.spec?.nodeName;
    if (node === undefined || node === "") {
      problems.push(
        `agent pod ${namespace}/${p.metadata?.name ?? "?"} is not scheduled on a node (phase ${p.status?.phase ?? "unknown"})`,
      );
      continue;
    }
    byNode.set(node, [...(byNode.get(node) ?? []), p]);
  }
  const agents: AgentEndpoint[] = [];
  const consider = wanted ?? [...new Set([...nodeNames, ...byNode.keys()])].sort();
  for (const node of consider) {
    if (!known.has(node) && !byNode.has(node)) {
      problems.push(`node ${node}: no such node`);
      continue;
    }
    const candidates = byNode.get(node) ?? [];
    if (candidates.length === 0) {
      problems.push(`node ${node}: no lanner agent (no pod of ${selector} in namespace ${namespace})`);
      continue;
    }
    const ready = candidates.find((p) => isReady(p) && (p.status?.podIP ?? "") !== "");
    if (ready === undefined) {
      const p = candidates[0] as V1Pod;
      problems.push(
        `node ${node}: agent pod ${namespace}/${p.metadata?.name ?? "?"} is not ready (phase ${p.status?.phase ?? "unknown"})`,
      );
      continue;
    }
    agents.push({
      node,
      namespace,
      pod: ready.metadata?.name ?? "",
      podIP: ready.status?.podIP ?? "",
      port: agentPort(ready),
    });
  }
  return { agents, problems };
}

/**
 * The node a pod runs on (`kubectl lanner bpftrace --pod P`: the call goes to that node's
 * agent); throws DiscoveryError when the pod does not exist or is not scheduled yet.
 */
export async function podNode(kc: KubeConfig, namespace: string, pod: string): Promise<string> {
  let p: V1Pod;
  try {
    p = await kc.makeApiClient(CoreV1Api).readNamespacedPod({ name: pod, namespace });
  } catch (e) {
    throw apiFailure(`reading pod ${namespace}/${pod}`, e);
  }
  const node = p.spec?.nodeName ?? "";
  if (node === "")
    throw new DiscoveryError(
      `pod ${namespace}/${pod} is not scheduled on a node (phase ${p.status?.phase ?? "unknown"})`,
    );
  return node;
}

export interface ClientTlsFiles {
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly ca?: string | undefined;
}

/**
 * The client's mutual TLS material: the three files when given (all or none), else the
 * Secret `lanner-client-tls` in the agent namespace. The server certificate is checked
 * against the name `lanner-agent`.
 */
export async function clientTls(
  kc: KubeConfig | null,
  files: ClientTlsFiles,
  namespace: string,
): Promise<NodeTls> {
  const given = (["cert", "key", "ca"] as const).filter((k) => files[k] !== undefined);
  if (given.length > 0) {
    if (given.length < 3) {
      const missing = (["cert", "key", "ca"] as const).filter((k) => files[k] === undefined);
      throw new DiscoveryError(
        `--tls-cert, --tls-key and --tls-ca go together: ${missing.map((m) => `--tls-${m}`).join(", ")} missing`,
      );
    }
    const read = (flag: string, path: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (e) {
        throw new DiscoveryError(`--tls-${flag}: reading ${path}: ${errorMessage(e)}`, { cause: e });
      }
    };
    return {
      cert: read("cert", files.cert as string),
      key: read("key", files.key as string),
      ca: read("ca", files.ca as string),
      serverName: AGENT_SERVER_NAME,
    };
  }
  if (kc === null) throw new DiscoveryError("TLS needs --tls-cert, --tls-key and --tls-ca");
  let data: Record<string, string>;
  try {
    const s = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: CLIENT_TLS_SECRET, namespace });
    data = s.data ?? {};
  } catch (e) {
    throw apiFailure(
      `reading the Secret ${namespace}/${CLIENT_TLS_SECRET} (the client certificate; or pass --tls-cert, --tls-key and --tls-ca)`,
      e,
    );
  }
  const field = (k: string): Buffer => {
    const v = data[k];
    if (v === undefined || v === "")
      throw new DiscoveryError(`the Secret ${namespace}/${CLIENT_TLS_SECRET} has no ${k}`);
    return Buffer.from(v, "base64");
  };
  return {
    cert: field("tls.crt"),
    key: field("tls.key"),
    ca: field("ca.crt"),
    serverName: AGENT_SERVER_NAME,
  };
}
