/**
 * The BPF programs and maps of the whole system, by id (what `bpftool prog`/`bpftool map`
 * list), and the kernel's run-time statistics. Reading another loader's objects by id needs
 * CAP_SYS_ADMIN; errors are NativeErrors naming the id ("opening BPF program id 12: EPERM").
 *
 *   const stats = BpfStats.enableRunTime();   // run_time_ns and run_cnt grow while held
 *   for (const id of programIds()) console.log(programInfo(id)?.runCount);
 *   stats.close();
 */
import { addon, type FdHandle, type NativeSystemMap, type NativeSystemProgram } from './addon.js';

/** A loaded program: type, name, run time and count (while statistics are on), its maps. */
export type SystemProgram = Readonly<NativeSystemProgram>;
/** A map: type, name, sizes, and the memory it is charged (memlock, -1 when unknown). */
export type SystemMap = Readonly<NativeSystemMap>;

/** Ids of every loaded program now, ascending. */
export function programIds(): number[] {
  return addon().progIds();
}

/** A program by id; undefined when it is gone (unloaded since it was listed). */
export function programInfo(id: number): SystemProgram | undefined {
  return addon().progInfo(id) ?? undefined;
}

/** Ids of every map now, ascending. */
export function mapIds(): number[] {
  return addon().mapIds();
}

/** A map by id; undefined when it is gone. */
export function systemMapInfo(id: number): SystemMap | undefined {
  return addon().mapInfoById(id) ?? undefined;
}

/** enum bpf_stats_type */
const BPF_STATS_RUN_TIME = 0;

/**
 * BPF_ENABLE_STATS held open: while any holder keeps it, the kernel counts every program's
 * run time and runs (they cost two clock reads per run). close() releases this holder.
 */
export class BpfStats {
  #h: FdHandle | undefined;

  private constructor(h: FdHandle) {
    this.#h = h;
  }

  /** Throws a NativeError ("enabling BPF statistics (...): EPERM") when refused. */
  static enableRunTime(): BpfStats {
    return new BpfStats(addon().enableStats(BPF_STATS_RUN_TIME));
  }

  get closed(): boolean {
    return this.#h === undefined;
  }

  /** Idempotent. */
  close(): void {
    const h = this.#h;
    if (h === undefined) return;
    this.#h = undefined;
    addon().fdClose(h);
  }
}
