/**
 * `lanner deploy` and `lanner undeploy` against the API server, through
 * @kubernetes/client-node's KubernetesObjectApi (it finds each kind's path by discovery).
 *
 * deploy: every object in dependency order (the namespace, the TLS Secrets, the
 * ServiceAccount and RBAC, the ConfigMap, the Service, the DaemonSet last); each is read,
 * then created when absent or replaced (PUT with the resourceVersion just read) when present.
 * Exceptions:
 *   - a namespace that already exists is left as it is (it may be someone else's);
 *   - the TLS Secrets are kept when both exist, unless `rotateCerts`: new material is made
 *     only when one is missing or rotation is asked for, and then both are written (they must
 *     share a CA). The DaemonSet's pod template carries the server certificate's fingerprint,
 *     so new certificates roll the agents.
 * undeploy: the reverse, then the namespace if deploy created it (it carries our part-of
 * label), waiting (bounded) until the API server has removed it.
 *
 * Errors name the object and carry the API server's message (LannerError EKUBEAPI).
 */
import {
  ApiException,
  KubernetesObjectApi,
  type KubeConfig,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { LannerError } from "../errors.js";
import { loadKubeConfig } from "../state/k8s/kube-config.js";
import {
  buildManifests,
  buildTlsSecrets,
  certificateFingerprint,
  NAME,
  withTlsFingerprint,
  type DeploySpec,
  type KubeObject,
} from "./manifests.js";
import { generateTlsMaterial, type TlsMaterial } from "./tls.js";

export interface KubeTarget {
  /** a kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster) */
  readonly kubeconfig?: string;
  readonly context?: string;
  /** or a KubeConfig already loaded (tests) */
  readonly kubeConfig?: KubeConfig;
  /** deadline of each API request (default 30 s) */
  readonly requestTimeoutMs?: number;
  /** one line per object handled ("daemonset.apps/lanner created") */
  readonly log?: (line: string) => void;
}

export interface DeployOptions extends KubeTarget {
  /** replace the TLS Secrets even when they exist */
  readonly rotateCerts?: boolean;
}

export interface UndeployOptions extends KubeTarget {
  /** how long to wait for the namespace to be gone (default 120 s; 0: do not wait) */
  readonly waitMs?: number;
}

export type Outcome = "created" | "configured" | "unchanged";

export interface DeployResult {
  /** "Kind ns/name" (cluster-scoped: "Kind name") -> what was done, in the order done */
  readonly objects: ReadonlyArray<{ readonly object: string; readonly outcome: Outcome }>;
  /** whether TLS material was made (false: the existing Secrets were kept) */
  readonly newCertificates: boolean;
}

export interface UndeployResult {
  readonly objects: ReadonlyArray<{
    readonly object: string;
    readonly outcome: "deleted" | "not found" | "kept";
  }>;
  /** the namespace was removed (false: it was kept, or still terminating after waitMs) */
  readonly namespaceGone: boolean;
}

/** "Kind ns/name" or "Kind name". */
export function objectName(o: Pick<KubeObject, "kind" | "metadata">): string {
  return `${o.kind} ${o.metadata.namespace !== undefined ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`;
}

/** kubectl's way of naming an object in its output: daemonset.apps/lanner. */
function kubectlName(o: Pick<KubeObject, "apiVersion" | "kind" | "metadata">): string {
  const group = o.apiVersion.includes("/") ? `.${o.apiVersion.split("/")[0] as string}` : "";
  return `${o.kind.toLowerCase()}${group}/${o.metadata.name}`;
}

class Client {
  private readonly api: KubernetesObjectApi;
  private readonly timeoutMs: number;
  readonly server: string;

  constructor(t: KubeTarget) {
    const kc = loadKubeConfig({
      ...(t.kubeconfig !== undefined ? { kubeconfig: t.kubeconfig } : {}),
      ...(t.context !== undefined ? { context: t.context } : {}),
      ...(t.kubeConfig !== undefined ? { kubeConfig: t.kubeConfig } : {}),
    });
    this.api = KubernetesObjectApi.makeApiClient(kc);
    this.timeoutMs = t.requestTimeoutMs ?? 30_000;
    this.server = kc.getCurrentCluster()?.server ?? "?";
  }

  /** One call with a deadline; API errors become LannerErrors naming `what` and the server's message. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new LannerError(
              "ETIMEDOUT",
              `${what}: no answer from ${this.server} within ${this.timeoutMs} ms`,
            ),
          ),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([fn(), deadline]);
    } catch (e) {
      if (e instanceof LannerError) throw e;
      if (e instanceof ApiException) throw new KubeApiError(what, e as ApiException<unknown>);
      const err = e as Error & { cause?: { code?: unknown; message?: unknown } };
      const cause = typeof err.cause?.message === "string" ? ` (${err.cause.message})` : "";
      throw new LannerError("EKUBEAPI", `${what} at ${this.server}: ${err.message ?? String(e)}${cause}`, {
        cause: e,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The object, or null when the API server says 404. */
  async read(o: KubeObject): Promise<KubernetesObject | null> {
    try {
      return await this.call(`reading ${objectName(o)}`, () => this.api.read(header(o)));
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) return null;
      throw e;
    }
  }

  create(o: KubeObject): Promise<KubernetesObject> {
    return this.call(`creating ${objectName(o)}`, () =>
      this.api.create(structuredClone(o) as KubernetesObject),
    );
  }

  replace(o: KubeObject, resourceVersion: string | undefined): Promise<KubernetesObject> {
    const body = structuredClone(o);
    if (resourceVersion !== undefined) body.metadata.resourceVersion = resourceVersion;
    return this.call(`replacing ${objectName(o)}`, () => this.api.replace(body as KubernetesObject));
  }

  /** true: deleted; false: it was not there. */
  async delete(o: KubeObject): Promise<boolean> {
    try {
      await this.call(`deleting ${objectName(o)}`, () =>
        this.api.delete(header(o), undefined, undefined, undefined, undefined, "Background"),
      );
      return true;
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) return false;
      throw e;
    }
  }
}

/** An error status from the API server, with its reason and message. */
export class KubeApiError extends LannerError {
  readonly status: number;
  readonly reason: string;
  constructor(what: string, e: ApiException<unknown>) {
    const { reason, message } = statusOf(e.body);
    super(
      "EKUBEAPI",
      `${what}: HTTP ${e.code}${reason !== "" ? ` ${reason}` : ""}${message !== "" ? `: ${message}` : ""}`,
      {
        cause: e,
      },
    );
    this.status = e.code;
    this.reason = reason;
  }
}

function statusOf(body: unknown): { reason: string; message: string } {
  let b = body;
  if (typeof body === "string") {
    try {
      b = JSON.parse(body) as unknown;
    } catch {
      return { reason: "", message: body.slice(0, 300) };
    }
  }
  const s = (b ?? {}) as { reason?: unknown; message?: unknown };
  return {
    reason: typeof s.reason === "string" ? s.reason : "",
    message: typeof s.message === "string" ? s.message : "",
  };
}

function header(o: KubeObject): {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
} {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: {
      name: o.metadata.name,
      ...(o.metadata.namespace !== undefined ? { namespace: o.metadata.namespace } : {}),
    },
  };
}

function secretCert(s: KubernetesObject | null): string | null {
  const data = (s as { data?: Record<string, unknown> } | null)?.data?.["tls.crt"];
  return typeof data === "string" ? Buffer.from(data, "base64").toString("utf8") : null;
}

/** Installs (or updates) Lanner in the cluster. */
export async function deploy(spec: DeploySpec, opts: DeployOptions = {}): Promise<DeployResult> {
  const objects = buildManifests(spec); // validates the spec before anything is sent
  const client = new Client(opts);
  const log = opts.log ?? ((): void => {});
  const done: Array<{ object: string; outcome: Outcome }> = [];
  const note = (o: KubeObject, outcome: Outcome, extra = ""): void => {
    done.push({ object: objectName(o), outcome });
    log(`${kubectlName(o)} ${outcome}${extra}`);
  };
  const [namespace, ...rest] = objects as [KubeObject, ...KubeObject[]];

  if ((await client.read(namespace)) === null) {
    await client.create(namespace);
    note(namespace, "created");
  } else note(namespace, "unchanged", " (it exists: left as it is)");

  // TLS: keep both Secrets, or write both.
  const probe = buildTlsSecrets(spec, PLACEHOLDER_TLS);
  const existing = await Promise.all(probe.map((s) => client.read(s)));
  let serverCert: string | null = secretCert(existing[0] ?? null);
  const keep = opts.rotateCerts !== true && existing.every((s) => s !== null) && serverCert !== null;
  if (keep) {
    for (const s of probe) note(s, "unchanged", " (kept; --rotate-certs replaces it)");
  } else {
    const tls = await generateTlsMaterial();
    serverCert = tls.server.cert;
    const secrets = buildTlsSecrets(spec, tls);
    for (const [i, s] of secrets.entries()) {
      const cur = existing[i] ?? null;
      if (cur === null) {
        await client.create(s);
        note(s, "created");
      } else {
        await client.replace(s, cur.metadata?.resourceVersion);
        note(s, "configured", " (new certificates)");
      }
    }
  }

  for (const o0 of rest) {
    const o = withTlsFingerprint(o0, certificateFingerprint(serverCert as string));
    const cur = await client.read(o);
    if (cur === null) {
      await client.create(o);
      note(o, "created");
    } else {
      await client.replace(o, cur.metadata?.resourceVersion);
      note(o, "configured");
    }
  }
  return { objects: done, newCertificates: !keep };
}

/** What undeploy deletes, in the order it deletes them (the namespace last). */
export function undeployOrder(spec: DeploySpec): KubeObject[] {
  const [namespace, ...rest] = buildManifests(spec) as [KubeObject, ...KubeObject[]];
  return [...rest.reverse(), ...buildTlsSecrets(spec, PLACEHOLDER_TLS), namespace];
}

/** Removes Lanner from the cluster. */
export async function undeploy(spec: DeploySpec, opts: UndeployOptions = {}): Promise<UndeployResult> {
  const order = undeployOrder(spec);
  const client = new Client(opts);
  const log = opts.log ?? ((): void => {});
  const done: Array<{ object: string; outcome: "deleted" | "not found" | "kept" }> = [];
  let namespaceGone = false;
  for (const o of order) {
    if (o.kind === "Namespace") {
      const cur = await client.read(o);
      if (cur === null) {
        done.push({ object: objectName(o), outcome: "not found" });
        log(`${kubectlName(o)} not found`);
        namespaceGone = true;
        continue;
      }
      if (cur.metadata?.labels?.["app.kubernetes.io/part-of"] !== NAME) {
        done.push({ object: objectName(o), outcome: "kept" });
        log(`${kubectlName(o)} kept (lanner deploy did not create it)`);
        continue;
      }
    }
    const deleted = await client.delete(o);
    done.push({ object: objectName(o), outcome: deleted ? "deleted" : "not found" });
    log(`${kubectlName(o)} ${deleted ? "deleted" : "not found"}`);
    if (o.kind === "Namespace") namespaceGone = await waitGone(client, o, opts.waitMs ?? 120_000, log);
  }
  return { objects: done, namespaceGone };
}

async function waitGone(
  client: Client,
  ns: KubeObject,
  waitMs: number,
  log: (l: string) => void,
): Promise<boolean> {
  if (waitMs <= 0) return false;
  const t0 = Date.now();
  let delay = 100;
  for (;;) {
    if ((await client.read(ns)) === null) return true;
    if (Date.now() - t0 >= waitMs) {
      log(
        `${kubectlName(ns)} still terminating after ${waitMs / 1000} s (the API server goes on removing it)`,
      );
      return false;
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(1, waitMs - (Date.now() - t0)))));
    delay = Math.min(delay * 2, 2000);
  }
}

/** For objects whose names alone are needed (the Secrets' names, not their content). */
const PLACEHOLDER_TLS: TlsMaterial = {
  ca: { cert: "", key: "" },
  server: { cert: "", key: "" },
  client: { cert: "", key: "" },
};
