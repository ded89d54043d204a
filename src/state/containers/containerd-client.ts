/**
 * A containerd client over its unix socket: containers.v1 (List, Get, Create, Delete),
 * tasks.v1 (Get), images.v1 (Get), events.v1 (Subscribe) and version.v1, with Lanner's own
 * wire-compatible .proto files (proto/containerd/). Every unary call has a deadline, so a
 * socket that accepts but never answers fails with DEADLINE_EXCEEDED instead of hanging.
 * The namespace travels in the `containerd-namespace` metadata header, as containerd expects.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { decodeContainerdEvent, type ContainerdEvent } from "./containerd-events.js";
import { StateError } from "./errors.js";
import { grpcCallError } from "./grpc-call-error.js";

export const DEFAULT_CONTAINERD_SOCKET = "/run/containerd/containerd.sock";
const SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec";

/** A container record as containerd stores it (containers.v1 Container). */
export interface ContainerdRecord {
  readonly namespace: string;
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The image reference; empty for rootfs-only containers (ctr run --rootfs). */
  readonly image: string;
  readonly runtimeName: string;
  /** The parsed OCI runtime spec, or null when absent or not JSON. */
  readonly spec: OciSpec | null;
  /** Creation time, ns since the epoch; null when absent. */
  readonly createdAtNs: bigint | null;
  readonly snapshotter: string;
  readonly extensionNames: readonly string[];
}

/** The parts of the OCI runtime spec Lanner reads. */
export interface OciSpec {
  readonly process?: {
    readonly user?: { readonly uid?: number; readonly gid?: number };
    readonly args?: readonly string[];
    readonly capabilities?: { readonly bounding?: readonly string[]; readonly effective?: readonly string[] };
  };
  readonly root?: { readonly path?: string; readonly readonly?: boolean };
  readonly mounts?: ReadonlyArray<{
    readonly destination?: string;
    readonly type?: string;
    readonly source?: string;
    readonly options?: readonly string[];
  }>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly linux?: {
    readonly cgroupsPath?: string;
    readonly maskedPaths?: readonly string[];
    readonly readonlyPaths?: readonly string[];
    readonly resources?: {
      readonly devices?: ReadonlyArray<{
        readonly allow?: boolean;
        readonly access?: string;
        readonly type?: string;
      }>;
    };
    readonly namespaces?: ReadonlyArray<{ readonly type?: string; readonly path?: string }>;
  };
}

export interface TaskInfo {
  readonly id: string;
  readonly pid: number;
  /** 0 unknown, 1 created, 2 running, 3 stopped, 4 paused, 5 pausing */
  readonly status: number;
}

/**
 * Whether a task's pid is its process's: created, running, paused or pausing. A stopped
 * task keeps reporting the pid its process had, which the kernel may since have given to
 * any other process.
 */
export function taskPidIsLive(t: TaskInfo): boolean {
  return t.pid > 0 && t.status >= 1 && t.status !== 3;
}

export interface ContainerdEnvelope {
  readonly namespace: string;
  readonly topic: string;
  /** Event time, ns since the epoch (0 when absent). */
  readonly timestampNs: bigint;
  readonly event: ContainerdEvent;
}

export interface ContainerdClientOptions {
  /** Socket path or `unix://` address. */
  readonly address?: string;
  /** Deadline of each unary call. */
  readonly timeoutMs?: number;
}

export interface EventSubscription {
  close(): void;
}

/** What the events stream reports besides events. */
export interface SubscribeHandlers {
  onEvent(env: ContainerdEnvelope): void;
  /** A payload that could not be decoded (the stream continues). */
  onMalformed(topic: string, err: StateError): void;
  /** The stream ended (error or server close); not called after close(). */
  onEnd(err: Error | null): void;
}

type GrpcClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

interface LoadedServices {
  containers: grpc.ServiceClientConstructor;
  tasks: grpc.ServiceClientConstructor;
  images: grpc.ServiceClientConstructor;
  events: grpc.ServiceClientConstructor;
  version: grpc.ServiceClientConstructor;
}

let loaded: LoadedServices | null = null;

function protoDir(): string {
  // src/state/containers or dist/src/state/containers -> the checkout's proto/containerd.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "proto", "containerd");
    if (existsSync(join(candidate, "containers.proto"))) return candidate;
    dir = dirname(dir);
  }
  throw new StateError(
    "ENOENT",
    "loading containerd protos: proto/containerd not found above " + fileURLToPath(import.meta.url),
  );
}

function services(): LoadedServices {
  if (loaded !== null) return loaded;
  const dir = protoDir();
  const def = protoLoader.loadSync(
    ["containers.proto", "tasks.proto", "images.proto", "events.proto", "version.proto"].map((f) =>
      join(dir, f),
    ),
    { keepCase: false, longs: String, enums: Number, defaults: true, oneofs: true, includeDirs: [dir] },
  );
  const obj = grpc.loadPackageDefinition(def) as unknown as Record<string, unknown>;
  const get = (path: string): grpc.ServiceClientConstructor => {
    let cur: unknown = obj;
    for (const part of path.split(".")) cur = (cur as Record<string, unknown>)[part];
    if (typeof cur !== "function")
      throw new StateError("ENOENT", `loading containerd protos: ${path} missing`);
    return cur as grpc.ServiceClientConstructor;
  };
  loaded = {
    containers: get("containerd.services.containers.v1.Containers"),
    tasks: get("containerd.services.tasks.v1.Tasks"),
    images: get("containerd.services.images.v1.Images"),
    events: get("containerd.services.events.v1.Events"),
    version: get("containerd.services.version.v1.Version"),
  };
  return loaded;
}

/** The service definitions (for test servers that stand in for a misbehaving containerd). */
export function containerdServiceDefinitions(): Record<keyof LoadedServices, grpc.ServiceDefinition> {
  const s = services();
  return {
    containers: s.containers.service,
    tasks: s.tasks.service,
    images: s.images.service,
    events: s.events.service,
    version: s.version.service,
  };
}

function tsToNs(ts: unknown): bigint | null {
  if (ts === null || typeof ts !== "object") return null;
  const t = ts as { seconds?: unknown; nanos?: unknown };
  try {
    const s = BigInt(typeof t.seconds === "string" || typeof t.seconds === "number" ? t.seconds : 0);
    const n = BigInt(typeof t.nanos === "number" ? t.nanos : 0);
    return s * 1_000_000_000n + n;
  } catch {
    return null;
  }
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

/** Parses the spec Any; throws StateError(EMALFORMED) for a spec that is present but bad. */
export function parseSpecAny(any: unknown): OciSpec | null {
  if (any === null || typeof any !== "object") return null;
  // google.protobuf.Any comes from protobufjs's bundled descriptor, whose field keeps its
  // proto name (type_url) whatever keepCase says; accept both spellings.
  const raw = any as { type_url?: unknown; typeUrl?: unknown; value?: unknown };
  const a = { typeUrl: raw.type_url ?? raw.typeUrl, value: raw.value };
  if (!(a.value instanceof Uint8Array) || a.value.length === 0) return null;
  if (typeof a.typeUrl === "string" && a.typeUrl !== "" && a.typeUrl !== SPEC_TYPE_URL) {
    throw new StateError("EMALFORMED", `container spec has type ${a.typeUrl}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(a.value).toString("utf8"));
  } catch (err) {
    throw new StateError("EMALFORMED", "container spec is not JSON", { cause: err });
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new StateError("EMALFORMED", "container spec is not a JSON object");
  }
  return parsed as OciSpec;
}

/** Converts a decoded containers.v1 Container; throws StateError(EMALFORMED). */
export function toRecord(namespace: string, c: unknown): ContainerdRecord {
  if (c === null || typeof c !== "object") throw new StateError("EMALFORMED", "container record missing");
  const r = c as Record<string, unknown>;
  const id = asString(r["id"]);
  if (id === "") throw new StateError("EMALFORMED", "container record without id");
  const runtime = r["runtime"] as { name?: unknown } | null | undefined;
  return {
    namespace,
    id,
    labels: asStringMap(r["labels"]),
    image: asString(r["image"]),
    runtimeName: asString(runtime?.name),
    spec: parseSpecAny(r["spec"]),
    createdAtNs: tsToNs(r["createdAt"]),
    snapshotter: asString(r["snapshotter"]),
    extensionNames:
      r["extensions"] !== null && typeof r["extensions"] === "object"
        ? Object.keys(r["extensions"] as object)
        : [],
  };
}

const callError = (what: string, err: unknown): StateError => grpcCallError("containerd", what, err);

export class ContainerdClient {
  readonly address: string;
  private readonly timeoutMs: number;
  private readonly containers: GrpcClient;
  private readonly tasks: GrpcClient;
  private readonly images: GrpcClient;
  private readonly events: GrpcClient;
  private readonly version: GrpcClient;
  private readonly streams = new Set<grpc.ClientReadableStream<unknown>>();
  private closed = false;

  constructor(opts: ContainerdClientOptions = {}) {
    const addr = opts.address ?? DEFAULT_CONTAINERD_SOCKET;
    this.address = addr.startsWith("unix:") ? addr : `unix://${addr}`;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    const s = services();
    const creds = grpc.credentials.createInsecure();
    // One channel shared by all service stubs.
    const options: grpc.ChannelOptions = {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 5000,
    };
    this.containers = new s.containers(this.address, creds, options) as unknown as GrpcClient;
    const channelOverride = { channelOverride: this.containers.getChannel() } as grpc.ClientOptions;
    this.tasks = new s.tasks(this.address, creds, channelOverride) as unknown as GrpcClient;
    this.images = new s.images(this.address, creds, channelOverride) as unknown as GrpcClient;
    this.events = new s.events(this.address, creds, channelOverride) as unknown as GrpcClient;
    this.version = new s.version(this.address, creds, channelOverride) as unknown as GrpcClient;
  }

  private unary<T>(
    client: GrpcClient,
    method: string,
    req: unknown,
    namespace: string | null,
    what: string,
  ): Promise<T> {
    if (this.closed) return Promise.reject(new StateError("ECLOSED", `containerd ${what}: client closed`));
    const md = new grpc.Metadata();
    if (namespace !== null) md.set("containerd-namespace", namespace);
    const fn = client[method];
    if (typeof fn !== "function")
      return Promise.reject(new StateError("ENOENT", `containerd ${what}: no method ${method}`));
    return new Promise<T>((resolve, reject) => {
      fn.call(
        client,
        req,
        md,
        { deadline: Date.now() + this.timeoutMs },
        (err: grpc.ServiceError | null, res: T) => {
          if (err !== null) reject(callError(what, err));
          else resolve(res);
        },
      );
    });
  }

  /** The daemon's version (a cheap health check). */
  async getVersion(): Promise<{ version: string; revision: string }> {
    const r = await this.unary<{ version?: unknown; revision?: unknown }>(
      this.version,
      "Version",
      {},
      null,
      "version",
    );
    return { version: asString(r.version), revision: asString(r.revision) };
  }

  async listContainers(namespace: string): Promise<ContainerdRecord[]> {
    const r = await this.unary<{ containers?: unknown }>(
      this.containers,
      "List",
      { filters: [] },
      namespace,
      `listing containers in ${namespace}`,
    );
    if (!Array.isArray(r.containers))
      throw new StateError("EMALFORMED", `containerd listing containers in ${namespace}: no container list`);
    return r.containers.map((c) => toRecord(namespace, c));
  }

  /** The container, or null when containerd does not know it in that namespace. */
  async getContainer(namespace: string, id: string): Promise<ContainerdRecord | null> {
    try {
      const r = await this.unary<{ container?: unknown }>(
        this.containers,
        "Get",
        { id },
        namespace,
        `getting container ${namespace}/${id}`,
      );
      return toRecord(namespace, r.container);
    } catch (err) {
      if (err instanceof StateError && err.code === "ENOTFOUND") return null;
      throw err;
    }
  }

  /** The container's init task, or null when it has none. */
  async getTask(namespace: string, id: string): Promise<TaskInfo | null> {
    try {
      const r = await this.unary<{ process?: { id?: unknown; pid?: unknown; status?: unknown } | null }>(
        this.tasks,
        "Get",
        { containerId: id, execId: "" },
        namespace,
        `getting task ${namespace}/${id}`,
      );
      const p = r.process;
      if (p === null || p === undefined) return null;
      return {
        id,
        pid: typeof p.pid === "number" ? p.pid : 0,
        status: typeof p.status === "number" ? p.status : 0,
      };
    } catch (err) {
      if (err instanceof StateError && err.code === "ENOTFOUND") return null;
      throw err;
    }
  }

  /** The target digest of an image record (the manifest or index digest), or null. */
  async getImageDigest(namespace: string, name: string): Promise<string | null> {
    try {
      const r = await this.unary<{ image?: { target?: { digest?: unknown } | null } | null }>(
        this.images,
        "Get",
        { name },
        namespace,
        `getting image ${name}`,
      );
      const d = r.image?.target?.digest;
      return typeof d === "string" && d !== "" ? d : null;
    } catch (err) {
      if (err instanceof StateError && err.code === "ENOTFOUND") return null;
      throw err;
    }
  }

  /**
   * Creates a container record (used by the test helper to create CRI-like containers with an
   * image name, which `ctr run --rootfs` cannot set).
   */
  async createContainer(
    namespace: string,
    c: { id: string; labels: Record<string, string>; image: string; runtimeName: string; spec: object },
  ): Promise<void> {
    await this.unary(
      this.containers,
      "Create",
      {
        container: {
          id: c.id,
          labels: c.labels,
          image: c.image,
          runtime: { name: c.runtimeName },
          spec: { type_url: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(c.spec)) },
        },
      },
      namespace,
      `creating container ${namespace}/${c.id}`,
    );
  }

  /**
   * Creates an image record pointing at `digest` (containerd does not check that the content
   * exists; the test helper uses it to give rootfs containers a resolvable image).
   */
  async createImage(
    namespace: string,
    name: string,
    digest: string,
    mediaType: string,
    size: number,
  ): Promise<void> {
    await this.unary(
      this.images,
      "Create",
      { image: { name, labels: {}, target: { mediaType, digest, size: String(size), annotations: {} } } },
      namespace,
      `creating image ${name}`,
    );
  }

  async deleteImage(namespace: string, name: string): Promise<void> {
    try {
      await this.unary(this.images, "Delete", { name, sync: false }, namespace, `deleting image ${name}`);
    } catch (err) {
      if (!(err instanceof StateError && err.code === "ENOTFOUND")) throw err;
    }
  }

  async deleteContainer(namespace: string, id: string): Promise<void> {
    await this.unary(this.containers, "Delete", { id }, namespace, `deleting container ${namespace}/${id}`);
  }

  /**
   * Subscribes to events of every namespace whose topic matches one of `filters`
   * (containerd filter syntax, OR'ed). Decoding errors are reported per event; the stream
   * goes on.
   */
  subscribe(filters: readonly string[], h: SubscribeHandlers): EventSubscription {
    const fn = this.events["Subscribe"];
    if (this.closed || typeof fn !== "function") {
      queueMicrotask(() => h.onEnd(new StateError("ECLOSED", "containerd events: client closed")));
      return { close() {} };
    }
    const stream = fn.call(
      this.events,
      { filters: [...filters] },
      new grpc.Metadata(),
    ) as grpc.ClientReadableStream<unknown>;
    this.streams.add(stream);
    let ended = false;
    let cancelled = false;
    const end = (err: Error | null): void => {
      if (ended) return;
      ended = true;
      this.streams.delete(stream);
      if (!cancelled) h.onEnd(err);
    };
    stream.on("data", (msg: unknown) => {
      const m = (msg ?? {}) as {
        namespace?: unknown;
        topic?: unknown;
        timestamp?: unknown;
        event?: { value?: unknown } | null;
      };
      const topic = asString(m.topic);
      const value = m.event?.value;
      if (!(value instanceof Uint8Array)) {
        h.onMalformed(
          topic,
          new StateError("EMALFORMED", `containerd event ${topic || "(no topic)"}: no payload`),
        );
        return;
      }
      let event: ContainerdEvent;
      try {
        event = decodeContainerdEvent(topic, value);
      } catch (err) {
        h.onMalformed(
          topic,
          err instanceof StateError ? err : new StateError("EMALFORMED", String(err), { cause: err }),
        );
        return;
      }
      h.onEvent({ namespace: asString(m.namespace), topic, timestampNs: tsToNs(m.timestamp) ?? 0n, event });
    });
    stream.on("error", (err: Error) => end(callError("events", err)));
    stream.on("end", () => end(null));
    return {
      close: () => {
        cancelled = true;
        stream.cancel();
        this.streams.delete(stream);
      },
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams) s.cancel();
    this.streams.clear();
    for (const c of [this.tasks, this.images, this.events, this.version, this.containers]) c.close();
  }
}
