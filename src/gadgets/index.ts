/**
 * Every gadget Lanner has. What is listed here is in `--help`, `doctor` and the docs, and has
 * a kernel test in its folder: a gadget that is not finished is not listed.
 */
import { gadgetId, type Category, type GadgetSpec } from "./gadget.js";
import { SNAPSHOT_PROCESS } from "./snapshot-process/snapshot-process.js";
import { SNAPSHOT_SOCKET } from "./snapshot-socket/snapshot-socket.js";
import { TOP_EBPF } from "./top-ebpf/top-ebpf.js";
import { TOP_FILE } from "./top-file/top-file.js";
import { TOP_PROCESS } from "./top-process/top-process.js";
import { TOP_TCP } from "./top-tcp/top-tcp.js";
import { TRACE_BIND } from "./trace-bind/trace-bind.js";
import { TRACE_DNS } from "./trace-dns/trace-dns.js";
import { TRACE_EXEC } from "./trace-exec/trace-exec.js";
import { TRACE_MOUNT } from "./trace-mount/trace-mount.js";
import { TRACE_OOMKILL } from "./trace-oomkill/trace-oomkill.js";
import { TRACE_OPEN } from "./trace-open/trace-open.js";
import { TRACE_SIGNAL } from "./trace-signal/trace-signal.js";
import { TRACE_SNI } from "./trace-sni/trace-sni.js";
import { TRACE_TCP } from "./trace-tcp/trace-tcp.js";

export const GADGETS: readonly GadgetSpec[] = [
  TRACE_EXEC,
  TRACE_DNS,
  TRACE_SNI,
  TRACE_OPEN,
  TRACE_BIND,
  TRACE_SIGNAL,
  TRACE_MOUNT,
  TRACE_TCP,
  TRACE_OOMKILL,
  TOP_FILE,
  TOP_PROCESS,
  TOP_EBPF,
  TOP_TCP,
  SNAPSHOT_PROCESS,
  SNAPSHOT_SOCKET,
];

export function findGadget(category: Category, name: string): GadgetSpec | undefined {
  return GADGETS.find((g) => g.category === category && g.name === name);
}

export function gadgetsOf(category: Category): GadgetSpec[] {
  return GADGETS.filter((g) => g.category === category);
}

export { gadgetId };
export type { Category, ColumnSpec, GadgetRecord, GadgetSpec, ParamSpec, SourceEvent } from "./gadget.js";
export { GadgetInputError, GadgetRun, gadgetFields, prepare } from "./runner.js";
export { nodeEnvironment, type GadgetEnvironment } from "./environment.js";
export { createWriter, selectColumns, ColumnError, type OutputMode } from "./output.js";
export { parseSelector, SelectorError, type SelectionOptions } from "./selection.js";
