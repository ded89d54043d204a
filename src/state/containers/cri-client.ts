/**
 * A Kubernetes CRI client (runtime.v1 RuntimeService) over a unix socket: ContainerStatus
 * (verbose), PodSandboxStatus, ListContainers and ListPodSandbox, with Lanner's own
 * wire-compatible proto/cri/api.proto. CRI-O serves this API on /var/run/crio/crio.sock;
 * containerd's CRI plugin serves it on containerd's own socket. Every call has a deadline,
 * so a socket that accepts but never answers fails with ETIMEDOUT instead of hanging.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { shortContainerId, type ContainerType } from "./cgroup-path.js";
import type { OciSpec } from "./containerd-client.js";
import {
  CRI,
  isPrivilegedSpec,
  parseImageRef,
  sharesHostNamespace,
  type ContainerInfo,
  type ContainerMount,
  type CriPodRef,
} from "./container-info.js";
import { StateError } from "./errors.js";
import { grpcCallError } from "./grpc-call-error.js";

export const DEFAULT_CRIO_SOCKET = "/var/run/crio/crio.sock";

export interface CriClientOptions {
  /** Socket path or `unix://` address (default /var/run/crio/crio.sock). */
  readonly address?: string;
  /** Deadline of each call. */
  readonly timeoutMs?: number;
  /** container.type of the records it builds (default cri-o). */
  readonly type?: ContainerType;
}

/** A container as ListContainers reports it. */
export interface CriContainerSummary {
  readonly id: string;
  readonly podSandboxId: string;
  readonly name: string;
  readonly image: string;
  readonly imageRef: string;
  /** 0 created, 1 running, 2 exited, 3 unknown */
  readonly state: number;
  readonly labels: Readonly<Record<string, string>>;
}

/** The pod of a sandbox, as PodSandboxStatus reports it. */
export interface CriPodSandbox {
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  /** 0 ready, 1 not ready */
  readonly state: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

type GrpcClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

let loaded: grpc.ServiceClientConstructor | null = null;

function protoFile(): string {
  // src/state/containers or dist/src/state/containers -> the checkout's proto/cri/api.proto.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "proto", "cri", "api.proto");
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new StateError(
    "ENOENT",
    "loading CRI proto: proto/cri/api.proto not found above " + fileURLToPath(import.meta.url),
  );
}

/** The runtime.v1 RuntimeService client constructor (also used by tests and stand-in servers). */
export function criRuntimeService(): grpc.ServiceClientConstructor {
  if (loaded !== null) return loaded;
  const def = protoLoader.loadSync(protoFile(), {
    keepCase: false,
    longs: String,
    enums: Number,
    defaults: true,
    oneofs: true,
  });
  const obj = grpc.loadPackageDefinition(def) as unknown as Record<string, unknown>;
  const pkg = (obj["runtime"] as Record<string, unknown> | undefined)?.["v1"] as
    Record<string, unknown> | undefined;
  const svc = pkg?.["RuntimeService"];
  if (typeof svc !== "function") throw new StateError("ENOENT", "loading CRI proto: RuntimeService missing");
  loaded = svc as grpc.ServiceClientConstructor;
  return loaded;
}

function asString(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function asStringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === null || typeof v !== "object") return out;
  for (const [k, val] of Object.entries(v as Record<string, unknown>))
    if (typeof val === "string") out[k] = val;
  return out;
}

function nonEmpty(v: string | undefined): string | null {
  return v === undefined || v === "" ? null : v;
}

/** An int64 nanosecond time (a string with longs: String); null when 0 or absent. */
function nsOrNull(v: unknown): bigint | null {
  if (typeof v !== "string" && typeof v !== "number") return null;
  try {
    const n = BigInt(v);
    return n > 0n ? n : null;
  } catch {
    return null;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const PROPAGATION = ["rprivate", "rslave", "rshared"];
const NODE = 2;

/** What Lanner reads from the verbose `info` entry (containerd and CRI-O both fill it). */
export interface CriVerboseInfo {
  readonly pid: number | null;
  readonly privileged: boolean | null;
  readonly sandboxId: string | null;
  readonly spec: OciSpec | null;
  /**
   * The CRI namespace modes (0 pod, 1 container, 2 node) of the container's config, when the
   * runtime returns the config (containerd does; CRI-O does not).
   */
  readonly namespaceModes: { readonly network: number; readonly pid: number; readonly ipc: number } | null;
}

/** Parses ContainerStatusResponse.info["info"]; throws StateError(EMALFORMED) for bad JSON. */
export function parseVerboseInfo(info: Readonly<Record<string, string>>): CriVerboseInfo {
  const raw = info["info"];
  if (raw === undefined || raw === "")
    return { pid: null, privileged: null, sandboxId: null, spec: null, namespaceModes: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new StateError("EMALFORMED", "CRI container status: verbose info is not JSON", { cause: err });
  }
  if (!isObject(parsed))
    throw new StateError("EMALFORMED", "CRI container status: verbose info is not an object");
  const spec = isObject(parsed["runtimeSpec"]) ? (parsed["runtimeSpec"] as OciSpec) : null;
  // containerd: the CRI ContainerConfig the container was created with (JSON, proto names).
  const cfg = parsed["config"];
  const sc = isObject(cfg) && isObject(cfg["linux"]) ? cfg["linux"]["security_context"] : undefined;
  let privileged: boolean | null = typeof parsed["privileged"] === "boolean" ? parsed["privileged"] : null;
  if (privileged === null) privileged = isObject(sc) ? sc["privileged"] === true : isPrivilegedSpec(spec);
  let namespaceModes: CriVerboseInfo["namespaceModes"] = null;
  if (isObject(sc)) {
    const no = isObject(sc["namespace_options"]) ? sc["namespace_options"] : {};
    const mode = (v: unknown): number => (typeof v === "number" ? v : 0);
    namespaceModes = { network: mode(no["network"]), pid: mode(no["pid"]), ipc: mode(no["ipc"]) };
  }
  const pid = typeof parsed["pid"] === "number" && parsed["pid"] > 0 ? parsed["pid"] : null;
  return { pid, privileged, sandboxId: nonEmpty(asString(parsed["sandboxID"])), spec, namespaceModes };
}

/**
 * The ContainerInfo of a ContainerStatusResponse (and the pod sandbox's status when known);
 * throws StateError(EMALFORMED) for a reply without a container.
 */
export function containerFromCriStatus(
  reply: unknown,
  type: ContainerType,
  sandbox: CriPodSandbox | null = null,
): ContainerInfo {
  if (!isObject(reply) || !isObject(reply["status"]))
    throw new StateError("EMALFORMED", "CRI container status: reply without a status");
  const s = reply["status"];
  const fullId = asString(s["id"]);
  if (fullId === "") throw new StateError("EMALFORMED", "CRI container status: status without an id");
  const labels = asStringMap(s["labels"]);
  const annotations = asStringMap(s["annotations"]);
  const verbose = parseVerboseInfo(asStringMap(reply["info"]));
  const metaName = isObject(s["metadata"]) ? asString(s["metadata"]["name"]) : "";
  const imageSpec = isObject(s["image"]) ? asString(s["image"]["image"]) : "";
  const imageRef = asString(s["imageRef"]);
  // image.image is what the pod asked for (a name, or an image id for some runtimes); image_ref
  // is the digested reference. Prefer a name, then the digested reference.
  const named = (v: string): boolean => v !== "" && !/^(sha256:)?[0-9a-f]{64}$/.test(v);
  const image =
    nonEmpty(annotations[CRI.annImageName]) !== null && !named(imageSpec)
      ? (annotations[CRI.annImageName] ?? null)
      : named(imageSpec)
        ? imageSpec
        : named(imageRef)
          ? imageRef
          : nonEmpty(imageSpec);
  const ref = image === null ? null : parseImageRef(image);
  const refDigest = imageRef.includes("@") ? (parseImageRef(imageRef)?.digest ?? null) : null;
  const mounts: ContainerMount[] = [];
  if (Array.isArray(s["mounts"])) {
    for (const m of s["mounts"] as unknown[]) {
      if (!isObject(m)) continue;
      mounts.push({
        source: asString(m["hostPath"]),
        dest: asString(m["containerPath"]),
        mode: "bind",
        rw: m["readonly"] !== true,
        propagation: PROPAGATION[typeof m["propagation"] === "number" ? m["propagation"] : 0] ?? "",
      });
    }
  }
  const podName = nonEmpty(labels[CRI.podName]) ?? nonEmpty(sandbox?.name);
  const podNs = nonEmpty(labels[CRI.podNamespace]) ?? nonEmpty(sandbox?.namespace);
  const podUid = nonEmpty(labels[CRI.podUid]) ?? nonEmpty(sandbox?.uid);
  const sandboxId =
    verbose.sandboxId ??
    nonEmpty(annotations[CRI.annSandboxId]) ??
    nonEmpty(labels[CRI.sandboxIdLabel]) ??
    nonEmpty(sandbox?.id);
  const pod: CriPodRef | null =
    podName !== null || podNs !== null || podUid !== null || sandboxId !== null
      ? { name: podName, namespace: podNs, uid: podUid, sandboxId }
      : null;
  const ns = verbose.namespaceModes;
  return {
    id: shortContainerId(fullId),
    fullId,
    name: nonEmpty(metaName) ?? nonEmpty(labels[CRI.containerName]) ?? fullId,
    image,
    imageRepository: ref?.repository ?? null,
    imageTag: ref?.tag ?? null,
    imageDigest: ref?.digest ?? refDigest,
    type,
    privileged: verbose.privileged,
    mounts,
    labels,
    startTs: nsOrNull(s["startedAt"]) ?? nsOrNull(s["createdAt"]),
    runtimeNamespace: null,
    initPid: verbose.pid,
    // The config's modes are authoritative: containerd joins a host-network sandbox's netns by
    // its /proc path, which the spec alone cannot tell from a pod's own netns.
    hostPid: ns === null ? sharesHostNamespace(verbose.spec, "pid") : ns.pid === NODE,
    hostNetwork: ns === null ? sharesHostNamespace(verbose.spec, "network") : ns.network === NODE,
    hostIpc: ns === null ? sharesHostNamespace(verbose.spec, "ipc") : ns.ipc === NODE,
    pod,
    isSandbox: false,
    complete: true,
  };
}

const callError = (what: string, err: unknown): StateError => grpcCallError("CRI", what, err);

export class CriClient {
  readonly address: string;
  /** The socket path (for existence checks). */
  readonly socketPath: string;
  readonly type: ContainerType;
  private readonly timeoutMs: number;
  private readonly client: GrpcClient;
  private closed = false;

  constructor(opts: CriClientOptions = {}) {
    const addr = opts.address ?? DEFAULT_CRIO_SOCKET;
    this.address = addr.startsWith("unix:") ? addr : `unix://${addr}`;
    this.socketPath = this.address.replace(/^unix:(\/\/)?/, "");
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.type = opts.type ?? "cri-o";
    const Svc = criRuntimeService();
    this.client = new Svc(this.address, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": 16 * 1024 * 1024,
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 5000,
    }) as unknown as GrpcClient;
  }

  /** A unary RuntimeService call with the deadline (public for tests that drive a runtime). */
  call<T>(method: string, req: unknown, what: string = method): Promise<T> {
    if (this.closed) return Promise.reject(new StateError("ECLOSED", `CRI ${what}: client closed`));
    const fn = this.client[method];
    if (typeof fn !== "function")
      return Promise.reject(new StateError("ENOENT", `CRI ${what}: no method ${method}`));
    return new Promise<T>((resolve, reject) => {
      fn.call(
        this.client,
        req,
        new grpc.Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (err: grpc.ServiceError | null, res: T) => {
          if (err !== null) reject(callError(what, err));
          else resolve(res);
        },
      );
    });
  }

  async version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    const r = await this.call<Record<string, unknown>>("Version", { version: "v1" }, "version");
    return {
      runtimeName: asString(r["runtimeName"]),
      runtimeVersion: asString(r["runtimeVersion"]),
      runtimeApiVersion: asString(r["runtimeApiVersion"]),
    };
  }

  /** The pod of a sandbox, or null when the runtime does not know it. */
  async podSandboxStatus(id: string): Promise<CriPodSandbox | null> {
    let r: Record<string, unknown>;
    try {
      r = await this.call(
        "PodSandboxStatus",
        { podSandboxId: id, verbose: false },
        `pod sandbox status ${id}`,
      );
    } catch (err) {
      if (err instanceof StateError && err.code === "ENOTFOUND") return null;
      throw err;
    }
    const s = r["status"];
    if (!isObject(s) || asString(s["id"]) === "")
      throw new StateError("EMALFORMED", `CRI pod sandbox status ${id}: reply without a status`);
    const m = isObject(s["metadata"]) ? s["metadata"] : {};
    return {
      id: asString(s["id"]),
      name: asString(m["name"]),
      namespace: asString(m["namespace"]),
      uid: asString(m["uid"]),
      state: typeof s["state"] === "number" ? s["state"] : 0,
      labels: asStringMap(s["labels"]),
      annotations: asStringMap(s["annotations"]),
    };
  }

  /**
   * A container's metadata (ContainerStatus, verbose, then its sandbox's status for the pod's
   * labels), or null when the runtime does not know it.
   */
  async containerStatus(id: string, verbose = true): Promise<ContainerInfo | null> {
    let r: unknown;
    try {
      r = await this.call("ContainerStatus", { containerId: id, verbose }, `container status ${id}`);
    } catch (err) {
      if (err instanceof StateError && err.code === "ENOTFOUND") return null;
      // containerd answers an unknown id with NOT_FOUND; CRI-O with UNKNOWN "not found".
      if (err instanceof StateError && err.code === "ERUNTIME" && /not found/i.test(err.message)) return null;
      throw err;
    }
    const first = containerFromCriStatus(r, this.type);
    const sandboxId = first.pod?.sandboxId ?? null;
    if (sandboxId === null) return first;
    let sandbox: CriPodSandbox | null;
    try {
      sandbox = await this.podSandboxStatus(sandboxId);
    } catch {
      // The container's labels usually name the pod already; the sandbox only fills gaps.
      return first;
    }
    return sandbox === null ? first : containerFromCriStatus(r, this.type, sandbox);
  }

  async listContainers(): Promise<CriContainerSummary[]> {
    const r = await this.call<Record<string, unknown>>(
      "ListContainers",
      { filter: {} },
      "listing containers",
    );
    if (!Array.isArray(r["containers"]))
      throw new StateError("EMALFORMED", "CRI listing containers: no container list");
    const out: CriContainerSummary[] = [];
    for (const c of r["containers"] as unknown[]) {
      if (!isObject(c) || asString(c["id"]) === "") continue;
      out.push({
        id: asString(c["id"]),
        podSandboxId: asString(c["podSandboxId"]),
        name: isObject(c["metadata"]) ? asString(c["metadata"]["name"]) : "",
        image: isObject(c["image"]) ? asString(c["image"]["image"]) : "",
        imageRef: asString(c["imageRef"]),
        state: typeof c["state"] === "number" ? c["state"] : 3,
        labels: asStringMap(c["labels"]),
      });
    }
    return out;
  }

  async listPodSandboxes(): Promise<CriPodSandbox[]> {
    const r = await this.call<Record<string, unknown>>(
      "ListPodSandbox",
      { filter: {} },
      "listing pod sandboxes",
    );
    if (!Array.isArray(r["items"])) throw new StateError("EMALFORMED", "CRI listing pod sandboxes: no list");
    const out: CriPodSandbox[] = [];
    for (const p of r["items"] as unknown[]) {
      if (!isObject(p) || asString(p["id"]) === "") continue;
      const m = isObject(p["metadata"]) ? p["metadata"] : {};
      out.push({
        id: asString(p["id"]),
        name: asString(m["name"]),
        namespace: asString(m["namespace"]),
        uid: asString(m["uid"]),
        state: typeof p["state"] === "number" ? p["state"] : 0,
        labels: asStringMap(p["labels"]),
        annotations: asStringMap(p["annotations"]),
      });
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }
}
