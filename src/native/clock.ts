/**
 * BPF timestamps come from bpf_ktime_get_boot_ns (CLOCK_BOOTTIME). clockOffsets() samples
 * CLOCK_REALTIME and CLOCK_BOOTTIME together so JS can convert:
 *   wallNs = bootNs + (realtimeNs - boottimeNs)
 * Re-sample now and then: the offset moves when the wall clock is stepped or slewed.
 */
import { addon } from './addon.js';

export interface ClockOffsets {
  realtimeNs: bigint;
  boottimeNs: bigint;
  monotonicNs: bigint;
}

export function clockOffsets(): ClockOffsets {
  return addon().clockOffsets();
}

/** Converts boot-clock nanoseconds to wall-clock time with one sampled offset. */
export class BootClock {
  #offsetNs: bigint;
  /** Offset in ms as a double, for the hot path (ms precision is enough for most outputs). */
  #offsetMs: number;

  constructor(offsets: ClockOffsets = clockOffsets()) {
    this.#offsetNs = offsets.realtimeNs - offsets.boottimeNs;
    this.#offsetMs = Number(this.#offsetNs) / 1e6;
  }

  resync(offsets: ClockOffsets = clockOffsets()): void {
    this.#offsetNs = offsets.realtimeNs - offsets.boottimeNs;
    this.#offsetMs = Number(this.#offsetNs) / 1e6;
  }

  get offsetNs(): bigint {
    return this.#offsetNs;
  }

  /** Exact wall-clock ns since the epoch. */
  wallNs(bootNs: bigint): bigint {
    return bootNs + this.#offsetNs;
  }

  /** Wall-clock ms since the epoch (fractional), from boot ns given as a double. */
  wallMs(bootNs: number): number {
    return bootNs / 1e6 + this.#offsetMs;
  }
}
