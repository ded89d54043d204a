/**
 * Which API server to talk to and how, as a @kubernetes/client-node KubeConfig:
 * `--kubeconfig FILE` (loadFromFile, with an optional context), an explicit endpoint, the
 * in-cluster service account (loadFromCluster), else the library's defaults (loadFromDefault:
 * $KUBECONFIG, ~/.kube/config). Configuration problems throw here, at startup, rather than on
 * every request later.
 *
 * Two small helpers for what the library (1.4.0) lacks:
 *
 * - Token files: its `tokenFile` auth provider (what loadFromCluster uses) sends the file's
 *   content untrimmed, so a token file ending in a newline makes every request fail ("not a
 *   legal HTTP header value"), and it reads a kubeconfig user's `token-file` instead of
 *   kubectl's `tokenFile`, once, at load time. `TokenFileAuth` (a KubeConfig authenticator)
 *   reads `tokenFile` of kubeconfig users and of `endpoint.tokenFile`, trimmed, re-read every
 *   minute as client-go does; the in-cluster service account keeps the library's provider
 *   (the kubelet writes its token without a newline).
 * - `AbortableKubeConfig`: `Watch.watch()` cannot be aborted or timed out before the server
 *   answers. It replaces its own 30 s timeout signal with a bare AbortController (two
 *   consecutive `requestInit.signal =` lines in watch.js) and returns that controller only
 *   once the response headers arrived; against a server that accepts the connection and never
 *   answers, a watch would hang forever and close() could not end it. The subclass joins a
 *   signal of ours to whatever signal Watch sets on the fetch options, so our timeouts and
 *   close() abort the request in every phase.
 */
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join } from "node:path";
import { KubeConfig, type Cluster, type User } from "@kubernetes/client-node";
import { parse as parseYaml } from "yaml";
import { StateError } from "../containers/errors.js";

/** An API server given directly rather than by a kubeconfig file. */
export interface KubeEndpoint {
  readonly server: string;
  readonly ca?: Buffer;
  readonly insecure?: boolean;
  readonly token?: string;
  /** Re-read on change (rotated service account tokens). */
  readonly tokenFile?: string;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export interface KubeConfigSource {
  /** A kubeconfig file (loadFromFile). */
  readonly kubeconfig?: string;
  /** The kubeconfig context (default: its current-context). */
  readonly context?: string;
  readonly endpoint?: KubeEndpoint;
  /** A KubeConfig the caller already loaded. */
  readonly kubeConfig?: KubeConfig;
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

type Authenticator = Parameters<KubeConfig["addAuthenticator"]>[0];
const TOKEN_FILE_PROVIDER = "lanner-token-file";

/** Bearer token from a file: trimmed, re-read after a minute (rotated tokens). */
class TokenFileAuth implements Authenticator {
  private readonly tokens = new Map<string, { token: string; readAt: number }>();

  isAuthProvider(user: User): boolean {
    return (user.authProvider as { name?: unknown } | undefined)?.name === TOKEN_FILE_PROVIDER;
  }

  async applyAuthentication(user: User, opts: { headers?: unknown }): Promise<void> {
    const file = (user.authProvider as { config?: { file?: unknown } }).config?.file;
    if (typeof file !== "string") return;
    let t = this.tokens.get(file);
    if (t === undefined || Date.now() - t.readAt > 60_000) {
      t = { token: (await readFile(file, "utf8")).trim(), readAt: Date.now() };
      this.tokens.set(file, t);
    }
    const headers = (opts.headers ?? (opts.headers = {})) as Record<string, string>;
    if (t.token !== "") headers["Authorization"] = `Bearer ${t.token}`;
  }
}

const tokenFileAuth = new TokenFileAuth();

function tokenFileProvider(file: string): { name: string; config: { file: string } } {
  return { name: TOKEN_FILE_PROVIDER, config: { file } };
}

/** kubectl's `tokenFile` of the kubeconfig's users, which the library does not read. */
function useTokenFiles(kc: KubeConfig, path: string): void {
  let doc: { users?: Array<{ name?: unknown; user?: { tokenFile?: unknown } }> } | null;
  try {
    doc = parseYaml(readFileSync(path, "utf8")) as typeof doc;
  } catch {
    return; // the library read it; nothing more to learn
  }
  const users = kc.getUsers();
  for (const u of Array.isArray(doc?.users) ? doc.users : []) {
    const file = u?.user?.tokenFile;
    if (typeof file !== "string" || file === "") continue;
    const i = users.findIndex((x) => x.name === u.name);
    const user = users[i];
    if (user === undefined || user.token !== undefined || user.authProvider !== undefined) continue;
    const abs = isAbsolute(file) ? file : join(dirname(path), file);
    users[i] = { ...user, authProvider: tokenFileProvider(abs) };
  }
}

function endpointConfig(ep: KubeEndpoint): KubeConfig {
  const kc = new KubeConfig();
  const cluster: Cluster = {
    name: "endpoint",
    server: ep.server.replace(/\/+$/, ""),
    // The library refuses plain http unless TLS verification is "skipped"; an explicit
    // http:// endpoint is the caller's choice.
    skipTLSVerify: ep.insecure === true || ep.server.startsWith("http:"),
    ...(ep.ca !== undefined ? { caData: ep.ca.toString("base64") } : {}),
  };
  const user: User = {
    name: "endpoint",
    ...(ep.token !== undefined ? { token: ep.token } : {}),
    ...(ep.cert !== undefined ? { certData: ep.cert.toString("base64") } : {}),
    ...(ep.key !== undefined ? { keyData: ep.key.toString("base64") } : {}),
    ...(ep.token === undefined && ep.tokenFile !== undefined
      ? { authProvider: tokenFileProvider(ep.tokenFile) }
      : {}),
  };
  kc.loadFromClusterAndUser(cluster, user);
  kc.addAuthenticator(tokenFileAuth);
  return kc;
}

function readable(path: string | undefined, what: string, where: string): void {
  if (path === undefined || path === "") return;
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    throw new StateError("EKUBECONFIG", `${where}: ${what} ${path} is not readable`, { cause: err });
  }
}

/** The KubeConfig for `src`; throws StateError (EKUBECONFIG, ENOKUBE) when it cannot work. */
export function loadKubeConfig(src: KubeConfigSource, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  let kc: KubeConfig;
  let where: string;
  if (src.kubeConfig !== undefined) {
    kc = src.kubeConfig;
    where = "kubeconfig";
  } else if (src.endpoint !== undefined) {
    kc = endpointConfig(src.endpoint);
    where = `endpoint ${src.endpoint.server}`;
  } else if (src.kubeconfig !== undefined) {
    where = `kubeconfig ${src.kubeconfig}`;
    kc = new KubeConfig();
    try {
      kc.loadFromFile(src.kubeconfig);
      useTokenFiles(kc, src.kubeconfig);
      kc.addAuthenticator(tokenFileAuth);
    } catch (err) {
      throw new StateError("EKUBECONFIG", `reading ${where}: ${(err as Error).message}`, { cause: err });
    }
  } else if ((env["KUBERNETES_SERVICE_HOST"] ?? "") !== "") {
    where = "in-cluster Kubernetes config";
    kc = new KubeConfig();
    kc.loadFromCluster();
    try {
      accessSync(`${SA_DIR}/ca.crt`, constants.R_OK);
    } catch (err) {
      throw new StateError("ENOKUBE", `${where}: reading ${SA_DIR}/ca.crt`, { cause: err });
    }
  } else {
    where = "default kubeconfig";
    kc = new KubeConfig();
    try {
      kc.loadFromDefault();
    } catch (err) {
      throw new StateError("EKUBECONFIG", `reading ${where}: ${(err as Error).message}`, { cause: err });
    }
    const files = (process.env["KUBECONFIG"] ?? "").split(delimiter).filter((f) => f !== "");
    for (const f of files.length > 0 ? files : [join(homedir(), ".kube", "config")])
      if (existsSync(f)) useTokenFiles(kc, f);
    kc.addAuthenticator(tokenFileAuth);
    const c = kc.getCurrentCluster();
    // loadFromDefault's last resort when it found nothing at all.
    if (c === null || (c.name === "cluster" && c.server === "http://localhost:8080")) {
      throw new StateError(
        "ENOKUBE",
        "no Kubernetes config: not in a pod (KUBERNETES_SERVICE_HOST is not set), no $KUBECONFIG " +
          "and no ~/.kube/config; pass --kubeconfig",
      );
    }
  }
  if (src.context !== undefined) {
    if (kc.getContextObject(src.context) === null)
      throw new StateError("EKUBECONFIG", `${where}: context ${src.context} not found`);
    kc.setCurrentContext(src.context);
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null || typeof cluster.server !== "string" || cluster.server === "") {
    throw new StateError(
      "EKUBECONFIG",
      `${where}: context ${kc.getCurrentContext()} not found, or its cluster has no server`,
    );
  }
  if (cluster.server.startsWith("http:") && cluster.skipTLSVerify !== true) {
    throw new StateError(
      "EKUBECONFIG",
      `${where}: server ${cluster.server} is plain http; set insecure-skip-tls-verify: true to allow it`,
    );
  }
  readable(cluster.caFile, "certificate-authority", where);
  const user = kc.getCurrentUser();
  readable(user?.certFile, "client-certificate", where);
  readable(user?.keyFile, "client-key", where);
  return kc;
}

type FetchOptions = Parameters<KubeConfig["applyToFetchOptions"]>[0];
type FetchInit = Awaited<ReturnType<KubeConfig["applyToFetchOptions"]>>;

/**
 * A KubeConfig for one `Watch` at a time whose requests also end when `signal` aborts (see
 * the file comment for why).
 */
export class AbortableKubeConfig extends KubeConfig {
  signal: AbortSignal | null = null;

  /** Requests go through `base` (its authenticators, their caches); this only adds the signal. */
  constructor(private readonly base: KubeConfig) {
    super();
    this.loadFromOptions({
      clusters: base.getClusters(),
      contexts: base.getContexts(),
      users: base.getUsers(),
      currentContext: base.getCurrentContext(),
    });
  }

  override getCurrentCluster(): Cluster | null {
    return this.base.getCurrentCluster();
  }

  override async applyToFetchOptions(opts: FetchOptions): Promise<FetchInit> {
    const ours = this.signal;
    const init = await this.base.applyToFetchOptions(opts);
    if (ours === null) return init;
    let current: AbortSignal = ours;
    Object.defineProperty(init, "signal", {
      configurable: true,
      enumerable: true,
      get: () => current,
      set: (s: unknown) => {
        current = s instanceof AbortSignal ? AbortSignal.any([s, ours]) : ours;
      },
    });
    return init;
  }
}
