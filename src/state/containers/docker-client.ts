/**
 * A Docker Engine API client over its unix socket (node:http with `socketPath`): container
 * inspect (GET /containers/{id}/json) and the event stream (GET /events, filtered to
 * container create/start/destroy). Every request has a deadline, so a socket that accepts
 * but never answers fails with ETIMEDOUT instead of hanging; replies that are not the JSON
 * the API documents fail with EMALFORMED. The API version is fixed (v1.41, Docker 20.10;
 * newer engines still serve it).
 */
import { request, type IncomingMessage } from "node:http";
import { shortContainerId } from "./cgroup-path.js";
import {
  CRI,
  parseImageRef,
  type ContainerInfo,
  type ContainerMount,
  type CriPodRef,
} from "./container-info.js";
import { errorMessage, StateError } from "./errors.js";

export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";
const API = "/v1.41";
const MAX_BODY = 8 * 1024 * 1024;
const MAX_EVENT_LINE = 1024 * 1024;

export interface DockerClientOptions {
  /** Socket path or unix:// address (default /var/run/docker.sock). */
  readonly address?: string;
  /** Deadline of each request (default 2000 ms). */
  readonly timeoutMs?: number;
}

/** One container event of GET /events. */
export interface DockerEvent {
  /** create, start, destroy, ... */
  readonly action: string;
  readonly id: string;
  /** Event time, ns since the epoch (0 when absent). */
  readonly timeNs: bigint;
}

export interface DockerEventHandlers {
  onEvent(ev: DockerEvent): void;
  /** A line that is not an event (the stream continues). */
  onMalformed(err: StateError): void;
  /** The stream ended (error or server close); not called after close(). */
  onEnd(err: Error | null): void;
}

function socketPathOf(address: string): string {
  return address.startsWith("unix://") ? address.slice("unix://".length) : address;
}

function transportError(err: unknown, what: string): StateError {
  if (err instanceof StateError) return err;
  const code = (err as { code?: string }).code ?? "";
  const mapped =
    code === "ENOENT" ||
    code === "ECONNREFUSED" ||
    code === "EACCES" ||
    code === "ECONNRESET" ||
    code === "EPIPE"
      ? "EUNAVAILABLE"
      : "ERUNTIME";
  return new StateError(mapped, `docker ${what}: ${errorMessage(err)}`, { cause: err });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function nonEmpty(v: string | undefined): string | null {
  return v === undefined || v === "" ? null : v;
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(v)) return out;
  for (const [k, val] of Object.entries(v)) if (typeof val === "string") out[k] = val;
  return out;
}

/** RFC 3339 with up to nanosecond fraction -> ns since the epoch; null for zero/invalid. */
export function rfc3339ToNs(s: string): bigint | null {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (m === null) return null;
  const ms = Date.parse(`${m[1] ?? ""}${m[3] ?? "Z"}`);
  if (!Number.isFinite(ms) || ms <= 0) return null;
  const frac = (m[2] ?? "").slice(0, 9).padEnd(9, "0");
  return BigInt(ms) * 1_000_000n + BigInt(frac);
}

/** The ContainerInfo of a GET /containers/{id}/json reply; throws StateError(EMALFORMED). */
export function containerFromDockerInspect(body: unknown): ContainerInfo {
  if (!isObject(body)) throw new StateError("EMALFORMED", "docker inspect: reply is not an object");
  const fullId = str(body["Id"]);
  if (!/^[0-9a-f]{64}$/.test(fullId))
    throw new StateError("EMALFORMED", "docker inspect: reply without a container id");
  const config = isObject(body["Config"]) ? body["Config"] : {};
  const host = isObject(body["HostConfig"]) ? body["HostConfig"] : {};
  const state = isObject(body["State"]) ? body["State"] : {};
  const labels = stringMap(config["Labels"]);
  const image = nonEmpty(str(config["Image"]));
  const ref = image === null ? null : parseImageRef(image);
  const imageId = str(body["Image"]);
  const mounts: ContainerMount[] = [];
  if (Array.isArray(body["Mounts"])) {
    for (const m of body["Mounts"] as unknown[]) {
      if (!isObject(m)) continue;
      mounts.push({
        source: str(m["Source"]),
        dest: str(m["Destination"]),
        mode: str(m["Mode"]),
        rw: m["RW"] === true,
        propagation: str(m["Propagation"]),
      });
    }
  }
  const podName = nonEmpty(labels[CRI.podName]);
  const podNs = nonEmpty(labels[CRI.podNamespace]);
  const podUid = nonEmpty(labels[CRI.podUid]);
  const isSandbox = labels["io.kubernetes.docker.type"] === "podsandbox";
  const sandboxId = isSandbox ? fullId : nonEmpty(labels[CRI.sandboxIdLabel]);
  const pod: CriPodRef | null =
    podName !== null || podNs !== null || podUid !== null || sandboxId !== null
      ? { name: podName, namespace: podNs, uid: podUid, sandboxId }
      : null;
  const name =
    nonEmpty(labels[CRI.containerName]) ?? nonEmpty(str(body["Name"]).replace(/^\//, "")) ?? fullId;
  const pid = typeof state["Pid"] === "number" && state["Pid"] > 0 ? state["Pid"] : null;
  const startTs = rfc3339ToNs(str(state["StartedAt"])) ?? rfc3339ToNs(str(body["Created"]));
  return {
    id: shortContainerId(fullId),
    fullId,
    name,
    image,
    imageRepository: ref?.repository ?? null,
    imageTag: ref?.tag ?? null,
    imageDigest: ref?.digest ?? (imageId.startsWith("sha256:") ? imageId : null),
    type: "docker",
    privileged: host["Privileged"] === true,
    mounts,
    labels,
    startTs,
    runtimeNamespace: null,
    initPid: pid,
    hostPid: str(host["PidMode"]) === "host",
    hostNetwork: str(host["NetworkMode"]) === "host",
    hostIpc: str(host["IpcMode"]) === "host",
    pod,
    isSandbox,
    complete: true,
  };
}

/**
 * A container from Docker's own files, `<data-root>/containers/<id>/config.v2.json` and
 * `hostconfig.json`. dockerd writes them at create, before start, while inspect waits for
 * the container's lock until start is over; so this is the record a container's very first
 * process can carry. Same fields as inspect (config.v2.json spells the id `ID` and keeps
 * mounts as `MountPoints`, keyed by destination).
 */
export function containerFromDockerConfig(config: unknown, hostConfig: unknown): ContainerInfo {
  if (!isObject(config)) throw new StateError("EMALFORMED", "docker config.v2.json: not an object");
  const mounts: unknown[] = [];
  if (isObject(config["MountPoints"])) {
    for (const m of Object.values(config["MountPoints"])) {
      if (!isObject(m)) continue;
      mounts.push({
        Source: m["Source"],
        Destination: m["Destination"],
        Mode: m["Mode"] ?? "",
        RW: m["RW"],
        Propagation: m["Propagation"] ?? "",
      });
    }
  }
  return containerFromDockerInspect({
    Id: config["ID"],
    Name: config["Name"],
    Created: config["Created"],
    Config: config["Config"],
    Image: config["Image"],
    State: config["State"],
    HostConfig: isObject(hostConfig) ? hostConfig : {},
    Mounts: mounts,
  });
}

/** One line of GET /events -> a container event, or null for another kind of event. */
export function parseDockerEvent(line: string): DockerEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    throw new StateError("EMALFORMED", "docker event is not JSON", { cause: err });
  }
  if (!isObject(v)) throw new StateError("EMALFORMED", "docker event is not an object");
  if (str(v["Type"]) !== "" && v["Type"] !== "container") return null;
  const actor = isObject(v["Actor"]) ? v["Actor"] : {};
  const id = str(actor["ID"]) || str(v["id"]);
  const action = str(v["Action"]) || str(v["status"]);
  if (id === "" || action === "") throw new StateError("EMALFORMED", "docker event without id or action");
  const timeNano = v["timeNano"];
  const time = v["time"];
  const timeNs =
    typeof timeNano === "number"
      ? BigInt(Math.trunc(timeNano))
      : typeof time === "number"
        ? BigInt(Math.trunc(time)) * 1_000_000_000n
        : 0n;
  return { action, id, timeNs };
}

/**
 * Splits a stream buffer into complete top-level JSON texts (objects separated by newlines,
 * whitespace or nothing); `rest` is the unfinished tail. Text outside an object up to the
 * next newline is returned as one (malformed) text, so garbage is reported, not skipped.
 */
export function splitJsonObjects(buf: string): { objects: string[]; rest: string } {
  const objects: string[] = [];
  let start = -1;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let consumed = 0;
  for (let i = 0; i < buf.length; i++) {
    const ch = buf[i];
    if (depth === 0) {
      if (ch === "{") {
        start = i;
        depth = 1;
        inString = false;
      } else if (ch !== " " && ch !== "\n" && ch !== "\r" && ch !== "\t") {
        const nl = buf.indexOf("\n", i);
        if (nl < 0) return { objects, rest: buf.slice(i) };
        objects.push(buf.slice(i, nl).trim());
        i = nl;
        consumed = nl + 1;
      } else consumed = i + 1;
      continue;
    }
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === "\\") escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === "{" || ch === "[") depth++;
    else if (ch === "}" || ch === "]") {
      depth--;
      if (depth === 0) {
        objects.push(buf.slice(start, i + 1));
        consumed = i + 1;
      }
    }
  }
  return { objects, rest: depth > 0 ? buf.slice(start) : buf.slice(consumed) };
}

export class DockerClient {
  readonly socketPath: string;
  private readonly timeoutMs: number;
  private readonly open = new Set<{ destroy(): void }>();

  constructor(opts: DockerClientOptions = {}) {
    this.socketPath = socketPathOf(opts.address ?? DEFAULT_DOCKER_SOCKET);
    this.timeoutMs = opts.timeoutMs ?? 2000;
  }

  /** GET with a deadline; resolves status and body (at most MAX_BODY bytes). */
  private get(path: string, what: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      let done = false;
      const req = request({ socketPath: this.socketPath, path: API + path, method: "GET" });
      const handle = { destroy: () => req.destroy() };
      this.open.add(handle);
      const finish = (err: StateError | null, value?: { status: number; body: string }): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.open.delete(handle);
        if (err !== null) {
          req.destroy();
          reject(err);
        } else if (value !== undefined) resolve(value);
      };
      const timer = setTimeout(
        () => finish(new StateError("ETIMEDOUT", `docker ${what}: no reply within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      timer.unref();
      req.on("error", (err) => finish(transportError(err, what)));
      req.on("response", (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) finish(new StateError("EMALFORMED", `docker ${what}: reply too large`));
          else chunks.push(c);
        });
        res.on("error", (err) => finish(transportError(err, what)));
        res.on("end", () =>
          finish(null, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
      });
      req.end();
    });
  }

  /**
   * GET `path` and parse its JSON body; undefined for a 404 when `notFoundOk`. Errors name
   * the call (`docker <what>: ...`): ERUNTIME for another status, EMALFORMED for bad JSON.
   */
  private async getJson(path: string, what: string, notFoundOk = false): Promise<unknown> {
    const { status, body } = await this.get(path, what);
    if (status === 404 && notFoundOk) return undefined;
    if (status !== 200) throw new StateError("ERUNTIME", `docker ${what}: HTTP ${status}`);
    try {
      return JSON.parse(body) as unknown;
    } catch (err) {
      throw new StateError("EMALFORMED", `docker ${what}: reply is not JSON`, { cause: err });
    }
  }

  private async getObject(path: string, what: string): Promise<Record<string, unknown>> {
    const v = await this.getJson(path, what);
    if (!isObject(v)) throw new StateError("EMALFORMED", `docker ${what}: reply is not an object`);
    return v;
  }

  /** GET /version: the engine's version string. */
  async version(): Promise<string> {
    return str((await this.getObject("/version", "version"))["Version"]);
  }

  /** GET /info: the engine's data root (`DockerRootDir`). */
  async rootDir(): Promise<string> {
    return str((await this.getObject("/info", "info"))["DockerRootDir"]);
  }

  /** GET /containers/{id}/json; null when the engine does not know the container. */
  async inspect(id: string): Promise<ContainerInfo | null> {
    const v = await this.getJson(`/containers/${encodeURIComponent(id)}/json`, "inspect", true);
    return v === undefined ? null : containerFromDockerInspect(v);
  }

  /** GET /containers/json: the running containers' full ids. */
  async listIds(): Promise<string[]> {
    const v = await this.getJson("/containers/json", "list");
    if (!Array.isArray(v)) throw new StateError("EMALFORMED", "docker list: reply is not an array");
    return (v as unknown[]).map((c) => (isObject(c) ? str(c["Id"]) : "")).filter((id) => id !== "");
  }

  /**
   * Streams container create/start/destroy events. The response headers must arrive within
   * the deadline; then the stream stays open until the engine or close() ends it.
   */
  events(handlers: DockerEventHandlers): { close(): void } {
    const filters = JSON.stringify({ type: ["container"], event: ["create", "start", "destroy"] });
    const req = request({
      socketPath: this.socketPath,
      path: `${API}/events?filters=${encodeURIComponent(filters)}`,
      method: "GET",
    });
    let ended = false;
    const handle = { destroy: () => req.destroy() };
    this.open.add(handle);
    const end = (err: Error | null): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      this.open.delete(handle);
      req.destroy();
      handlers.onEnd(err);
    };
    const timer = setTimeout(
      () => end(new StateError("ETIMEDOUT", `docker events: no reply within ${this.timeoutMs} ms`)),
      this.timeoutMs,
    );
    timer.unref();
    req.on("error", (err) => end(transportError(err, "events")));
    req.on("response", (res: IncomingMessage) => {
      clearTimeout(timer);
      if (res.statusCode !== 200) {
        res.resume();
        end(new StateError("ERUNTIME", `docker events: HTTP ${res.statusCode ?? 0}`));
        return;
      }
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (ended) return;
        buf += chunk;
        // JSON objects, one per line as the engine writes them, or concatenated.
        const { objects, rest } = splitJsonObjects(buf);
        buf = rest;
        for (const text of objects) {
          try {
            const ev = parseDockerEvent(text);
            if (ev !== null) handlers.onEvent(ev);
          } catch (err) {
            handlers.onMalformed(transportError(err, "events"));
          }
        }
        if (buf.length > MAX_EVENT_LINE) {
          buf = "";
          handlers.onMalformed(new StateError("EMALFORMED", "docker event line too long"));
        }
      });
      res.on("error", (err) => end(transportError(err, "events")));
      res.on("end", () => end(null));
    });
    req.end();
    return {
      close: () => {
        ended = true;
        clearTimeout(timer);
        this.open.delete(handle);
        req.destroy();
      },
    };
  }

  /** Aborts every request in flight. */
  close(): void {
    for (const h of this.open) h.destroy();
    this.open.clear();
  }
}
