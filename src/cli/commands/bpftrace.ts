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
import { CLUSTER_HELP, CLUSTER_OPTIONS, clusterKubeConfig, openCluster } from "../cluster.js";
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
  /** kubectl lanner: how to reach the agents (CLUSTER_OPTIONS' flags) */
  readonly cluster?: Readonly<Record<string, unknown>>;
}

/**
 * Parses `lanner bpftrace`'s arguments (without the command name): null for --help.
 * Throws UsageError naming the flag or file (exit 2). `readFile` reads -f FILE.
 */
export function parseBpftraceArgs(
  argv: readonly string[],
  readFile: (path: string) => string = (p) => readFileSync(p, "utf8"),
  target: "local" | "cluster" = "local",
): BpftraceCall | null {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      ...(target === "cluster" ? CLUSTER_OPTIONS : {}),
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
    ...(target === "cluster"
      ? {
          cluster: Object.fromEntries(
            Object.keys(CLUSTER_OPTIONS).map((k) => [k, (values as Record<string, unknown>)[k]]),
          ),
        }
      : {}),
  };
}

export async function bpftraceCommand(
  argv: string[],
  io: CliIO,
  target: "local" | "cluster" = "local",
): Promise<number> {
  let call: BpftraceCall | null;
  try {
    call = parseBpftraceArgs(argv, undefined, target);
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
    io.stdout(target === "cluster" ? CLUSTER_BPFTRACE_HELP : BPFTRACE_HELP);
    return 0;
  }
  if (target === "cluster") return clusterBpftrace(call, io);
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

const CLUSTER_BPFTRACE_HELP =
  BPFTRACE_HELP.replace("Usage: lanner bpftrace", "Usage: kubectl lanner bpftrace")
    .replace(
      "      --pod NAME              only this pod's processes (on this node)\n",
      "      --pod NAME              only this pod's processes (run on the pod's node)\n",
    )
    .replace(
      / {6}--node NAME {13}run on this node \(here[^]*?other nodes\)\n/,
      "      --node NAME             run on this node (without --pod or --node: on every node,\n" +
        '                              each line prefixed with its node, or a "node" key in json)\n',
    )
    .replace("Errors in the program", CLUSTER_HELP + "\nErrors in the program")
    .replace("\n  lanner bpftrace --pod", "\n  kubectl lanner bpftrace --pod") +
  `
Ctrl-C cancels the remote runs (their maps are not printed): use --timeout to see them.
`;

/** How long after --timeout the plugin cancels a node that did not end its run (ms). */
const REMOTE_GRACE_MS = 25_000;

/**
 * Splits a node's output into whole lines and marks each with the node: text lines get a
 * "NODE: " prefix, JSON objects a "node" key.
 */
class NodeLines {
  private partial = "";
  constructor(
    private readonly node: string,
    private readonly json: boolean,
    private readonly write: (s: string) => void,
  ) {}
  push(text: string): void {
    const lines = (this.partial + text).split("\n");
    this.partial = lines.pop() ?? "";
    if (lines.length > 0) this.write(lines.map((l) => this.mark(l) + "\n").join(""));
  }
  end(): void {
    if (this.partial !== "") this.write(this.mark(this.partial) + "\n");
    this.partial = "";
  }
  private mark(line: string): string {
    if (this.json && line.startsWith("{")) {
      try {
        const o = JSON.parse(line) as unknown;
        if (typeof o === "object" && o !== null && !Array.isArray(o))
          return JSON.stringify({ node: this.node, ...(o as Record<string, unknown>) });
      } catch {
        // not a JSON object after all: marked as text
      }
    }
    return `${this.node}: ${line}`;
  }
}

/**
 * `kubectl lanner bpftrace`: runs on the pod's node (--pod), on --node, or on every node, through
 * the agents; one node's output passes unchanged, several nodes' are marked line by line. The
 * exit code is the node's, or the highest of them (1 when a node could not run it).
 */
async function clusterBpftrace(call: BpftraceCall, io: CliIO): Promise<number> {
  const flags = call.cluster ?? {};
  const [{ forEachNode }, { podNode }] = await Promise.all([
    import("../../api/cluster/fanout.js"),
    import("../../api/cluster/discovery.js"),
  ]);
  const kc = await clusterKubeConfig(flags);
  let nodes: string[] = call.node !== undefined ? [call.node] : [];
  if (call.pod !== undefined) {
    const ns = call.namespace ?? "default";
    const where = await podNode(kc, ns, call.pod);
    if (call.node !== undefined && call.node !== where)
      throw new UsageError(`--node ${call.node}: pod ${ns}/${call.pod} runs on node ${where}`);
    nodes = [where];
  }
  const conn = await openCluster(kc, flags, nodes, io, "bpftrace");
  if (conn === null) return 1;
  const many = conn.nodes.length > 1;
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const timer =
    call.timeoutS !== undefined ? setTimeout(onSignal, call.timeoutS * 1000 + REMOTE_GRACE_MS) : null;
  const wire = {
    program: call.program,
    programName: call.programName,
    pod: call.pod,
    namespace: call.namespace,
    container: call.container,
    format: call.format,
    timeoutS: call.timeoutS,
  };
  try {
    const r = await forEachNode(
      conn.nodes,
      async (client, node) => {
        const out = many ? new NodeLines(node.name, call.format === "json", (s) => io.stdout(s)) : null;
        const err = many ? new NodeLines(node.name, false, (s) => io.stderr(s)) : null;
        try {
          return await client.bpftrace(
            wire,
            {
              ready: (summary) => io.stderr(`lanner: ready (node ${node.name}: ${summary})\n`),
              stdout: (s) => (out !== null ? out.push(s) : io.stdout(s)),
              stderr: (s) => (err !== null ? err.push(s) : io.stderr(s)),
            },
            abort.signal,
          );
        } finally {
          out?.end();
          err?.end();
        }
      },
      { onFailure: (node, m) => io.stderr(`lanner: node ${node}: ${m}\n`) },
    );
    const codes = [...r.results.values()];
    if (r.failures.size > 0) codes.push(1);
    return Math.max(0, ...codes);
  } finally {
    if (timer !== null) clearTimeout(timer);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await conn.close();
  }
}
