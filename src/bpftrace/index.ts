/**
 * `lanner bpftrace`: the node's own bpftrace on a program, scoped to a pod's cgroups,
 * `$container_pid` substituted, output streamed.
 *
 * INTERFACE STUB written by the lead: the bpftrace engineer implements it (same signatures).
 */
import { LannerError } from "../errors.js";
import type { GadgetEnvironment } from "../gadgets/environment.js";

export interface BpftraceOptions {
  /** the program's text (-e, or -f FILE's content) */
  readonly program: string;
  /** where it came from, for messages: "-e" or the file's path */
  readonly programName: string;
  /** scope: this pod (in `namespace`; default "default") and optionally one of its containers */
  readonly pod?: string | undefined;
  readonly namespace?: string | undefined;
  readonly container?: string | undefined;
  readonly format: "text" | "json";
  /** SIGINT after this long (maps are printed) */
  readonly timeoutS?: number | undefined;
  /** the bpftrace binary (default: found on PATH) */
  readonly bpftrace?: string | undefined;
}

export interface BpftraceSink {
  /** bpftrace attached its probes (summary: what was scoped, e.g. "pod=shop/web cgroups=2") */
  ready(summary: string): void;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Bad input (no such pod, a program that cannot be scoped): exit 2 in the CLI, INVALID_ARGUMENT on the node API. */
export class BpftraceInputError extends LannerError {
  constructor(message: string) {
    super("EUSAGE", message);
  }
}

export class BpftraceRun {
  /** resolves with bpftrace's exit code once it ended and its output was delivered */
  readonly done: Promise<number> = Promise.resolve(1);

  /** Resolves the scope, rewrites the program, starts bpftrace; rejects with BpftraceInputError or LannerError. */
  static start(_opts: BpftraceOptions, _env: GadgetEnvironment, _sink: BpftraceSink): Promise<BpftraceRun> {
    return Promise.reject(new LannerError("ENOTSUP", "stub"));
  }

  /** Ends bpftrace (SIGINT: it prints its maps), escalating if it does not exit. */
  stop(): void {}
}
