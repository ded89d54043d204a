/**
 * What a gadget is: a source of events or rows (its own kernel programs, the capture path,
 * /proc, BPF iterators) plus a description of its fields and parameters. Everything else is
 * the framework's, in a fixed order (runner.ts): enrichment with process, container, pod and
 * node; container selection (in the kernel where the source allows); `--filter` in the rules
 * language; sorting and row limits; output. A new gadget writes its source and its
 * description, nothing else; the CLI flags, columns, JSON keys, `--help` and docs come from
 * the description.
 *
 * Records are plain objects keyed by field name: the rules language's name where one exists
 * (`proc.pid`, `fd.name`, `container.id`...), `<gadget>.<name>` otherwise (`file.rbytes`).
 * The same names are the JSON keys, the column ids, the `--filter` fields and the docs.
 */
import type { EventContext } from "../engine/fields/index.js";
import type { FieldType, FieldValue } from "../rules/index.js";
import type { ProcessTable } from "../state/process-table.js";
import type { StateServices } from "../state/services.js";

export type Category = "trace" | "top" | "snapshot";

/** One event or row: field name -> value (null or absent: unknown). */
export type GadgetRecord = Record<string, FieldValue | undefined>;

/** A field of a gadget and how it is shown as a column. */
export interface ColumnSpec {
  /** the field name (JSON key, `--filter` field) */
  readonly name: string;
  readonly type: FieldType;
  readonly desc: string;
  /** header; default: the last part of the name, upper-cased */
  readonly title?: string;
  /** preferred width; the table shrinks wide columns to fit the terminal */
  readonly width?: number;
  readonly minWidth?: number;
  readonly align?: "left" | "right";
  /** where a too-long value is cut: its end (default) or its start (paths) */
  readonly ellipsis?: "end" | "start";
  /** a group that `-o columns=-group` removes and `+group` adds (k8s, runtime...) */
  readonly group?: string;
  /** top gadgets: summed when rows of several intervals or CPUs are merged */
  readonly sum?: boolean;
}

/** A gadget parameter: a flag of its command (`--paths`, `--prefixes /etc,/var`). */
export interface ParamSpec {
  /** the flag without dashes */
  readonly name: string;
  readonly short?: string;
  readonly type: "boolean" | "string" | "int" | "list";
  readonly desc: string;
  /** shown in --help (a boolean's default is false) */
  readonly default?: string | number | readonly string[];
  /** the columns this flag shows (trace exec --paths: proc.cwd, proc.exepath) */
  readonly shows?: readonly string[];
}

export type ParamValue = boolean | string | number | readonly string[] | undefined;
export type ParamValues = Readonly<Record<string, ParamValue>>;

/** One event (trace) or row (top, snapshot) of a source, before enrichment. */
export interface SourceEvent {
  /** host pid of the process it is about (0: not about a process) */
  readonly pid: number;
  readonly tid?: number;
  /** cgroup v2 id of the process when the source knows it (container lookup, and the
   * kernel side's selection is keyed by it) */
  readonly cgroupId?: bigint;
  /** boot-time ns (trace events): evt.time */
  readonly ts?: number;
  /** the gadget's fields; common ones given here (proc.name from the kernel...) win over
   * what enrichment would look up */
  readonly fields: GadgetRecord;
}

/** The selection's verdicts on cgroups, for sources that filter in the kernel. */
export interface KernelFilter {
  /** false when the selection keeps every process: nothing to drop in the kernel */
  readonly active: boolean;
  /**
   * Called with every cgroup verdict known now and with each one decided later: true (pass),
   * false (drop), undefined (forget). Returns an unsubscribe.
   */
  onVerdict(fn: (cgroupId: bigint, pass: boolean | undefined) => void): () => void;
}

/** Capture records a gadget reads (see GadgetSpec.capture). */
export interface CaptureFeed {
  /** Called for every selected capture event of the gadget's syscalls (and exec records
   * when it asked for them), after the record was applied to process state. */
  on(fn: (ev: EventContext, type: string) => void): void;
}

/** Filtering a capture-based gadget asks the capture path to do in the kernel. */
export interface CaptureKernelFilter {
  /** open, openat, openat2, creat: only absolute paths under these text prefixes
   * (CaptureOptions.openPrefixes; some paths outside may still come: check fd.name) */
  readonly openPrefixes?: readonly string[];
}

/** What a running gadget can use. */
export interface GadgetContext {
  readonly params: ParamValues;
  /** processes: kept current by the capture path when the gadget reads it, else read from /proc */
  readonly procs: ProcessTable;
  /** containers, pods, users */
  readonly services: StateServices;
  /** the capture path's events (only for gadgets with `capture`) */
  readonly capture: CaptureFeed | null;
  /**
   * the capture is the agent's, shared with its rules (node API): the session-wide kernel
   * settings of `capture.kernel` (open prefixes) do not apply, the gadget filters in user space
   */
  readonly sharedCapture: boolean;
  /** the container selection, for programs that drop unselected namespaces in the kernel */
  readonly kernelFilter: KernelFilter;
  /** a trace gadget's event */
  emit(ev: SourceEvent): void;
  /** events the source lost (ring full...): counted and reported, never silent */
  lost(n: number, why: string): void;
  /** boot-time ns -> wall-clock ns */
  readonly bootToWallNs: bigint;
}

/** A started source. */
export interface RunningSource {
  /** top and snapshot gadgets: the current rows (top: for the interval since the last call) */
  collect?(): SourceEvent[] | Promise<SourceEvent[]>;
  /** what was attached or read, for the readiness line (`programs=3`) */
  readonly summary?: string;
  /** total events lost so far by the kernel side (polled; reported as they grow) */
  lost?(): number;
  /** delivers what the kernel side holds now (before stop) */
  drain?(): void;
  stop(): void | Promise<void>;
}

export interface GadgetSpec {
  readonly category: Category;
  /** `exec` of `trace exec` */
  readonly name: string;
  /** one line for `--help` and the gadget list */
  readonly summary: string;
  /** the gadget's own fields (common ones are the framework's: see common-columns.ts) */
  readonly columns: readonly ColumnSpec[];
  /** the common columns that apply to this gadget's records (process, container, pod, node) */
  readonly common: readonly string[];
  /** the columns shown by default, in order (own and common) */
  readonly defaults: readonly string[];
  readonly params: readonly ParamSpec[];
  /** top and snapshot gadgets: default sort, `-field` for descending */
  readonly defaultSort?: readonly string[];
  /**
   * The gadget reports things that belong to the node (BPF programs), not to a container:
   * with none of -n/-p/-c/-l it shows the whole node, the host included, as if --host were
   * given; a selection narrows it to what the selected pods hold.
   */
  readonly nodeWide?: boolean;
  /** capture records the gadget reads: the framework runs the capture path for them (with
   * process state, and the selection applied in the kernel); [] for process state only */
  readonly capture?: {
    readonly syscalls: readonly string[];
    /** filtering the capture path does in the kernel for these parameters (trace open
     * --prefixes), on top of the container selection */
    readonly kernel?: (params: ParamValues) => CaptureKernelFilter;
  };
  /** checks parameters before anything starts; returns a message for a bad value */
  validate?(params: ParamValues): string | undefined;
  /** why this host cannot run the gadget (a missing kernel feature), or undefined */
  unavailable?(): string | undefined;
  start(ctx: GadgetContext): RunningSource | Promise<RunningSource>;
}

/** `trace exec` */
export function gadgetId(g: Pick<GadgetSpec, "category" | "name">): string {
  return `${g.category} ${g.name}`;
}
