/**
 * `kubectl lanner status`: what every node's agent says about itself (lanner.v1.Node Status):
 * version, kernel, capture mode and programs, rules, events, alerts, drops, gadgets running,
 * uptime, and the kernel features it lacks. `lanner status --agent ADDRESS` asks one agent.
 */
import { parseArgs } from "node:util";
import type { ClusterNode } from "../../api/cluster/connect.js";
import type { NodeStatus, NodeTls } from "../../api/node-client.js";
import { errorMessage } from "../../errors.js";
import { CLUSTER_HELP, CLUSTER_OPTIONS, clusterKubeConfig, openCluster, TLS_OPTIONS } from "../cluster.js";
import { UsageError, type CliIO } from "../io.js";

const LOCAL_HELP = `Usage: lanner status --agent ADDRESS [options]

What a running agent says about itself: node, version, kernel, capture mode and programs,
rules, events, alerts, drops, gadgets running, uptime, and the kernel features it lacks.
(On this host without an agent: lanner doctor.)

      --agent ADDRESS         unix:///run/lanner/lanner.sock or HOST:PORT (TCP: mutual TLS,
                              the agent's certificate checked for the name lanner-agent)
      --tls-cert FILE         client certificate (PEM), with --tls-key and --tls-ca
      --tls-key FILE          its key
      --tls-ca FILE           the CA that signed the agent's certificate
  -o, --output FORMAT         columns (default) or json (one object per node)
  -h, --help                  this help
`;

const PLUGIN_HELP = `Usage: kubectl lanner status [options]

What every node's agent says about itself: node, version, kernel, capture mode and programs,
rules, events, alerts, drops, gadgets running, uptime, and the kernel features it lacks.
A node that cannot be reached is reported on stderr.

      --node NAME             only this node (repeatable)
  -o, --output FORMAT         columns (default) or json (one object per node)
  -h, --help                  this help
${CLUSTER_HELP}`;

const COLUMNS: readonly [string, (s: NodeStatus) => string][] = [
  ["NODE", (s) => s.node],
  ["VERSION", (s) => s.version],
  ["KERNEL", (s) => s.kernel],
  ["CAPTURE", (s) => s.captureMode],
  ["PROGRAMS", (s) => String(s.capturePrograms)],
  ["RULES", (s) => String(s.rules)],
  ["EVENTS", (s) => String(s.events)],
  ["ALERTS", (s) => String(s.alerts)],
  ["DROPS", (s) => String(s.drops)],
  ["GADGETS", (s) => String(s.gadgetsRunning)],
  ["UPTIME", (s) => uptime(s.uptimeSeconds)],
];

function uptime(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0
    ? `${d}d${h}h`
    : h > 0
      ? `${h}h${m}m`
      : m > 0
        ? `${m}m${Math.floor(s % 60)}s`
        : `${Math.floor(s)}s`;
}

/** The statuses as a table (sorted by node), each node's missing kernel features after it. */
export function statusTable(statuses: readonly NodeStatus[]): string {
  const sorted = [...statuses].sort((a, b) => a.node.localeCompare(b.node));
  const rows = [COLUMNS.map(([h]) => h), ...sorted.map((s) => COLUMNS.map(([, f]) => f(s)))];
  const widths = COLUMNS.map((_c, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  let out = rows
    .map(
      (r) =>
        r
          .map((v, i) => v.padEnd(widths[i] as number))
          .join("  ")
          .trimEnd() + "\n",
    )
    .join("");
  for (const s of sorted) {
    const missing = s.features.filter((f) => !f.available);
    if (missing.length > 0)
      out += `${s.node}: not available: ${missing.map((f) => `${f.name} (${f.detail})`).join("; ")}\n`;
  }
  return out;
}

export async function statusCommand(
  argv: string[],
  io: CliIO,
  target: "local" | "cluster" = "local",
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      output: { type: "string", short: "o" },
      help: { type: "boolean", short: "h" },
      ...(target === "cluster"
        ? { node: { type: "string", multiple: true }, ...CLUSTER_OPTIONS }
        : { agent: { type: "string" }, ...TLS_OPTIONS }),
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help === true) {
    io.stdout(target === "cluster" ? PLUGIN_HELP : LOCAL_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const output = (values.output as string | undefined) ?? "columns";
  if (output !== "columns" && output !== "json")
    throw new UsageError(`--output: expected columns or json, got '${output}'`);
  const flags = values as Record<string, unknown>;
  let nodes: ClusterNode[];
  let close = async (): Promise<void> => undefined;
  if (target === "cluster") {
    const conn = await openCluster(
      await clusterKubeConfig(flags),
      flags,
      (flags["node"] as string[] | undefined) ?? [],
      io,
      "status",
    );
    if (conn === null) return 1;
    nodes = conn.nodes;
    close = () => conn.close();
  } else {
    const address = flags["agent"] as string | undefined;
    if (address === undefined)
      throw new UsageError("--agent ADDRESS is needed (this host's own checks: lanner doctor)");
    let tls: NodeTls | undefined;
    if (!address.startsWith("unix:")) {
      const { AGENT_NAMESPACE, clientTls } = await import("../../api/cluster/discovery.js");
      try {
        tls = await clientTls(
          null,
          {
            cert: flags["tls-cert"] as string | undefined,
            key: flags["tls-key"] as string | undefined,
            ca: flags["tls-ca"] as string | undefined,
          },
          AGENT_NAMESPACE,
        );
      } catch (e) {
        throw new UsageError(`--agent ${address}: ${errorMessage(e)}`);
      }
    }
    nodes = [{ name: address, target: { address, ...(tls !== undefined ? { tls } : {}) } }];
  }
  try {
    const { forEachNode } = await import("../../api/cluster/fanout.js");
    const r = await forEachNode(nodes, (client) => client.status(), {
      onFailure: (node, m) => io.stderr(`lanner: node ${node}: ${m}\n`),
    });
    const statuses = [...r.results.values()];
    if (output === "json")
      io.stdout(
        [...statuses]
          .sort((a, b) => a.node.localeCompare(b.node))
          .map((s) => JSON.stringify(s) + "\n")
          .join(""),
      );
    else if (statuses.length > 0) io.stdout(statusTable(statuses));
    return r.failures.size === 0 ? 0 : 1;
  } finally {
    await close();
  }
}
