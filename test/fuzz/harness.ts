/**
 * A small fuzzing harness. A target turns a seeded random generator into inputs (mutating
 * and combining valid seeds) and runs one input through the code under test. Each input has
 * one outcome:
 *  - accepted: the code took it;
 *  - diagnosed: the code rejected it the way it should (diagnostics, a counted error...);
 *  - unexpected: anything thrown out of `run`, an exception the code let escape.
 * An input whose run takes longer than the time limit (100 ms) is a failure too, whatever
 * its outcome. The time of a run is the smaller of its wall-clock time and the CPU time the
 * process used meanwhile (other processes on a busy machine do not count against it); an
 * input over the limit is timed again up to twice, keeping the fastest run, so a garbage
 * collection alone does not make a failure. A few inputs of another seed are run untimed
 * first, so that compiling the code under test does not count either.
 *
 * Inputs are reproducible: input #k of seed S is generated from its own generator seeded
 * with (S, k), so `run.js --seed S --input k` runs it again.
 */

export type Outcome = "accepted" | "diagnosed";

/** Deterministic pseudo-random numbers (mulberry32). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** For input `index` of run `seed`. */
  static forInput(seed: number, index: number): Rng {
    return new Rng((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from an empty list");
    return items[this.int(items.length)] as T;
  }
}

export interface FuzzTarget<I = unknown> {
  readonly name: string;
  readonly description: string;
  /** Called once before the first input (load seeds, warm up code paths). */
  prepare?(): void;
  /** A new input from the generator. */
  generate(rng: Rng): I;
  /** Run one input. Anything thrown is an unexpected exception. */
  run(input: I): Outcome;
  /** The input as printable text, to report and reproduce it. */
  show(input: I): string;
}

/** Build a target with its input type checked, stored in a list of targets of any input. */
export function defineTarget<I>(t: FuzzTarget<I>): FuzzTarget {
  return t as unknown as FuzzTarget;
}

export const SLOW_MS = 100;

export interface Failure {
  readonly index: number;
  readonly kind: "unexpected" | "slow";
  readonly ms: number;
  /** The error (with the top of its stack) for unexpected exceptions. */
  readonly error?: string;
  readonly input: string;
}

export interface RunSummary {
  readonly target: string;
  readonly seed: number;
  inputs: number;
  accepted: number;
  diagnosed: number;
  unexpected: number;
  slow: number;
  slowest: { ms: number; index: number; input: string } | undefined;
  readonly failures: Failure[];
  elapsedMs: number;
}

export interface RunOptions {
  readonly seed: number;
  /** Stop after this many inputs... */
  readonly count?: number;
  /** ...or after this many seconds (the first limit reached; default 10 s). */
  readonly seconds?: number;
  /** Run only input #index (to reproduce one). */
  readonly only?: number;
  readonly slowMs?: number;
  /** Called for each failure as it happens. */
  readonly onFailure?: (f: Failure) => void;
  /** Failures kept in the summary (the counts are complete). */
  readonly keepFailures?: number;
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const frames = (e.stack ?? "")
      .split("\n")
      .slice(1, 4)
      .map((l) => l.trim())
      .join(" | ");
    return `${e.name}: ${e.message.slice(0, 300)}${frames === "" ? "" : ` [${frames}]`}`;
  }
  return `thrown non-error: ${String(e).slice(0, 300)}`;
}

/** Run one input: its outcome or the error, and how long it took (min of wall and CPU time). */
function once(target: FuzzTarget, input: unknown): { outcome?: Outcome; error?: string; ms: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const took = (): number => {
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    return Math.min(wall, (c.user + c.system) / 1000);
  };
  try {
    const outcome = target.run(input);
    return { outcome, ms: took() };
  } catch (e) {
    return { error: errorText(e), ms: took() };
  }
}

/** Inputs run untimed before a run (JIT warm-up). */
const WARMUP_INPUTS = 30;

export function runTarget(target: FuzzTarget, opts: RunOptions): RunSummary {
  const slowMs = opts.slowMs ?? SLOW_MS;
  const keep = opts.keepFailures ?? 50;
  const summary: RunSummary = {
    target: target.name,
    seed: opts.seed,
    inputs: 0,
    accepted: 0,
    diagnosed: 0,
    unexpected: 0,
    slow: 0,
    slowest: undefined,
    failures: [],
    elapsedMs: 0,
  };
  target.prepare?.();
  for (let k = 0; k < WARMUP_INPUTS; k++) {
    try {
      target.run(target.generate(Rng.forInput(opts.seed ^ 0x5eed, k)));
    } catch {
      // failures count only in the run itself
    }
  }
  const start = performance.now();
  const deadline =
    opts.seconds !== undefined || opts.count === undefined ? start + (opts.seconds ?? 10) * 1000 : Infinity;
  const count = opts.only !== undefined ? 1 : (opts.count ?? Infinity);
  for (let k = 0; k < count && performance.now() < deadline; k++) {
    const index = opts.only ?? k;
    const input = target.generate(Rng.forInput(opts.seed, index));
    let r = once(target, input);
    // over the limit: time it again (at most twice) and keep the fastest run
    for (let again = 0; again < 2 && r.ms > slowMs && r.error === undefined; again++) {
      const r2 = once(target, input);
      if (r2.ms < r.ms) r = r2;
    }
    summary.inputs++;
    if (r.outcome === "accepted") summary.accepted++;
    else if (r.outcome === "diagnosed") summary.diagnosed++;
    if (summary.slowest === undefined || r.ms > summary.slowest.ms)
      summary.slowest = { ms: r.ms, index, input: target.show(input) };
    const fail = (kind: Failure["kind"], error?: string): void => {
      const f: Failure = { index, kind, ms: r.ms, input: target.show(input), ...(error ? { error } : {}) };
      if (summary.failures.length < keep) summary.failures.push(f);
      opts.onFailure?.(f);
    };
    if (r.error !== undefined) {
      summary.unexpected++;
      fail("unexpected", r.error);
    }
    if (r.ms > slowMs) {
      summary.slow++;
      fail("slow");
    }
  }
  summary.elapsedMs = performance.now() - start;
  return summary;
}

/** Text of an input for a report: escaped, long ones cut in the middle. */
export function clip(s: string, max = 600): string {
  const j = JSON.stringify(s);
  if (j.length <= max) return j;
  return `${j.slice(0, max / 2)} ...[${j.length - max} more characters]... ${j.slice(-max / 2)}`;
}

export function formatSummary(s: RunSummary): string {
  const slowest =
    s.slowest === undefined
      ? "none"
      : `${s.slowest.ms.toFixed(1)} ms (input #${s.slowest.index}: ${clip(s.slowest.input, 160)})`;
  return [
    `target ${s.target} (seed ${s.seed}, ${(s.elapsedMs / 1000).toFixed(1)} s)`,
    `  inputs                 ${s.inputs}`,
    `  accepted               ${s.accepted}`,
    `  diagnosed              ${s.diagnosed}`,
    `  unexpected exceptions  ${s.unexpected}`,
    `  inputs over ${SLOW_MS} ms      ${s.slow}`,
    `  slowest input          ${slowest}`,
  ].join("\n");
}

export function formatFailure(target: string, seed: number, f: Failure): string {
  const what =
    f.kind === "unexpected" ? `UNEXPECTED EXCEPTION ${f.error ?? ""}` : `SLOW ${f.ms.toFixed(1)} ms`;
  return `FAIL ${target} seed ${seed} input #${f.index}: ${what}\n  input (${f.input.length} chars): ${clip(f.input)}\n  reproduce: node dist/test/fuzz/run.js --target ${target} --seed ${seed} --input ${f.index}`;
}
