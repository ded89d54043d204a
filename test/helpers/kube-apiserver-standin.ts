/**
 * A local stand-in for the Kubernetes API server (the only stand-in Lanner's tests allow):
 * plain HTTP on 127.0.0.1 (or the address given: agents in network namespaces reach it at a
 * bridge address), speaking the real list/watch JSON of the core/v1 pods, namespaces and
 * nodes collections (all namespaces and one namespace's pods), GET of one pod, node, Secret,
 * apps/v1 ReplicaSet and batch/v1 Job, and the pod port-forward subresource:
 *   - lists: {"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"N"},"items":[...]}
 *   - watch=true: one JSON object per line, {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR",
 *     "object":{...}}, replayed from the requested resourceVersion; a version older than the
 *     retained history gets an ERROR event with a Status of code 410 (Expired), as the real
 *     server sends it;
 *   - fieldSelector spec.nodeName=NODE and metadata.name=NAME; labelSelector as the real
 *     server parses it (k=v, k==v, k!=v, k in (a,b), k notin (a,b), k, !k; 400 when invalid);
 *   - lists accept resourceVersion ("", "0" or a version, answered from the current state) and
 *     resourceVersionMatch (NotOlderThan/Exact, which like the real server needs a
 *     resourceVersion); watches accept allowWatchBookmarks and timeoutSeconds;
 *   - requests need the kubeconfig's bearer token (else 401 with a Status, as the real server
 *     answers) and an Accept header that allows JSON (else 406): @kubernetes/client-node sends
 *     "application/json, *\/*;q=0.8" on API calls and node-fetch's default "*\/*" on watches.
 *   - port-forward (/api/v1/namespaces/NS/pods/NAME/portforward?ports=P) as the kubelet's
 *     WebSocket streaming server answers @kubernetes/client-node's PortForward: subprotocol
 *     v4.channel.k8s.io (v5 when only that is offered); every binary message starts with its
 *     channel byte (0: data, 1: error of the one port), each channel's first message is the
 *     port as 2 little-endian bytes; the stand-in connects to the pod's status.podIP:P and
 *     pipes bytes both ways; a connection that fails is reported on the error channel in the
 *     kubelet's words, then the WebSocket closes; so does it when either side ends.
 * stop()/start() simulate outages (same port; open watches are cut), hang() makes it accept
 * requests and never answer, garbage() answers bodies that are not JSON, compact() drops the history so resumed watches get 410.
 */
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createRequire } from "node:module";
import { KubeObjectStore } from "./kube-objects.js";

/**
 * The `ws` package's server side (a dependency of @kubernetes/client-node, which speaks its
 * client side), typed here for what the stand-in uses: `ws` ships no types of its own.
 */
interface WsSocket {
  readonly readyState: number;
  readonly OPEN: number;
  readonly CONNECTING: number;
  send(data: Buffer, cb?: (err?: Error) => void): void;
  close(code?: number): void;
  pause(): void;
  resume(): void;
  on(event: "message", fn: (data: Buffer, isBinary: boolean) => void): unknown;
  on(event: "close", fn: () => void): unknown;
  on(event: "error", fn: (e: Error) => void): unknown;
}
interface WsServer {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, cb: (ws: WsSocket) => void): void;
}
type WsServerClass = new (opts: {
  noServer: true;
  handleProtocols: (offered: Set<string>, req: IncomingMessage) => string | false;
}) => WsServer;
const { WebSocketServer } = createRequire(import.meta.url)("ws") as { WebSocketServer: WsServerClass };

export interface ContainerPortInput {
  readonly name?: string;
  readonly containerPort: number;
  readonly protocol?: "TCP" | "UDP" | "SCTP";
}

export interface ContainerInput {
  readonly name: string;
  readonly image?: string;
  readonly ports?: readonly ContainerPortInput[];
}

export interface PodInput {
  readonly name: string;
  readonly namespace: string;
  readonly uid?: string;
  readonly nodeName: string;
  readonly labels?: Record<string, string>;
  readonly ownerReferences?: Array<{
    apiVersion: string;
    kind: string;
    name: string;
    uid?: string;
    controller?: boolean;
  }>;
  readonly podIP?: string;
  /** default: one container "main" (busybox) with no ports */
  readonly containers?: readonly ContainerInput[];
  /** default Running */
  readonly phase?: "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown";
  /** the Ready condition (default: true when Running) */
  readonly ready?: boolean;
}

export interface NodeInput {
  readonly name: string;
  readonly labels?: Record<string, string>;
  /** the Ready condition (default true) */
  readonly ready?: boolean;
  readonly internalIP?: string;
}

export interface StandinOptions {
  /** the address to listen on (default 127.0.0.1) */
  readonly host?: string;
  /** the port (default: any free one) */
  readonly port?: number;
}

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown> & { name: string; resourceVersion?: string; uid: string };
  [k: string]: unknown;
};

type Collection = "pods" | "namespaces" | "nodes";

const KINDS: Readonly<Record<Collection, { kind: string; list: string }>> = {
  pods: { kind: "Pod", list: "PodList" },
  namespaces: { kind: "Namespace", list: "NamespaceList" },
  nodes: { kind: "Node", list: "NodeList" },
};

interface HistoryEntry {
  readonly rv: number;
  readonly collection: Collection;
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  readonly object: Obj;
}

interface Watcher {
  readonly collection: Collection;
  readonly filter: (o: Obj) => boolean;
  readonly res: ServerResponse;
}

/** A label selector requirement as the API server parses it (k8s.io/apimachinery labels). */
interface LabelRequirement {
  readonly key: string;
  readonly op: "=" | "!=" | "in" | "notin" | "exists" | "!";
  readonly values: readonly string[];
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

export class LabelSelectorError extends Error {}

/** Parses a labelSelector (`app=web,tier!=db,env in (a,b),!canary`); throws LabelSelectorError. */
export function parseLabelSelector(text: string): LabelRequirement[] {
  const terms: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      terms.push(cur);
      cur = "";
    } else cur += ch;
  }
  terms.push(cur);
  const out: LabelRequirement[] = [];
  const key = (k: string): string => {
    if (!LABEL_KEY.test(k) || k.length > 317)
      throw new LabelSelectorError(`unable to parse requirement: invalid label key "${k}"`);
    return k;
  };
  const value = (v: string): string => {
    if (!LABEL_VALUE.test(v) || v.length > 63)
      throw new LabelSelectorError(`unable to parse requirement: invalid label value: "${v}"`);
    return v;
  };
  for (const raw of terms) {
    const t = raw.trim();
    if (t === "") {
      if (terms.length === 1) return [];
      throw new LabelSelectorError(`found ',', expected: identifier in selector "${text}"`);
    }
    let m = /^!\s*(\S+)$/.exec(t);
    if (m !== null) {
      out.push({ key: key(m[1] as string), op: "!", values: [] });
      continue;
    }
    m = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(t);
    if (m !== null) {
      const values = (m[3] as string).split(",").map((v) => value(v.trim()));
      out.push({ key: key(m[1] as string), op: m[2] as "in" | "notin", values });
      continue;
    }
    m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(t);
    if (m !== null) {
      out.push({
        key: key(m[1] as string),
        op: m[2] === "!=" ? "!=" : "=",
        values: [value(m[3] as string)],
      });
      continue;
    }
    if (/^\S+$/.test(t)) {
      out.push({ key: key(t), op: "exists", values: [] });
      continue;
    }
    throw new LabelSelectorError(`unable to parse requirement: "${t}"`);
  }
  return out;
}

function labelsMatch(reqs: readonly LabelRequirement[], labels: Readonly<Record<string, string>>): boolean {
  for (const r of reqs) {
    const v = Object.hasOwn(labels, r.key) ? labels[r.key] : undefined;
    switch (r.op) {
      case "=":
      case "in":
        if (v === undefined || !r.values.includes(v)) return false;
        break;
      case "!=":
      case "notin":
        if (v !== undefined && r.values.includes(v)) return false;
        break;
      case "exists":
        if (v === undefined) return false;
        break;
      case "!":
        if (v !== undefined) return false;
        break;
    }
  }
  return true;
}

/** Go's words for a failed dial (what the kubelet's message ends with). */
function dialError(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case "ECONNREFUSED":
      return "connect: connection refused";
    case "EHOSTUNREACH":
      return "connect: no route to host";
    case "ENETUNREACH":
      return "connect: network is unreachable";
    case "ETIMEDOUT":
      return "i/o timeout";
    default:
      return e.message;
  }
}

const DATA = Buffer.from([0]);
const ERROR = Buffer.from([1]);

export class KubeApiStandin {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly forwards = new Set<Socket>();
  private readonly watchers = new Set<Watcher>();
  private rv = 100;
  private history: HistoryEntry[] = [];
  private oldestRv = 100;
  private readonly pods = new Map<string, Obj>();
  private readonly namespaces = new Map<string, Obj>();
  private readonly nodes = new Map<string, Obj>();
  private readonly secrets = new Map<string, Obj>();
  private readonly others = new Map<string, Obj>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    // the kubelet's port-forward speaks v4 (v5 is exec's); v5 only when nothing else is offered
    handleProtocols: (offered) =>
      offered.has("v4.channel.k8s.io")
        ? "v4.channel.k8s.io"
        : offered.has("v5.channel.k8s.io")
          ? "v5.channel.k8s.io"
          : false,
  });
  /** any other object (deploy's ServiceAccounts, DaemonSets, Secrets...) */
  readonly objects = new KubeObjectStore();
  private hanging = false;
  private garbling = false;
  /** The bearer token the stand-in accepts (the one writeKubeconfig() puts in). */
  static readonly TOKEN = "standin-token";
  readonly host: string;
  port = 0;
  /** Every request path seen (with query), for assertions. */
  readonly requests: string[] = [];
  /** Port-forward WebSockets opened so far. */
  portForwards = 0;

  constructor(opts: StandinOptions = {}) {
    this.host = opts.host ?? "127.0.0.1";
    this.port = opts.port ?? 0;
  }

  /** Starts listening (on the previous port after a stop()). */
  async start(): Promise<void> {
    if (this.server !== null) return;
    const server = createServer((req, res) => this.handle(req, res));
    server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(req, socket, head),
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, this.host, () => resolve());
    });
    const addr = server.address();
    if (addr !== null && typeof addr === "object") this.port = addr.port;
    this.server = server;
  }

  /** Stops listening and cuts every connection (an outage). Objects are kept. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    for (const s of this.forwards) s.destroy();
    this.forwards.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Accept requests but never answer them, and go silent on open watches (true); or answer again (false). */
  hang(on: boolean): void {
    this.hanging = on;
  }

  /** Answer every request with 200 and a body that is not JSON (true), or normally (false). */
  garbage(on: boolean): void {
    this.garbling = on;
  }

  /** Drops the watch history: a watch resumed from an older version gets 410 Gone. */
  compact(): void {
    this.history = [];
    this.oldestRv = this.rv;
  }

  get url(): string {
    return `http://${this.host.includes(":") ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** Writes a kubeconfig pointing at the stand-in; returns its path. */
  writeKubeconfig(path: string): string {
    writeFileSync(
      path,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: standin",
        "  cluster:",
        `    server: ${this.url}`,
        // Plain http: @kubernetes/client-node only allows it with TLS verification "skipped".
        "    insecure-skip-tls-verify: true",
        "users:",
        "- name: standin",
        "  user:",
        `    token: ${KubeApiStandin.TOKEN}`,
        "contexts:",
        "- name: standin",
        "  context:",
        "    cluster: standin",
        "    user: standin",
        "current-context: standin",
        "",
      ].join("\n"),
    );
    return path;
  }

  // ------------------------------------------------------------------ objects

  addNamespace(name: string, labels: Record<string, string> = {}): void {
    const existing = this.namespaces.get(name);
    const obj: Obj = {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name,
        uid: (existing?.metadata.uid as string | undefined) ?? randomUUID(),
        labels: { "kubernetes.io/metadata.name": name, ...labels },
      },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    };
    this.record("namespaces", existing === undefined ? "ADDED" : "MODIFIED", obj);
    this.namespaces.set(name, obj);
  }

  /** Adds or replaces a node. */
  addNode(n: NodeInput): void {
    const existing = this.nodes.get(n.name);
    const ready = n.ready ?? true;
    const obj: Obj = {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: n.name,
        uid: (existing?.metadata.uid as string | undefined) ?? randomUUID(),
        labels: {
          "kubernetes.io/hostname": n.name,
          "kubernetes.io/os": "linux",
          "kubernetes.io/arch": "amd64",
          ...(n.labels ?? {}),
        },
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      },
      spec: {},
      status: {
        conditions: [
          {
            type: "Ready",
            status: ready ? "True" : "False",
            reason: ready ? "KubeletReady" : "KubeletNotReady",
            message: ready ? "kubelet is posting ready status" : "container runtime network not ready",
          },
        ],
        addresses: [
          ...(n.internalIP !== undefined ? [{ type: "InternalIP", address: n.internalIP }] : []),
          { type: "Hostname", address: n.name },
        ],
        nodeInfo: {
          kubeletVersion: "v1.32.4",
          operatingSystem: "linux",
          architecture: "amd64",
          containerRuntimeVersion: "containerd://1.7.24",
        },
      },
    };
    this.record("nodes", existing === undefined ? "ADDED" : "MODIFIED", obj);
    this.nodes.set(n.name, obj);
  }

  deleteNode(name: string): void {
    const existing = this.nodes.get(name);
    if (existing === undefined) return;
    this.nodes.delete(name);
    this.record("nodes", "DELETED", structuredClone(existing));
  }

  /** Adds or replaces a pod; returns its uid. */
  addPod(p: PodInput): string {
    const key = `${p.namespace}/${p.name}`;
    const existing = this.pods.get(key);
    const uid = p.uid ?? (existing?.metadata.uid as string | undefined) ?? randomUUID();
    const phase = p.phase ?? "Running";
    const ready = p.ready ?? phase === "Running";
    const containers = p.containers ?? [{ name: "main", image: "busybox" }];
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const obj: Obj = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: p.name,
        namespace: p.namespace,
        uid,
        labels: p.labels ?? {},
        ...(p.ownerReferences !== undefined
          ? {
              ownerReferences: p.ownerReferences.map((r) => ({
                uid: randomUUID(),
                blockOwnerDeletion: true,
                ...r,
              })),
            }
          : {}),
        creationTimestamp: now,
      },
      spec: {
        nodeName: p.nodeName,
        containers: containers.map((c) => ({
          name: c.name,
          image: c.image ?? "busybox",
          ...(c.ports !== undefined ? { ports: c.ports.map((q) => ({ protocol: "TCP", ...q })) } : {}),
        })),
      },
      status: {
        phase,
        ...(p.podIP !== undefined ? { podIP: p.podIP, podIPs: [{ ip: p.podIP }] } : {}),
        conditions: [
          { type: "Initialized", status: "True", lastTransitionTime: now },
          { type: "Ready", status: ready ? "True" : "False", lastTransitionTime: now },
          { type: "ContainersReady", status: ready ? "True" : "False", lastTransitionTime: now },
          { type: "PodScheduled", status: "True", lastTransitionTime: now },
        ],
        containerStatuses: containers.map((c) => ({
          name: c.name,
          image: c.image ?? "busybox",
          ready,
          restartCount: 0,
          started: phase === "Running",
          state:
            phase === "Running"
              ? { running: { startedAt: now } }
              : { waiting: { reason: "ContainerCreating" } },
        })),
      },
    };
    this.record("pods", existing === undefined ? "ADDED" : "MODIFIED", obj);
    this.pods.set(key, obj);
    return uid;
  }

  deletePod(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const existing = this.pods.get(key);
    if (existing === undefined) return;
    this.pods.delete(key);
    this.record("pods", "DELETED", structuredClone(existing));
  }

  /** A Secret (GET /api/v1/namespaces/NS/secrets/NAME); values are base64-encoded as the API does. */
  addSecret(namespace: string, name: string, data: Record<string, string | Buffer>, type = "Opaque"): void {
    this.rv++;
    this.secrets.set(`${namespace}/${name}`, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, namespace, uid: randomUUID(), resourceVersion: String(this.rv) },
      type,
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
    });
  }

  /** apps/v1 ReplicaSet or batch/v1 Job owned by `owner` (for owner resolution). */
  addOwned(
    kind: "ReplicaSet" | "Job",
    namespace: string,
    name: string,
    owner: { kind: string; name: string; apiVersion: string } | null,
  ): void {
    const apiVersion = kind === "ReplicaSet" ? "apps/v1" : "batch/v1";
    this.rv++;
    this.others.set(`${kind}/${namespace}/${name}`, {
      apiVersion,
      kind,
      metadata: {
        name,
        namespace,
        uid: randomUUID(),
        resourceVersion: String(this.rv),
        ...(owner !== null
          ? { ownerReferences: [{ ...owner, uid: randomUUID(), controller: true, blockOwnerDeletion: true }] }
          : {}),
      },
      spec: {},
      status: {},
    });
  }

  // ------------------------------------------------------------------ HTTP

  private record(collection: Collection, type: HistoryEntry["type"], obj: Obj): void {
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    const entry: HistoryEntry = { rv: this.rv, collection, type, object: obj };
    this.history.push(entry);
    if (this.history.length > 1000) {
      const dropped = this.history.shift();
      if (dropped !== undefined) this.oldestRv = dropped.rv;
    }
    // A hanging server also goes silent on the watches it has open.
    if (this.hanging) return;
    for (const w of this.watchers)
      if (w.collection === collection && w.filter(obj)) this.send(w.res, { type, object: obj });
  }

  private send(res: ServerResponse, ev: unknown): void {
    res.write(JSON.stringify(ev) + "\n");
  }

  private static statusBody(code: number, reason: string, message: string): string {
    return JSON.stringify({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason,
      code,
    });
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(KubeApiStandin.statusBody(code, reason, message));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push(req.url ?? "");
    if (this.hanging) return; // never answer
    if (this.garbling) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{this is not json\n");
      return;
    }
    const url = new URL(req.url ?? "/", "http://standin");
    if (req.headers.authorization !== `Bearer ${KubeApiStandin.TOKEN}`)
      return this.status(res, 401, "Unauthorized", "Unauthorized");
    // what the stand-in holds itself comes first; everything else is the object store's
    if (req.method === "GET" && this.serveOwn(req, res, url)) return;
    if (this.objects.handle(req, res, url)) return;
    if (req.method !== "GET")
      return this.status(res, 405, "MethodNotAllowed", "the stand-in only serves GET");
    const path = url.pathname;
    const m = /^\/apis\/(apps|batch)\/v1\/namespaces\/([^/]+)\/(replicasets|jobs)\/([^/]+)$/.exec(path);
    if (m !== null) {
      const kind = m[3] === "replicasets" ? "ReplicaSet" : "Job";
      const obj = this.others.get(`${kind}/${m[2] as string}/${m[4] as string}`);
      if (obj === undefined)
        return this.status(res, 404, "NotFound", `${m[3] as string} "${m[4] as string}" not found`);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(obj));
      return;
    }
    this.status(res, 404, "NotFound", "the server could not find the requested resource");
  }

  /** Collections, single pods and nodes, and the Secrets added here; false: not one of those. */
  private serveOwn(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const path = url.pathname;
    let collection: Collection | null = null;
    let namespace: string | null = null;
    let m: RegExpExecArray | null;
    if (path === "/api/v1/pods") collection = "pods";
    else if (path === "/api/v1/namespaces") collection = "namespaces";
    else if (path === "/api/v1/nodes") collection = "nodes";
    else if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path)) !== null) {
      collection = "pods";
      namespace = decodeURIComponent(m[1] as string);
    }
    let single: Obj | null | undefined = null;
    let what = "";
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(path)) !== null) {
      single = this.pods.get(`${decodeURIComponent(m[1] as string)}/${decodeURIComponent(m[2] as string)}`);
      what = `pods "${decodeURIComponent(m[2] as string)}" not found`;
    } else if ((m = /^\/api\/v1\/nodes\/([^/]+)$/.exec(path)) !== null) {
      single = this.nodes.get(decodeURIComponent(m[1] as string));
      what = `nodes "${decodeURIComponent(m[1] as string)}" not found`;
    } else if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(path)) !== null) {
      const s = this.secrets.get(
        `${decodeURIComponent(m[1] as string)}/${decodeURIComponent(m[2] as string)}`,
      );
      if (s === undefined) return false; // perhaps the object store's
      single = s;
    } else if (collection === null) return false;
    const accept = req.headers.accept ?? "*/*";
    if (!/(^|,)\s*(application\/json|application\/\*|\*\/\*)\s*(;|,|$)/.test(accept)) {
      this.status(res, 406, "NotAcceptable", `only application/json is served, not ${accept}`);
      return true;
    }
    if (collection === null) {
      if (single === undefined) this.status(res, 404, "NotFound", what);
      else {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(single));
      }
      return true;
    }
    this.list(collection, namespace, url, res);
    return true;
  }

  private list(collection: Collection, namespace: string | null, url: URL, res: ServerResponse): void {
    const fields = this.fieldFilter(url.searchParams.get("fieldSelector"));
    if (fields === null) return this.status(res, 400, "BadRequest", "unsupported fieldSelector");
    let labels: LabelRequirement[];
    try {
      labels = parseLabelSelector(url.searchParams.get("labelSelector") ?? "");
    } catch (e) {
      return this.status(res, 400, "BadRequest", (e as Error).message);
    }
    const filter = (o: Obj): boolean =>
      (namespace === null || o.metadata["namespace"] === namespace) &&
      fields(o) &&
      labelsMatch(labels, (o.metadata["labels"] ?? {}) as Record<string, string>);
    if (url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1")
      return this.watch(collection, filter, url, res);
    const rvMatch = url.searchParams.get("resourceVersionMatch");
    const rvParam = url.searchParams.get("resourceVersion") ?? "";
    if (rvMatch !== null && rvMatch !== "") {
      if (rvParam === "")
        return this.status(
          res,
          422,
          "Invalid",
          "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        );
      if (rvMatch !== "NotOlderThan" && rvMatch !== "Exact")
        return this.status(res, 422, "Invalid", `resourceVersionMatch: Unsupported value: "${rvMatch}"`);
      if (rvMatch === "Exact" && Number(rvParam) !== this.rv)
        return this.status(res, 410, "Expired", `too old resource version: ${rvParam} (${this.rv})`);
    }
    const body = {
      kind: KINDS[collection].list,
      apiVersion: "v1",
      metadata: { resourceVersion: String(this.rv) },
      items: [...this.store(collection).values()]
        .filter(filter)
        .map((o) => ({ ...o, apiVersion: undefined, kind: undefined })),
    };
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  private store(collection: Collection): Map<string, Obj> {
    return collection === "pods" ? this.pods : collection === "namespaces" ? this.namespaces : this.nodes;
  }

  private fieldFilter(sel: string | null): ((o: Obj) => boolean) | null {
    if (sel === null || sel === "") return () => true;
    const tests: Array<(o: Obj) => boolean> = [];
    for (const term of sel.split(",")) {
      const [k, v] = term.split("=") as [string, string | undefined];
      if (v === undefined) return null;
      if (k === "spec.nodeName")
        tests.push((o) => (o["spec"] as { nodeName?: string } | undefined)?.nodeName === v);
      else if (k === "metadata.name") tests.push((o) => o.metadata.name === v);
      else if (k === "metadata.namespace") tests.push((o) => o.metadata["namespace"] === v);
      else return null;
    }
    return (o) => tests.every((t) => t(o));
  }

  private watch(collection: Collection, filter: (o: Obj) => boolean, url: URL, res: ServerResponse): void {
    const rvParam = url.searchParams.get("resourceVersion");
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    const from = rvParam === null || rvParam === "" || rvParam === "0" ? null : Number(rvParam);
    if (from !== null && (!Number.isFinite(from) || from < this.oldestRv)) {
      this.send(res, {
        type: "ERROR",
        object: {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: `too old resource version: ${rvParam} (${this.oldestRv})`,
          reason: "Expired",
          code: 410,
        },
      });
      res.end();
      return;
    }
    if (from === null) {
      // No version: the current state as ADDED events first.
      for (const o of this.store(collection).values())
        if (filter(o)) this.send(res, { type: "ADDED", object: o });
    } else {
      for (const h of this.history)
        if (h.rv > from && h.collection === collection && filter(h.object))
          this.send(res, { type: h.type, object: h.object });
    }
    if (url.searchParams.get("allowWatchBookmarks") === "true") {
      this.send(res, {
        type: "BOOKMARK",
        object: {
          kind: KINDS[collection].kind,
          apiVersion: "v1",
          metadata: { resourceVersion: String(this.rv) },
        },
      });
    }
    const w: Watcher = { collection, filter, res };
    this.watchers.add(w);
    const timeoutS = Number(url.searchParams.get("timeoutSeconds") ?? "0");
    const timer = timeoutS > 0 ? setTimeout(() => res.end(), timeoutS * 1000) : null;
    res.on("close", () => {
      if (timer !== null) clearTimeout(timer);
      this.watchers.delete(w);
    });
  }

  // ------------------------------------------------------------------ port-forward

  private refuseUpgrade(socket: Duplex, code: number, reason: string, message: string): void {
    const body = KubeApiStandin.statusBody(code, reason, message);
    socket.end(
      `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? reason}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.requests.push(req.url ?? "");
    if (this.hanging) return;
    const url = new URL(req.url ?? "/", "http://standin");
    if (req.headers.authorization !== `Bearer ${KubeApiStandin.TOKEN}`)
      return this.refuseUpgrade(socket, 401, "Unauthorized", "Unauthorized");
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/.exec(url.pathname);
    if (m === null)
      return this.refuseUpgrade(socket, 404, "NotFound", "the server could not find the requested resource");
    const ns = decodeURIComponent(m[1] as string);
    const name = decodeURIComponent(m[2] as string);
    const pod = this.pods.get(`${ns}/${name}`);
    if (pod === undefined) return this.refuseUpgrade(socket, 404, "NotFound", `pods "${name}" not found`);
    const ports = url.searchParams.getAll("ports").flatMap((p) => p.split(","));
    const port = Number(ports[0]);
    if (ports.length !== 1 || !Number.isInteger(port) || port <= 0 || port > 65535)
      return this.refuseUpgrade(
        socket,
        400,
        "BadRequest",
        `invalid port: the stand-in forwards exactly one port, got '${ports.join(",")}'`,
      );
    const status = pod["status"] as { phase?: string; podIP?: string };
    if (status.phase !== "Running" || status.podIP === undefined)
      return this.refuseUpgrade(
        socket,
        400,
        "BadRequest",
        `unable to upgrade connection: pod ${name} is not running (phase ${status.phase ?? "unknown"})`,
      );
    const podIP = status.podIP;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.portForwards++;
      this.forward(ws, podIP, port, pod.metadata.uid);
    });
  }

  /** One port-forward stream pair: the kubelet's websocket port forwarder, against podIP:port. */
  private forward(ws: WsSocket, podIP: string, port: number, podUid: string): void {
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(port);
    ws.send(Buffer.concat([DATA, portBytes]));
    ws.send(Buffer.concat([ERROR, portBytes]));
    const tcp = connect({ host: podIP, port });
    this.forwards.add(tcp);
    let connected = false;
    let inFlight = 0;
    tcp.on("connect", () => (connected = true));
    tcp.on("data", (d: Buffer) => {
      inFlight++;
      ws.send(Buffer.concat([DATA, d]), () => {
        inFlight--;
        if (inFlight < 16 && tcp.isPaused()) tcp.resume();
      });
      if (inFlight >= 64) tcp.pause();
    });
    tcp.on("error", (e: NodeJS.ErrnoException) => {
      if (!connected && ws.readyState === ws.OPEN)
        ws.send(
          Buffer.concat([
            ERROR,
            Buffer.from(
              `error forwarding port ${port} to pod ${podUid}, uid : failed to connect to ${podIP}:${port}: ` +
                `dial tcp4 ${podIP}:${port}: ${dialError(e)}`,
            ),
          ]),
        );
    });
    tcp.on("close", () => {
      this.forwards.delete(tcp);
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000);
    });
    tcp.on("drain", () => ws.resume());
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (!isBinary || data.length < 1) return;
      const channel = data[0];
      if (channel === 255) {
        // v5: the client closed a stream (its data: no more bytes to the pod)
        if (data[1] === 0) tcp.end();
        return;
      }
      if (channel !== 0 || data.length === 1) return;
      if (!tcp.write(data.subarray(1))) ws.pause();
    });
    ws.on("close", () => tcp.end());
    ws.on("error", () => tcp.destroy());
  }
}
