/**
 * The `lanner` command dispatcher, and `kubectl lanner` (bin/lanner run as `kubectl-lanner`,
 * as kubectl runs plugins): there the gadget commands run on every node's agent.
 */
import { errorMessage } from "../errors.js";
import { processIO, UsageError, type CliIO } from "./io.js";
import { packageVersion } from "../package.js";

const HELP = `Usage: lanner <command> [options]

Commands:
  run         the agent: capture, enrich, evaluate rules, deliver alerts
  capture     stream enriched kernel events, one per line
  doctor      what this kernel offers and what Lanner uses, with reasons
  rules       validate | list | fields
  trace       stream one kind of event of the node's pods (GADGETS_trace)
  top         periodic tables (GADGETS_top)
  snapshot    what exists now (GADGETS_snapshot)
  bpftrace    the node's bpftrace, scoped to a pod's cgroups
  status      a running agent's own account (--agent ADDRESS)
  deploy      install the agent DaemonSet into the current cluster (--print: YAML only)
  undeploy    remove it
  version     print the version

Every command has --help.
`;

type Command = (argv: string[], io: CliIO) => Promise<number>;

const PLUGIN_HELP = `Usage: kubectl lanner <command> [options]

Runs on every node's lanner agent (or --node NAME), found through the API server, and merges
what comes back, each event tagged with its node (k8s.node.name).

Commands:
  trace       stream one kind of event of the cluster's pods (GADGETS_trace)
  top         periodic tables, merged across nodes (GADGETS_top)
  snapshot    what exists now on every node (GADGETS_snapshot)
  bpftrace    the node's bpftrace on a pod's node (--pod), a node (--node) or every node
  status      every node's agent: version, kernel, capture, rules, events, drops, gadgets
  deploy      install the agent DaemonSet into the cluster (--print: YAML only)
  undeploy    remove it
  version     print the version

Every command has --help.
`;

/** What `kubectl lanner` runs: the cluster targets of the gadget commands. */
const PLUGIN_COMMANDS: Readonly<Record<string, Command>> = {
  trace: async (argv, io) =>
    (await import("./commands/gadget.js")).gadgetCommand("trace", argv, io, "cluster"),
  top: async (argv, io) => (await import("./commands/gadget.js")).gadgetCommand("top", argv, io, "cluster"),
  snapshot: async (argv, io) =>
    (await import("./commands/gadget.js")).gadgetCommand("snapshot", argv, io, "cluster"),
  bpftrace: async (argv, io) => (await import("./commands/bpftrace.js")).bpftraceCommand(argv, io, "cluster"),
  status: async (argv, io) => (await import("./commands/status.js")).statusCommand(argv, io, "cluster"),
  // the cluster's own commands are the same from either name
  deploy: async (argv, io) => (await import("./commands/deploy.js")).deployCommand(argv, io),
  undeploy: async (argv, io) => (await import("./commands/deploy.js")).undeployCommand(argv, io),
};

const COMMANDS: Readonly<Record<string, Command>> = {
  // each command's modules are loaded when it runs: start-up is what a gadget's readiness
  // costs (the runtime clients, the rules library and the outputs are large)
  capture: async (argv, io) => (await import("./commands/capture.js")).captureCommand(argv, io),
  doctor: async (argv, io) => (await import("./commands/doctor.js")).doctorCommand(argv, io),
  run: async (argv, io) => (await import("./commands/run.js")).runCommand(argv, io),
  rules: async (argv, io) => (await import("./commands/rules-cli.js")).rulesCli(argv, io),
  trace: async (argv, io) => (await import("./commands/gadget.js")).gadgetCommand("trace", argv, io),
  top: async (argv, io) => (await import("./commands/gadget.js")).gadgetCommand("top", argv, io),
  snapshot: async (argv, io) => (await import("./commands/gadget.js")).gadgetCommand("snapshot", argv, io),
  bpftrace: async (argv, io) => (await import("./commands/bpftrace.js")).bpftraceCommand(argv, io),
  status: async (argv, io) => (await import("./commands/status.js")).statusCommand(argv, io),
  deploy: async (argv, io) => (await import("./commands/deploy.js")).deployCommand(argv, io),
  undeploy: async (argv, io) => (await import("./commands/deploy.js")).undeployCommand(argv, io),
  version: async (_argv, io) => {
    io.stdout(`lanner ${packageVersion()}\n`);
    return 0;
  },
};

/** The help text, with the gadgets of each category (loaded only when help is printed). */
async function help(plugin: boolean): Promise<string> {
  const { gadgetsOf } = await import("../gadgets/index.js");
  return (plugin ? PLUGIN_HELP : HELP).replace(
    /GADGETS_(trace|top|snapshot)/g,
    (_m, c: "trace" | "top" | "snapshot") =>
      gadgetsOf(c)
        .map((g) => g.name)
        .join(", "),
  );
}

export interface CliOptions {
  /** `kubectl lanner`: commands run across the cluster */
  readonly plugin?: boolean;
}

/** How the program was invoked: `kubectl-lanner` (a kubectl plugin) or `lanner`. */
export function isPluginName(argv1: string | undefined): boolean {
  return argv1 !== undefined && /(^|\/)kubectl-lanner(\.[cm]?js)?$/.test(argv1);
}

export async function cliMain(argv: string[], io: CliIO = processIO, opts: CliOptions = {}): Promise<number> {
  const plugin = opts.plugin === true;
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    io.stdout(await help(plugin));
    return cmd === undefined ? 2 : 0;
  }
  const fn = plugin
    ? (PLUGIN_COMMANDS[cmd] ?? (cmd === "version" ? COMMANDS[cmd] : undefined))
    : COMMANDS[cmd];
  if (!fn) {
    if (plugin && COMMANDS[cmd] !== undefined) {
      io.stderr(`kubectl lanner: '${cmd}' runs on one node: use 'lanner ${cmd}' there\n${await help(true)}`);
      return 2;
    }
    io.stderr(`${plugin ? "kubectl lanner" : "lanner"}: unknown command '${cmd}'\n${await help(plugin)}`);
    return 2;
  }
  try {
    return await fn(rest, io);
  } catch (e) {
    if (
      e instanceof UsageError ||
      (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS"))
    ) {
      io.stderr(`lanner ${cmd}: ${e.message}\n`);
      return 2;
    }
    io.stderr(`lanner ${cmd}: ${errorMessage(e)}\n`);
    return 1;
  }
}
