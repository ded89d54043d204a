/**
 * `lanner trace|top|snapshot <gadget>`: runs one gadget on this node and prints its events
 * or tables. Flags, help and columns come from the gadget's description (src/gadgets/).
 */
import { hostname } from "node:os";
import { parseArgs, type ParseArgsConfig } from "node:util";
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
  type OutputMode,
  type SelectionOptions,
} from "../../gadgets/index.js";
import type { ParamValue } from "../../gadgets/gadget.js";
import { ChunkedOutput, UsageError, type CliIO } from "../io.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

const COMMON_OPTIONS: Options = {
  namespace: { type: "string", short: "n", multiple: true },
  "all-namespaces": { type: "boolean", short: "A" },
  podname: { type: "string", short: "p", multiple: true },
  containername: { type: "string", short: "c", multiple: true },
  selector: { type: "string", short: "l", multiple: true },
  host: { type: "boolean" },
  node: { type: "string" },
  filter: { type: "string" },
  timeout: { type: "string" },
  output: { type: "string", short: "o" },
  help: { type: "boolean", short: "h" },
};
const TABLE_OPTIONS: Options = {
  sort: { type: "string" },
};
const TOP_OPTIONS: Options = {
  interval: { type: "string" },
  "max-rows": { type: "string", short: "m" },
};

const COMMON_HELP = `Selection (which processes; in the kernel where the gadget allows):
  -n, --namespace NS[,NS]     pods in these namespaces ('!NS' excludes)
  -A, --all-namespaces        every namespace (the default on a node)
  -p, --podname NAME[,NAME]   these pods ('!NAME' excludes)
  -c, --containername NAME    these containers ('!NAME' excludes)
  -l, --selector K=V[,K=V]    pod labels: k=v, k!=v, !k (absent), k=!v
      --host                  processes outside containers too (implied on a host
                              without a container runtime or cluster)
      --node NAME             only on this node
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

function gadgetOptions(spec: GadgetSpec): Options {
  const o: Options = { ...COMMON_OPTIONS };
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

export function gadgetHelp(spec: GadgetSpec): string {
  const id = gadgetId(spec);
  let s = `Usage: lanner ${id} [options]\n\n${spec.summary[0]?.toUpperCase()}${spec.summary.slice(1)}.\n\n`;
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
  s += "\nFields (the column ids, JSON keys and --filter fields; * = shown by default):\n";
  const fields = gadgetFields(spec);
  const w = Math.max(...fields.map((f) => f.name.length)) + 2;
  // the widest type ("list(string)") still leaves a space before the description
  const tw = Math.max(10, ...fields.map((f) => f.type.length + 1));
  for (const f of fields)
    s += `  ${spec.defaults.includes(f.name) ? "*" : " "} ${f.name.padEnd(w)}${f.type.padEnd(tw)}${f.desc}\n`;
  return s;
}

function categoryHelp(category: Category): string {
  let s = `Usage: lanner ${category} <gadget> [options]\n\nGadgets:\n`;
  for (const g of gadgetsOf(category)) s += `  ${g.name.padEnd(12)}${g.summary}\n`;
  s += `\n'lanner ${category} <gadget> --help' lists a gadget's options and fields.\n`;
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

export async function gadgetCommand(category: Category, argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h") {
    io.stdout(categoryHelp(category));
    return name === undefined ? 2 : 0;
  }
  const spec = findGadget(category, name);
  if (spec === undefined) {
    io.stderr(`lanner ${category}: unknown gadget '${name}'\n${categoryHelp(category)}`);
    return 2;
  }
  const id = gadgetId(spec);
  const { values } = parseArgs({
    args: joinSortValue(rest),
    options: gadgetOptions(spec),
    strict: true,
    allowPositionals: false,
  });
  if (values["help"] === true) {
    io.stdout(gadgetHelp(spec));
    return 0;
  }
  const params: Record<string, ParamValue> = {};
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
  }
  const out = parseOutput(values["output"] as string | undefined);
  const node = nodeName();
  const wantNode = values["node"] as string | undefined;
  if (wantNode !== undefined && wantNode !== node) {
    io.stderr(
      `lanner ${id}: --node ${wantNode}: this is node ${node} (kubectl lanner runs gadgets on other nodes)\n`,
    );
    return 2;
  }
  if (values["all-namespaces"] === true && values["namespace"] !== undefined)
    throw new UsageError("--all-namespaces and --namespace exclude each other");
  const selecting = ["namespace", "podname", "containername", "selector"].some(
    (k) => values[k] !== undefined,
  );
  const env0Host = values["host"] === true || (spec.nodeWide === true && !selecting);
  let labels;
  try {
    labels = list(values["selector"]).length > 0 ? parseSelector(list(values["selector"]).join(",")) : [];
  } catch (e) {
    if (e instanceof SelectorError) throw new UsageError(`--selector: ${e.message}`);
    throw e;
  }
  const selectionBase: Omit<SelectionOptions, "host"> = {
    namespaces: list(values["namespace"]),
    allNamespaces: values["all-namespaces"] === true,
    pods: list(values["podname"]),
    containers: list(values["containername"]),
    labels,
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

  // everything a user can get wrong is checked before anything is attached
  let prepared;
  let columns;
  try {
    prepared = prepare({
      spec,
      params,
      selection: { ...selectionBase, host: env0Host },
      filter: values["filter"] as string | undefined,
      sort,
      maxRows,
      intervalS,
    });
    const shown = [...spec.defaults];
    for (const p of spec.params) if (params[p.name] === true && p.shows !== undefined) shown.push(...p.shows);
    columns = selectColumns(prepared.fields, shown, out.columns);
  } catch (e) {
    if (e instanceof GadgetInputError || e instanceof ColumnError) {
      io.stderr(`lanner ${id}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  for (const w of prepared.warnings) io.stderr(`lanner ${id}: ${w}\n`);

  const env = nodeEnvironment(node);
  if (env.hostOnly && !env0Host) {
    // no runtime, no cluster: the host's processes are all there is
    prepared = prepare({
      spec,
      params,
      selection: { ...selectionBase, host: true },
      filter: values["filter"] as string | undefined,
      sort,
      maxRows,
      intervalS,
    });
  }
  // a terminal gets a table fitted to its width; a pipe gets every character
  const width = process.stdout.isTTY === true ? (process.stdout.columns ?? 120) : null;
  const yaml = out.mode === "yaml" ? (await import("yaml")).stringify : undefined;
  const chunks = new ChunkedOutput((s) => io.stdout(s));
  const writer = createWriter(out.mode, columns, (s) => chunks.write(s), width, yaml);
  // lost events: reported on stderr as they happen (at most once a second), and in total
  let lostPending = 0;
  const lostWhy = new Set<string>();
  let lostTotal = 0;
  const lostTimer = setInterval(() => {
    if (lostPending === 0) return;
    io.stderr(`lanner: ${lostPending} events lost (${[...lostWhy].join("; ")})\n`);
    lostPending = 0;
    lostWhy.clear();
  }, 1000);
  let run: GadgetRun;
  try {
    run = await GadgetRun.start(prepared, env, {
      event: (r) => writer.event(r),
      table: (rows) => writer.table(rows),
      lost: (n, why) => {
        // a problem that lost no counted event (a failed collect, metadata that could not
        // load) is said at once: the timer below only speaks when events were lost
        if (n === 0) {
          io.stderr(`lanner: ${why}\n`);
          return;
        }
        lostPending += n;
        lostTotal += n;
        lostWhy.add(why);
      },
    });
  } catch (e) {
    clearInterval(lostTimer);
    await env.close();
    io.stderr(`lanner ${id}: ${errorMessage(e)}\n`);
    return 1;
  }
  io.stderr(`lanner: ready (${run.summary})\n`);
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const onSignal = (): void => stop();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const timer = timeoutS !== undefined ? setTimeout(stop, timeoutS * 1000) : null;
  if (spec.category === "snapshot") void run.done.then(stop);
  await stopped;
  if (timer !== null) clearTimeout(timer);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  await run.stop();
  chunks.flush();
  clearInterval(lostTimer);
  const st = run.stats();
  io.stderr(
    `lanner: stats events=${st.produced} delivered=${st.delivered} not_selected=${st.unselected} ` +
      `filtered=${st.filtered} lost=${st.lost}\n`,
  );
  await env.close();
  if (lostPending > 0) io.stderr(`lanner: ${lostPending} events lost (${[...lostWhy].join("; ")})\n`);
  if (lostTotal > 0) io.stderr(`lanner: ${lostTotal} events lost in all\n`);
  return 0;
}
