/**
 * `lanner bpftrace`: the node's own bpftrace on a program, every task-context probe scoped to
 * a pod's cgroups, `$container_pid` substituted, output streamed. Standalone on a host (the
 * runtime's containers and their CRI labels give the pods); `kubectl lanner bpftrace` runs the
 * same on other nodes through their agents.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { errorMessage } from "../../errors.js";
import { BpftraceInputError, BpftraceRun, type BpftraceOptions } from "../../bpftrace/index.js";
import { nodeEnvironment } from "../../gadgets/environment.js";
import { UsageError, type CliIO } from "../io.js";
import { nodeName } from "./gadget.js";

export const BPFTRACE_HELP = `Usage: lanner bpftrace (-e PROGRAM | -f FILE) [options]

Runs the node's bpftrace on a program. With --pod, every probe that runs in a task's
context (tracepoint, rawtracepoint, kprobe, kretprobe, uprobe, uretprobe, usdt, kfunc,
kretfunc, software, hardware, profile, watchpoint) fires only in the pod's containers: its
predicate gets "cgroup == ID || ..." with the containers' cgroup v2 ids. BEGIN, END and
interval probes run in no task's context and are NOT scoped (a probe list mixing them with
others is split in two); iter probes cannot be scoped and are refused with --pod.

Program:
  -e, --expr PROGRAM          the program's text
  -f, --file FILE             the program's file (#include "x.h" resolves next to it)
      $container_pid          in the program (outside strings and comments): the host pid
                              of the container's main process (the pod's first container,
                              or -c's); needs --pod
Scope:
      --pod NAME              only this pod's processes (on this node)
  -n, --namespace NS          the pod's namespace (default "default")
  -c, --container NAME        only this container of the pod (default: all of them, not
                              the pod's sandbox)
      --node NAME             run on this node (here: this node's name; kubectl lanner
                              bpftrace runs it on other nodes)
Output:
  -o, --output FORMAT         text (default) or json (bpftrace -f json: one JSON object
                              per line)
      --timeout S             stop after S seconds (SIGINT: bpftrace prints its maps)
  -h, --help                  this help

Errors in the program are reported at the line and column of your program.

Example:
  lanner bpftrace --pod web -n shop --timeout 5 \\
    -e 'tracepoint:syscalls:sys_enter_openat { @[comm, pid] = count(); }'
`;

/** The command line, checked: what a BpftraceRun (here or on another node) needs. */
export interface BpftraceCall extends BpftraceOptions {
  /** --node: the node to run on (undefined: this one, or every node through kubectl lanner) */
  readonly node?: string | undefined;
}

/**
 * Parses `lanner bpftrace`'s arguments (without the command name): null for --help.
 * Throws UsageError naming the flag or file (exit 2). `readFile` reads -f FILE.
 */
export function parseBpftraceArgs(
  argv: readonly string[],
  readFile: (path: string) => string = (p) => readFileSync(p, "utf8"),
): BpftraceCall | null {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      expr: { type: "string", short: "e" },
      file: { type: "string", short: "f" },
      pod: { type: "string" },
      namespace: { type: "string", short: "n" },
      container: { type: "string", short: "c" },
      node: { type: "string" },
      timeout: { type: "string" },
      output: { type: "string", short: "o" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help === true) return null;
  if (positionals.length > 0)
    throw new UsageError(
      `unexpected argument '${positionals[0]}' (the program goes in -e PROGRAM or -f FILE)`,
    );
  const expr = values.expr;
  const file = values.file;
  if (expr !== undefined && file !== undefined) throw new UsageError("-e and -f exclude each other");
  if (expr === undefined && file === undefined)
    throw new UsageError("a program is needed: -e PROGRAM or -f FILE");
  let program: string;
  if (file !== undefined) {
    try {
      program = readFile(file);
    } catch (e) {
      throw new UsageError(`-f ${file}: ${errorMessage(e)}`);
    }
  } else program = expr as string;
  if (program.trim() === "")
    throw new UsageError(`${file !== undefined ? `-f ${file}` : "-e"}: the program is empty`);
  if (values.container !== undefined && values.pod === undefined)
    throw new UsageError(`-c ${values.container}: a container is chosen within a pod (--pod NAME)`);
  for (const [flag, v] of [
    ["--pod", values.pod],
    ["--namespace", values.namespace],
    ["--container", values.container],
    ["--node", values.node],
  ] as const)
    if (v !== undefined && v.trim() === "") throw new UsageError(`${flag}: empty name`);
  let timeoutS: number | undefined;
  if (values.timeout !== undefined) {
    timeoutS = Number(values.timeout);
    if (values.timeout.trim() === "" || !Number.isFinite(timeoutS) || timeoutS <= 0)
      throw new UsageError(`--timeout: expected a positive number of seconds, got '${values.timeout}'`);
  }
  const output = values.output ?? "text";
  if (output !== "text" && output !== "json")
    throw new UsageError(`--output: expected text or json, got '${output}'`);
  return {
    program,
    programName: file ?? "-e",
    pod: values.pod,
    namespace: values.namespace,
    container: values.container,
    format: output,
    timeoutS,
    node: values.node,
  };
}

export async function bpftraceCommand(argv: string[], io: CliIO): Promise<number> {
  let call: BpftraceCall | null;
  try {
    call = parseBpftraceArgs(argv);
  } catch (e) {
    if (
      e instanceof UsageError ||
      (e instanceof TypeError && String((e as { code?: unknown }).code).startsWith("ERR_PARSE_ARGS"))
    ) {
      io.stderr(`lanner bpftrace: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (call === null) {
    io.stdout(BPFTRACE_HELP);
    return 0;
  }
  const node = nodeName();
  if (call.node !== undefined && call.node !== node) {
    io.stderr(
      `lanner bpftrace: --node ${call.node}: this is node ${node} (kubectl lanner bpftrace runs it on other nodes)\n`,
    );
    return 2;
  }
  const env = nodeEnvironment(node);
  let run: BpftraceRun;
  try {
    run = await BpftraceRun.start(call, env, {
      ready: (summary) => io.stderr(`lanner: ready (${summary})\n`),
      stdout: (s) => io.stdout(s),
      stderr: (s) => io.stderr(s),
    });
  } catch (e) {
    await env.close();
    io.stderr(`lanner bpftrace: ${errorMessage(e)}\n`);
    return e instanceof BpftraceInputError ? 2 : 1;
  }
  // the containers were needed only to resolve the scope
  await env.close();
  const onSignal = (): void => run.stop();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await run.done;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
