/**
 * The columns every gadget can show (time, process, user, container, pod, node) and the code
 * that fills them: enrichment. Their names, types and descriptions are the syscall registry's
 * rows where one exists (a gadget's `proc.pid` is the rules' `proc.pid`); each row here also
 * carries its producer, so a common column cannot be listed without being filled.
 */
import { SYSCALL_FIELDS } from "../engine/fields/index.js";
import type { FieldValue } from "../rules/index.js";
import { HOST_CONTAINER, type ContainerInfo } from "../state/containers/container-info.js";
import type { PodMeta } from "../state/k8s/k8s-metadata.js";
import type { ProcessInfo, ProcessTable } from "../state/process-table.js";
import type { ColumnSpec, SourceEvent } from "./gadget.js";

/** What the producers read: the event, its process, container, pod and node. */
export interface Placement {
  readonly ev: SourceEvent;
  /** the process as the table knows it (undefined once it is gone) */
  readonly proc: ProcessInfo | undefined;
  readonly procs: ProcessTable;
  /** undefined while unknown; HOST_CONTAINER outside containers */
  readonly container: ContainerInfo | undefined;
  readonly pod: PodMeta | null;
  readonly node: string;
  readonly bootToWallNs: bigint;
}

export interface CommonColumn extends ColumnSpec {
  /** the value, or null when unknown; a source's own value for the name wins */
  readonly get: (p: Placement) => FieldValue;
  /** filled only once the container is known (container and pod columns) */
  readonly placed?: boolean;
}

type Shown = Omit<ColumnSpec, "type" | "desc" | "name">;

function row(name: string, shown: Shown, get: CommonColumn["get"], placed = false): CommonColumn {
  const d = SYSCALL_FIELDS.byName(name);
  if (d === undefined) throw new Error(`common column ${name} is not a registered field`);
  return { name, type: d.type, desc: d.desc, ...shown, get, ...(placed ? { placed } : {}) };
}

const inContainer = (p: Placement): ContainerInfo | null =>
  p.container === undefined || p.container === HOST_CONTAINER ? null : p.container;

function labelsText(labels: Readonly<Record<string, string>> | null | undefined): string | null {
  if (labels === null || labels === undefined) return null;
  const e = Object.entries(labels);
  return e.length === 0 ? null : e.map(([k, v]) => `${k}:${v}`).join(",");
}

/** The column that names an event's node (every event of `kubectl lanner` carries it). */
export const NODE_FIELD = "k8s.node.name";

/** Enrichment's columns, in the order they are listed. */
export const COMMON_COLUMNS: readonly CommonColumn[] = [
  row("evt.time", { title: "TIME", width: 18 }, (p) =>
    p.ev.ts === undefined ? null : BigInt(Math.round(p.ev.ts)) + p.bootToWallNs,
  ),
  {
    name: NODE_FIELD,
    type: "string",
    desc: "The node the event happened on (Kubernetes node name, or this host's name).",
    title: "NODE",
    width: 16,
    group: "k8s",
    get: (p) => p.node,
  },
  row("k8s.ns.name", { title: "NAMESPACE", width: 16, group: "k8s" }, (p) => p.pod?.namespace ?? null, true),
  row("k8s.pod.name", { title: "POD", width: 30, group: "k8s" }, (p) => p.pod?.name ?? null, true),
  row(
    "container.name",
    { title: "CONTAINER", width: 16, group: "k8s" },
    (p) => (p.container === undefined ? null : p.container.name),
    true,
  ),
  row("k8s.pod.labels", { title: "LABELS", width: 30, group: "k8s" }, (p) => labelsText(p.pod?.labels), true),
  row(
    "container.id",
    { title: "CONTAINERID", width: 12, group: "runtime" },
    (p) => p.container?.id ?? null,
    true,
  ),
  row(
    "container.image",
    { title: "IMAGE", width: 30, group: "runtime" },
    (p) => inContainer(p)?.image ?? null,
    true,
  ),
  row(
    "container.type",
    { title: "RUNTIME", width: 10, group: "runtime" },
    (p) => inContainer(p)?.type ?? null,
    true,
  ),
  row("proc.pid", { title: "PID", width: 7, align: "right" }, (p) => (p.ev.pid > 0 ? p.ev.pid : null)),
  row(
    "thread.tid",
    { title: "TID", width: 7, align: "right" },
    (p) => p.ev.tid ?? (p.ev.pid > 0 ? p.ev.pid : null),
  ),
  row("proc.ppid", { title: "PPID", width: 7, align: "right" }, (p) => p.proc?.ppid ?? null),
  row("proc.name", { title: "COMM", width: 16 }, (p) => p.proc?.comm ?? null),
  row("proc.pname", { title: "PCOMM", width: 16 }, (p) => {
    const pp = p.proc === undefined ? undefined : p.procs.lookup(p.proc.ppid);
    return pp?.comm ?? null;
  }),
  row("user.uid", { title: "UID", width: 6, align: "right" }, (p) => p.proc?.uid ?? null),
  row("group.gid", { title: "GID", width: 6, align: "right" }, (p) => p.proc?.gid ?? null),
];

export const COMMON_BY_NAME: ReadonlyMap<string, CommonColumn> = new Map(
  COMMON_COLUMNS.map((c) => [c.name, c]),
);

/** The process and thread columns (filled at once, while the process is still there). */
export const PROCESS_COLUMNS: readonly CommonColumn[] = COMMON_COLUMNS.filter((c) => c.placed !== true);
/** The container and pod columns (filled once the container's metadata is known). */
export const PLACED_COLUMNS: readonly CommonColumn[] = COMMON_COLUMNS.filter((c) => c.placed === true);

/** The usual process columns of an event-per-process gadget. */
export const PROCESS_COMMON: readonly string[] = [
  "evt.time",
  "proc.pid",
  "thread.tid",
  "proc.ppid",
  "proc.name",
  "proc.pname",
  "user.uid",
  "group.gid",
];
/** The container, pod and node columns. */
export const PLACE_COMMON: readonly string[] = [
  "k8s.node.name",
  "k8s.ns.name",
  "k8s.pod.name",
  "container.name",
  "k8s.pod.labels",
  "container.id",
  "container.image",
  "container.type",
];
/** The default columns that say where: namespace, pod and container. */
export const PLACE_DEFAULTS: readonly string[] = ["k8s.ns.name", "k8s.pod.name", "container.name"];
