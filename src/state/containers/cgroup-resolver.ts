/**
 * cgroup id (the inode number of a cgroup v2 directory, as bpf_get_current_cgroup_id()
 * reports it) -> cgroup path. Finds the cgroup2 mount from /proc/self/mountinfo (it is
 * /sys/fs/cgroup on pure v2 hosts and /sys/fs/cgroup/unified on hybrid ones), maps single
 * paths with one stat, and rebuilds the whole map with a bounded, asynchronous, rate-limited
 * walk when an unknown id shows up. Nothing here blocks for long: resolve() is a map read.
 */
import { readFileSync, statSync } from "node:fs";
import { opendir, stat } from "node:fs/promises";
import { join } from "node:path";
import { LruMap } from "./lru.js";

export interface CgroupResolverOptions {
  /** The cgroup2 mount point; found in /proc/self/mountinfo when absent. */
  readonly root?: string | null;
  /** Most inode -> path entries kept. */
  readonly maxEntries?: number;
  /** Most directories visited by one walk. */
  readonly maxWalk?: number;
  /** Least time between two walks. */
  readonly minRescanMs?: number;
}

/** The cgroup2 mount point from mountinfo text, or null. */
export function findCgroup2Mount(mountinfo: string): string | null {
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const fstype = line.slice(sep + 3).split(" ")[0];
    if (fstype !== "cgroup2") continue;
    const mountPoint = line.slice(0, sep).split(" ")[4];
    if (mountPoint !== undefined)
      return mountPoint.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  }
  return null;
}

function key(id: number | bigint): number {
  return typeof id === "bigint" ? Number(id) : id;
}

export class CgroupResolver {
  readonly root: string | null;
  private readonly paths: LruMap<number, string>;
  private readonly maxWalk: number;
  private readonly minRescanMs: number;
  private lastWalk = -Infinity;
  private walking: Promise<void> | null = null;
  walks = 0;

  constructor(opts: CgroupResolverOptions = {}) {
    let root = opts.root;
    if (root === undefined) {
      try {
        root = findCgroup2Mount(readFileSync("/proc/self/mountinfo", "utf8"));
      } catch {
        root = null;
      }
    }
    this.root = root;
    this.paths = new LruMap(opts.maxEntries ?? 16384);
    this.maxWalk = opts.maxWalk ?? 50000;
    this.minRescanMs = opts.minRescanMs ?? 1000;
  }

  /** The cgroup path (relative to the cgroup2 root, starting with "/") of an id, if known. */
  resolve(cgroupId: number | bigint): string | undefined {
    return this.paths.get(key(cgroupId));
  }

  /** Stats one cgroup path and remembers its inode. Returns the inode, or null. */
  learnPath(cgroupPath: string): number | null {
    if (this.root === null) return null;
    try {
      const ino = statSync(join(this.root, cgroupPath), { bigint: true }).ino;
      const k = Number(ino);
      this.paths.set(k, cgroupPath);
      return k;
    } catch {
      return null;
    }
  }

  /** True when a walk may start now (rate limit). */
  canRescan(): boolean {
    return this.root !== null && this.walking === null && Date.now() - this.lastWalk >= this.minRescanMs;
  }

  /**
   * Walks the cgroup2 hierarchy (breadth first, bounded) and records every directory's inode.
   * Concurrent callers share one walk; calls within minRescanMs of the last walk return it.
   */
  rescan(force = false): Promise<void> {
    if (this.walking !== null) return this.walking;
    if (this.root === null || (!force && Date.now() - this.lastWalk < this.minRescanMs))
      return Promise.resolve();
    this.lastWalk = Date.now();
    this.walks++;
    const root = this.root;
    this.walking = (async () => {
      const queue: string[] = ["/"];
      let visited = 0;
      while (queue.length > 0 && visited < this.maxWalk) {
        const rel = queue.shift() as string;
        visited++;
        const abs = join(root, rel);
        try {
          const st = await stat(abs, { bigint: true });
          this.paths.set(Number(st.ino), rel);
          const dir = await opendir(abs);
          for await (const ent of dir)
            if (ent.isDirectory()) queue.push(rel === "/" ? `/${ent.name}` : `${rel}/${ent.name}`);
        } catch {
          // Directories vanish while we walk (containers exit): skip them.
        }
      }
    })().finally(() => {
      this.lastWalk = Date.now();
      this.walking = null;
    });
    return this.walking;
  }

  get size(): number {
    return this.paths.size;
  }
}
