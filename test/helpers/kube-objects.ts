/**
 * Generic objects for the Kubernetes API-server stand-in: discovery (GET /api/v1,
 * /apis/GROUP/VERSION: an APIResourceList, which KubernetesObjectApi reads to find a kind's
 * path), create (POST), read (GET), list (GET of a collection), replace (PUT) and delete of
 * the namespaced and cluster-scoped kinds below, as `lanner deploy` and `undeploy` use them.
 * Errors are the API server's Status bodies with its reasons and messages:
 *   - 404 NotFound `configmaps "x" not found`, also for a namespaced create into a namespace
 *     that does not exist (`namespaces "lanner" not found`);
 *   - 409 AlreadyExists `configmaps "x" already exists` on POST; 409 Conflict on a PUT whose
 *     metadata.resourceVersion is not the current one (`Operation cannot be fulfilled on ...`);
 *   - 403 Forbidden on a create into a namespace being deleted;
 *   - 400 BadRequest for a body whose kind/apiVersion/namespace does not fit the path, 422
 *     Invalid without metadata.name, 415 for a body that is not JSON, 405 for PATCH (unused).
 * Deleting a Namespace marks it Terminating (deletionTimestamp, status.phase) and removes it
 * with everything in it `namespaceTerminateMs` later, as the namespace controller does.
 *
 * It answers only for the kinds in RESOURCES and leaves the stand-in's own paths (list and
 * watch of pods and namespaces, GET of ReplicaSets and Jobs) to the stand-in: `handle`
 * returns false for them without answering. A GET of one object it does not hold is left to
 * the stand-in too (which may hold it, e.g. a Secret a test added there, and otherwise
 * answers 404 NotFound).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

interface Resource {
  readonly group: string; // "" for the core group
  readonly version: string;
  readonly plural: string;
  readonly singular: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

const RESOURCES: readonly Resource[] = [
  {
    group: "",
    version: "v1",
    plural: "namespaces",
    singular: "namespace",
    kind: "Namespace",
    namespaced: false,
  },
  {
    group: "",
    version: "v1",
    plural: "serviceaccounts",
    singular: "serviceaccount",
    kind: "ServiceAccount",
    namespaced: true,
  },
  {
    group: "",
    version: "v1",
    plural: "configmaps",
    singular: "configmap",
    kind: "ConfigMap",
    namespaced: true,
  },
  { group: "", version: "v1", plural: "secrets", singular: "secret", kind: "Secret", namespaced: true },
  { group: "", version: "v1", plural: "services", singular: "service", kind: "Service", namespaced: true },
  {
    group: "apps",
    version: "v1",
    plural: "daemonsets",
    singular: "daemonset",
    kind: "DaemonSet",
    namespaced: true,
  },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterroles",
    singular: "clusterrole",
    kind: "ClusterRole",
    namespaced: false,
  },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    plural: "clusterrolebindings",
    singular: "clusterrolebinding",
    kind: "ClusterRoleBinding",
    namespaced: false,
  },
];

/** Kinds the stand-in itself serves, listed in discovery so clients see a whole v1. */
const STANDIN_KINDS: readonly Resource[] = [
  { group: "", version: "v1", plural: "pods", singular: "pod", kind: "Pod", namespaced: true },
];

const gv = (r: Resource): string => (r.group === "" ? r.version : `${r.group}/${r.version}`);

export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    deletionTimestamp?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface KubeObjectStoreOptions {
  /** How long a deleted namespace stays Terminating before it and its objects go (default 300 ms). */
  readonly namespaceTerminateMs?: number;
}

export class KubeObjectStore {
  private readonly objects = new Map<string, StoredObject>();
  private rv = 1000;
  private readonly timers = new Set<NodeJS.Timeout>();
  private namespaceTerminateMs: number;
  /** Every request this store answered, as "METHOD /path" (no query), for assertions. */
  readonly requests: string[] = [];

  constructor(opts: KubeObjectStoreOptions = {}) {
    this.namespaceTerminateMs = opts.namespaceTerminateMs ?? 300;
  }

  /** How long a deleted namespace stays Terminating. */
  setNamespaceTerminateMs(ms: number): void {
    this.namespaceTerminateMs = ms;
  }

  /** The stored object (a copy), or undefined. `namespace` is "" for cluster-scoped kinds. */
  get(kind: string, namespace: string, name: string): StoredObject | undefined {
    const o = this.objects.get(key(kind, namespace, name));
    return o === undefined ? undefined : structuredClone(o);
  }

  /** Every stored object as "Kind ns/name" (cluster-scoped: "Kind name"), sorted. */
  names(): string[] {
    return [...this.objects.values()]
      .map(
        (o) =>
          `${o.kind} ${o.metadata.namespace !== undefined ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`,
      )
      .sort();
  }

  /** Cancels pending namespace removals (call when the test ends). */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const method = req.method ?? "GET";
    const path = url.pathname.replace(/\/+$/, "");
    // discovery
    const disc = /^\/api\/v1$|^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
    if (disc !== null && method === "GET") {
      const group = disc[1] ?? "";
      const version = disc[2] ?? "v1";
      const kinds = [...RESOURCES, ...STANDIN_KINDS].filter(
        (r) => r.group === group && r.version === version,
      );
      if (kinds.length === 0) return false;
      this.requests.push(`${method} ${path}`);
      send(res, 200, {
        kind: "APIResourceList",
        apiVersion: "v1",
        groupVersion: group === "" ? version : `${group}/${version}`,
        resources: kinds.map((r) => ({
          name: r.plural,
          singularName: r.singular,
          namespaced: r.namespaced,
          kind: r.kind,
          verbs: ["create", "delete", "get", "list", "update", "watch"],
        })),
      });
      return true;
    }
    const m = /^\/api\/v1\/(.+)$|^\/apis\/([^/]+)\/([^/]+)\/(.+)$/.exec(path);
    if (m === null) return false;
    const group = m[2] ?? "";
    const version = m[3] ?? "v1";
    const segs = (m[1] ?? m[4] ?? "").split("/").map(decodeURIComponent);
    let namespace = "";
    let rest = segs;
    if (segs[0] === "namespaces" && segs.length >= 3) {
      namespace = segs[1] as string;
      rest = segs.slice(2);
    }
    if (rest.length > 2) return false; // subresources (status, scale...) are not served
    const [plural, name] = rest as [string, string | undefined];
    const r = RESOURCES.find((x) => x.group === group && x.version === version && x.plural === plural);
    if (r === undefined) return false;
    if (r.namespaced !== (namespace !== "")) return false;
    // the stand-in's own: the namespace list and its watch
    if (r.kind === "Namespace" && name === undefined && method === "GET") return false;
    if (method === "GET" && name !== undefined && !this.objects.has(key(r.kind, namespace, name)))
      return false;
    this.requests.push(`${method} ${path}`);
    switch (method) {
      case "GET":
        if (name === undefined) this.list(res, r, namespace);
        else this.read(res, r, namespace, name);
        return true;
      case "POST":
        if (name !== undefined) {
          status(
            res,
            405,
            "MethodNotAllowed",
            `the server does not allow this method on the requested resource`,
          );
          return true;
        }
        readBody(req, res, (body) => this.create(res, r, namespace, body));
        return true;
      case "PUT":
        if (name === undefined) {
          status(
            res,
            405,
            "MethodNotAllowed",
            `the server does not allow this method on the requested resource`,
          );
          return true;
        }
        readBody(req, res, (body) => this.replace(res, r, namespace, name, body));
        return true;
      case "DELETE":
        if (name === undefined) {
          status(res, 405, "MethodNotAllowed", "deleting collections is not served by the stand-in");
          return true;
        }
        this.remove(res, r, namespace, name);
        return true;
      default:
        status(
          res,
          405,
          "MethodNotAllowed",
          `${method} is not served by the stand-in (only POST, GET, PUT, DELETE)`,
        );
        return true;
    }
  }

  // ------------------------------------------------------------------ verbs

  private list(res: ServerResponse, r: Resource, namespace: string): void {
    const items = [...this.objects.values()].filter(
      (o) => o.kind === r.kind && (namespace === "" || o.metadata.namespace === namespace),
    );
    send(res, 200, {
      kind: `${r.kind}List`,
      apiVersion: gv(r),
      metadata: { resourceVersion: String(this.rv) },
      items,
    });
  }

  private read(res: ServerResponse, r: Resource, namespace: string, name: string): void {
    const o = this.objects.get(key(r.kind, namespace, name));
    if (o === undefined) return notFound(res, r, name);
    send(res, 200, o);
  }

  /** The body's problems against the path, as the API server words them (null: fits). */
  private misfit(r: Resource, namespace: string, body: Record<string, unknown>): string | null {
    if (body["kind"] !== r.kind || body["apiVersion"] !== gv(r))
      return `the body's kind ${String(body["apiVersion"])}/${String(body["kind"])} does not match ${gv(r)}/${r.kind} of the path`;
    const meta = body["metadata"] as { namespace?: unknown } | undefined;
    if (r.namespaced && meta?.namespace !== undefined && meta.namespace !== namespace)
      return `the namespace of the provided object does not match the namespace sent on the request`;
    return null;
  }

  private create(res: ServerResponse, r: Resource, namespace: string, body: Record<string, unknown>): void {
    const bad = this.misfit(r, namespace, body);
    if (bad !== null) return status(res, 400, "BadRequest", bad);
    const meta = (body["metadata"] ?? {}) as Record<string, unknown>;
    const name = meta["name"];
    if (typeof name !== "string" || name === "")
      return status(
        res,
        422,
        "Invalid",
        `${r.kind} "" is invalid: metadata.name: Required value: name is required`,
      );
    if (r.namespaced) {
      const ns = this.objects.get(key("Namespace", "", namespace));
      if (ns === undefined)
        return status(res, 404, "NotFound", `namespaces "${namespace}" not found`, "namespaces", namespace);
      if (ns.metadata.deletionTimestamp !== undefined)
        return status(
          res,
          403,
          "Forbidden",
          `${r.plural} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
          r.plural,
          name,
        );
    }
    const k = key(r.kind, namespace, name);
    if (this.objects.has(k))
      return status(res, 409, "AlreadyExists", `${r.plural} "${name}" already exists`, r.plural, name);
    const obj = structuredClone(body) as StoredObject;
    obj.metadata = {
      ...meta,
      name,
      ...(r.namespaced ? { namespace } : {}),
      uid: randomUUID(),
      resourceVersion: String(++this.rv),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    };
    if (r.kind === "Namespace") {
      obj["spec"] = { finalizers: ["kubernetes"] };
      obj["status"] = { phase: "Active" };
      obj.metadata["labels"] = {
        ...((meta["labels"] as Record<string, string> | undefined) ?? {}),
        "kubernetes.io/metadata.name": name,
      };
    }
    this.objects.set(k, obj);
    send(res, 201, obj);
  }

  private replace(
    res: ServerResponse,
    r: Resource,
    namespace: string,
    name: string,
    body: Record<string, unknown>,
  ): void {
    const bad = this.misfit(r, namespace, body);
    if (bad !== null) return status(res, 400, "BadRequest", bad);
    const meta = (body["metadata"] ?? {}) as Record<string, unknown>;
    if (meta["name"] !== name)
      return status(
        res,
        400,
        "BadRequest",
        `the name of the object (${String(meta["name"])}) does not match the name on the URL (${name})`,
      );
    const k = key(r.kind, namespace, name);
    const cur = this.objects.get(k);
    if (cur === undefined) return notFound(res, r, name);
    const rv = meta["resourceVersion"];
    if (rv !== undefined && rv !== cur.metadata.resourceVersion)
      return status(
        res,
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${r.plural}${r.group === "" ? "" : `.${r.group}`} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        r.plural,
        name,
      );
    const obj = structuredClone(body) as StoredObject;
    obj.metadata = {
      ...meta,
      name,
      ...(r.namespaced ? { namespace } : {}),
      uid: cur.metadata.uid,
      resourceVersion: String(++this.rv),
      creationTimestamp: cur.metadata.creationTimestamp,
      ...(cur.metadata.deletionTimestamp !== undefined
        ? { deletionTimestamp: cur.metadata.deletionTimestamp }
        : {}),
    };
    if (r.kind === "Namespace") {
      obj["spec"] = cur["spec"];
      obj["status"] = cur["status"];
    }
    this.objects.set(k, obj);
    send(res, 200, obj);
  }

  private remove(res: ServerResponse, r: Resource, namespace: string, name: string): void {
    const k = key(r.kind, namespace, name);
    const cur = this.objects.get(k);
    if (cur === undefined) return notFound(res, r, name);
    if (r.kind === "Namespace") {
      if (cur.metadata.deletionTimestamp === undefined) {
        cur.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
        cur.metadata.resourceVersion = String(++this.rv);
        cur["status"] = { phase: "Terminating" };
        const t = setTimeout(() => {
          this.timers.delete(t);
          this.objects.delete(k);
          for (const [ok, o] of this.objects) if (o.metadata.namespace === name) this.objects.delete(ok);
        }, this.namespaceTerminateMs);
        this.timers.add(t);
      }
      send(res, 200, cur);
      return;
    }
    this.objects.delete(k);
    send(res, 200, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name, ...(r.group !== "" ? { group: r.group } : {}), kind: r.plural, uid: cur.metadata.uid },
    });
  }
}

function key(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function status(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
  kind?: string,
  name?: string,
): void {
  send(res, code, {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(kind !== undefined && name !== undefined ? { details: { name, kind } } : {}),
    code,
  });
}

function notFound(res: ServerResponse, r: Resource, name: string): void {
  const plural = r.group === "" ? r.plural : `${r.plural}.${r.group}`;
  status(res, 404, "NotFound", `${plural} "${name}" not found`, r.plural, name);
}

/** Reads a JSON object body (at most 4 MiB, as the API server's limit is 3 MiB per object). */
function readBody(
  req: IncomingMessage,
  res: ServerResponse,
  then: (body: Record<string, unknown>) => void,
): void {
  const ct = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/.test(ct)) {
    req.resume();
    return status(
      res,
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format: ${ct}`,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on("data", (c: Buffer) => {
    size += c.length;
    if (size <= 4 << 20) chunks.push(c);
  });
  req.on("end", () => {
    if (size > 4 << 20) return status(res, 413, "RequestEntityTooLarge", "the request is too large");
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch (e) {
      return status(res, 400, "BadRequest", `the body is not JSON: ${(e as Error).message}`);
    }
    if (body === null || typeof body !== "object" || Array.isArray(body))
      return status(res, 400, "BadRequest", "the body is not a JSON object");
    then(body as Record<string, unknown>);
  });
}
