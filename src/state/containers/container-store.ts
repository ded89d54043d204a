/**
 * ContainerStore: which container an event belongs to, synchronously, from its cgroup id or
 * pid, with metadata from the runtime's own API.
 *
 * - The event path calls lookup()/byCgroupId()/byPid(): map reads; on a miss, one small
 *   procfs read (/proc/PID/cgroup) at most, and a container known only by its cgroup path is
 *   returned partial (id, full id, type) while its metadata is fetched in the background.
 * - containerd is watched through its event stream (/containers/create, /tasks/create,
 *   /tasks/start, ...), so a container's record, init pid and cgroup id are usually known
 *   before its first process runs (runc's init waits at the exec fifo between /tasks/create
 *   and /tasks/start).
 * - A missing, hanging or misbehaving runtime is logged once per kind of failure, counted,
 *   retried with backoff, and never fatal. Every runtime call has a deadline.
 * - Docker is asked through its Engine API (DockerClient) when its socket exists: inspect on
 *   a miss, and its event stream (create/start/destroy) so a new container is described
 *   before its first process event. Without the socket, Docker's containers are found in
 *   containerd's `moby` namespace when Docker runs on containerd.
 * - CRI-O is asked through the Kubernetes CRI API (CriClient, runtime.v1 ContainerStatus
 *   with verbose info, then PodSandboxStatus) when its socket exists: on a miss for a crio
 *   cgroup path, for a kubepods path containerd does not know, and at start-up
 *   (ListContainers). Without the socket the missing metadata is reported once.
 * - The Podman runtime client is not implemented: its containers are identified from cgroup
 *   paths (id, type) and the missing metadata is reported once as a NotSupportedError (so is
 *   Docker's when its client is disabled).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CgroupResolver, type CgroupResolverOptions } from "./cgroup-resolver.js";
import {
  cgroupDirFromSpec,
  containerFromCgroupPath,
  containerFromProcCgroup,
  unifiedPathFromProcCgroup,
  type ContainerType,
} from "./cgroup-path.js";
import {
  ContainerdClient,
  taskPidIsLive,
  type ContainerdEnvelope,
  type ContainerdRecord,
} from "./containerd-client.js";
import {
  containerFromContainerd,
  HOST_CONTAINER,
  partialContainer,
  type ContainerInfo,
} from "./container-info.js";
import { CriClient } from "./cri-client.js";
import { containerFromDockerConfig, DockerClient, type DockerEvent } from "./docker-client.js";
import { errorMessage, NotSupportedError, StateError } from "./errors.js";
import { LogOnce, stderrLogger, type Logger } from "./log-once.js";
import { LruMap } from "./lru.js";

export interface ContainerdOptions {
  /** Socket path or unix:// address (default /run/containerd/containerd.sock). */
  readonly address?: string;
  /** containerd namespaces watched, in lookup order (default k8s.io, default, moby). */
  readonly namespaces?: readonly string[];
  /** Deadline of each runtime call (default 2000 ms). */
  readonly timeoutMs?: number;
}

export interface DockerOptions {
  /** Socket path or unix:// address (default /var/run/docker.sock). */
  readonly address?: string;
  /** Deadline of each Engine API request (default 2000 ms). */
  readonly timeoutMs?: number;
  /** Docker's data root, for its on-disk container records (default: asked of the engine). */
  readonly dataRoot?: string;
}

export interface CriOptions {
  /**
   * Socket path or unix:// address of a CRI runtime.v1 server (default
   * /var/run/crio/crio.sock; containerd's socket also serves CRI).
   */
  readonly address?: string;
  /** Deadline of each CRI call (default 2000 ms). */
  readonly timeoutMs?: number;
}

export interface ContainerStoreOptions {
  /** containerd connection; false disables it. */
  readonly containerd?: ContainerdOptions | false;
  /** Docker Engine API connection (used while its socket exists); false disables it. */
  readonly docker?: DockerOptions | false;
  /** CRI-O's CRI API (used while its socket exists); false disables it. */
  readonly cri?: CriOptions | false;
  readonly procRoot?: string;
  readonly cgroup?: CgroupResolverOptions | CgroupResolver;
  readonly maxContainers?: number;
  readonly maxPids?: number;
  readonly maxCgroups?: number;
  /** How long a deleted container stays resolvable for late events (default 10 s). */
  readonly retainDeletedMs?: number;
  /** Least time between two metadata fetches of the same unknown container (default 2 s). */
  readonly refetchMs?: number;
  /** Longest wait between two event-stream reconnects (default 10 s). */
  readonly maxBackoffMs?: number;
  readonly logger?: Logger;
}

export interface ContainerStoreStats {
  readonly containers: number;
  readonly lookups: number;
  readonly cgroupHits: number;
  readonly cgroupMisses: number;
  readonly pidReads: number;
  readonly pidReadErrors: number;
  readonly fetches: number;
  readonly fetchErrors: number;
  readonly timeouts: number;
  readonly unavailable: number;
  readonly malformed: number;
  readonly notSupported: number;
  readonly notFound: number;
  readonly events: number;
  readonly eventStreamRestarts: number;
  readonly evictions: number;
  readonly cgroupWalks: number;
}

const HOST = "host";

interface RuntimeState {
  pid: number | null;
  startedAtNs: bigint | null;
}

type Listener = (info: ContainerInfo) => void;

/** The address/timeout a runtime client is built with (only the keys that are set). */
function connectOptions(o: { address?: string; timeoutMs?: number } | undefined): {
  address?: string;
  timeoutMs?: number;
} {
  return {
    ...(o?.address !== undefined ? { address: o.address } : {}),
    ...(o?.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
  };
}

export class ContainerStore {
  private readonly records: LruMap<string, ContainerInfo>;
  private readonly shortIds = new Map<string, string>();
  private readonly byCgroup: LruMap<number, string>;
  private readonly byPidCache: LruMap<number, string>;
  private readonly runtime = new Map<string, RuntimeState>();
  private readonly pendingFetch = new Map<string, Promise<ContainerInfo | undefined>>();
  private readonly lastFetch = new LruMap<string, number>(4096);
  /**
   * The runtime each container id was learnt from (cgroup path, containerd namespace, a
   * record), so that a record made on a pid or cgroup cache hit is fetched from the right
   * API. Without it, a Docker container whose pid containerd's moby event announced first
   * was fetched as a CRI container and its first events said container.type=cri.
   */
  private readonly typeHints = new LruMap<string, ContainerType>(16384);
  private readonly unresolvedCgroups = new Set<number>();
  private readonly deleteTimers = new Map<string, NodeJS.Timeout>();
  private readonly listeners = new Set<Listener>();
  private readonly resolver: CgroupResolver;
  private readonly procRoot: string;
  private readonly namespaces: readonly string[];
  private readonly retainDeletedMs: number;
  private readonly refetchMs: number;
  private readonly maxBackoffMs: number;
  private readonly problems: LogOnce;
  private readonly client: ContainerdClient | null;
  private readonly docker: DockerClient | null;
  /** Docker's data root, once known (option, or the engine's /info) */
  private dockerRoot: string | null;
  private readonly cri: CriClient | null;
  private dockerSubscription: { close(): void } | null = null;
  private dockerTimer: NodeJS.Timeout | null = null;
  private dockerBackoffMs = 250;
  private subscription: { close(): void } | null = null;
  private resubscribeTimer: NodeJS.Timeout | null = null;
  private backoffMs = 250;
  private started = false;
  private closed = false;
  private syncedOnce: Promise<boolean> | null = null;
  private readonly counters = {
    lookups: 0,
    cgroupHits: 0,
    cgroupMisses: 0,
    pidReads: 0,
    pidReadErrors: 0,
    fetches: 0,
    fetchErrors: 0,
    timeouts: 0,
    unavailable: 0,
    malformed: 0,
    notSupported: 0,
    notFound: 0,
    events: 0,
    eventStreamRestarts: 0,
  };

  constructor(opts: ContainerStoreOptions = {}) {
    this.records = new LruMap(opts.maxContainers ?? 4096);
    this.byCgroup = new LruMap(opts.maxCgroups ?? 16384);
    this.byPidCache = new LruMap(opts.maxPids ?? 65536);
    this.resolver =
      opts.cgroup instanceof CgroupResolver ? opts.cgroup : new CgroupResolver(opts.cgroup ?? {});
    this.procRoot = opts.procRoot ?? "/proc";
    this.retainDeletedMs = opts.retainDeletedMs ?? 10_000;
    this.refetchMs = opts.refetchMs ?? 2000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.problems = new LogOnce(opts.logger ?? stderrLogger);
    const cd = opts.containerd;
    this.namespaces = cd === false ? [] : (cd?.namespaces ?? ["k8s.io", "default", "moby"]);
    this.client =
      cd === false
        ? null
        : new ContainerdClient({
            ...connectOptions(cd),
          });
    const dk = opts.docker;
    this.dockerRoot = dk === false ? null : (dk?.dataRoot ?? null);
    this.docker =
      dk === false
        ? null
        : new DockerClient({
            ...connectOptions(dk),
          });
    const cr = opts.cri;
    this.cri =
      cr === false
        ? null
        : new CriClient({
            ...connectOptions(cr),
            type: "cri-o",
          });
  }

  /** Starts watching the runtime. Returns at once; see whenSynced(). */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.subscribe();
    this.subscribeDocker();
    this.syncedOnce = this.syncAll();
  }

  /**
   * Resolves true once the first listing of the runtime's containers succeeded, false when it
   * failed or `timeoutMs` passed first. Never rejects.
   */
  async whenSynced(timeoutMs = 5000): Promise<boolean> {
    if (this.syncedOnce === null) return false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.syncedOnce, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscription?.close();
    this.subscription = null;
    if (this.resubscribeTimer !== null) clearTimeout(this.resubscribeTimer);
    for (const t of this.deleteTimers.values()) clearTimeout(t);
    this.deleteTimers.clear();
    this.client?.close();
    this.dockerSubscription?.close();
    this.dockerSubscription = null;
    if (this.dockerTimer !== null) clearTimeout(this.dockerTimer);
    this.docker?.close();
    this.cri?.close();
    await Promise.allSettled([...this.pendingFetch.values()]);
  }

  /** Called with every container record added or updated. Returns an unsubscribe function. */
  onUpdate(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // ---------------------------------------------------------------- synchronous lookups

  /** By full or 12-character id. */
  byId(id: string): ContainerInfo | undefined {
    if (id === HOST) return HOST_CONTAINER;
    const full = this.records.peek(id) !== undefined ? id : this.shortIds.get(id);
    return full === undefined ? undefined : this.records.peek(full);
  }

  /**
   * By cgroup id (cgroup v2 inode). HOST_CONTAINER for a host cgroup, a (possibly partial)
   * container, or undefined when the id is not known yet; then a background walk of the
   * cgroup hierarchy is started so a later lookup finds it.
   */
  byCgroupId(cgroupId: number | bigint): ContainerInfo | undefined {
    this.counters.lookups++;
    const k = typeof cgroupId === "bigint" ? Number(cgroupId) : cgroupId;
    const known = this.byCgroup.get(k);
    if (known !== undefined) {
      this.counters.cgroupHits++;
      return known === HOST ? HOST_CONTAINER : this.recordFor(known);
    }
    this.counters.cgroupMisses++;
    const path = this.resolver.resolve(k);
    if (path !== undefined) return this.learnCgroup(k, path);
    // A container the runtime announced whose cgroup was not mapped yet (its first event):
    // one stat per such container finds it without waiting for a walk.
    // (Only on the first miss of an id until the next walk: a flood of events from one
    // unknown cgroup costs one probe, not one per event.)
    if (!this.unresolvedCgroups.has(k)) {
      const pending = this.probePendingCgroups(k);
      if (pending !== undefined) return pending;
    }
    if (this.unresolvedCgroups.size < 4096) this.unresolvedCgroups.add(k);
    if (this.resolver.canRescan() && !this.closed) void this.rescanCgroups();
    return undefined;
  }

  /**
   * By host pid: cached, else read from /proc/PID/cgroup. Undefined if the process is gone.
   * `fresh`: skip the cache (the caller has a cgroup id the cache could contradict: a pid
   * the cache learnt for a container may since belong to a host process).
   */
  byPid(pid: number, cgroupId?: number | bigint, fresh = false): ContainerInfo | undefined {
    this.counters.lookups++;
    const known = fresh ? undefined : this.byPidCache.get(pid);
    if (known !== undefined) return known === HOST ? HOST_CONTAINER : this.recordFor(known);
    let text: string;
    this.counters.pidReads++;
    try {
      text = readFileSync(`${this.procRoot}/${pid}/cgroup`, "utf8");
    } catch (err) {
      this.counters.pidReadErrors++;
      const code = (err as { code?: string }).code ?? "EIO";
      if (code !== "ENOENT" && code !== "ESRCH")
        this.problems.report(
          `proc-cgroup:${code}`,
          `state: reading ${this.procRoot}/${pid}/cgroup: ${errorMessage(err)}`,
        );
      return undefined;
    }
    const m = containerFromProcCgroup(text);
    const value = m === null ? HOST : m.fullId;
    if (m !== null && m.type !== "cri") this.typeHints.set(m.fullId, m.type);
    this.byPidCache.set(pid, value);
    if (cgroupId !== undefined)
      this.byCgroup.set(typeof cgroupId === "bigint" ? Number(cgroupId) : cgroupId, value);
    if (m === null) return HOST_CONTAINER;
    return this.recordFor(m.fullId, m.type);
  }

  /**
   * The event path's entry: by cgroup id first, then by pid. With a cgroup id, the pid is
   * looked up in /proc, never in the pid cache: pids are reused, cgroup ids are not.
   */
  lookup(pid: number, cgroupId?: number | bigint): ContainerInfo | undefined {
    if (cgroupId !== undefined) {
      const r = this.byCgroupId(cgroupId);
      if (r !== undefined) return r;
      return this.byPid(pid, cgroupId, true);
    }
    return this.byPid(pid);
  }

  /** A container's process exited: its pid may be reused by anyone, so it is forgotten. */
  private forgetExited(id: string, pid: number): void {
    if (pid > 0 && this.byPidCache.peek(pid) === id) this.byPidCache.delete(pid);
  }

  /** Forgets a pid (the process table calls this on exit, so a reused pid is re-read). */
  forgetPid(pid: number): void {
    this.byPidCache.delete(pid);
  }

  all(): ContainerInfo[] {
    return [...this.records.entries()].map(([, v]) => v);
  }

  stats(): ContainerStoreStats {
    return {
      ...this.counters,
      containers: this.records.size,
      evictions: this.records.evictions + this.byCgroup.evictions + this.byPidCache.evictions,
      cgroupWalks: this.resolver.walks,
    };
  }

  /** Problems by kind (`containerd:ETIMEDOUT`, ...) and how often each happened. */
  problemCounts(): ReadonlyMap<string, number> {
    return this.problems.counts;
  }

  // ---------------------------------------------------------------- internals

  /** The record of a container; `hint` (default: what its id was learnt with) names the
   * runtime to ask when the record is missing or incomplete. */
  private recordFor(fullId: string, hint?: ContainerType): ContainerInfo {
    const r = this.records.get(fullId);
    if (r !== undefined) {
      if (!r.complete) void this.fetch(fullId, r.type ?? hint ?? this.typeHints.peek(fullId) ?? "cri");
      return r;
    }
    hint ??= this.typeHints.peek(fullId) ?? "cri";
    if (hint === "docker") {
      const disk = this.dockerFromDisk(fullId);
      if (disk !== null) {
        this.put(disk); // inspect, on Docker's start event, refreshes it
        return disk;
      }
    }
    const partial = partialContainer(fullId, hint);
    this.put(partial);
    void this.fetch(fullId, hint);
    return partial;
  }

  /** Docker's on-disk record of a container (see containerFromDockerConfig); null if none. */
  private dockerFromDisk(fullId: string): ContainerInfo | null {
    if (this.dockerRoot === null || this.closed) return null;
    const dir = join(this.dockerRoot, "containers", fullId);
    try {
      const config: unknown = JSON.parse(readFileSync(join(dir, "config.v2.json"), "utf8"));
      let host: unknown = {};
      try {
        host = JSON.parse(readFileSync(join(dir, "hostconfig.json"), "utf8"));
      } catch {
        // privileged and host namespaces then come with inspect
      }
      const info = containerFromDockerConfig(config, host);
      return info.fullId === fullId ? info : null;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "ENOENT") this.noteProblem(err, "docker-config");
      return null;
    }
  }

  private learnCgroup(k: number, path: string): ContainerInfo {
    const m = containerFromCgroupPath(path);
    if (m === null) {
      this.byCgroup.set(k, HOST);
      return HOST_CONTAINER;
    }
    this.byCgroup.set(k, m.fullId);
    if (m.type !== "cri") this.typeHints.set(m.fullId, m.type);
    return this.recordFor(m.fullId, m.type);
  }

  private async rescanCgroups(): Promise<void> {
    await this.resolver.rescan();
    for (const k of [...this.unresolvedCgroups]) {
      const path = this.resolver.resolve(k);
      if (path !== undefined) this.learnCgroup(k, path);
    }
    this.unresolvedCgroups.clear();
  }

  private put(info: ContainerInfo): void {
    this.records.set(info.fullId, info);
    if (info.type !== null && info.type !== "cri") this.typeHints.set(info.fullId, info.type);
    this.shortIds.set(info.id, info.fullId);
    if (this.shortIds.size > this.records.max * 2) {
      for (const [s, f] of this.shortIds) if (this.records.peek(f) === undefined) this.shortIds.delete(s);
    }
    if (info.initPid !== null) this.byPidCache.set(info.initPid, info.fullId);
    for (const fn of this.listeners) {
      try {
        fn(info);
      } catch (err) {
        this.problems.report("listener", `state: container update listener threw: ${errorMessage(err)}`);
      }
    }
  }

  /** Containers whose cgroup directory is expected but not mapped yet: full id -> v2 path. */
  private readonly pendingCgroups = new Map<string, { path: string; since: number }>();

  private probePendingCgroups(k: number): ContainerInfo | undefined {
    const now = Date.now();
    for (const [id, p] of this.pendingCgroups) {
      if (now - p.since > 60_000 || this.records.peek(id) === undefined) {
        this.pendingCgroups.delete(id);
        continue;
      }
      const ino = this.resolver.learnPath(p.path);
      if (ino === null) continue; // not created yet
      this.pendingCgroups.delete(id);
      this.byCgroup.set(ino, id);
      if (ino === k) return this.recordFor(id, "containerd");
    }
    return undefined;
  }

  /**
   * Maps a container's init pid and its cgroup (one procfs read and one stat), once the
   * process at that pid is seen in the container's own cgroup: a pid the runtime reports
   * may be stale (its process gone, the pid reused by another), and mapping the cgroup of
   * whoever holds it now would give that cgroup's every process to the container.
   */
  private learnPid(fullId: string, pid: number): void {
    if (pid <= 0) return;
    let text: string;
    try {
      text = readFileSync(`${this.procRoot}/${pid}/cgroup`, "utf8");
    } catch {
      return; // exited already
    }
    if (containerFromProcCgroup(text)?.fullId !== fullId) return;
    this.byPidCache.set(pid, fullId);
    const path = unifiedPathFromProcCgroup(text);
    if (path === null) return;
    const ino = this.resolver.learnPath(path);
    if (ino !== null) {
      this.byCgroup.set(ino, fullId);
      this.pendingCgroups.delete(fullId);
    }
  }

  private noteProblem(err: unknown, what: string): void {
    const code = err instanceof StateError ? err.code : "ERUNTIME";
    if (code === "ETIMEDOUT") this.counters.timeouts++;
    else if (code === "EUNAVAILABLE") this.counters.unavailable++;
    else if (code === "EMALFORMED") this.counters.malformed++;
    else if (code === "ENOTSUP") this.counters.notSupported++;
    this.problems.report(`${what}:${code}`, `state: ${errorMessage(err)}`);
  }

  /** Fetches a container's metadata (deduplicated, rate-limited per id). */
  fetch(fullId: string, hint: ContainerType, force = false): Promise<ContainerInfo | undefined> {
    const pending = this.pendingFetch.get(fullId);
    if (pending !== undefined) return pending;
    if (this.closed) return Promise.resolve(this.records.peek(fullId));
    const now = Date.now();
    const last = this.lastFetch.peek(fullId);
    if (!force && last !== undefined && now - last < this.refetchMs)
      return Promise.resolve(this.records.peek(fullId));
    this.lastFetch.set(fullId, now);
    const p = this.doFetch(fullId, hint).finally(() => this.pendingFetch.delete(fullId));
    this.pendingFetch.set(fullId, p);
    return p;
  }

  private async doFetch(fullId: string, hint: ContainerType): Promise<ContainerInfo | undefined> {
    this.counters.fetches++;
    if (hint === "docker" && this.dockerActive()) return this.fetchDockerNow(fullId);
    if (hint === "cri-o" && this.criActive()) return this.fetchCriNow(fullId);
    const namespaces =
      hint === "docker" ? ["moby"] : hint === "containerd" || hint === "cri" ? this.namespaces : [];
    if (this.client !== null) {
      for (const ns of namespaces) {
        if (!this.namespaces.includes(ns)) continue;
        // Docker's containers live in containerd's moby namespace too, but only Docker's
        // API names and describes them: a container found without a runtime hint (e.g. by
        // the cgroup walk) is asked for there, never completed from the bare moby record.
        if (ns === "moby" && this.dockerActive()) {
          const d = await this.fetchDockerNow(fullId);
          if (d !== undefined && d.complete) return d;
          continue;
        }
        let rec: ContainerdRecord | null;
        try {
          rec = await this.client.getContainer(ns, fullId);
        } catch (err) {
          this.counters.fetchErrors++;
          this.noteProblem(err, "containerd-get");
          return this.records.peek(fullId);
        }
        if (rec !== null) return this.upsert(rec, hint === "docker" ? "docker" : "containerd", true);
      }
    }
    // A kubepods cgroup path names no runtime: CRI-O's when containerd does not know it.
    if (hint === "cri" && this.criActive()) return this.fetchCriNow(fullId);
    if (hint === "cri-o" || hint === "podman" || hint === "docker") {
      const feature =
        hint === "cri-o"
          ? "CRI-O container metadata"
          : hint === "podman"
            ? "Podman container metadata"
            : "Docker container metadata";
      const provider =
        hint === "cri-o"
          ? this.cri === null
            ? "the CRI client is disabled"
            : `needs the CRI API on ${this.cri.socketPath}, which is missing`
          : hint === "podman"
            ? "needs the Podman REST API client; not implemented"
            : this.docker === null
              ? "the Docker Engine API client is disabled; containers in containerd's moby namespace are found"
              : `needs the Docker Engine API on ${this.docker.socketPath}, which is missing; containers in containerd's moby namespace are found`;
      this.noteProblem(new NotSupportedError(feature, provider), `runtime-${hint}`);
      return this.records.peek(fullId);
    }
    if (this.client !== null) this.counters.notFound++;
    return this.records.peek(fullId);
  }

  /** Adds or refreshes a containerd record; asks for the init pid when it is not known. */
  private async upsert(
    rec: ContainerdRecord,
    type: ContainerType,
    needTask: boolean,
  ): Promise<ContainerInfo> {
    let state = this.runtime.get(rec.id);
    if (state === undefined) {
      state = { pid: null, startedAtNs: null };
      this.runtime.set(rec.id, state);
      if (this.runtime.size > this.records.max * 2) {
        for (const id of this.runtime.keys())
          if (this.records.peek(id) === undefined && id !== rec.id) this.runtime.delete(id);
      }
    }
    if (needTask && state.pid === null && this.client !== null) {
      try {
        const task = await this.client.getTask(rec.namespace, rec.id);
        if (task !== null && taskPidIsLive(task)) {
          state.pid = task.pid;
          this.learnPid(rec.id, task.pid);
        }
      } catch (err) {
        this.noteProblem(err, "containerd-task");
      }
    }
    let digest: string | null = null;
    if (rec.image !== "" && !rec.image.includes("@") && this.client !== null) {
      try {
        digest = await this.client.getImageDigest(rec.namespace, rec.image);
      } catch (err) {
        this.noteProblem(err, "containerd-image");
      }
    }
    const cgPath = cgroupDirFromSpec(rec.spec?.linux?.cgroupsPath);
    if (
      cgPath !== null &&
      state.pid === null &&
      !this.pendingCgroups.has(rec.id) &&
      this.pendingCgroups.size < 256
    ) {
      this.pendingCgroups.set(rec.id, { path: cgPath, since: Date.now() });
    }
    const info = containerFromContainerd(rec, {
      type,
      initPid: state.pid,
      startedAtNs: state.startedAtNs,
      imageDigest: digest,
    });
    this.put(info);
    return info;
  }

  private async syncAll(): Promise<boolean> {
    if (this.criActive()) void this.syncCri();
    if (this.client === null) {
      if (!this.dockerActive()) return this.criActive() ? this.syncCri() : false;
      return this.syncDocker();
    }
    let ok = true;
    if (this.dockerActive()) void this.syncDocker();
    for (const ns of this.namespaces) {
      if (ns === "moby" && this.dockerActive()) continue;
      let recs: ContainerdRecord[];
      try {
        recs = await this.client.listContainers(ns);
      } catch (err) {
        this.noteProblem(err, "containerd-list");
        ok = false;
        break;
      }
      await Promise.all(
        recs.map((r) =>
          this.upsert(r, ns === "moby" ? "docker" : "containerd", true).catch((err: unknown) =>
            this.noteProblem(err, "containerd-get"),
          ),
        ),
      );
    }
    if (ok) this.backoffMs = 250;
    return ok;
  }

  private subscribe(): void {
    if (this.client === null || this.closed) return;
    this.subscription = this.client.subscribe(['topic~="^/containers/"', 'topic~="^/tasks/"'], {
      onEvent: (env) => {
        this.backoffMs = 250;
        this.onEvent(env);
      },
      onMalformed: (_topic, err) => {
        this.noteProblem(err, "containerd-event");
      },
      onEnd: (err) => {
        this.subscription = null;
        if (this.closed) return;
        this.counters.eventStreamRestarts++;
        if (err !== null) this.noteProblem(err, "containerd-events");
        const delay = this.backoffMs;
        this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
        this.resubscribeTimer = setTimeout(() => {
          this.resubscribeTimer = null;
          this.subscribe();
          // Catch up on what happened while the stream was down.
          void this.syncAll();
        }, delay);
        this.resubscribeTimer.unref();
      },
    });
  }

  private onEvent(env: ContainerdEnvelope): void {
    if (!this.namespaces.includes(env.namespace)) return;
    this.counters.events++;
    const ev = env.event;
    if (ev.kind === "other") return;
    const id = ev.id;
    if (id === "") return;
    this.typeHints.set(id, env.namespace === "moby" ? "docker" : "containerd");
    if (env.namespace === "moby" && this.dockerActive()) {
      // Docker's own API describes these (and names them); containerd only adds pids.
      if ((ev.kind === "task-create" || ev.kind === "task-start") && ev.pid > 0) this.learnPid(id, ev.pid);
      if (ev.kind === "exec-started" && ev.pid > 0) this.byPidCache.set(ev.pid, id);
      if (ev.kind === "task-exit") this.forgetExited(id, ev.pid);
      return;
    }
    const type: ContainerType = env.namespace === "moby" ? "docker" : "containerd";
    const state = this.runtime.get(id) ?? { pid: null, startedAtNs: null };
    this.runtime.set(id, state);
    switch (ev.kind) {
      case "container-create":
      case "container-update":
        void this.fetchRecord(env.namespace, id, type);
        return;
      case "task-create":
      case "task-start": {
        state.pid = ev.pid;
        if (ev.kind === "task-start" && env.timestampNs > 0n) state.startedAtNs = env.timestampNs;
        this.learnPid(id, ev.pid);
        const cur = this.records.peek(id);
        if (cur !== undefined && cur.complete) {
          this.put({ ...cur, initPid: ev.pid, startTs: state.startedAtNs ?? cur.startTs });
        } else {
          void this.fetchRecord(env.namespace, id, type);
        }
        return;
      }
      case "exec-started":
        if (ev.pid > 0) this.byPidCache.set(ev.pid, id);
        return;
      case "task-exit":
        this.forgetExited(id, ev.pid);
        return;
      case "task-delete":
        return;
      case "container-delete":
        this.scheduleDelete(id);
        return;
    }
  }

  /** Forgets a deleted container after retainDeletedMs (late events still resolve). */
  private scheduleDelete(id: string): void {
    const old = this.deleteTimers.get(id);
    if (old !== undefined) clearTimeout(old);
    const t = setTimeout(() => {
      this.deleteTimers.delete(id);
      this.records.delete(id);
      this.runtime.delete(id);
      const short = id.slice(0, 12);
      if (this.shortIds.get(short) === id) this.shortIds.delete(short);
    }, this.retainDeletedMs);
    t.unref();
    this.deleteTimers.set(id, t);
  }

  // ---------------------------------------------------------------- CRI (CRI-O)

  /** Whether CRI-O is asked: a CRI client is configured and its socket exists. */
  private criActive(): boolean {
    return this.cri !== null && existsSync(this.cri.socketPath);
  }

  /**
   * Asks one runtime API for a container (`ask` answers null when it does not know it) and
   * records the answer; a failure is counted and reported under `problem`.
   */
  private async fetchFrom(
    fullId: string,
    ask: ((id: string) => Promise<ContainerInfo | null>) | null,
    problem: string,
  ): Promise<ContainerInfo | undefined> {
    if (ask === null || this.closed) return this.records.peek(fullId);
    try {
      const info = await ask(fullId);
      if (info === null) {
        this.counters.notFound++;
        return this.records.peek(fullId);
      }
      if (this.closed) return info;
      this.put(info);
      if (info.initPid !== null) this.learnPid(info.fullId, info.initPid);
      return info;
    } catch (err) {
      this.counters.fetchErrors++;
      this.noteProblem(err, problem);
      return this.records.peek(fullId);
    }
  }

  private fetchCriNow(fullId: string): Promise<ContainerInfo | undefined> {
    const cri = this.cri;
    return this.fetchFrom(fullId, cri && ((id) => cri.containerStatus(id, true)), "cri-status");
  }

  private async syncCri(): Promise<boolean> {
    if (this.cri === null) return false;
    let ids: string[];
    try {
      ids = (await this.cri.listContainers()).map((c) => c.id);
    } catch (err) {
      this.noteProblem(err, "cri-list");
      return false;
    }
    await Promise.all(ids.map((id) => this.fetch(id, "cri-o", true)));
    return true;
  }

  // ---------------------------------------------------------------- Docker Engine API

  /** Whether Docker is asked: a client is configured and its socket exists. */
  private dockerActive(): boolean {
    return this.docker !== null && existsSync(this.docker.socketPath);
  }

  private fetchDockerNow(fullId: string): Promise<ContainerInfo | undefined> {
    const docker = this.docker;
    return this.fetchFrom(fullId, docker && ((id) => docker.inspect(id)), "docker-inspect");
  }

  /** Event-driven Docker fetch: chained after one in flight so a newer state is seen. */
  private fetchDocker(fullId: string): Promise<ContainerInfo | undefined> {
    this.counters.fetches++;
    const pending = this.pendingFetch.get(fullId);
    const run = (): Promise<ContainerInfo | undefined> => this.fetchDockerNow(fullId);
    const p = (pending === undefined ? run() : pending.then(run, run)).finally(() => {
      if (this.pendingFetch.get(fullId) === p) this.pendingFetch.delete(fullId);
    });
    this.pendingFetch.set(fullId, p);
    this.lastFetch.set(fullId, Date.now());
    return p;
  }

  private async syncDocker(): Promise<boolean> {
    if (this.docker === null) return false;
    if (this.dockerRoot === null) {
      try {
        this.dockerRoot = (await this.docker.rootDir()) || null;
      } catch (err) {
        this.noteProblem(err, "docker-info");
      }
    }
    let ids: string[];
    try {
      ids = await this.docker.listIds();
    } catch (err) {
      this.noteProblem(err, "docker-list");
      return false;
    }
    await Promise.all(ids.map((id) => this.fetchDocker(id)));
    return true;
  }

  private subscribeDocker(): void {
    if (this.docker === null || this.closed) return;
    if (!existsSync(this.docker.socketPath)) {
      // No engine (yet): look again later, quietly.
      this.scheduleDockerResubscribe(this.maxBackoffMs, false);
      return;
    }
    this.dockerSubscription = this.docker.events({
      onEvent: (ev) => {
        this.dockerBackoffMs = 250;
        this.onDockerEvent(ev);
      },
      onMalformed: (err) => this.noteProblem(err, "docker-event"),
      onEnd: (err) => {
        this.dockerSubscription = null;
        if (this.closed) return;
        this.counters.eventStreamRestarts++;
        if (err !== null) this.noteProblem(err, "docker-events");
        const delay = this.dockerBackoffMs;
        this.dockerBackoffMs = Math.min(this.dockerBackoffMs * 2, this.maxBackoffMs);
        this.scheduleDockerResubscribe(delay, true);
      },
    });
  }

  private scheduleDockerResubscribe(delay: number, resync: boolean): void {
    if (this.closed) return;
    this.dockerTimer = setTimeout(() => {
      this.dockerTimer = null;
      this.subscribeDocker();
      if (resync && this.dockerActive()) void this.syncDocker();
    }, delay);
    this.dockerTimer.unref();
  }

  private onDockerEvent(ev: DockerEvent): void {
    this.counters.events++;
    if (!/^[0-9a-f]{64}$/.test(ev.id)) return;
    if (ev.action === "create" || ev.action === "start") void this.fetchDocker(ev.id);
    else if (ev.action === "destroy") this.scheduleDelete(ev.id);
  }

  /** Gets one record from a known namespace (event-driven; bypasses the refetch limit). */
  private fetchRecord(
    namespace: string,
    id: string,
    type: ContainerType,
  ): Promise<ContainerInfo | undefined> {
    const pending = this.pendingFetch.get(id);
    if (pending !== undefined) {
      // A fetch is running; chain a fresh one so updates that raced it are seen.
      const next = pending.then(() => this.fetchRecordNow(namespace, id, type));
      return next;
    }
    const p = this.fetchRecordNow(namespace, id, type).finally(() => {
      if (this.pendingFetch.get(id) === p) this.pendingFetch.delete(id);
    });
    this.pendingFetch.set(id, p);
    return p;
  }

  private async fetchRecordNow(
    namespace: string,
    id: string,
    type: ContainerType,
  ): Promise<ContainerInfo | undefined> {
    if (this.client === null || this.closed) return undefined;
    this.counters.fetches++;
    try {
      const rec = await this.client.getContainer(namespace, id);
      if (rec === null) return undefined;
      return await this.upsert(rec, type, true);
    } catch (err) {
      this.counters.fetchErrors++;
      this.noteProblem(err, "containerd-get");
      return undefined;
    }
  }
}
