/**
 * Every gadget Lanner has. What is listed here is in `--help`, `doctor` and the docs, and has
 * a kernel test in its folder: a gadget that is not finished is not listed.
 */
import { gadgetId, type Category, type GadgetSpec } from "./gadget.js";
import { TOP_FILE } from "./top-file/top-file.js";
import { TOP_PROCESS } from "./top-process/top-process.js";
import { TRACE_EXEC } from "./trace-exec/trace-exec.js";

export const GADGETS: readonly GadgetSpec[] = [TRACE_EXEC, TOP_FILE, TOP_PROCESS];

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
