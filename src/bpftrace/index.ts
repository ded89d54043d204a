/**
 * `lanner bpftrace`: the node's own bpftrace on a program, scoped to a pod's cgroups,
 * `$container_pid` substituted, output streamed.
 */
export { BpftraceInputError } from "./input-error.js";
export { BpftraceRun, findBpftrace, MAX_LINE, type BpftraceOptions, type BpftraceSink } from "./runner.js";
export {
  CONTAINER_VARIABLES,
  parseProgram,
  ProgramError,
  rewriteProgram,
  type ParsedProgram,
  type ProgramScope,
  type Rewritten,
} from "./program.js";
export { resolvePodScope, type PodScope, type ScopeRequest, type ScopedContainer } from "./scope.js";
