/**
 * A three-node "cluster" on one machine, for the kubectl plugin's end-to-end tests:
 *
 *   host ── bridge lnk-br0 10.77.0.1/24 ── veth ── netns lnk-<node> (eth0 10.77.0.1N)
 *                     │                                └─ lanner run --grpc 10.77.0.1N:7100 (mTLS)
 *                     └─ the API-server stand-in on 10.77.0.1 (nodes, the DaemonSet's pods,
 *                        workload pods, pod port-forward)
 *
 * Each agent has its own node name and server certificate (SAN lanner-agent, one CA), and
 * reaches the stand-in through the bridge. Workload pods are real containerd containers with
 * the kubelet's CRI labels, assigned to a node by spec.nodeName in the stand-in: all agents
 * share one kernel and one containerd, and each reports the pods of its own node.
 * The plugin runs through the real `kubectl` on PATH (a temp dir with `kubectl-lanner`).
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LANNER } from "./agent.js";
import { TestContainers, type RunningContainer, type RunningPod } from "./containerd.js";
import { kernelSkipReason } from "./kernel.js";
import { KubeApiStandin } from "./kube-apiserver-standin.js";
import { TestPki } from "../../src/outputs/test-helpers.js";

export const BRIDGE = "lnk-br0";
const NET = "10.77.0";
export const API_HOST = `${NET}.1`;
export const AGENT_PORT = 7100;
export const AGENT_NAMESPACE = "lanner";
export const AGENT_LABEL = { "app.kubernetes.io/name": "lanner" } as const;

function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
function trySh(cmd: string, args: readonly string[]): boolean {
  try {
    sh(cmd, args);
    return true;
  } catch {
    return false;
  }
}

/** Why this machine cannot build the topology, or undefined. */
export function clusterSkipReason(): string | undefined {
  const k = kernelSkipReason();
  if (k !== null) return k;
  if (!trySh("kubectl", ["version", "--client"])) return "no kubectl on PATH";
  if (!trySh("openssl", ["version"])) return "no openssl";
  if (!trySh("nsenter", ["--version"])) return "no nsenter (util-linux)";
  const probe = "lnk-probe0";
  if (!trySh("ip", ["link", "add", probe, "type", "bridge"]))
    return "cannot create a bridge (ip link add type bridge)";
  trySh("ip", ["link", "del", probe]);
  return undefined;
}

/** The certificates of the topology (PEM files in `dir`). */
export interface ClusterTls {
  readonly dir: string;
  readonly ca: string;
  /** the plugin's client certificate and key (signed by `ca`) */
  readonly clientCert: string;
  readonly clientKey: string;
  /** a client certificate from another CA (must be refused) */
  readonly rogueCert: string;
  readonly rogueKey: string;
  /** each node's server certificate (SAN DNS:lanner-agent and its address) */
  nodeCert(node: string): { cert: string; key: string };
}

function makeTls(dir: string, nodes: readonly { name: string; ip: string }[]): ClusterTls {
  const pki = new TestPki(dir);
  const ca = (name: string): void => pki.ca(name);
  const leaf = (name: string, caName: string, ext: string): void => pki.leaf(name, caName, ext);
  ca("ca");
  ca("rogue-ca");
  for (const n of nodes)
    leaf(
      `server-${n.name}`,
      "ca",
      `subjectAltName=DNS:lanner-agent,IP:${n.ip}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n`,
    );
  const client = "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n";
  leaf("client", "ca", client);
  leaf("rogue", "rogue-ca", client);
  const p = (f: string): string => join(dir, f);
  return {
    dir,
    ca: p("ca.crt"),
    clientCert: p("client.crt"),
    clientKey: p("client.key"),
    rogueCert: p("rogue.crt"),
    rogueKey: p("rogue.key"),
    nodeCert: (node) => ({ cert: p(`server-${node}.crt`), key: p(`server-${node}.key`) }),
  };
}

export interface AgentNode {
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
  /** the agent's process (null once killed) */
  child: ChildProcessWithoutNullStreams | null;
  stdout: string;
  stderr: string;
}

export interface KubectlRun {
  readonly child: ChildProcessWithoutNullStreams;
  readonly events: Record<string, unknown>[];
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<number | null>;
  waitFor(
    pred: (e: Record<string, unknown>) => boolean,
    ms?: number,
  ): Promise<Record<string, unknown> | undefined>;
  waitStderr(re: RegExp, ms?: number): Promise<boolean>;
  stop(): Promise<number | null>;
}

export interface ClusterOptions {
  /** node names (default node-1, node-2, node-3) */
  readonly nodes?: readonly string[];
  /** extra arguments of every `lanner run` */
  readonly agentArgs?: readonly string[];
}

export class TestCluster {
  readonly nodes: AgentNode[] = [];
  readonly api: KubeApiStandin;
  readonly containers = new TestContainers();
  private readonly pods: { pod: RunningPod; container: RunningContainer }[] = [];
  private readonly namespaces = new Set<string>([AGENT_NAMESPACE]);
  private constructor(
    readonly dir: string,
    readonly tls: ClusterTls,
    readonly kubeconfig: string,
    readonly pluginDir: string,
    api: KubeApiStandin,
  ) {
    this.api = api;
  }

  static async start(opts: ClusterOptions = {}): Promise<TestCluster> {
    const names = opts.nodes ?? ["node-1", "node-2", "node-3"];
    const nodes = names.map((name, i) => ({ name, ip: `${NET}.${11 + i}`, netns: `lnk-${name}` }));
    TestCluster.teardownNetwork(nodes.map((n) => n.netns));
    const dir = mkdtempSync(join(tmpdir(), "lanner-cluster-"));
    const tls = makeTls(dir, nodes);
    // the network: a bridge on the host, one namespace per node
    sh("ip", ["link", "add", BRIDGE, "type", "bridge"]);
    sh("ip", ["addr", "add", `${API_HOST}/24`, "dev", BRIDGE]);
    sh("ip", ["link", "set", BRIDGE, "up"]);
    nodes.forEach((n, i) => {
      const host = `lnk-v${i}`;
      sh("ip", ["netns", "add", n.netns]);
      sh("ip", ["link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", n.netns]);
      sh("ip", ["link", "set", host, "master", BRIDGE, "up"]);
      sh("ip", ["-n", n.netns, "addr", "add", `${n.ip}/24`, "dev", "eth0"]);
      sh("ip", ["-n", n.netns, "link", "set", "eth0", "up"]);
      sh("ip", ["-n", n.netns, "link", "set", "lo", "up"]);
      sh("ip", ["-n", n.netns, "route", "add", "default", "via", API_HOST]);
    });
    const api = new KubeApiStandin({ host: API_HOST });
    await api.start();
    const kubeconfig = api.writeKubeconfig(join(dir, "kubeconfig"));
    const pluginDir = join(dir, "bin");
    execFileSync("mkdir", ["-p", pluginDir]);
    symlinkSync(LANNER, join(pluginDir, "kubectl-lanner"));
    const c = new TestCluster(dir, tls, kubeconfig, pluginDir, api);
    api.addNamespace(AGENT_NAMESPACE);
    for (const n of nodes) {
      api.addNode({ name: n.name, internalIP: n.ip });
      api.addPod({
        name: `lanner-${n.name}`,
        namespace: AGENT_NAMESPACE,
        nodeName: n.name,
        labels: { ...AGENT_LABEL },
        podIP: n.ip,
        containers: [{ name: "agent", ports: [{ name: "grpc", containerPort: AGENT_PORT }] }],
        ready: true,
      });
    }
    try {
      await Promise.all(nodes.map((n) => c.startAgent(n, opts.agentArgs ?? [])));
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  private async startAgent(
    n: { name: string; ip: string; netns: string },
    extra: readonly string[],
  ): Promise<void> {
    const cert = this.tls.nodeCert(n.name);
    const node: AgentNode = { ...n, child: null, stdout: "", stderr: "" };
    this.nodes.push(node);
    // nsenter enters only the network namespace: `ip netns exec` would also remount /sys,
    // hiding the cgroup v2 hierarchy the agent resolves cgroup ids in (a DaemonSet's pod
    // sees the node's)
    const child = spawn(
      "nsenter",
      [
        `--net=/var/run/netns/${n.netns}`,
        process.execPath,
        LANNER,
        "run",
        "--json",
        "--node-name",
        n.name,
        "--kubeconfig",
        this.kubeconfig,
        "--grpc",
        `${n.ip}:${AGENT_PORT}`,
        "--grpc-tls-cert",
        cert.cert,
        "--grpc-tls-key",
        cert.key,
        "--grpc-tls-ca",
        this.tls.ca,
        ...extra,
      ],
      { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, NODE_NAME: n.name } },
    );
    node.child = child;
    child.stdout.on("data", (d: Buffer) => (node.stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (node.stderr += d.toString()));
    const ok = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 60_000);
      const check = (): void => {
        if (node.stderr.includes("lanner: ready")) {
          clearTimeout(t);
          resolve(true);
        }
      };
      child.stderr.on("data", check);
      child.on("exit", () => {
        clearTimeout(t);
        resolve(false);
      });
    });
    if (!ok) throw new Error(`agent of ${n.name} did not start: ${node.stderr}`);
  }

  node(name: string): AgentNode {
    const n = this.nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  }

  /** Kills a node's agent (SIGKILL: an unreachable node). */
  async killAgent(name: string): Promise<void> {
    const n = this.node(name);
    const child = n.child;
    if (child === null) return;
    n.child = null;
    const gone = new Promise((r) => child.on("exit", r));
    child.kill("SIGKILL");
    await gone;
  }

  /** A workload pod on `node`: a sandbox and one container (`sleep`), registered in the stand-in. */
  async addPod(
    node: string,
    spec: { name: string; namespace: string; labels?: Record<string, string>; container?: string },
  ): Promise<{ pod: RunningPod; container: RunningContainer }> {
    if (!this.namespaces.has(spec.namespace)) {
      this.namespaces.add(spec.namespace);
      this.api.addNamespace(spec.namespace);
    }
    const pod = await this.containers.startPod({
      name: spec.name,
      namespace: spec.namespace,
      labels: spec.labels ?? {},
    });
    this.api.addPod({
      name: spec.name,
      namespace: spec.namespace,
      uid: pod.spec.uid,
      nodeName: node,
      labels: spec.labels ?? {},
      ready: true,
    });
    const container = await this.containers.start({ name: spec.container ?? "main", pod });
    const p = { pod, container };
    this.pods.push(p);
    return p;
  }

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: `${this.pluginDir}:${process.env["PATH"] ?? ""}`,
      KUBECONFIG: this.kubeconfig,
    };
  }

  /** The plugin's TLS flags (the client material). */
  tlsArgs(rogue = false): string[] {
    return [
      "--tls-cert",
      rogue ? this.tls.rogueCert : this.tls.clientCert,
      "--tls-key",
      rogue ? this.tls.rogueKey : this.tls.clientKey,
      "--tls-ca",
      this.tls.ca,
    ];
  }

  /** `kubectl lanner ARGS`, streaming: JSON lines parsed as they come. */
  kubectl(args: readonly string[]): KubectlRun {
    const child = spawn("kubectl", ["lanner", ...args], { stdio: ["pipe", "pipe", "pipe"], env: this.env() });
    let stdout = "";
    let stderr = "";
    let partial = "";
    const events: Record<string, unknown>[] = [];
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      partial += d.toString();
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) if (l.startsWith("{")) events.push(JSON.parse(l) as Record<string, unknown>);
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const poll = async <T>(f: () => T | undefined, ms: number): Promise<T | undefined> => {
      const deadline = Date.now() + ms;
      for (;;) {
        const v = f();
        if (v !== undefined || Date.now() > deadline) return v;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    return {
      child,
      events,
      stdout: () => stdout,
      stderr: () => stderr,
      exited,
      waitFor: (pred, ms = 15_000) => poll(() => events.find(pred), ms),
      waitStderr: async (re, ms = 15_000) =>
        (await poll(() => (re.test(stderr) ? true : undefined), ms)) === true,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
        return exited;
      },
    };
  }

  /** `kubectl lanner ARGS` to its end. */
  async kubectlRun(
    args: readonly string[],
    timeoutMs = 60_000,
  ): Promise<{ code: number | null; stdout: string; stderr: string; events: Record<string, unknown>[] }> {
    const r = this.kubectl(args);
    const t = setTimeout(() => r.child.kill("SIGKILL"), timeoutMs);
    const code = await r.exited;
    clearTimeout(t);
    return { code, stdout: r.stdout(), stderr: r.stderr(), events: r.events };
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await this.killAgent(n.name).catch(() => undefined);
    await this.containers.cleanup().catch(() => undefined);
    await this.api.stop().catch(() => undefined);
    TestCluster.teardownNetwork(this.nodes.map((n) => n.netns));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private static teardownNetwork(netns: readonly string[]): void {
    for (const ns of netns) trySh("ip", ["netns", "del", ns]);
    for (let i = 0; i < 8; i++) trySh("ip", ["link", "del", `lnk-v${i}`]);
    trySh("ip", ["link", "del", BRIDGE]);
  }
}
