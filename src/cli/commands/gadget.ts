/**
 * `lanner trace|top|snapshot <gadget>`: runs one gadget and prints its events or tables, on
 * one of three targets: this node (the standalone path: the gadget runs in this process), an
 * agent (`--agent ADDRESS`: the agent's node API runs it), or every node of the cluster
 * (`kubectl lanner`: the agents found through the API server, their output merged). Flags,
 * help and columns come from the gadget's description (src/gadgets/); parsing them into a
 * GadgetCall is one function (parseGadgetArgs) that every target uses.
 */
import { hostname } from "node:os";
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { ClusterNode } from "../../api/cluster/connect.js";
import type { GadgetCall, NodeTls } from "../../api/node-client.js";
import { errorMessage } from "../../errors.js";
import {
  ColumnError,
  createWriter,
  findGadget,
  gadgetFields,
  gadgetId,
  gadgetsOf,
  GadgetInputError,
  GadgetRun,
  nodeEnvironment,
  parseSelector,
  prepare,
  selectColumns,
  SelectorError,
  type Category,
  type GadgetSpec,
  type ColumnSpec,
  type OutputMode,
  type SelectionOptions,
} from "../../gadgets/index.js";
import { NODE_FIELD } from "../../gadgets/common-columns.js";
import type { ParamValue } from "../../gadgets/gadget.js";
import type { RecordWriter } from "../../gadgets/output.js";
import type { Prepared, RunStats } from "../../gadgets/runner.js";
import { CLUSTER_HELP, CLUSTER_OPTIONS, clusterKubeConfig, openCluster, TLS_OPTIONS } from "../cluster.js";
import { ChunkedOutput, UsageError, type CliIO } from "../io.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

const COMMON_OPTIONS: Options = {
  namespace: { type: "string", short: "n", multiple: true },
  "all-namespaces": { type: "boolean", short: "A" },
  podname: { type: "string", short: "p", multiple: true },
  containername: { type: "string", short: "c", multiple: true },
  selector: { type: "string", short: "l", multiple: true },
  host: { type: "boolean" },
  node: { type: "string", multiple: true },
  filter: { type: "string" },
  timeout: { type: "string" },
  output: { type: "string", short: "o" },
  help: { type: "boolean", short: "h" },
};
const TABLE_OPTIONS: Options = {
  sort: { type: "string" },
};
/** Where a gadget runs: this process, or the agents of the cluster (`kubectl lanner`). */
export type GadgetTarget = "local" | "cluster";

const LOCAL_OPTIONS: Options = {
  agent: { type: "string" },
  ...TLS_OPTIONS,
};
const TOP_OPTIONS: Options = {
  interval: { type: "string" },
  "max-rows": { type: "string", short: "m" },
};

const LOCAL_HELP = `Agent (run the gadget in a running agent instead of this process):
      --agent ADDRESS         unix:///run/lanner/lanner.sock or HOST:PORT (TCP: mutual TLS,
                              the agent's certificate checked for the name lanner-agent)
      --tls-cert FILE         client certificate (PEM), with --tls-key and --tls-ca
      --tls-key FILE          its key
      --tls-ca FILE           the CA that signed the agent's certificate
`;

const COMMON_HELP = `Selection (which processes; in the kernel where the gadget allows):
  -n, --namespace NS[,NS]     pods in these namespaces ('!NS' excludes)
  -A, --all-namespaces        every namespace (the default on a node)
  -p, --podname NAME[,NAME]   these pods ('!NAME' excludes)
  -c, --containername NAME    these containers ('!NAME' excludes)
  -l, --selector K=V[,K=V]    pod labels: k=v, k!=v, !k (absent), k=!v
      --host                  processes outside containers too (implied on a host
                              without a container runtime or cluster)
      --node NAME             only on this node (kubectl lanner: repeatable)
Output:
      --filter COND           only records matching COND (the rules language, on the
                              gadget's fields, e.g. "proc.name=sh and evt.rawres<0")
  -o, --output FORMAT         columns (default, fitted to the terminal), json (one object
                              per line), yaml; columns=a,b picks columns, columns=+x,-k8s
                              adds or removes columns and groups (k8s, runtime)
      --timeout S             stop after S seconds
  -h, --help                  this help
`;

function list(v: unknown): string[] {
  if (v === undefined) return [];
  const items = (Array.isArray(v) ? v : [v]) as string[];
  return items
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

function seconds(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag}: expected a positive number of seconds, got '${v}'`);
  return n;
}

function gadgetOptions(spec: GadgetSpec, target: GadgetTarget): Options {
  const o: Options = { ...COMMON_OPTIONS, ...(target === "cluster" ? CLUSTER_OPTIONS : LOCAL_OPTIONS) };
  if (spec.category !== "trace") Object.assign(o, TABLE_OPTIONS);
  if (spec.category === "top") Object.assign(o, TOP_OPTIONS);
  for (const p of spec.params) {
    if (o[p.name] !== undefined)
      throw new Error(`gadget ${gadgetId(spec)}: parameter --${p.name} is a common flag`);
    o[p.name] = {
      type: p.type === "boolean" ? "boolean" : "string",
      ...(p.short !== undefined ? { short: p.short } : {}),
      ...(p.type === "list" ? { multiple: true } : {}),
    };
  }
  return o;
}

export function gadgetHelp(spec: GadgetSpec, target: GadgetTarget = "local"): string {
  const id = gadgetId(spec);
  let s = `Usage: ${target === "cluster" ? "kubectl lanner" : "lanner"} ${id} [options]\n\n${spec.summary[0]?.toUpperCase()}${spec.summary.slice(1)}.\n\n`;
  if (spec.params.length > 0) {
    s += "Gadget options:\n";
    for (const p of spec.params) {
      const flag = `${p.short !== undefined ? `-${p.short}, ` : "    "}--${p.name}${p.type === "boolean" ? "" : p.type === "list" ? " A,B" : p.type === "int" ? " N" : " VALUE"}`;
      const def =
        p.default !== undefined
          ? ` (default ${Array.isArray(p.default) ? p.default.join(",") : String(p.default)})`
          : "";
      s += `  ${flag.padEnd(28)}${p.desc}${def}\n`;
    }
  }
  if (spec.category === "top")
    s +=
      "Table options:\n  --interval S                seconds between tables (default 1)\n" +
      "  -m, --max-rows N            rows per table (default 20)\n";
  if (spec.category !== "trace")
    s += `  --sort [-]F,...             sort by these fields, - for descending (default ${(spec.defaultSort ?? []).join(",") || "none"})\n`;
  s += COMMON_HELP;
  s += target === "cluster" ? CLUSTER_HELP : LOCAL_HELP;
  s += "\nFields (the column ids, JSON keys and --filter fields; * = shown by default):\n";
  const fields = gadgetFields(spec);
  const w = Math.max(...fields.map((f) => f.name.length)) + 2;
  // the widest type ("list(string)") still leaves a space before the description
  const tw = Math.max(10, ...fields.map((f) => f.type.length + 1));
  for (const f of fields)
    s += `  ${spec.defaults.includes(f.name) ? "*" : " "} ${f.name.padEnd(w)}${f.type.padEnd(tw)}${f.desc}\n`;
  return s;
}

function categoryHelp(category: Category, target: GadgetTarget = "local"): string {
  const cmd = target === "cluster" ? "kubectl lanner" : "lanner";
  let s = `Usage: ${cmd} ${category} <gadget> [options]\n\nGadgets:\n`;
  for (const g of gadgetsOf(category)) s += `  ${g.name.padEnd(12)}${g.summary}\n`;
  s += `\n'${cmd} ${category} <gadget> --help' lists a gadget's options and fields.\n`;
  return s;
}

function parseOutput(v: string | undefined): { mode: OutputMode; columns: string | undefined } {
  if (v === undefined || v === "columns") return { mode: "columns", columns: undefined };
  if (v.startsWith("columns=")) return { mode: "columns", columns: v.slice("columns=".length) };
  if (v === "json" || v === "yaml") return { mode: v, columns: undefined };
  throw new UsageError(`--output: expected columns, columns=a,b, json or yaml, got '${v}'`);
}

/** The node this runs on: NODE_NAME (the DaemonSet sets it from the pod's spec.nodeName), else the host name. */
export function nodeName(): string {
  return process.env["NODE_NAME"] ?? hostname();
}

/**
 * `--sort -field` as Inspektor Gadget spells it: parseArgs takes a value that starts with a
 * dash only as `--sort=-field`, so the separate form is joined first.
 */
export function joinSortValue(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const next = args[i + 1];
    if (a === "--sort" && next !== undefined && /^-[^-]/.test(next)) {
      out.push(`--sort=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** A gadget command line, checked: what every target runs. */
export interface GadgetInvocation {
  readonly spec: GadgetSpec;
  readonly id: string;
  /** the call a node runs (the selection's `host` as decided here) */
  readonly call: GadgetCall;
  /** the request as checked here (its sort keys, row limit and columns are the client's) */
  readonly prepared: Prepared;
  readonly columns: ColumnSpec[];
  readonly output: { readonly mode: OutputMode; readonly columns: string | undefined };
  /** -n/-p/-c/-l given: a node-wide gadget is narrowed to them */
  readonly selecting: boolean;
  /** --node */
  readonly nodes: readonly string[];
  /** the target's own flags (--agent, --direct, --kubeconfig, --tls-*...) */
  readonly flags: Readonly<Record<string, string | boolean | undefined>>;
}

export type ParsedGadgetArgs =
  | { readonly kind: "help"; readonly text: string; readonly code: number }
  | { readonly kind: "unknown"; readonly text: string }
  | ({ readonly kind: "call" } & GadgetInvocation);

/**
 * Parses a gadget command line (`exec -n web --filter ...`) into the call every target runs.
 * Throws UsageError (a flag's value), GadgetInputError or ColumnError (what the gadget
 * refuses: a field, a column, a parameter), all exit 2.
 */
export function parseGadgetArgs(
  category: Category,
  argv: readonly string[],
  target: GadgetTarget,
): ParsedGadgetArgs {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h")
    return { kind: "help", text: categoryHelp(category, target), code: name === undefined ? 2 : 0 };
  const spec = findGadget(category, name);
  if (spec === undefined)
    return { kind: "unknown", text: `unknown gadget '${name}'\n${categoryHelp(category, target)}` };
  const id = gadgetId(spec);
  const { values } = parseArgs({
    args: joinSortValue(rest),
    options: gadgetOptions(spec, target),
    strict: true,
    allowPositionals: false,
  });
  if (values["help"] === true) return { kind: "help", text: gadgetHelp(spec, target), code: 0 };
  const params: Record<string, ParamValue> = {};
  const given: Record<string, ParamValue> = {};
  for (const p of spec.params) {
    const v = values[p.name];
    if (v === undefined) {
      params[p.name] = p.type === "boolean" ? false : p.default;
      continue;
    }
    if (p.type === "int") {
      const n = Number(v);
      if (!Number.isInteger(n)) throw new UsageError(`--${p.name}: expected an integer, got '${String(v)}'`);
      params[p.name] = n;
    } else if (p.type === "list") params[p.name] = list(v);
    else params[p.name] = v as string | boolean;
    given[p.name] = params[p.name];
  }
  const output = parseOutput(values["output"] as string | undefined);
  if (values["all-namespaces"] === true && values["namespace"] !== undefined)
    throw new UsageError("--all-namespaces and --namespace exclude each other");
  const selecting = ["namespace", "podname", "containername", "selector"].some(
    (k) => values[k] !== undefined,
  );
  const host = values["host"] === true || (spec.nodeWide === true && !selecting);
  let labels;
  try {
    labels = list(values["selector"]).length > 0 ? parseSelector(list(values["selector"]).join(",")) : [];
  } catch (e) {
    if (e instanceof SelectorError) throw new UsageError(`--selector: ${e.message}`);
    throw e;
  }
  const selection: SelectionOptions = {
    namespaces: list(values["namespace"]),
    allNamespaces: values["all-namespaces"] === true,
    pods: list(values["podname"]),
    containers: list(values["containername"]),
    labels,
    host,
  };
  const timeoutS = seconds("--timeout", values["timeout"] as string | undefined);
  const intervalS = seconds("--interval", values["interval"] as string | undefined);
  let maxRows: number | undefined;
  if (values["max-rows"] !== undefined) {
    maxRows = Number(values["max-rows"]);
    if (!Number.isInteger(maxRows) || maxRows <= 0)
      throw new UsageError(`--max-rows: expected a positive integer, got '${String(values["max-rows"])}'`);
  }
  const sort = values["sort"] !== undefined ? list(values["sort"]) : undefined;
  const filter = values["filter"] as string | undefined;
  // everything a user can get wrong is checked before anything is attached or asked
  const prepared = prepare({ spec, params, selection, filter, sort, maxRows, intervalS });
  const shown = [...spec.defaults];
  for (const p of spec.params) if (params[p.name] === true && p.shows !== undefined) shown.push(...p.shows);
  // many nodes: which one an event came from is shown first
  const fields = new Set(prepared.fields.map((f) => f.name));
  if (target === "cluster" && fields.has(NODE_FIELD) && !shown.includes(NODE_FIELD))
    shown.unshift(NODE_FIELD);
  const columns = selectColumns(prepared.fields, shown, output.columns);
  const flags: Record<string, string | boolean | undefined> = {};
  for (const k of Object.keys(target === "cluster" ? CLUSTER_OPTIONS : LOCAL_OPTIONS))
    flags[k] = values[k] as string | boolean | undefined;
  return {
    kind: "call",
    spec,
    id,
    call: {
      category: spec.category,
      name: spec.name,
      params: given,
      selection,
      filter,
      sort,
      maxRows,
      intervalS,
      timeoutS,
    },
    prepared,
    columns,
    output,
    selecting,
    nodes: list(values["node"]),
    flags,
  };
}

/** What prints a run's records and its stderr lines, whatever the target. */
class GadgetOutput {
  private readonly chunks: ChunkedOutput;
  readonly writer: RecordWriter;
  private lostPending = 0;
  private readonly lostWhy = new Set<string>();
  lostTotal = 0;
  private readonly lostTimer: NodeJS.Timeout;

  private constructor(
    private readonly io: CliIO,
    writer: (chunks: ChunkedOutput) => RecordWriter,
  ) {
    this.chunks = new ChunkedOutput((s) => io.stdout(s));
    this.writer = writer(this.chunks);
    // lost events: reported on stderr as they happen (at most once a second), and in total
    this.lostTimer = setInterval(() => this.reportLost(), 1000);
  }

  static async create(inv: GadgetInvocation, io: CliIO): Promise<GadgetOutput> {
    // a terminal gets a table fitted to its width; a pipe gets every character
    const width = process.stdout.isTTY === true ? (process.stdout.columns ?? 120) : null;
    const yaml = inv.output.mode === "yaml" ? (await import("yaml")).stringify : undefined;
    return new GadgetOutput(io, (chunks) =>
      createWriter(inv.output.mode, inv.columns, (s) => chunks.write(s), width, yaml),
    );
  }

  lost(n: number, why: string): void {
    // a problem that lost no counted event (a failed collect, metadata that could not load)
    // is said at once: the timer only speaks when events were lost
    if (n === 0) {
      this.io.stderr(`lanner: ${why}\n`);
      return;
    }
    this.lostPending += n;
    this.lostTotal += n;
    this.lostWhy.add(why);
  }

  private reportLost(): void {
    if (this.lostPending === 0) return;
    this.io.stderr(`lanner: ${this.lostPending} events lost (${[...this.lostWhy].join("; ")})\n`);
    this.lostPending = 0;
    this.lostWhy.clear();
  }

  /** Flushes stdout and the lost-event reports; call once at the end. */
  end(): void {
    this.chunks.flush();
    clearInterval(this.lostTimer);
    this.reportLost();
    if (this.lostTotal > 0) this.io.stderr(`lanner: ${this.lostTotal} events lost in all\n`);
  }
}

/** Resolves on SIGINT, SIGTERM or after `ms`; `cleanup` removes the handlers. */
function untilStopped(ms: number | undefined): {
  stopped: Promise<void>;
  stop: () => void;
  cleanup: () => void;
} {
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const onSignal = (): void => stop();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const timer = ms !== undefined ? setTimeout(stop, ms) : null;
  return {
    stopped,
    stop,
    cleanup: () => {
      if (timer !== null) clearTimeout(timer);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

function statsLine(st: RunStats, node?: string): string {
  return (
    `lanner: stats ${node !== undefined ? `node=${node} ` : ""}events=${st.produced} delivered=${st.delivered} ` +
    `not_selected=${st.unselected} filtered=${st.filtered} lost=${st.lost}\n`
  );
}

export async function gadgetCommand(
  category: Category,
  argv: string[],
  io: CliIO,
  target: GadgetTarget = "local",
): Promise<number> {
  let parsed: ParsedGadgetArgs;
  try {
    parsed = parseGadgetArgs(category, argv, target);
  } catch (e) {
    if (e instanceof GadgetInputError || e instanceof ColumnError) {
      const spec = argv[0] !== undefined ? findGadget(category, argv[0]) : undefined;
      io.stderr(`lanner ${spec !== undefined ? gadgetId(spec) : category}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (parsed.kind === "help") {
    io.stdout(parsed.text);
    return parsed.code;
  }
  if (parsed.kind === "unknown") {
    io.stderr(`lanner ${category}: ${parsed.text}`);
    return 2;
  }
  for (const w of parsed.prepared.warnings) io.stderr(`lanner ${parsed.id}: ${w}\n`);
  if (target === "cluster") return clusterGadget(parsed, io);
  if (parsed.flags["agent"] !== undefined) return agentGadget(parsed, io);
  if (
    parsed.flags["tls-cert"] !== undefined ||
    parsed.flags["tls-key"] !== undefined ||
    parsed.flags["tls-ca"] !== undefined
  )
    throw new UsageError("--tls-cert, --tls-key and --tls-ca go with --agent");
  return localGadget(parsed, io);
}

/** The standalone path: the gadget runs in this process, on this node. */
async function localGadget(inv: GadgetInvocation, io: CliIO): Promise<number> {
  const { spec, id, call } = inv;
  const node = nodeName();
  if (inv.nodes.length > 1 || (inv.nodes.length === 1 && inv.nodes[0] !== node)) {
    io.stderr(
      `lanner ${id}: --node ${inv.nodes.join(",")}: this is node ${node} (kubectl lanner runs gadgets on other nodes)\n`,
    );
    return 2;
  }
  let prepared = inv.prepared;
  const env = nodeEnvironment(node);
  if (env.hostOnly && !call.selection.host) {
    // no runtime, no cluster: the host's processes are all there is
    prepared = prepare({
      spec,
      params: prepared.params,
      selection: { ...call.selection, host: true },
      filter: call.filter,
      sort: call.sort,
      maxRows: call.maxRows,
      intervalS: call.intervalS,
    });
  }
  const out = await GadgetOutput.create(inv, io);
  let run: GadgetRun;
  try {
    run = await GadgetRun.start(prepared, env, {
      event: (r) => out.writer.event(r),
      table: (rows) => out.writer.table(rows),
      lost: (n, why) => out.lost(n, why),
    });
  } catch (e) {
    out.end();
    await env.close();
    io.stderr(`lanner ${id}: ${errorMessage(e)}\n`);
    return 1;
  }
  io.stderr(`lanner: ready (${run.summary})\n`);
  const until = untilStopped(call.timeoutS !== undefined ? call.timeoutS * 1000 : undefined);
  if (spec.category === "snapshot") void run.done.then(until.stop);
  await until.stopped;
  until.cleanup();
  await run.stop();
  const st = run.stats();
  io.stderr(statsLine(st));
  await env.close();
  out.end();
  return 0;
}

/** How long after --timeout a remote run is cancelled here when the nodes did not stop it (ms). */
const REMOTE_GRACE_MS = 3000;

/**
 * Runs the call on the given nodes and prints the merged output; 0 when at least one node
 * answered, else 1.
 */
async function remoteGadget(
  inv: GadgetInvocation,
  nodes: readonly ClusterNode[],
  io: CliIO,
  describe: (ready: ReadonlyMap<string, string>) => string,
): Promise<number> {
  const out = await GadgetOutput.create(inv, io);
  const abort = new AbortController();
  const until = untilStopped(
    inv.call.timeoutS !== undefined ? inv.call.timeoutS * 1000 + REMOTE_GRACE_MS : undefined,
  );
  void until.stopped.then(() => abort.abort());
  let result;
  try {
    const { runGadgetOnNodes } = await import("../../api/cluster/fanout.js");
    result = await runGadgetOnNodes(
      nodes,
      inv.call,
      {
        event: (r) => out.writer.event(r),
        table: (rows) => out.writer.table(rows),
        ready: (ready) => io.stderr(`lanner: ready (${describe(ready)})\n`),
        notice: (node, m) => io.stderr(`lanner: node ${node}: ${m}\n`),
      },
      {
        sort: inv.prepared.sort,
        maxRows: inv.prepared.maxRows,
        intervalS: inv.prepared.intervalS,
        signal: abort.signal,
        onFailure: (node, m) => io.stderr(`lanner: node ${node}: ${m}\n`),
      },
    );
  } finally {
    until.cleanup();
    out.end();
  }
  for (const [node, st] of result.stats) io.stderr(statsLine(st, nodes.length > 1 ? node : undefined));
  return result.answered.length > 0 ? 0 : 1;
}

/** `lanner trace ... --agent ADDRESS`: the gadget runs in that agent. */
async function agentGadget(inv: GadgetInvocation, io: CliIO): Promise<number> {
  const address = inv.flags["agent"] as string;
  if (inv.nodes.length > 0) throw new UsageError("--node: with --agent the gadget runs on that agent's node");
  let tls: NodeTls | undefined;
  if (!address.startsWith("unix:")) {
    try {
      const { clientTls, AGENT_NAMESPACE } = await import("../../api/cluster/discovery.js");
      tls = await clientTls(
        null,
        {
          cert: inv.flags["tls-cert"] as string | undefined,
          key: inv.flags["tls-key"] as string | undefined,
          ca: inv.flags["tls-ca"] as string | undefined,
        },
        AGENT_NAMESPACE,
      );
    } catch (e) {
      throw new UsageError(`--agent ${address}: ${errorMessage(e)}`);
    }
  }
  const node: ClusterNode = { name: address, target: { address, ...(tls !== undefined ? { tls } : {}) } };
  return remoteGadget(inv, [node], io, (ready) => [...ready.values()].join("; "));
}

/** `kubectl lanner trace ...`: every node's agent (or --node's), through the API server. */
async function clusterGadget(inv: GadgetInvocation, io: CliIO): Promise<number> {
  const conn = await openCluster(await clusterKubeConfig(inv.flags), inv.flags, inv.nodes, io, inv.id);
  if (conn === null) return 1;
  try {
    return await remoteGadget(inv, conn.nodes, io, (ready) => {
      const names = [...ready.keys()];
      return `${names.length} of ${conn.nodes.length} nodes: ${names.join(", ")}`;
    });
  } finally {
    await conn.close();
  }
}
