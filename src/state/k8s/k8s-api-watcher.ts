/**
 * Kubernetes API metadata for this node, through @kubernetes/client-node: list+watch of the
 * node's pods (CoreV1Api.listPodForAllNamespaces with fieldSelector spec.nodeName=NODE, then
 * `Watch`) and of namespaces (listNamespace, then `Watch`). The owners of a pod come from the
 * pod alone, so the agent needs no read of ReplicaSets or Jobs (its ClusterRole is list/watch
 * of pods, namespaces and nodes, nothing else):
 *   - the controller in the pod's ownerReferences (ReplicaSet, DaemonSet, StatefulSet, Job...);
 *   - a ReplicaSet's Deployment, exactly: the Deployment controller names its ReplicaSets
 *     `<deployment>-<pod-template-hash>` and labels their pods `pod-template-hash`, so a
 *     ReplicaSet whose name is `X-H` owning a pod labelled pod-template-hash=H belongs to
 *     Deployment X; without the label (a ReplicaSet made by hand) there is no Deployment;
 *   - a Job's CronJob is not given: the CronJob controller names Jobs `<cronjob>-<minutes>`,
 *     but a Job made by hand can have such a name too and nothing on the pod tells them
 *     apart, so any answer would be a guess.
 *
 * - Reads are synchronous map lookups; nothing waits for the API server.
 * - Each watch resumes from the last resourceVersion it saw (bookmarks included); a 410 Gone
 *   (HTTP status or an ERROR event with code 410) drops the version and re-lists; failures
 *   back off exponentially up to maxBackoffMs. A server that stops answering is cut off by
 *   per-request timeouts (list, watch until its response starts) and an inactivity
 *   timeout (watch).
 * - Problems are logged once per kind and counted; none is fatal.
 *
 * Why not the library's informer (makeInformer/ListWatch): it has no request timeouts, stops
 * on the first error and leaves retrying and its backoff to the caller, does not ask for
 * bookmarks, and would keep a second copy of every object; the loop below is list + Watch
 * with exactly the behaviour above.
 */
import { hostname } from "node:os";
import {
  ApiException,
  CoreV1Api,
  Observable,
  Watch,
  type ConfigurationOptions,
  type KubeConfig,
  type RequestContext,
  type ResponseContext,
} from "@kubernetes/client-node";
import { AbortableKubeConfig, loadKubeConfig, type KubeEndpoint } from "./kube-config.js";
import { StateError } from "../containers/errors.js";
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
  /**
   * A kubeconfig file (KubeConfig.loadFromFile). Without it (and without `endpoint` or
   * `kubeConfig`): the in-cluster service account when KUBERNETES_SERVICE_HOST is set, else
   * KubeConfig.loadFromDefault ($KUBECONFIG, ~/.kube/config).
   */
  readonly kubeconfig?: string;
  /** The kubeconfig context (default: its current-context). */
  readonly context?: string;
  /** Or an endpoint directly. */
  readonly endpoint?: KubeEndpoint;
  /** Or a KubeConfig already loaded. */
  readonly kubeConfig?: KubeConfig;
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

/**
 * A pod's owners from the pod alone: its controller, and for a ReplicaSet that a Deployment
 * made (its name is `<deployment>-<pod-template-hash>`, the pod has that label) the Deployment.
 */
export function ownerChainOf(pod: Pick<ApiPod, "labels" | "ownerReferences">): OwnerRef[] {
  const c = controllerOf(pod.ownerReferences);
  if (c === null) return [];
  const chain: OwnerRef[] = [c];
  const hash = pod.labels["pod-template-hash"];
  if (c.kind === "ReplicaSet" && hash !== undefined && hash !== "") {
    const suffix = `-${hash}`;
    if (c.name.length > suffix.length && c.name.endsWith(suffix))
      chain.push({ kind: "Deployment", name: c.name.slice(0, -suffix.length) });
  }
  return chain;
}

class Gone extends Error {}

/** An HTTP error status from the API server (with the Status object's reason and message). */
class KubeHttpError extends StateError {
  readonly status: number;
  constructor(status: number, message: string) {
    super(`http${status}`, message);
    this.status = status;
  }
}

function statusText(body: unknown): string {
  let b = body;
  if (typeof body === "string") {
    try {
      b = JSON.parse(body) as unknown;
    } catch {
      return body.slice(0, 200);
    }
  }
  if (b !== null && typeof b === "object") {
    const st = b as { reason?: unknown; message?: unknown };
    const reason = typeof st.reason === "string" ? st.reason : "";
    const message = typeof st.message === "string" ? st.message : "";
    if (reason !== "" || message !== "") return `${reason}: ${message}`;
  }
  return "";
}

/** The library's errors as StateErrors with a stable code (the problem kind) and a short text. */
function kubeError(what: string, err: unknown): Error {
  if (err instanceof StateError) return err;
  if (err instanceof ApiException) {
    const code = (err as ApiException<unknown>).code;
    return new KubeHttpError(
      code,
      `${what}: HTTP ${code} ${statusText((err as ApiException<unknown>).body)}`,
    );
  }
  const e = err as { statusCode?: unknown; message?: unknown };
  if (typeof e?.statusCode === "number") {
    // Watch: a reply other than 200 (the library keeps only the status text).
    return new KubeHttpError(e.statusCode, `${what}: HTTP ${e.statusCode} ${String(e.message)}`);
  }
  if (
    err instanceof SyntaxError ||
    (err instanceof Error && /^(Cannot parse content|The mediaType .* is not supported)/.test(err.message))
  ) {
    return new StateError("EMALFORMED", `${what}: reply is not JSON`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

type ListResult = { items: RawObject[]; resourceVersion: string };

function listResult(what: string, r: unknown): ListResult {
  const l = r as { items?: unknown; metadata?: { resourceVersion?: unknown } } | null;
  if (
    l === null ||
    typeof l !== "object" ||
    (l.items !== undefined && l.items !== null && !Array.isArray(l.items))
  )
    throw new StateError("EMALFORMED", `${what}: the reply is not a list`);
  const rv = l.metadata?.resourceVersion;
  return { items: (l.items ?? []) as RawObject[], resourceVersion: typeof rv === "string" ? rv : "" };
}

interface LoopSpec {
  readonly what: string;
  readonly watchPath: string;
  readonly query: Record<string, string>;
  list(options: ConfigurationOptions): Promise<unknown>;
  replace(items: RawObject[]): void;
  apply(type: string, obj: RawObject): void;
  synced(): void;
}

/** One watch at a time per loop, on its own AbortableKubeConfig. */
interface LoopWatch {
  readonly kc: AbortableKubeConfig;
  readonly watch: Watch;
}

export class K8sApiWatcher {
  readonly nodeName: string;
  private readonly kc: KubeConfig;
  private readonly core: CoreV1Api;
  private readonly timeoutMs: number;
  private readonly watchIdleMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly problems: LogOnce;
  private readonly pods: LruMap<string, ApiPod>;
  private readonly podsByName = new Map<string, string>();
  private readonly nsLabels = new Map<string, Readonly<Record<string, string>>>();
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
    this.kc = loadKubeConfig({
      ...(opts.kubeconfig !== undefined ? { kubeconfig: opts.kubeconfig } : {}),
      ...(opts.context !== undefined ? { context: opts.context } : {}),
      ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
      ...(opts.kubeConfig !== undefined ? { kubeConfig: opts.kubeConfig } : {}),
    });
    this.core = this.kc.makeApiClient(CoreV1Api);
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
        list: (o) => this.core.listPodForAllNamespaces({ fieldSelector }, o),
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
        list: (o) => this.core.listNamespace({}, o),
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
   * The pod's owner chain, top-most controller last (e.g. ReplicaSet, then Deployment), from
   * the pod alone (see the file comment): no API call.
   */
  ownerChain(pod: ApiPod): OwnerRef[] {
    return ownerChainOf(pod);
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

  /**
   * One API call through the generated client, with a deadline on the whole exchange
   * (connect, headers and body) and aborted by close(): the signal goes on the request by a
   * per-call middleware (RequestContext.setSignal).
   */
  private async request<T>(what: string, call: (options: ConfigurationOptions) => Promise<T>): Promise<T> {
    const ac = new AbortController();
    this.aborts.add(ac);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, this.timeoutMs);
    const options: ConfigurationOptions = {
      middleware: [
        {
          pre: (ctx: RequestContext) => {
            ctx.setSignal(ac.signal);
            return new Observable(Promise.resolve(ctx));
          },
          post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
        },
      ],
      middlewareMergeStrategy: "append",
    };
    try {
      return await call(options);
    } catch (err) {
      // (the cause would only say that the request was aborted)
      if (timedOut) throw new StateError("ETIMEDOUT", `${what}: no answer within ${this.timeoutMs} ms`);
      throw kubeError(what, err);
    } finally {
      clearTimeout(timer);
      this.aborts.delete(ac);
    }
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
    const kc = new AbortableKubeConfig(this.kc);
    const lw: LoopWatch = { kc, watch: new Watch(kc) };
    let rv: string | null = null;
    let backoff = this.minBackoffMs;
    while (!this.closed) {
      try {
        if (rv === null) {
          this.counters.lists++;
          const what = `listing ${spec.what}`;
          const r = listResult(what, await this.request(what, (o) => spec.list(o)));
          if (this.closed) return;
          spec.replace(r.items);
          rv = r.resourceVersion;
          spec.synced();
        }
        this.counters.watches++;
        const startRv: string = rv;
        const t0 = Date.now();
        let sawData = false;
        rv = await this.watchOnce(spec, lw, startRv, () => {
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

  /**
   * One watch request through the library's Watch; resolves with the last resourceVersion
   * seen when the server ends it. Until the response starts it is bounded by the request
   * timeout, then by watchIdleMs of silence; close() aborts it in every phase.
   */
  private async watchOnce(
    spec: LoopSpec,
    lw: LoopWatch,
    fromRv: string,
    onData: () => void,
  ): Promise<string> {
    let rv = fromRv;
    const ac = new AbortController();
    this.aborts.add(ac);
    let cut: "connect" | "idle" | "gone" | "failed" | null = null;
    let failure: Error | null = null;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const stop = (why: "connect" | "idle" | "gone" | "failed"): void => {
      if (cut === null) cut = why;
      ac.abort();
    };
    const arm = (ms: number, why: "connect" | "idle"): void => {
      clearTimeout(timer);
      if (!settled) timer = setTimeout(() => stop(why), ms);
    };
    const what = `watching ${spec.what}`;
    try {
      if (this.closed) return rv;
      arm(this.timeoutMs, "connect");
      await new Promise<void>((resolve, reject) => {
        // Settles on our own abort too: close() and the timeouts never wait for the library.
        ac.signal.addEventListener("abort", () => resolve(), { once: true });
        lw.kc.signal = ac.signal;
        lw.watch
          .watch(
            spec.watchPath,
            { ...spec.query, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 300 },
            (type: string, obj: unknown) => {
              if (cut !== null || settled) return;
              arm(this.watchIdleMs, "idle");
              this.counters.watchEvents++;
              onData();
              const o = obj as (RawObject & { code?: unknown }) | null | undefined;
              if (typeof type !== "string" || o === null || typeof o !== "object") {
                failure = new StateError("EMALFORMED", `${what}: an event without type or object`);
                stop("failed");
                return;
              }
              if (type === "ERROR") {
                if (o.code === 410) {
                  stop("gone");
                  return;
                }
                failure = new StateError(
                  "EWATCH",
                  `${what}: error event: ${statusText(o) || JSON.stringify(o).slice(0, 200)}`,
                );
                stop("failed");
                return;
              }
              const newRv = o.metadata?.resourceVersion;
              if (typeof newRv === "string" && newRv !== "") rv = newRv;
              if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") spec.apply(type, o);
            },
            (err: unknown) => (err === null || err === undefined ? resolve() : reject(err as Error)),
          )
          .then(() => {
            // The response started (or the request already failed and settled).
            if (cut === null) arm(this.watchIdleMs, "idle");
          }, reject);
      }).finally(() => {
        settled = true;
        clearTimeout(timer);
      });
    } catch (err) {
      if (this.closed || cut !== null) {
        // Aborted by us: the library reports the abort as an error; our reason is below.
      } else throw kubeError(what, err);
    } finally {
      settled = true;
      clearTimeout(timer);
      lw.kc.signal = null;
      this.aborts.delete(ac);
      ac.abort(); // nothing of this request outlives it
    }
    if (this.closed) return rv;
    // (set in callbacks, which the compiler's narrowing does not see)
    switch (cut as "connect" | "idle" | "gone" | "failed" | null) {
      case "gone":
        throw new Gone("resource version too old");
      case "idle":
        throw new StateError("ETIMEDOUT", `${what}: no data within ${this.watchIdleMs} ms`);
      case "connect":
        throw new StateError("ETIMEDOUT", `${what}: no answer within ${this.timeoutMs} ms`);
      case "failed":
        throw (failure as Error | null) ?? new StateError("EWATCH", `${what}: failed`);
      default:
        return rv;
    }
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
  const cause =
    typeof e.cause?.message === "string" && !base.includes(e.cause.message) ? ` (${e.cause.message})` : "";
  return (base + cause).slice(0, 300);
}
