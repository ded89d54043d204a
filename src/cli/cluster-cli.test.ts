/**
 * The gadget commands' remote targets end to end against fake nodes (real gRPC, mutual TLS)
 * and the API-server stand-in: `kubectl lanner` in-process (discovery, port-forward or
 * --direct, --node, problems on stderr, exit codes), the plugin run by the real `kubectl`
 * binary through PATH, and `lanner trace --agent ADDRESS`.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { FakeNode, makeAgentTls, type AgentTls } from "../../test/helpers/fake-node.js";
import { KubeApiStandin } from "../../test/helpers/kube-apiserver-standin.js";
import { gadgetCommand } from "./commands/gadget.js";
import { statusCommand } from "./commands/status.js";
import { cliMain } from "./main.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const AGENT = { "app.kubernetes.io/name": "lanner" };
const NODES = ["cli-a", "cli-b", "cli-c"];

let tls: AgentTls;
let dir: string;
let kubeconfig: string;
const standin = new KubeApiStandin();
const fakes: FakeNode[] = [];

before(async () => {
  tls = makeAgentTls();
  dir = mkdtempSync(join(tmpdir(), "cluster-cli-"));
  await standin.start();
  kubeconfig = standin.writeKubeconfig(join(dir, "kubeconfig"));
  standin.addNamespace("lanner");
  for (const n of NODES) {
    // 20 events a second per node, numbered, for as long as the call lasts
    const f = new FakeNode({ node: n, tls, rate: 20, untagged: n === "cli-c" });
    await f.start();
    fakes.push(f);
    standin.addNode({ name: n });
    standin.addPod({
      name: `lanner-${n}`,
      namespace: "lanner",
      nodeName: n,
      labels: AGENT,
      podIP: "127.0.0.1",
      containers: [{ name: "agent", ports: [{ name: "grpc", containerPort: f.port }] }],
    });
  }
  standin.addNode({ name: "cli-empty" });
  standin.addSecret("lanner", "lanner-client-tls", {
    "tls.crt": tls.clientCert,
    "tls.key": tls.clientKey,
    "ca.crt": tls.ca,
  });
});

after(async () => {
  await Promise.all(fakes.map((f) => f.stop()));
  await standin.stop();
  tls.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await gadgetCommand(
    argv[0] as "trace",
    argv.slice(1),
    { stdout: (s) => (out += s), stderr: (s) => (err += s) },
    "cluster",
  );
  return { code, out, err };
}

function byNode(out: string): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const line of out.split("\n").filter((l) => l !== "")) {
    const o = JSON.parse(line) as Record<string, unknown>;
    const n = o["k8s.node.name"] as string;
    m.set(n, [...(m.get(n) ?? []), o["exec.seq"] as number]);
  }
  return m;
}

function consecutive(seqs: number[] | undefined): boolean {
  return seqs !== undefined && seqs.length > 0 && seqs.every((s, i) => s === i);
}

for (const mode of ["port-forward", "direct"] as const) {
  test(`kubectl lanner trace exec (${mode}): every node's events tagged and merged; problems on stderr`, async () => {
    const forwardsBefore = standin.portForwards;
    const r = await run([
      "trace",
      "exec",
      "--kubeconfig",
      kubeconfig,
      ...(mode === "direct" ? ["--direct"] : []),
      "-n",
      "web",
      "--timeout",
      "1",
      "-o",
      "json",
    ]);
    assert.equal(r.code, 0, r.err);
    const m = byNode(r.out);
    assert.deepEqual([...m.keys()].sort(), NODES);
    for (const n of NODES)
      assert.ok(consecutive(m.get(n)) && (m.get(n)?.length ?? 0) >= 15, `${n}: ${m.get(n)}`);
    assert.match(
      r.err,
      /^lanner: node cli-empty: no lanner agent \(no pod of app\.kubernetes\.io\/name=lanner in namespace lanner\)$/m,
    );
    assert.match(r.err, /^lanner: ready \(3 of 3 nodes: cli-a, cli-b, cli-c\)$/m);
    assert.match(r.err, /^lanner: stats node=cli-a events=\d+ delivered=\d+/m);
    // port-forward: one tunnel connection per node through the API server; direct: none
    assert.equal(standin.portForwards - forwardsBefore, mode === "direct" ? 0 : 3);
    const last = fakes[0]?.requests.at(-1) as Record<string, unknown>;
    assert.deepEqual((last["selection"] as Record<string, unknown>)["namespaces"], ["web"]);
  });
}

test("kubectl lanner: --node picks nodes; a node that does not answer is reported and the others go on", async () => {
  const r = await run([
    "trace",
    "exec",
    "--kubeconfig",
    kubeconfig,
    "--direct",
    "--node",
    "cli-b",
    "--node",
    "cli-c",
    "--timeout",
    "0.5",
    "-o",
    "json",
  ]);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual([...byNode(r.out).keys()].sort(), ["cli-b", "cli-c"]);
  // a pod whose agent is gone: its node fails, the rest answer
  standin.addPod({
    name: "lanner-cli-empty",
    namespace: "lanner",
    nodeName: "cli-empty",
    labels: AGENT,
    podIP: "127.0.0.1",
    containers: [{ name: "agent", ports: [{ name: "grpc", containerPort: 1 }] }],
  });
  try {
    const r2 = await run([
      "trace",
      "exec",
      "--kubeconfig",
      kubeconfig,
      "--node",
      "cli-a",
      "--node",
      "cli-empty",
      "--timeout",
      "0.5",
      "-o",
      "json",
    ]);
    assert.equal(r2.code, 0, r2.err);
    assert.deepEqual([...byNode(r2.out).keys()], ["cli-a"]);
    assert.match(
      r2.err,
      /^lanner: node cli-empty: port-forward to pod lanner\/lanner-cli-empty port 1: .*connection refused$/m,
    );
    assert.match(r2.err, /^lanner: node cli-empty: UNAVAILABLE: /m);
    assert.match(r2.err, /^lanner: ready \(1 of 2 nodes: cli-a\)$/m);
    // nobody answers: exit 1
    const r3 = await run([
      "trace",
      "exec",
      "--kubeconfig",
      kubeconfig,
      "--direct",
      "--node",
      "cli-empty",
      "--timeout",
      "0.5",
    ]);
    assert.equal(r3.code, 1, r3.err);
    assert.equal(r3.out, "");
  } finally {
    standin.deletePod("lanner", "lanner-cli-empty");
  }
});

test("kubectl lanner: usage errors are exit 2 naming the flag; the node column is shown by default", async () => {
  const cli = async (argv: string[], plugin: boolean): Promise<{ code: number; err: string }> => {
    let err = "";
    const code = await cliMain(argv, { stdout: () => undefined, stderr: (s) => (err += s) }, { plugin });
    return { code, err };
  };
  // --agent is the local command's; --direct the plugin's
  assert.deepEqual(await cli(["trace", "exec", "--agent", "x"], true), {
    code: 2,
    err: "lanner trace: Unknown option '--agent'\n",
  });
  assert.equal((await cli(["trace", "exec", "--direct"], false)).code, 2);
  assert.deepEqual(await cli(["trace", "exec", "--agent", "127.0.0.1:1", "--tls-cert", "/c"], false), {
    code: 2,
    err: "lanner trace: --agent 127.0.0.1:1: --tls-cert, --tls-key and --tls-ca go together: --tls-key, --tls-ca missing\n",
  });
  assert.deepEqual(await cli(["trace", "exec", "--tls-ca", "/c"], false), {
    code: 2,
    err: "lanner trace: --tls-cert, --tls-key and --tls-ca go with --agent\n",
  });
  assert.equal((await cli(["capture"], true)).code, 2);
  assert.match(
    (await cli(["capture"], true)).err,
    /^kubectl lanner: 'capture' runs on one node: use 'lanner capture' there\n/,
  );
  const bad = await run(["top", "file", "--kubeconfig", kubeconfig, "--sort", "nope"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--sort: 'nope' is not a field of top file/);
  const cols = await run([
    "trace",
    "exec",
    "--kubeconfig",
    kubeconfig,
    "--direct",
    "--node",
    "cli-a",
    "--timeout",
    "0.3",
  ]);
  assert.equal(cols.code, 0, cols.err);
  const header = cols.out.split("\n")[0] as string;
  assert.match(header, /^NODE\s+/);
  assert.match(cols.out.split("\n")[1] as string, /^cli-a\s+/);
});

test("kubectl lanner top file: the nodes' tables merged, with the node column", async () => {
  const r = await run([
    "top",
    "file",
    "--kubeconfig",
    kubeconfig,
    "--direct",
    "--interval",
    "0.3",
    "--timeout",
    "1",
    "-m",
    "4",
    "--sort",
    "-file.reads",
    "-o",
    "json",
  ]);
  assert.equal(r.code, 0, r.err);
  const rows = r.out
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  // one merged table per interval of at most 4 rows; each sorted by reads, highest first
  assert.ok(rows.length >= 4, r.out);
  const first = rows.slice(0, 4).map((x) => x["file.reads"] as number);
  assert.deepEqual(
    first,
    [...first].sort((a, b) => b - a),
  );
  assert.ok(new Set(rows.map((x) => x["k8s.node.name"])).size >= 2);
});

test("the real kubectl runs the plugin through PATH (kubectl-lanner -> bin/lanner)", async () => {
  const bin = join(dir, "bin");
  const { mkdirSync } = await import("node:fs");
  mkdirSync(bin, { recursive: true });
  symlinkSync(join(ROOT, "bin/lanner"), join(bin, "kubectl-lanner"));
  const env = { ...process.env, PATH: `${bin}:${process.env["PATH"] ?? ""}`, KUBECONFIG: kubeconfig };
  const r = await new Promise<{ code: number; out: string; err: string }>((res) => {
    execFile(
      "kubectl",
      ["lanner", "trace", "exec", "--timeout", "1", "-o", "json"],
      { env, timeout: 30_000 },
      (e, out, err) => res({ code: e === null ? 0 : ((e as { code?: number }).code ?? -1), out, err }),
    );
  });
  assert.equal(r.code, 0, r.err);
  const m = byNode(r.out);
  assert.deepEqual([...m.keys()].sort(), NODES);
  for (const n of NODES) assert.ok(consecutive(m.get(n)), `${n}: ${m.get(n)}`);
  // `kubectl lanner trace exec | head -1`: the plugin ends quietly when its reader goes away
  const piped = await new Promise<{ code: number | null; line: string; err: string }>((res) => {
    const child = spawn("kubectl", ["lanner", "trace", "exec", "-o", "json"], { env });
    let err = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d: string) => (err += d));
    child.stdout.setEncoding("utf8");
    let line = "";
    child.stdout.once("data", (d: string) => {
      line = d.split("\n")[0] as string;
      child.stdout.destroy();
    });
    child.on("exit", (code) => res({ code, line, err }));
  });
  assert.equal(piped.code, 0, piped.err);
  assert.match(piped.line, /"exec\.seq":\d+/);
  assert.doesNotMatch(piped.err, /EPIPE|Error/);
  const help = await new Promise<string>((res) =>
    execFile("kubectl", ["lanner", "--help"], { env }, (_e, out) => res(out)),
  );
  assert.match(help, /^Usage: kubectl lanner <command>/);
  const plugins = await new Promise<string>((res) =>
    execFile("kubectl", ["plugin", "list"], { env }, (_e, out, err) => res(out + err)),
  );
  assert.match(plugins, /kubectl-lanner/);
});

test("lanner trace exec --agent HOST:PORT runs the gadget in that agent", async () => {
  let out = "";
  let err = "";
  const f = fakes[1] as FakeNode;
  const code = await gadgetCommand(
    "trace",
    [
      "exec",
      "--agent",
      f.address,
      "--tls-cert",
      tls.paths.clientCert,
      "--tls-key",
      tls.paths.clientKey,
      "--tls-ca",
      tls.paths.ca,
      "--timeout",
      "0.5",
      "-o",
      "json",
    ],
    { stdout: (s) => (out += s), stderr: (s) => (err += s) },
  );
  assert.equal(code, 0, err);
  assert.deepEqual([...byNode(out).keys()], ["cli-b"]);
  assert.match(err, /^lanner: ready \(programs=1\)$/m);
  // TCP needs mutual TLS
  await assert.rejects(
    gadgetCommand("trace", ["exec", "--agent", f.address], {
      stdout: () => undefined,
      stderr: () => undefined,
    }),
    /--agent 127\.0\.0\.1:\d+: TLS needs --tls-cert, --tls-key and --tls-ca/,
  );
});

test("lanner status --agent HOST:PORT: that agent's account, as a table or JSON", async () => {
  const f = fakes[0] as FakeNode;
  const tlsFlags = [
    "--tls-cert",
    tls.paths.clientCert,
    "--tls-key",
    tls.paths.clientKey,
    "--tls-ca",
    tls.paths.ca,
  ];
  let out = "";
  let err = "";
  const io = { stdout: (s: string) => (out += s), stderr: (s: string) => (err += s) };
  assert.equal(await statusCommand(["--agent", f.address, "-o", "json", ...tlsFlags], io), 0, err);
  const s = JSON.parse(out) as Record<string, unknown>;
  assert.equal(s["node"], "cli-a");
  assert.equal(s["version"], "0.0.0-fake");
  assert.equal(s["captureMode"], "selected");
  out = "";
  assert.equal(await statusCommand(["--agent", f.address, ...tlsFlags], io), 0, err);
  const [header, row] = out.split("\n");
  assert.match(header ?? "", /^NODE\s+VERSION\s+KERNEL\s+CAPTURE\s+PROGRAMS/);
  assert.match(row ?? "", /^cli-a\s+0\.0\.0-fake\s+fake\s+selected\s+0\s/);
  await assert.rejects(statusCommand([], io), /--agent ADDRESS is needed/);
  await assert.rejects(
    statusCommand(["--agent", f.address, "-o", "yaml"], io),
    /--output: expected columns or json/,
  );
  // an agent that does not answer: said on stderr, exit 1
  err = "";
  assert.equal(await statusCommand(["--agent", "unix:///nonexistent/lanner.sock"], io), 1);
  assert.match(err, /^lanner: node unix:\/\/\/nonexistent\/lanner\.sock: /m);
});
