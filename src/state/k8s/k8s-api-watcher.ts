/**
 * Kubernetes API metadata for this node: list+watch of the node's pods (fieldSelector
 * spec.nodeName=NODE) and of namespaces, and the owners of pods (ReplicaSet -> Deployment,
 * Job -> CronJob, DaemonSet, StatefulSet, ...), over KubeClient (see kube-client.ts for why
 * not @kubernetes/client-node on this Node version).
 *
 * - Reads are synchronous map lookups; nothing waits for the API server.
 * - Each watch resumes from the last resourceVersion it saw (bookmarks included); a 410 Gone
 *   (HTTP status or an ERROR event with code 410) drops the version and re-lists; failures
 *   back off exponentially up to maxBackoffMs. A server that stops answering is cut off by
 *   per-request timeouts (list, get) and an inactivity timeout (watch).
 * - Problems are logged once per kind and counted; none is fatal.
 */
import { hostname } from "node:os";
import {
  inClusterEndpoint,
  KubeClient,
  KubeHttpError,
  kubeconfigEndpoint,
  type KubeEndpoint,
} from "./kube-client.js";
import { LogOnce, stderrLogger, type Logger } from "../containers/log-once.js";
import { LruMap } from "../containers/lru.js";

/**
 * This node's name as Kubernetes knows it: NODE_NAME (set from spec.nodeName through the
 * downward API in the agent's DaemonSet), else the host name.
 */
export function defaultNodeName(env: NodeJS.ProcessEnv = process.env): string {
  const n = env["NODE_NAME"];
  return n !== undefined && n !== "" ? n : hostname();
}

export interface K8sApiWatcherOptions {
  /** This node's name (pods are watched with spec.nodeName=NODE). */
  readonly nodeName: string;
  /** A kubeconfig file; without it (and without `endpoint`), the in-cluster service account. */
  readonly kubeconfig?: string;
  /** The kubeconfig context (default: its current-context). */
  readonly context?: string;
  /** Or an endpoint directly. */
  readonly endpoint?: KubeEndpoint;
  readonly requestTimeoutMs?: number;
  /** A watch silent for this long is considered dead and restarted (default 120 s). */
  readonly watchIdleMs?: number;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly maxPods?: number;
  readonly logger?: Logger;
}

/** What the API server says about a pod. */
export interface ApiPod {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ip: string | null;
  readonly ownerReferences: ReadonlyArray<{
    readonly kind: string;
    readonly name: string;
    readonly controller: boolean;
  }>;
}

export interface OwnerRef {
  readonly kind: string;
  readonly name: string;
}

export interface K8sApiStats {
  readonly pods: number;
  readonly namespaces: number;
  readonly lists: number;
  readonly watches: number;
  readonly watchEvents: number;
  readonly relists410: number;
  readonly errors: number;
  readonly podsSynced: boolean;
  readonly namespacesSynced: boolean;
}

interface RawObject {
  metadata?: {
    uid?: string;
    name?: string;
    namespace?: string;
    labels?: Record<string, string> | null;
    resourceVersion?: string;
    ownerReferences?: Array<{ kind?: string; name?: string; controller?: boolean }> | null;
  } | null;
  status?: { podIP?: string | null } | null;
}

function toPod(o: RawObject): ApiPod | null {
  const m = o.metadata;
  if (m === null || m === undefined || typeof m.uid !== "string" || typeof m.name !== "string") return null;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.labels ?? {})) if (typeof v === "string") labels[k] = v;
  return {
    uid: m.uid,
    name: m.name,
    namespace: m.namespace ?? "default",
    labels,
    ip: o.status?.podIP ?? null,
    ownerReferences: (m.ownerReferences ?? [])
      .filter((r) => typeof r.kind === "string" && typeof r.name === "string")
      .map((r) => ({ kind: r.kind as string, name: r.name as string, controller: r.controller === true })),
  };
}

function controllerOf(
  refs: ReadonlyArray<{ kind: string; name: string; controller: boolean }>,
): OwnerRef | null {
  const c = refs.find((r) => r.controller) ?? refs[0];
  return c === undefined ? null : { kind: c.kind, name: c.name };
}

class Gone extends Error {}

type ListResult = { items: RawObject[]; resourceVersion: string };

interface LoopSpec {
  readonly what: string;
  readonly watchPath: string;
  readonly query: Record<string, string>;
  list(): Promise<ListResult>;
  replace(items: RawObject[]): void;
  apply(type: string, obj: RawObject): void;
  synced(): void;
}

export class K8sApiWatcher {
  readonly nodeName: string;
  private readonly client: KubeClient;
  private readonly timeoutMs: number;
  private readonly watchIdleMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly problems: LogOnce;
  private readonly pods: LruMap<string, ApiPod>;
  private readonly podsByName = new Map<string, string>();
  private readonly nsLabels = new Map<string, Readonly<Record<string, string>>>();
  /** "Kind/ns/name" -> its controlling owner (null: none), for ReplicaSets and Jobs. */
  private readonly owners = new LruMap<string, OwnerRef | null>(4096);
  private readonly ownerPending = new Set<string>();
  private readonly ownerFailedAt = new LruMap<string, number>(4096);
  private readonly aborts = new Set<AbortController>();
  private readonly sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private readonly listeners = new Set<() => void>();
  private closed = false;
  private running: Promise<void>[] = [];
  private readonly counters = { lists: 0, watches: 0, watchEvents: 0, relists410: 0, errors: 0 };
  private podsSynced = false;
  private namespacesSynced = false;
  private syncWaiters: Array<() => void> = [];

  constructor(opts: K8sApiWatcherOptions) {
    this.nodeName = opts.nodeName;
    // Configuration problems are startup errors: they throw here.
    const endpoint =
      opts.endpoint ??
      (opts.kubeconfig !== undefined
        ? kubeconfigEndpoint(opts.kubeconfig, opts.context)
        : inClusterEndpoint());
    this.client = new KubeClient(endpoint);
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.watchIdleMs = opts.watchIdleMs ?? 120_000;
    this.minBackoffMs = opts.minBackoffMs ?? 500;
    this.maxBackoffMs = opts.maxBackoffMs ?? 30_000;
    this.pods = new LruMap(opts.maxPods ?? 2048);
    this.problems = new LogOnce(opts.logger ?? stderrLogger);
  }

  /** Starts the pod and namespace watches; returns at once. */
  start(): void {
    if (this.running.length > 0 || this.closed) return;
    const fieldSelector = `spec.nodeName=${this.nodeName}`;
    this.running = [
      this.loop({
        what: "pods",
        watchPath: "/api/v1/pods",
        query: { fieldSelector },
        list: () => this.list("/api/v1/pods", { fieldSelector }),
        replace: (items) => {
          this.pods.clear();
          this.podsByName.clear();
          for (const o of items) this.applyPod("ADDED", o);
        },
        apply: (type, o) => this.applyPod(type, o),
        synced: () => {
          this.podsSynced = true;
          this.wakeSyncWaiters();
        },
      }),
      this.loop({
        what: "namespaces",
        watchPath: "/api/v1/namespaces",
        query: {},
        list: () => this.list("/api/v1/namespaces", {}),
        replace: (items) => {
          this.nsLabels.clear();
          for (const o of items) this.applyNamespace("ADDED", o);
        },
        apply: (type, o) => this.applyNamespace(type, o),
        synced: () => {
          this.namespacesSynced = true;
          this.wakeSyncWaiters();
        },
      }),
    ];
  }

  /** Resolves true once pods and namespaces were listed, false after timeoutMs. */
  whenSynced(timeoutMs = 5000): Promise<boolean> {
    if (this.podsSynced && this.namespacesSynced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(t);
        resolve(true);
      };
      this.syncWaiters.push(done);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const a of this.aborts) a.abort();
    for (const s of this.sleeps) {
      clearTimeout(s.timer);
      s.resolve();
    }
    await Promise.allSettled(this.running);
  }

  /** Called after every change of pods, namespaces or owners. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  podByUid(uid: string): ApiPod | undefined {
    return this.pods.peek(uid);
  }

  podByName(namespace: string, name: string): ApiPod | undefined {
    const uid = this.podsByName.get(`${namespace}/${name}`);
    return uid === undefined ? undefined : this.pods.peek(uid);
  }

  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined {
    return this.nsLabels.get(namespace);
  }

  /**
   * The pod's owner chain, top-most controller last (e.g. ReplicaSet, then Deployment).
   * Resolving a ReplicaSet's or Job's owner takes an API call: until it answers, the chain
   * stops at the ReplicaSet/Job and a fetch is started.
   */
  ownerChain(pod: ApiPod): OwnerRef[] {
    const chain: OwnerRef[] = [];
    let cur = controllerOf(pod.ownerReferences);
    while (cur !== null && chain.length < 4) {
      chain.push(cur);
      if (cur.kind !== "ReplicaSet" && cur.kind !== "Job") break;
      const key = `${cur.kind}/${pod.namespace}/${cur.name}`;
      const next = this.owners.get(key);
      if (next === undefined) {
        this.fetchOwner(cur.kind, pod.namespace, cur.name);
        break;
      }
      cur = next;
    }
    return chain;
  }

  stats(): K8sApiStats {
    return {
      ...this.counters,
      pods: this.pods.size,
      namespaces: this.nsLabels.size,
      podsSynced: this.podsSynced,
      namespacesSynced: this.namespacesSynced,
    };
  }

  problemCounts(): ReadonlyMap<string, number> {
    return this.problems.counts;
  }

  // ---------------------------------------------------------------- internals

  private wakeSyncWaiters(): void {
    if (!(this.podsSynced && this.namespacesSynced)) return;
    const w = this.syncWaiters;
    this.syncWaiters = [];
    for (const f of w) f();
  }

  private changed(): void {
    for (const fn of this.listeners) {
      try {
        fn();
      } catch {
        // a listener's problem is not ours
      }
    }
  }

  private applyPod(type: string, o: RawObject): void {
    const p = toPod(o);
    if (p === null) {
      this.problem("malformed", "pods: object without metadata.uid/name");
      return;
    }
    if (type === "DELETED") {
      this.pods.delete(p.uid);
      if (this.podsByName.get(`${p.namespace}/${p.name}`) === p.uid)
        this.podsByName.delete(`${p.namespace}/${p.name}`);
    } else {
      this.pods.set(p.uid, p);
      this.podsByName.set(`${p.namespace}/${p.name}`, p.uid);
      if (this.podsByName.size > this.pods.max * 2) {
        for (const [k, uid] of this.podsByName) if (!this.pods.has(uid)) this.podsByName.delete(k);
      }
    }
    this.changed();
  }

  private applyNamespace(type: string, o: RawObject): void {
    const name = o.metadata?.name;
    if (typeof name !== "string") {
      this.problem("malformed", "namespaces: object without metadata.name");
      return;
    }
    if (type === "DELETED") this.nsLabels.delete(name);
    else {
      const labels: Record<string, string> = {};
      for (const [k, v] of Object.entries(o.metadata?.labels ?? {})) if (typeof v === "string") labels[k] = v;
      this.nsLabels.set(name, labels);
    }
    this.changed();
  }

  private fetchOwner(kind: string, namespace: string, name: string): void {
    const key = `${kind}/${namespace}/${name}`;
    if (this.closed || this.ownerPending.has(key)) return;
    const failedAt = this.ownerFailedAt.peek(key);
    if (failedAt !== undefined && Date.now() - failedAt < this.minBackoffMs * 4) return;
    this.ownerPending.add(key);
    const path =
      kind === "ReplicaSet"
        ? `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/replicasets/${encodeURIComponent(name)}`
        : `/apis/batch/v1/namespaces/${encodeURIComponent(namespace)}/jobs/${encodeURIComponent(name)}`;
    this.request(path, {})
      .then((obj) => {
        const refs = ((obj as RawObject).metadata?.ownerReferences ?? [])
          .filter((r) => typeof r.kind === "string" && typeof r.name === "string")
          .map((r) => ({
            kind: r.kind as string,
            name: r.name as string,
            controller: r.controller === true,
          }));
        this.owners.set(key, controllerOf(refs));
        this.changed();
      })
      .catch((err: unknown) => {
        if (err instanceof KubeHttpError && err.status === 404) {
          this.owners.set(key, null);
          return;
        }
        this.ownerFailedAt.set(key, Date.now());
        this.problem("owner", `reading ${kind} owners: ${errText(err)}`);
      })
      .finally(() => this.ownerPending.delete(key));
  }

  /** One GET with a deadline; aborted by close(). */
  private async request(path: string, query: Record<string, string>): Promise<Record<string, unknown>> {
    const ac = new AbortController();
    this.aborts.add(ac);
    try {
      return await this.client.get(path, query, this.timeoutMs, ac.signal);
    } finally {
      this.aborts.delete(ac);
    }
  }

  private async list(path: string, query: Record<string, string>): Promise<ListResult> {
    const r = await this.request(path, query);
    const items = r["items"];
    if (items !== null && items !== undefined && !Array.isArray(items))
      throw Object.assign(new Error(`listing ${path}: items is not a list`), { code: "EMALFORMED" });
    const meta = r["metadata"] as { resourceVersion?: unknown } | undefined;
    return {
      items: (items ?? []) as RawObject[],
      resourceVersion: typeof meta?.resourceVersion === "string" ? meta.resourceVersion : "",
    };
  }

  private problem(kind: string, message: string): void {
    this.counters.errors++;
    this.problems.report(`k8s:${kind}`, `state: kubernetes API: ${message}`);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const s = {
        timer: setTimeout(() => {
          this.sleeps.delete(s);
          resolve();
        }, ms),
        resolve,
      };
      this.sleeps.add(s);
    });
  }

  private async loop(spec: LoopSpec): Promise<void> {
    let rv: string | null = null;
    let backoff = this.minBackoffMs;
    while (!this.closed) {
      try {
        if (rv === null) {
          this.counters.lists++;
          const r = await spec.list();
          if (this.closed) return;
          spec.replace(r.items);
          rv = r.resourceVersion;
          spec.synced();
        }
        this.counters.watches++;
        const startRv: string = rv;
        const t0 = Date.now();
        let sawData = false;
        rv = await this.watchOnce(spec, startRv, () => {
          sawData = true;
          backoff = this.minBackoffMs;
        });
        // A server that ends watches at once, with nothing in them, must not make us spin.
        if (!sawData && Date.now() - t0 < 1000) {
          await this.sleep(backoff);
          backoff = Math.min(backoff * 2, this.maxBackoffMs);
        }
      } catch (err) {
        if (this.closed) return;
        if (err instanceof Gone || (err instanceof KubeHttpError && err.status === 410)) {
          this.counters.relists410++;
          rv = null;
          continue;
        }
        this.problem(`${spec.what}:${errKind(err)}`, `${spec.what}: ${errText(err)} (retrying)`);
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.maxBackoffMs);
      }
    }
  }

  /** One watch request; resolves with the last resourceVersion seen when the server ends it. */
  private async watchOnce(spec: LoopSpec, fromRv: string, onData: () => void): Promise<string> {
    let rv = fromRv;
    let gone = false;
    const ac = new AbortController();
    this.aborts.add(ac);
    try {
      await this.client.watch(
        spec.watchPath,
        { ...spec.query, resourceVersion: rv, allowWatchBookmarks: "true", timeoutSeconds: "300" },
        (ev) => {
          if (gone) return;
          this.counters.watchEvents++;
          onData();
          const obj = ev.object as RawObject & { code?: unknown };
          if (ev.type === "ERROR") {
            if (obj.code === 410) {
              gone = true;
              ac.abort();
              return;
            }
            throw Object.assign(new Error(`watch error event: ${JSON.stringify(obj).slice(0, 200)}`), {
              code: "EWATCH",
            });
          }
          const newRv = obj.metadata?.resourceVersion;
          if (typeof newRv === "string" && newRv !== "") rv = newRv;
          if (ev.type === "ADDED" || ev.type === "MODIFIED" || ev.type === "DELETED")
            spec.apply(ev.type, obj);
        },
        { timeoutMs: this.timeoutMs, idleMs: this.watchIdleMs, signal: ac.signal },
      );
    } finally {
      this.aborts.delete(ac);
    }
    if (gone) throw new Gone("resource version too old");
    return rv;
  }
}

function errKind(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown; cause?: { code?: unknown } };
  if (typeof e.code === "string") return e.code;
  if (typeof e.cause?.code === "string") return e.cause.code;
  if (typeof e.name === "string") return e.name;
  return "error";
}

function errText(err: unknown): string {
  const e = err as { message?: unknown; cause?: { message?: unknown } };
  const base = typeof e.message === "string" ? e.message : String(err);
  const cause = typeof e.cause?.message === "string" ? ` (${e.cause.message})` : "";
  return (base + cause).slice(0, 300);
}
