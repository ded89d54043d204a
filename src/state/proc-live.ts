/**
 * Values of a live process read from /proc when a rule asks for them (memory, page
 * faults, CPU time, fd limit, cgroups): nothing the kernel's records carry, nothing worth
 * tracking for every process. Each read is one small file; a process that is gone reads as
 * unknown (null). Never throws.
 */
import { readFileSync } from "node:fs";

export class ProcLive {
  constructor(private readonly root = "/proc") {}

  private read(path: string): string | null {
    try {
      return readFileSync(`${this.root}/${path}`, "latin1");
    } catch {
      return null;
    }
  }

  /** A `Key:   value kB` line of /proc/PID/status, as a number (kB for memory lines). */
  status(pid: number, key: string): number | null {
    const s = this.read(`${pid}/status`);
    if (s === null) return null;
    const at = s.indexOf(`\n${key}:`);
    if (at < 0) return null;
    const m = /^\s*(\d+)/.exec(s.slice(at + key.length + 2, at + key.length + 40));
    return m === null ? null : Number(m[1]);
  }

  /** Fields of /proc/PID/stat (or of a thread, /proc/PID/task/TID/stat), 1-based as in proc(5). */
  stat(pid: number, tid?: number): string[] | null {
    const s = this.read(tid === undefined ? `${pid}/stat` : `${pid}/task/${tid}/stat`);
    if (s === null) return null;
    const close = s.lastIndexOf(")");
    if (close < 0) return null;
    // fields 1 (pid) and 2 (comm) come first; the rest follow the comm's ')'
    return [
      "",
      s.slice(0, s.indexOf(" ")),
      s.slice(s.indexOf("(") + 1, close),
      ...s.slice(close + 2).split(" "),
    ];
  }

  /** The soft limit of one resource in /proc/PID/limits ("Max open files"); -1 unlimited. */
  limit(pid: number, name: string): number | null {
    const s = this.read(`${pid}/limits`);
    if (s === null) return null;
    for (const line of s.split("\n")) {
      if (!line.startsWith(name)) continue;
      const soft = line.slice(26).trim().split(/\s+/)[0];
      if (soft === "unlimited") return -1;
      const n = Number(soft);
      return Number.isFinite(n) ? n : null;
    }
    return null;
  }

  /** cgroups of a process: [subsystems, path] per hierarchy (cgroup v2: subsystems ""). */
  cgroups(pid: number): [string, string][] | null {
    const s = this.read(`${pid}/cgroup`);
    if (s === null) return null;
    const out: [string, string][] = [];
    for (const line of s.split("\n")) {
      const a = line.indexOf(":");
      const b = line.indexOf(":", a + 1);
      if (a < 0 || b < 0) continue;
      out.push([line.slice(a + 1, b), line.slice(b + 1)]);
    }
    return out;
  }
}

/** Clock ticks per second (USER_HZ) for /proc CPU times: 100 on Linux x86 and arm. */
export const USER_HZ = 100;
