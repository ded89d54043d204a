/**
 * `lanner run`: the agent. Capture, enrich, evaluate rules, deliver alerts until
 * SIGINT/SIGTERM, then flush and exit 0.
 */
import { existsSync, watch, type FSWatcher } from "node:fs";
import { hostname as osHostname } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { packageRoot } from "../../capture/paths.js";
import { syscallNr } from "../../capture/syscalls.js";
import { Agent, STATE_SYSCALLS } from "../../engine/agent.js";
import { errorMessage } from "../../errors.js";
import { internalAlert } from "../../engine/alert.js";
import {
  buildOutputs,
  parseOutputsConfig,
  type BuiltOutputs,
  type OutputsConfig,
} from "../../outputs/config.js";
import { MetricsRegistry, registerOutputMetrics } from "../../outputs/metrics.js";
import { startMetricsServer, type MetricsServer } from "../../outputs/metrics-server.js";
import {
  ENGINE_VERSION,
  formatDiagnostic,
  loadRules,
  parsePriority,
  readRulesFiles,
  type LoadOptions,
  type Priority,
  type LoadResult,
  type RuleMatching,
} from "../../rules/index.js";
import { engineFamilies } from "../../engine/engine-metrics.js";
import { ContainerStore } from "../../state/containers/index.js";
import type { K8sApiWatcher } from "../../state/k8s/k8s-api-watcher.js";
import { K8sMetadata } from "../../state/k8s/k8s-metadata.js";
import { createStateServices } from "../../state/services.js";
import { SYSCALL_FIELDS } from "../../engine/fields/index.js";
import { DomainNames } from "../../state/dns/index.js";
import { UserResolver } from "../../state/users/index.js";
import { applyOverride, formatProblem, readConfigFile, unknownKeys, type ConfigProblem } from "../config.js";
import type { CliIO } from "../io.js";
import type { NodeService } from "../../api/node-service.js";
import { agentEnvironment } from "../../gadgets/environment.js";
import { packageVersion } from "../../package.js";

export const RUN_HELP = `Usage: lanner run [options]

The agent: captures the node's syscalls, keeps process state, evaluates rules and delivers
alerts until SIGINT/SIGTERM, then flushes every output and exits 0. Without -r it loads
Lanner's embedded default ruleset; alerts go to stdout as text.

Options:
  -r, --rules PATH            rules file or directory (repeatable; replaces the default rules)
  -c, --config FILE           lanner.yaml (Falco-like keys)
  -o, --option KEY=VALUE      override any config key (repeatable), e.g. -o json_output=true
      --json                  alerts as JSON lines on stdout
      --grpc ADDRESS          serve the gRPC outputs API and the node API (lanner.v1.Node:
                              gadgets, bpftrace, status) on unix:///path.sock or host:port
      --grpc-tls-cert FILE    server certificate (TCP)
      --grpc-tls-key FILE     server key (TCP)
      --grpc-tls-ca FILE      CA that signs accepted client certificates (TCP)
      --http-output URL       POST Falco-shaped JSON alerts to URL
      --file-output PATH      append alerts to PATH (reopened on SIGHUP/SIGUSR1)
      --program-output CMD    feed alerts to CMD's stdin
      --syslog                send alerts to syslog
      --metrics ADDRESS       Prometheus text at /metrics and /healthz (host:port)
      --rule-matching MODE    first (default) or all
      --node-name NAME        node name (default: NODE_NAME, else the host name): alerts'
                              hostname, k8s.node.name of the node API's gadgets; pods are
                              watched with spec.nodeName
      --kubeconfig FILE       read pod metadata from this cluster's API server (in a pod,
                              the service account is used without this flag)
      --cpu-prof[=FILE]       profile the agent's JavaScript (V8 sampling profiler) from
                              'ready' until it stops, and write FILE (default
                              lanner.<date>.<time>.<pid>.cpuprofile in the current directory)
  -h, --help                  this help

Prints 'lanner: ready ...' on stderr once programs are attached.
`;

/** The internal alert for kernel drops (Falco names its own `Falco internal: syscall event drop`). */
export const DROP_RULE = "Lanner internal: syscall event drop";

export function defaultRulesPath(): string {
  return join(packageRoot(), "rules", "lanner_rules.yaml");
}

interface RunArgs {
  rules: string[];
  config: string | null;
  options: string[];
  json: boolean;
  grpc: string | null;
  grpcCert: string | null;
  grpcKey: string | null;
  grpcCa: string | null;
  httpOutput: string | null;
  fileOutput: string | null;
  programOutput: string | null;
  syslog: boolean;
  metrics: string | null;
  ruleMatching: string | null;
  nodeName: string | null;
  kubeconfig: string | null;
  /** --cpu-prof: "" without a file name */
  cpuProf: string | null;
}

function parseRunArgs(argv: string[]): RunArgs | "help" {
  const { values } = parseArgs({
    // --cpu-prof takes its file only as --cpu-prof=FILE
    args: argv.map((a) => (a === "--cpu-prof" ? "--cpu-prof=" : a)),
    options: {
      rules: { type: "string", short: "r", multiple: true },
      config: { type: "string", short: "c" },
      option: { type: "string", short: "o", multiple: true },
      json: { type: "boolean" },
      grpc: { type: "string" },
      "grpc-tls-cert": { type: "string" },
      "grpc-tls-key": { type: "string" },
      "grpc-tls-ca": { type: "string" },
      "http-output": { type: "string" },
      "file-output": { type: "string" },
      "program-output": { type: "string" },
      syslog: { type: "boolean" },
      metrics: { type: "string" },
      "rule-matching": { type: "string" },
      "node-name": { type: "string" },
      kubeconfig: { type: "string" },
      "cpu-prof": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return "help";
  return {
    rules: values.rules ?? [],
    config: values.config ?? null,
    options: values.option ?? [],
    json: values.json ?? false,
    grpc: values.grpc ?? null,
    grpcCert: values["grpc-tls-cert"] ?? null,
    grpcKey: values["grpc-tls-key"] ?? null,
    grpcCa: values["grpc-tls-ca"] ?? null,
    httpOutput: values["http-output"] ?? null,
    fileOutput: values["file-output"] ?? null,
    programOutput: values["program-output"] ?? null,
    syslog: values.syslog ?? false,
    metrics: values.metrics ?? null,
    ruleMatching: values["rule-matching"] ?? null,
    nodeName: values["node-name"] ?? null,
    kubeconfig: values.kubeconfig ?? null,
    cpuProf: values["cpu-prof"] ?? null,
  };
}

/** Flags are the last word: written into the raw config as the keys they stand for. */
function applyFlags(raw: Record<string, unknown>, a: RunArgs): void {
  const set = (kv: string): void => {
    applyOverride(raw, kv);
  };
  const section = (k: string): Record<string, unknown> => {
    const v = raw[k];
    if (v === undefined || v === null || typeof v !== "object" || Array.isArray(v)) raw[k] = {};
    return raw[k] as Record<string, unknown>;
  };
  if (a.rules.length) raw["rules_files"] = a.rules;
  if (a.json) set("json_output=true");
  if (a.grpc !== null) {
    const g = section("grpc");
    g["enabled"] = true;
    g["bind_address"] = a.grpc;
    if (a.grpcCert !== null) g["cert_chain"] = a.grpcCert;
    if (a.grpcKey !== null) g["private_key"] = a.grpcKey;
    if (a.grpcCa !== null) g["root_certs"] = a.grpcCa;
    section("grpc_output")["enabled"] = true;
  }
  if (a.httpOutput !== null) Object.assign(section("http_output"), { enabled: true, url: a.httpOutput });
  if (a.fileOutput !== null) Object.assign(section("file_output"), { enabled: true, filename: a.fileOutput });
  if (a.programOutput !== null)
    Object.assign(section("program_output"), { enabled: true, program: a.programOutput });
  if (a.syslog) section("syslog_output")["enabled"] = true;
  if (a.metrics !== null) Object.assign(section("metrics"), { enabled: true, listen_address: a.metrics });
  if (a.ruleMatching !== null) raw["rule_matching"] = a.ruleMatching;
  if (a.nodeName !== null) raw["node_name"] = a.nodeName;
}

/** Loads rules files; prints every diagnostic; null when any is an error. */
function loadRuleFiles(paths: readonly string[], opts: LoadOptions, io: CliIO): LoadResult | null {
  const read = readRulesFiles(paths);
  const loaded = loadRules(read.files, opts);
  for (const d of [...read.diagnostics, ...loaded.diagnostics]) io.stderr(`${formatDiagnostic(d)}\n`);
  if (read.diagnostics.some((d) => d.severity === "error") || loaded.errors > 0) return null;
  return loaded;
}

/** Falco-like `syscall_event_drops`: when to say that the kernel dropped events. */
interface DropPolicy {
  threshold: number;
  actions: Set<string>;
  /** tokens per second and bucket size for the alert/log actions */
  rate: number;
  maxBurst: number;
}

function readDropPolicy(raw: Record<string, unknown>, problems: ConfigProblem[]): DropPolicy {
  const d = (raw["syscall_event_drops"] ?? {}) as Record<string, unknown>;
  const num = (k: string, dflt: number, min: number, max: number): number => {
    const v = d[k];
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) {
      problems.push({
        severity: "error",
        key: `syscall_event_drops.${k}`,
        message: `expected a number in ${min}..${max}, got ${JSON.stringify(v)}`,
      });
      return dflt;
    }
    return n;
  };
  const actions = new Set<string>();
  const a = d["actions"] ?? ["log", "alert"];
  for (const x of Array.isArray(a) ? a : [a]) {
    const name = String(x);
    if (!["ignore", "log", "alert", "exit"].includes(name)) {
      problems.push({
        severity: "error",
        key: "syscall_event_drops.actions",
        message: `unknown action ${JSON.stringify(name)} (ignore, log, alert, exit)`,
      });
    } else actions.add(name);
  }
  return {
    threshold: num("threshold", 0.1, 0, 1),
    actions,
    rate: num("rate", 1 / 30, 0, 1000),
    maxBurst: num("max_burst", 1, 1, 1000),
  };
}

/** Everything the agent reads from the configuration, resolved and validated. */
interface Settings {
  raw: Record<string, unknown>;
  outputs: OutputsConfig;
  ruleMatching: RuleMatching;
  minPriority: Priority | undefined;
  dropPolicy: DropPolicy;
  ringBytes: number | undefined;
  pollMs: number | undefined;
  stashEntries: number | undefined;
  snaplen: number;
  /** base_syscalls.custom_set: names to add, and `!name` ones to leave out */
  extraSyscalls: string[];
  excludeSyscalls: string[];
  rulePaths: string[];
  hostname: string;
}

/** Reads the configuration: defaults < file < -o < flags. Problems are returned, not thrown. */
function resolveSettings(args: RunArgs): { settings: Settings; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  let raw: Record<string, unknown> = {};
  if (args.config !== null) {
    const r = readConfigFile(args.config);
    raw = r.raw;
    problems.push(...r.problems);
  }
  for (const kv of args.options) {
    const p = applyOverride(raw, kv);
    if (p) problems.push(p);
  }
  applyFlags(raw, args);
  problems.push(...unknownKeys(raw));
  const out = parseOutputsConfig(raw);
  problems.push(...out.diagnostics);
  const ruleMatching = (raw["rule_matching"] ?? "first") as string;
  if (ruleMatching !== "first" && ruleMatching !== "all") {
    problems.push({
      severity: "error",
      key: "rule_matching",
      message: `expected first or all, got ${JSON.stringify(ruleMatching)}`,
    });
  }
  const prioText = raw["priority"];
  const minPriority = prioText === undefined ? undefined : parsePriority(String(prioText));
  if (prioText !== undefined && minPriority === undefined) {
    problems.push({
      severity: "error",
      key: "priority",
      message: `unknown priority ${JSON.stringify(prioText)}`,
    });
  }
  const dropPolicy = readDropPolicy(raw, problems);
  const cap = (raw["capture"] ?? {}) as Record<string, unknown>;
  let ringBytes: number | undefined;
  if (cap["ring_mib"] !== undefined) {
    const n = Number(cap["ring_mib"]);
    if (!Number.isInteger(n) || n < 1 || n > 1024 || (n & (n - 1)) !== 0) {
      problems.push({
        severity: "error",
        key: "capture.ring_mib",
        message: `expected a power of two in 1..1024, got ${JSON.stringify(cap["ring_mib"])}`,
      });
    } else ringBytes = n << 20;
  }
  const capInt = (key: string, min: number, max: number): number | undefined => {
    if (cap[key] === undefined) return undefined;
    const n = Number(cap[key]);
    if (Number.isInteger(n) && n >= min && n <= max) return n;
    problems.push({
      severity: "error",
      key: `capture.${key}`,
      message: `expected an integer in ${min}..${max}, got ${JSON.stringify(cap[key])}`,
    });
    return undefined;
  };
  const pollMs = capInt("poll_ms", 1, 1000);
  const stashEntries = capInt("stash_entries", 256, 1 << 20);
  // Falco's default snaplen: the first 80 bytes of sendto/recvfrom data (evt.buffer)
  const snaplen = capInt("snaplen", 0, 256) ?? 80;
  const { extraSyscalls, excludeSyscalls } = readBaseSyscalls(raw, problems);
  const rf = raw["rules_files"] ?? raw["rules_file"];
  const rulePaths = Array.isArray(rf) ? rf.map(String) : typeof rf === "string" ? [rf] : [defaultRulesPath()];
  // the DaemonSet sets NODE_NAME from the pod's spec.nodeName
  const hostname = (raw["node_name"] as string | undefined) ?? process.env["NODE_NAME"] ?? osHostname();
  return {
    settings: {
      raw,
      outputs: out.config,
      ruleMatching: ruleMatching as RuleMatching,
      minPriority,
      dropPolicy,
      ringBytes,
      pollMs,
      stashEntries,
      snaplen,
      extraSyscalls,
      excludeSyscalls,
      rulePaths,
      hostname,
    },
    problems,
  };
}

/**
 * Falco's `base_syscalls`: `custom_set` names syscalls to capture whatever the rules say, and
 * `!name` ones the rules' syscalls leave out; what state tracking needs is always kept (Falco's
 * `repair: true`, which Lanner cannot turn off).
 */
function readBaseSyscalls(
  raw: Record<string, unknown>,
  problems: ConfigProblem[],
): { extraSyscalls: string[]; excludeSyscalls: string[] } {
  const extraSyscalls: string[] = [];
  const excludeSyscalls: string[] = [];
  const b = raw["base_syscalls"];
  if (b === undefined || b === null) return { extraSyscalls, excludeSyscalls };
  if (typeof b !== "object" || Array.isArray(b)) {
    problems.push({
      severity: "error",
      key: "base_syscalls",
      message: "expected a mapping (custom_set, repair)",
    });
    return { extraSyscalls, excludeSyscalls };
  }
  const m = b as Record<string, unknown>;
  for (const k of Object.keys(m))
    if (k !== "custom_set" && k !== "repair")
      problems.push({ severity: "warning", key: `base_syscalls.${k}`, message: "unknown key, ignored" });
  if (m["repair"] === false)
    problems.push({
      severity: "warning",
      key: "base_syscalls.repair",
      message:
        "Lanner always captures the syscalls its process and fd state needs (repair cannot be turned off)",
    });
  else if (m["repair"] !== undefined && m["repair"] !== true)
    problems.push({
      severity: "error",
      key: "base_syscalls.repair",
      message: `expected true or false, got ${JSON.stringify(m["repair"])}`,
    });
  const set = m["custom_set"];
  if (set === undefined) return { extraSyscalls, excludeSyscalls };
  if (!Array.isArray(set)) {
    problems.push({
      severity: "error",
      key: "base_syscalls.custom_set",
      message: "expected a list of syscall names",
    });
    return { extraSyscalls, excludeSyscalls };
  }
  for (const item of set) {
    const name = String(item);
    const neg = name.startsWith("!");
    const n = neg ? name.slice(1) : name;
    if (syscallNr(n) === undefined) {
      problems.push({
        severity: "error",
        key: "base_syscalls.custom_set",
        message: `unknown syscall '${n}'`,
      });
      continue;
    }
    if (!neg) extraSyscalls.push(n);
    else if (STATE_SYSCALLS.includes(n))
      problems.push({
        severity: "warning",
        key: "base_syscalls.custom_set",
        message: `'${name}' kept: Lanner's process and fd state needs ${n}`,
      });
    else excludeSyscalls.push(n);
  }
  return { extraSyscalls, excludeSyscalls };
}

const loadOptions = (s: Settings): LoadOptions => ({
  fields: SYSCALL_FIELDS,
  ruleMatching: s.ruleMatching,
  ...(s.minPriority !== undefined ? { minPriority: s.minPriority } : {}),
});

export async function runCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseRunArgs(argv);
  if (args === "help") {
    io.stdout(RUN_HELP);
    return 0;
  }
  // Stop signals are caught from the start, so one that arrives while starting (or right
  // after the readiness line) still means "flush and exit 0", never a kill by signal.
  let onStop: () => void = () => {};
  const stopRequested = new Promise<void>((resolve) => (onStop = resolve));
  process.once("SIGINT", onStop);
  process.once("SIGTERM", onStop);
  const first = resolveSettings(args);
  for (const p of first.problems) io.stderr(`lanner run: ${formatProblem(p)}\n`);
  if (first.problems.some((p) => p.severity === "error")) return 1;
  const cpuProf =
    args.cpuProf === null ? null : (await import("../cpu-profile.js")).planCpuProfile(args.cpuProf);
  if (cpuProf !== null && "error" in cpuProf) {
    io.stderr(`lanner run: --cpu-prof: ${cpuProf.error}\n`);
    return 1;
  }
  let settings = first.settings;
  const { raw, dropPolicy, ringBytes, pollMs, stashEntries, snaplen, hostname } = settings;
  let rulePaths = settings.rulePaths;

  // ---- rules
  if (rulePaths.length === 1 && rulePaths[0] === defaultRulesPath() && !existsSync(defaultRulesPath())) {
    io.stderr(`lanner run: the embedded default rules are missing (${defaultRulesPath()})\n`);
    return 1;
  }
  const loaded = loadRuleFiles(rulePaths, loadOptions(settings), io);
  if (loaded === null) {
    io.stderr("lanner run: refusing to start: errors in the rules\n");
    return 1;
  }

  // ---- outputs
  let built: BuiltOutputs;
  try {
    built = await buildOutputs(settings.outputs, {
      hostname,
      version: { version: packageVersion(), engineVersion: ENGINE_VERSION },
    });
    await built.start();
  } catch (e) {
    io.stderr(`lanner run: starting outputs: ${errorMessage(e)}\n`);
    return 1;
  }
  let metricsServer: MetricsServer | null = null;
  const metricsCfg = raw["metrics"] as { enabled?: boolean; listen_address?: string } | undefined;

  // ---- state beyond processes: containers (runtime API + event stream), pods, users
  const containers = new ContainerStore({});
  containers.start();
  const inCluster = process.env["KUBERNETES_SERVICE_HOST"] !== undefined;
  // the Kubernetes client is loaded only for a node that has a cluster to watch
  let api: K8sApiWatcher | undefined;
  if (args.kubeconfig !== null || inCluster) {
    const { K8sApiWatcher } = await import("../../state/k8s/k8s-api-watcher.js");
    api = new K8sApiWatcher({
      nodeName: hostname,
      ...(args.kubeconfig !== null ? { kubeconfig: args.kubeconfig } : {}),
    });
  }
  api?.start();
  const k8s = new K8sMetadata({ containers, ...(api !== undefined ? { api } : {}) });
  // in the DaemonSet the node's etc/ is mounted under LANNER_HOST_ROOT (deploy/README.md)
  const hostRoot = process.env["LANNER_HOST_ROOT"] ?? "";
  const users = new UserResolver(hostRoot !== "" ? { hostRoot } : {});
  const domains = new DomainNames({
    onError: (name, e) => io.stderr(`lanner: resolving ${name} (for fd.*.name): ${errorMessage(e)}\n`),
  });
  const services = createStateServices({ containers, k8s, users, domains });
  const closeState = async (): Promise<void> => {
    domains.close();
    k8s.close();
    await api?.close();
    await containers.close();
  };

  // ---- the agent
  let agent: Agent;
  try {
    agent = Agent.start({
      ruleset: loaded.ruleset,
      hostname,
      services,
      // `built` is replaced when a config reload changes the outputs
      onAlert: (a) => built.manager.publish(a),
      ...(ringBytes !== undefined ? { ringBytes } : {}),
      ...(pollMs !== undefined ? { pollMs } : {}),
      ...(stashEntries !== undefined ? { stashEntries } : {}),
      snaplen,
      extraSyscalls: settings.extraSyscalls,
      excludeSyscalls: settings.excludeSyscalls,
    });
  } catch (e) {
    io.stderr(`lanner run: ${errorMessage(e)}\n`);
    await closeState();
    await built.manager.close(1000);
    await built.grpcServer?.stop();
    return 1;
  }
  if (metricsCfg?.enabled) {
    const reg = new MetricsRegistry();
    registerOutputMetrics(reg, () => built); // `built` changes on a config reload
    reg.collect(() => engineFamilies(agent));
    reg.collect(() => {
      const c = containers.stats();
      return [
        {
          name: "lanner_container_table_size",
          help: "Containers known to the container store.",
          type: "gauge",
          samples: [{ name: "lanner_container_table_size", value: c.containers }],
        },
        {
          name: "lanner_container_runtime_errors_total",
          help: "Container runtime calls that failed, by kind.",
          type: "counter",
          samples: (["fetchErrors", "timeouts", "unavailable", "malformed"] as const).map((k) => ({
            name: "lanner_container_runtime_errors_total",
            labels: { kind: k },
            value: c[k],
          })),
        },
        {
          name: "lanner_dns_names",
          help: "Domain names the rules compare fd.*.name with, kept resolved.",
          type: "gauge",
          samples: [{ name: "lanner_dns_names", value: domains.stats().names }],
        },
        {
          name: "lanner_dns_lookup_failures_total",
          help: "Lookups of those names that failed (the last addresses are kept).",
          type: "counter",
          samples: [{ name: "lanner_dns_lookup_failures_total", value: domains.stats().failures }],
        },
      ];
    });
    try {
      metricsServer = await startMetricsServer({
        registry: reg,
        ...(metricsCfg.listen_address !== undefined ? { address: metricsCfg.listen_address } : {}),
      });
    } catch (e) {
      io.stderr(`lanner run: metrics: ${errorMessage(e)}\n`);
    }
  }
  // ---- the node API (lanner.v1.Node) beside the alert API: gadgets on the agent's capture
  const gadgetEnv = agentEnvironment({
    node: hostname,
    services,
    containers,
    tap: (syscalls) => agent.tap(syscalls),
    ...(api !== undefined ? { pods: api } : {}),
  });
  const nodeApis: NodeService[] = [];
  // loaded only when a gRPC listener is configured: the gadgets, bpftrace and the node
  // service's codec are most of an idle agent's extra memory otherwise
  const serveNodeApi = async (b: BuiltOutputs): Promise<void> => {
    if (b.grpcServer === undefined) return;
    const [{ NodeService }, { BpftraceRun }] = await Promise.all([
      import("../../api/node-service.js"),
      import("../../bpftrace/index.js"),
    ]);
    const nodeApi = new NodeService({
      node: hostname,
      version: packageVersion(),
      env: gadgetEnv,
      agent,
      // the node's bpftrace, scoped with the agent's containers and pods
      bpftrace: (opts, env, sink) => BpftraceRun.start(opts, env, sink),
      logger: (level, msg) => io.stderr(`lanner: ${level}: ${msg}\n`),
    });
    nodeApi.register(b.grpcServer);
    nodeApis.push(nodeApi);
  };
  await serveNodeApi(built);
  for (const w of agent.rulesMatchingAll) {
    io.stderr(
      `lanner run: warning: rule '${w}' can match every event type; it sees only the captured syscalls\n`,
    );
  }
  // the names the rules compare fd.*.name with: resolved before the first alert can need them
  await domains.settled(2000);
  const r = agent.report;
  io.stderr(
    `lanner: ready (rules=${loaded.ruleset.rules.length}, syscalls=${agent.syscalls.length}, mode=${r?.mode ?? "?"}` +
      `${r && r.fallbacks.length ? `, fallbacks=${r.fallbacks.length}` : ""})\n`,
  );
  // after the programs are loaded: the profile is of the running agent
  const profiler = cpuProf === null ? null : await cpuProf.start();
  if (profiler) io.stderr(`lanner: cpu profile: recording to ${profiler.path}\n`);

  // ---- run until a signal
  // Drops: checked every second; over the threshold, the actions run, rate-limited by a
  // token bucket (as Falco's syscall_event_drops). Drops are never silent: every window
  // with drops is at least logged.
  let last = agent.stats().capture;
  let lastByCpu = [...last.dropRingByCpu];
  let tokens = dropPolicy.maxBurst;
  let exitRequested = false;
  const dropTimer = setInterval(() => {
    tokens = Math.min(dropPolicy.maxBurst, tokens + dropPolicy.rate);
    const s = agent.stats().capture;
    const nDrops = s.dropRing + s.dropScratch - (last.dropRing + last.dropScratch);
    const nEvts = s.delivered - last.delivered + nDrops;
    const byCpu = s.dropRingByCpu.map((v, i) => v - (lastByCpu[i] ?? 0));
    last = s;
    lastByCpu = [...s.dropRingByCpu];
    if (nDrops <= 0 || dropPolicy.actions.has("ignore")) return;
    const ratio = nEvts > 0 ? nDrops / nEvts : 1;
    if (ratio < dropPolicy.threshold) {
      io.stderr(
        `lanner: ${nDrops} events dropped by the kernel (ring buffer full: per CPU [${byCpu.join(",")}])\n`,
      );
      return;
    }
    if (tokens < 1) return;
    tokens -= 1;
    if (dropPolicy.actions.has("log")) {
      io.stderr(
        `lanner: syscall event drop: ${nDrops} of ${nEvts} events in the last second (per CPU [${byCpu.join(",")}])\n`,
      );
    }
    if (dropPolicy.actions.has("alert")) {
      built.manager.publish(
        internalAlert({
          rule: DROP_RULE,
          message: `Lanner internal: syscall event drop. ${nDrops} system calls dropped in last second.`,
          hostname,
          priority: "Debug",
          outputFields: {
            n_evts: nEvts,
            n_drops: nDrops,
            n_drops_buffer_total: s.dropRing,
            n_drops_scratch: s.dropScratch,
            n_drops_pct: Math.round(ratio * 10000) / 100,
            ...Object.fromEntries(byCpu.map((v, i) => [`n_drops_cpu_${i}`, v])),
          },
        }),
      );
    }
    if (dropPolicy.actions.has("exit")) {
      io.stderr("lanner: exiting: syscall_event_drops.actions has exit\n");
      exitRequested = true;
      process.kill(process.pid, "SIGTERM");
    }
  }, 1000);

  // Rules reload on SIGHUP and when a rules file changes: atomic; a broken file keeps the
  // rules in force running and says why.
  const reload = (why: string): void => {
    const next = loadRuleFiles(rulePaths, loadOptions(settings), io);
    if (next === null) {
      io.stderr(`lanner: reload (${why}) failed: keeping the ${agent.ruleCount} rules in force\n`);
      return;
    }
    try {
      const r = agent.setRuleset(next.ruleset);
      io.stderr(
        `lanner: rules reloaded (${why}): ${next.ruleset.rules.length} rules` +
          `${r.added.length ? `, +syscalls ${r.added.join(",")}` : ""}${r.removed.length ? `, -syscalls ${r.removed.join(",")}` : ""}\n`,
      );
    } catch (e) {
      io.stderr(`lanner: reload (${why}) failed: ${errorMessage(e)}; keeping the rules in force\n`);
    }
  };
  // Config reload: the whole configuration is read again; any error keeps everything in
  // force. Changed outputs are rebuilt and swapped in (the old ones are flushed, then
  // closed); the rules are reloaded from the (possibly new) rules_files.
  let reloading = Promise.resolve();
  const reloadConfig = (why: string): void => {
    reloading = reloading.then(async () => {
      const next = resolveSettings(args);
      for (const p of next.problems) io.stderr(`lanner: config reload (${why}): ${formatProblem(p)}\n`);
      if (next.problems.some((p) => p.severity === "error")) {
        io.stderr(`lanner: config reload (${why}) failed: keeping the configuration in force\n`);
        return;
      }
      if (JSON.stringify(next.settings.outputs) !== JSON.stringify(settings.outputs)) {
        const old = built;
        try {
          // the gRPC socket is the old server's until it stops
          await old.grpcServer?.stop();
          const fresh = await buildOutputs(next.settings.outputs, {
            hostname,
            version: { version: packageVersion(), engineVersion: ENGINE_VERSION },
          });
          await serveNodeApi(fresh);
          await fresh.start();
          built = fresh;
          await old.manager.close(3000);
          io.stderr(`lanner: outputs reconfigured (${why})\n`);
        } catch (e) {
          io.stderr(`lanner: config reload (${why}): outputs: ${errorMessage(e)}; keeping the old outputs\n`);
          await old.grpcServer?.start().catch(() => {});
          return;
        }
      }
      settings = next.settings;
      rulePaths = settings.rulePaths;
      watchRules();
      reload(why);
    });
  };
  let reloadTimer: NodeJS.Timeout | null = null;
  const debounce = (fn: () => void): void => {
    if (reloadTimer) clearTimeout(reloadTimer);
    reloadTimer = setTimeout(fn, 200);
  };
  const watchFile = (p: string, onChange: () => void): FSWatcher | null => {
    try {
      return watch(p, onChange);
    } catch {
      return null;
    }
  };
  let watchers: (FSWatcher | null)[] = [];
  const watchRules = (): void => {
    for (const w of watchers) w?.close();
    watchers = rulePaths.map((p) => watchFile(p, () => debounce(() => reload(`${p} changed`))));
  };
  watchRules();
  const configWatcher =
    args.config === null
      ? null
      : watchFile(args.config, () => debounce(() => reloadConfig(`${args.config} changed`)));
  const reopen = (): void => {
    built.manager
      .reopen()
      .catch((e: unknown) => io.stderr(`lanner: reopening outputs: ${errorMessage(e)}\n`));
  };
  const onHup = (): void => {
    reopen();
    reloadConfig("SIGHUP");
  };
  process.on("SIGHUP", onHup);
  process.on("SIGUSR1", reopen);
  await stopRequested;
  if (profiler) {
    try {
      io.stderr(`lanner: cpu profile: ${await profiler.stop()} samples written to ${profiler.path}\n`);
    } catch (e) {
      io.stderr(`lanner: cpu profile: writing ${profiler.path}: ${errorMessage(e)}\n`);
    }
  }
  process.off("SIGHUP", onHup);
  for (const w of watchers) w?.close();
  configWatcher?.close();
  if (reloadTimer) clearTimeout(reloadTimer);
  await reloading;
  process.off("SIGUSR1", reopen);
  clearInterval(dropTimer);
  // the gadgets first (their streams end with their stats), then the capture they tap
  await Promise.all(nodeApis.map((n) => n.close()));
  agent.stop();
  await closeState();
  await built.manager.close(3000);
  await built.grpcServer?.stop();
  await metricsServer?.close();
  return exitRequested ? 1 : 0;
}
