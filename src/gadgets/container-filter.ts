/**
 * The container selection at work: decides for each process whether its events are wanted
 * (its container and pod against the selection), and tells the kernel side, once per cgroup,
 * which cgroups to drop (the sources subscribe as a KernelFilter). cgroup v2 ids are never
 * reused (kernfs ids carry a generation), so a verdict can never outlive its container and
 * land on a new one; /proc/PID/cgroup is readable without ptrace rights, which
 * /proc/PID/ns/mnt is not.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { findCgroup2Mount } from "../state/containers/cgroup-resolver.js";
import { containerFromCgroupPath, unifiedPathFromProcCgroup } from "../state/containers/cgroup-path.js";
import { HOST_CONTAINER, type ContainerInfo } from "../state/containers/container-info.js";
import type { PodMeta } from "../state/k8s/k8s-metadata.js";
import type { StateServices } from "../state/services.js";
import type { KernelFilter } from "./gadget.js";
import type { Selection } from "./selection.js";

export interface Placed {
  /** true: wanted; false: not; undefined: the container's metadata is still coming */
  readonly verdict: boolean | undefined;
  readonly container: ContainerInfo | undefined;
  readonly pod: PodMeta | null;
}

let cgroupRoot: string | null | undefined;

/** The cgroup v2 id of a process (the inode of its cgroup directory), or undefined. */
export function cgroupIdOf(pid: number, procRoot = "/proc"): bigint | undefined {
  try {
    cgroupRoot ??= findCgroup2Mount(readFileSync("/proc/self/mountinfo", "utf8"));
    if (cgroupRoot === null) return undefined;
    const path = unifiedPathFromProcCgroup(readFileSync(`${procRoot}/${pid}/cgroup`, "utf8"));
    if (path === null) return undefined;
    return statSync(`${cgroupRoot}${path}`, { bigint: true }).ino;
  } catch {
    return undefined;
  }
}

/** How often a cgroup marked "drop" whose events still arrive is written again (ms). */
const REWRITE_MS = 1000;

export class ContainerFilter implements KernelFilter {
  readonly active: boolean;
  private readonly subs = new Set<(cgroupId: bigint, pass: boolean | undefined) => void>();
  private readonly verdicts = new Map<bigint, { pass: boolean; at: number }>();
  /** verdicts written to the kernel side */
  writes = 0;

  constructor(
    readonly selection: Selection,
    private readonly services: StateServices,
    private readonly procRoot = "/proc",
  ) {
    this.active = !selection.everything;
  }

  onVerdict(fn: (cgroupId: bigint, pass: boolean | undefined) => void): () => void {
    for (const [cg, v] of this.verdicts) fn(cg, v.pass);
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  /** The verdict for process `pid` (cgroup id when the source knows it). */
  place(pid: number, cgroupId: bigint | undefined): Placed {
    const container = this.services.container(pid, cgroupId === 0n ? undefined : cgroupId);
    const pod = container === undefined || container === HOST_CONTAINER ? null : this.services.pod(container);
    return { verdict: this.selection.matches(container, pod), container, pod };
  }

  /**
   * Records a cgroup's verdict and tells the kernel side. A "drop" cgroup whose events keep
   * arriving lost its kernel entry (a full map): it is written again, at most once a second.
   */
  note(cgroupId: bigint, pass: boolean): void {
    if (!this.active || cgroupId === 0n) return;
    const now = Date.now();
    const cur = this.verdicts.get(cgroupId);
    if (cur !== undefined && cur.pass === pass && (pass || now - cur.at < REWRITE_MS)) return;
    this.verdicts.set(cgroupId, { pass, at: now });
    this.writes++;
    for (const fn of this.subs) fn(cgroupId, pass);
  }

  /**
   * Classifies the host's cgroups (every cgroup not named after a container), so that the
   * host's processes are dropped before their first event when the host is not selected.
   */
  classifyHost(maxDirs = 4096): void {
    if (!this.active) return;
    try {
      cgroupRoot ??= findCgroup2Mount(readFileSync("/proc/self/mountinfo", "utf8"));
    } catch {
      return;
    }
    const root = cgroupRoot;
    if (root === null) return;
    const pass = this.selection.opts.host;
    const stack = [""];
    let seen = 0;
    while (stack.length > 0 && seen < maxDirs) {
      const rel = stack.pop() as string;
      let entries;
      try {
        entries = readdirSync(`${root}${rel}`, { withFileTypes: true });
      } catch {
        continue;
      }
      if (containerFromCgroupPath(rel === "" ? "/" : rel) !== null) continue;
      try {
        this.note(statSync(`${root}${rel}`, { bigint: true }).ino, pass);
      } catch {
        continue;
      }
      seen++;
      for (const e of entries) if (e.isDirectory()) stack.push(`${rel}/${e.name}`);
    }
  }

  /** Classifies a known container (its first process's cgroup) before its events come. */
  classify(c: ContainerInfo, pid = c.initPid): void {
    if (!this.active || pid === null || pid <= 0) return;
    const pod = c === HOST_CONTAINER ? null : this.services.pod(c);
    const v = this.selection.matches(c, pod);
    if (v === undefined) return;
    const cg = cgroupIdOf(pid, this.procRoot);
    if (cg !== undefined) this.note(cg, v);
  }
}
