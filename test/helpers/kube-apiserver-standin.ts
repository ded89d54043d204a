/**
 * A local stand-in for the Kubernetes API server (the only stand-in Lanner's tests allow):
 * plain HTTP on 127.0.0.1, speaking the real list/watch JSON of the core/v1 pods and
 * namespaces collections and GET of apps/v1 ReplicaSets and batch/v1 Jobs:
 *   - lists: {"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"N"},"items":[...]}
 *   - watch=true: one JSON object per line, {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR",
 *     "object":{...}}, replayed from the requested resourceVersion; a version older than the
 *     retained history gets an ERROR event with a Status of code 410 (Expired), as the real
 *     server sends it;
 *   - fieldSelector spec.nodeName=NODE and metadata.name=NAME; labelSelector is not supported;
 *   - lists accept resourceVersion ("", "0" or a version, answered from the current state) and
 *     resourceVersionMatch (NotOlderThan/Exact, which like the real server needs a
 *     resourceVersion); watches accept allowWatchBookmarks and timeoutSeconds;
 *   - requests need the kubeconfig's bearer token (else 401 with a Status, as the real server
 *     answers) and an Accept header that allows JSON (else 406): @kubernetes/client-node sends
 *     "application/json, *\/*;q=0.8" on API calls and node-fetch's default "*\/*" on watches.
 * stop()/start() simulate outages (same port; open watches are cut), hang() makes it accept
 * requests and never answer, garbage() answers bodies that are not JSON, compact() drops the history so resumed watches get 410.
 */
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { KubeObjectStore } from "./kube-objects.js";

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
}

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown> & { name: string; resourceVersion?: string; uid: string };
  [k: string]: unknown;
};

interface HistoryEntry {
  readonly rv: number;
  readonly collection: "pods" | "namespaces";
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  readonly object: Obj;
}

interface Watcher {
  readonly collection: "pods" | "namespaces";
  readonly filter: (o: Obj) => boolean;
  readonly res: ServerResponse;
}

export class KubeApiStandin {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly watchers = new Set<Watcher>();
  private rv = 100;
  private history: HistoryEntry[] = [];
  private oldestRv = 100;
  private readonly pods = new Map<string, Obj>();
  private readonly namespaces = new Map<string, Obj>();
  private readonly others = new Map<string, Obj>();
  /** any other object (deploy's ServiceAccounts, DaemonSets, Secrets...) */
  readonly objects = new KubeObjectStore();
  private hanging = false;
  private garbling = false;
  /** The bearer token the stand-in accepts (the one writeKubeconfig() puts in). */
  static readonly TOKEN = "standin-token";
  port = 0;
  /** Every request path seen (with query), for assertions. */
  readonly requests: string[] = [];

  /** Starts listening (on the previous port after a stop()). */
  async start(): Promise<void> {
    if (this.server !== null) return;
    const server = createServer((req, res) => this.handle(req, res));
    server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
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
    return `http://127.0.0.1:${this.port}`;
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

  /** Adds or replaces a pod; returns its uid. */
  addPod(p: PodInput): string {
    const key = `${p.namespace}/${p.name}`;
    const existing = this.pods.get(key);
    const uid = p.uid ?? (existing?.metadata.uid as string | undefined) ?? randomUUID();
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
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      },
      spec: { nodeName: p.nodeName, containers: [{ name: "main", image: "busybox" }] },
      status: { phase: "Running", ...(p.podIP !== undefined ? { podIP: p.podIP } : {}) },
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

  private record(collection: "pods" | "namespaces", type: HistoryEntry["type"], obj: Obj): void {
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

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message,
        reason,
        code,
      }),
    );
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
    if (this.objects.handle(req, res, url)) return;
    if (req.method !== "GET")
      return this.status(res, 405, "MethodNotAllowed", "the stand-in only serves GET");
    const accept = req.headers.accept ?? "*/*";
    if (!/(^|,)\s*(application\/json|application\/\*|\*\/\*)\s*(;|,|$)/.test(accept))
      return this.status(res, 406, "NotAcceptable", `only application/json is served, not ${accept}`);
    const path = url.pathname;
    if (path === "/api/v1/pods" || path === "/api/v1/namespaces") {
      const collection = path.endsWith("pods") ? "pods" : "namespaces";
      const filter = this.fieldFilter(url.searchParams.get("fieldSelector"));
      if (filter === null) return this.status(res, 400, "BadRequest", "unsupported fieldSelector");
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
      const store = collection === "pods" ? this.pods : this.namespaces;
      const body = {
        kind: collection === "pods" ? "PodList" : "NamespaceList",
        apiVersion: "v1",
        metadata: { resourceVersion: String(this.rv) },
        items: [...store.values()]
          .filter(filter)
          .map((o) => ({ ...o, apiVersion: undefined, kind: undefined })),
      };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
      return;
    }
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

  private watch(
    collection: "pods" | "namespaces",
    filter: (o: Obj) => boolean,
    url: URL,
    res: ServerResponse,
  ): void {
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
      const store = collection === "pods" ? this.pods : this.namespaces;
      for (const o of store.values()) if (filter(o)) this.send(res, { type: "ADDED", object: o });
    } else {
      for (const h of this.history)
        if (h.rv > from && h.collection === collection && filter(h.object))
          this.send(res, { type: h.type, object: h.object });
    }
    if (url.searchParams.get("allowWatchBookmarks") === "true") {
      this.send(res, {
        type: "BOOKMARK",
        object: {
          kind: collection === "pods" ? "Pod" : "Namespace",
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
}
