/**
 * A minimal Kubernetes API client for list, watch and get, on node:http/https.
 *
 * Why not @kubernetes/client-node: 2.0.1 (the version in package.json) loads undici 8, which
 * needs Node >= 22.19 (it binds zlib's zstd at import time); on the Node 20 this project runs
 * on, importing the package throws. This client covers what the metadata watcher needs:
 * kubeconfig files (current context; server; certificate-authority[-data];
 * insecure-skip-tls-verify; token / tokenFile; client-certificate[-data] + client-key[-data])
 * and the in-cluster service account. exec and auth-provider credential plugins are reported
 * as NotSupportedError.
 */
import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { createInterface } from "node:readline";
import { parse as parseYaml } from "yaml";
import { NotSupportedError, StateError } from "../containers/errors.js";

export interface KubeEndpoint {
  readonly server: string;
  readonly ca?: Buffer;
  readonly insecure?: boolean;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The in-cluster endpoint from the service account and KUBERNETES_SERVICE_HOST/PORT. */
export function inClusterEndpoint(env: NodeJS.ProcessEnv = process.env): KubeEndpoint {
  const host = env["KUBERNETES_SERVICE_HOST"];
  const port = env["KUBERNETES_SERVICE_PORT"] ?? "443";
  if (host === undefined || host === "") {
    throw new StateError(
      "ENOKUBE",
      "in-cluster Kubernetes config: KUBERNETES_SERVICE_HOST is not set (not in a pod; pass --kubeconfig)",
    );
  }
  const h = host.includes(":") ? `[${host}]` : host;
  let ca: Buffer | undefined;
  try {
    ca = readFileSync(`${SA_DIR}/ca.crt`);
  } catch (err) {
    throw new StateError("ENOKUBE", `in-cluster Kubernetes config: reading ${SA_DIR}/ca.crt`, { cause: err });
  }
  return { server: `https://${h}:${port}`, ca, tokenFile: `${SA_DIR}/token` };
}

function fileOrData(base: Record<string, unknown>, key: string, dir: string): Buffer | undefined {
  const data = base[`${key}-data`];
  if (typeof data === "string" && data !== "") return Buffer.from(data, "base64");
  const file = base[key];
  if (typeof file === "string" && file !== "")
    return readFileSync(file.startsWith("/") ? file : `${dir}/${file}`);
  return undefined;
}

/** The endpoint of a kubeconfig file's current context (or `context`). */
export function kubeconfigEndpoint(path: string, context?: string): KubeEndpoint {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw new StateError("EKUBECONFIG", `reading kubeconfig ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const cfg = (doc ?? {}) as Record<string, unknown>;
  const named = (list: unknown, name: unknown, field: string): Record<string, unknown> | undefined => {
    if (!Array.isArray(list)) return undefined;
    const hit = list.find((e) => (e as { name?: unknown }).name === name) as
      Record<string, unknown> | undefined;
    return hit?.[field] as Record<string, unknown> | undefined;
  };
  const ctxName = context ?? cfg["current-context"];
  const ctx = named(cfg["contexts"], ctxName, "context");
  if (ctx === undefined)
    throw new StateError("EKUBECONFIG", `kubeconfig ${path}: context ${String(ctxName)} not found`);
  const cluster = named(cfg["clusters"], ctx["cluster"], "cluster");
  if (cluster === undefined || typeof cluster["server"] !== "string") {
    throw new StateError(
      "EKUBECONFIG",
      `kubeconfig ${path}: cluster ${String(ctx["cluster"])} not found or has no server`,
    );
  }
  const user = named(cfg["users"], ctx["user"], "user") ?? {};
  if (user["exec"] !== undefined)
    throw new NotSupportedError("kubeconfig exec credential plugins", "use a token or client certificate");
  if (user["auth-provider"] !== undefined)
    throw new NotSupportedError("kubeconfig auth-provider plugins", "use a token or client certificate");
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  const ep: { -readonly [K in keyof KubeEndpoint]: KubeEndpoint[K] } = {
    server: (cluster["server"] as string).replace(/\/+$/, ""),
  };
  const ca = fileOrData(cluster, "certificate-authority", dir);
  if (ca !== undefined) ep.ca = ca;
  if (cluster["insecure-skip-tls-verify"] === true) ep.insecure = true;
  if (typeof user["token"] === "string") ep.token = user["token"];
  if (typeof user["tokenFile"] === "string") ep.tokenFile = user["tokenFile"];
  const cert = fileOrData(user, "client-certificate", dir);
  const key = fileOrData(user, "client-key", dir);
  if (cert !== undefined) ep.cert = cert;
  if (key !== undefined) ep.key = key;
  if (typeof user["username"] === "string")
    throw new NotSupportedError("kubeconfig basic auth", "use a token or client certificate");
  return ep;
}

/** An HTTP error status from the API server (with the Status object's reason). */
export class KubeHttpError extends StateError {
  readonly status: number;
  constructor(status: number, message: string) {
    super(`http${status}`, message);
    this.status = status;
  }
}

export interface WatchEvent {
  readonly type: string;
  readonly object: Record<string, unknown>;
}

export class KubeClient {
  constructor(readonly endpoint: KubeEndpoint) {}

  private headers(): Record<string, string> {
    const h: Record<string, string> = { accept: "application/json", "user-agent": "lanner" };
    let token = this.endpoint.token;
    if (token === undefined && this.endpoint.tokenFile !== undefined) {
      try {
        token = readFileSync(this.endpoint.tokenFile, "utf8").trim(); // re-read: tokens rotate
      } catch {
        token = undefined;
      }
    }
    if (token !== undefined && token !== "") h["authorization"] = `Bearer ${token}`;
    return h;
  }

  private open(path: string, query: Record<string, string>, signal: AbortSignal): Promise<IncomingMessage> {
    const url = new URL(this.endpoint.server + path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const https = url.protocol === "https:";
    const opts = {
      method: "GET",
      headers: this.headers(),
      signal,
      ...(https
        ? {
            ...(this.endpoint.ca !== undefined ? { ca: this.endpoint.ca } : {}),
            ...(this.endpoint.cert !== undefined ? { cert: this.endpoint.cert } : {}),
            ...(this.endpoint.key !== undefined ? { key: this.endpoint.key } : {}),
            rejectUnauthorized: this.endpoint.insecure !== true,
          }
        : {}),
    };
    return new Promise((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(url, opts, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(res);
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          if ((size += c.length) <= 65536) chunks.push(c);
        });
        res.on("end", () => {
          let msg = Buffer.concat(chunks).toString("utf8").slice(0, 300);
          try {
            const st = JSON.parse(msg) as { message?: string; reason?: string };
            msg = `${st.reason ?? ""}: ${st.message ?? ""}`;
          } catch {
            // not a Status
          }
          reject(new KubeHttpError(status, `GET ${url.pathname}: HTTP ${status} ${msg}`));
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    });
  }

  /** GET returning parsed JSON, bounded by `timeoutMs` and `signal`. */
  async get(
    path: string,
    query: Record<string, string>,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    try {
      const res = await this.open(path, query, ac.signal);
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks).toString("utf8");
      const obj = JSON.parse(body) as unknown;
      if (obj === null || typeof obj !== "object" || Array.isArray(obj))
        throw new StateError("EMALFORMED", `GET ${path}: reply is not a JSON object`);
      return obj as Record<string, unknown>;
    } catch (err) {
      if (ac.signal.aborted && !(signal?.aborted ?? false))
        throw new StateError("ETIMEDOUT", `GET ${path}: no answer within ${timeoutMs} ms`, { cause: err });
      if (err instanceof SyntaxError)
        throw new StateError("EMALFORMED", `GET ${path}: reply is not JSON`, { cause: err });
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Streams a watch: calls onEvent per line; resolves when the server ends the stream,
   * rejects on errors. Connecting is bounded by `timeoutMs`; then a silence longer than
   * `idleMs` ends the watch (a server that stopped answering).
   */
  async watch(
    path: string,
    query: Record<string, string>,
    onEvent: (ev: WatchEvent) => void,
    opts: { timeoutMs: number; idleMs: number; signal: AbortSignal },
  ): Promise<void> {
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    opts.signal.addEventListener("abort", onAbort, { once: true });
    let idle = false;
    let timer = setTimeout(() => {
      idle = true;
      ac.abort();
    }, opts.timeoutMs);
    const rearm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        idle = true;
        ac.abort();
      }, opts.idleMs);
    };
    try {
      const res = await this.open(path, { ...query, watch: "true" }, ac.signal);
      rearm();
      res.on("data", rearm);
      const lines = createInterface({ input: res, crlfDelay: Infinity });
      for await (const line of lines) {
        if (line.trim() === "") continue;
        let ev: unknown;
        try {
          ev = JSON.parse(line);
        } catch (err) {
          throw new StateError("EMALFORMED", `watch ${path}: a line is not JSON`, { cause: err });
        }
        const e = ev as { type?: unknown; object?: unknown };
        if (typeof e.type !== "string" || e.object === null || typeof e.object !== "object") {
          throw new StateError("EMALFORMED", `watch ${path}: an event without type or object`);
        }
        onEvent({ type: e.type, object: e.object as Record<string, unknown> });
      }
      // readline ends quietly when its input is destroyed: tell a cut-off from a clean end.
      if (idle) throw new StateError("ETIMEDOUT", `watch ${path}: no data within ${opts.idleMs} ms`);
      if (!res.complete && !opts.signal.aborted)
        throw new StateError("ECONNRESET", `watch ${path}: connection lost`);
    } catch (err) {
      if (err instanceof StateError && (err.code === "ETIMEDOUT" || err.code === "ECONNRESET")) throw err;
      if (opts.signal.aborted) return;
      if (idle)
        throw new StateError("ETIMEDOUT", `watch ${path}: no data within ${opts.idleMs} ms`, { cause: err });
      throw err;
    } finally {
      clearTimeout(timer);
      opts.signal.removeEventListener("abort", onAbort);
    }
  }
}
