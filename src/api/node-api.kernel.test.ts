/**
 * The node API of a real `lanner run` agent (the default rules, --grpc unix://...) with real
 * containerd containers carrying the kubelet's CRI labels: gadgets run through NodeClient
 * reuse the agent's capture (no second copy of its programs), report the selected pod's
 * events exactly once and nobody else's, leave the rules their alerts; a syscall the rules
 * do not capture is added for the gadget's cgroups only.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AgentProcess } from "../../test/helpers/agent.js";
import { KubeApiStandin } from "../../test/helpers/kube-apiserver-standin.js";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
  type RunningPod,
} from "../../test/helpers/containerd.js";
import { bpfProgramsOf as programsOf, kernelSkipReason } from "../../test/helpers/kernel.js";
import type { GadgetRecord } from "../gadgets/gadget.js";
import type { SelectionOptions } from "../gadgets/selection.js";
import { NodeClient, type GadgetCall, type GadgetStreamSink } from "./node-client.js";

const kernelSkip = kernelSkipReason();
const avail = await containerdAvailable();
const skip = kernelSkip ?? (avail.ok ? null : avail.reason);
if (skip) console.log(`# SKIP node API kernel tests: ${skip}`);

const NODE = "nodeapi-node-1";

const show = (x: unknown): string =>
  JSON.stringify(x, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));

function pod(name: string, namespace: string): SelectionOptions {
  return {
    namespaces: [namespace],
    allNamespaces: false,
    pods: [name],
    containers: [],
    labels: [],
    host: false,
  };
}

interface Stream {
  readonly events: GadgetRecord[];
  readonly warnings: string[];
  readonly lost: number[];
  ready: string;
  readonly done: Promise<unknown>;
  stop(): Promise<void>;
}

/** Starts a gadget on the node; resolves once it is Ready. */
async function startGadget(client: NodeClient, call: GadgetCall): Promise<Stream> {
  const ac = new AbortController();
  let readyNow!: () => void;
  const isReady = new Promise<void>((r) => (readyNow = r));
  const s: Stream = {
    events: [],
    warnings: [],
    lost: [],
    ready: "",
    done: Promise.resolve(),
    stop: async () => {
      ac.abort();
      await s.done;
    },
  };
  const sink: GadgetStreamSink = {
    ready: (summary) => {
      s.ready = summary;
      readyNow();
    },
    event: (r) => s.events.push(r),
    table: () => undefined,
    lost: (n) => s.lost.push(n),
    warning: (w) => s.warnings.push(w),
  };
  (s as { done: Promise<unknown> }).done = client.runGadget(call, sink, ac.signal);
  await Promise.race([isReady, s.done.then(() => assert.fail("the gadget ended before Ready"))]);
  return s;
}

async function until(pred: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("the node API in a running agent", { skip: skip ?? false }, () => {
  let tc: TestContainers;
  let web: RunningPod;
  let other: RunningPod;
  let cWeb: RunningContainer;
  let cOther: RunningContainer;
  const dir = mkdtempSync(join(tmpdir(), "nodeapi-kt-"));

  before(async () => {
    tc = new TestContainers();
    web = await tc.startPod({ name: "nodeapi-web", namespace: "nodeapi-a", labels: { app: "nodeapi-web" } });
    other = await tc.startPod({
      name: "nodeapi-other",
      namespace: "nodeapi-b",
      labels: { app: "nodeapi-other" },
    });
    cWeb = await tc.start({ name: "main", pod: web });
    cOther = await tc.start({ name: "main", pod: other });
  });
  after(async () => {
    await tc.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("with the default rules", () => {
    let agent: AgentProcess;
    let client: NodeClient;
    before(async () => {
      agent = new AgentProcess([
        "--json",
        "--grpc",
        `unix://${join(dir, "agent.sock")}`,
        "--node-name",
        NODE,
      ]);
      await agent.ready();
      client = new NodeClient({ address: `unix://${join(dir, "agent.sock")}` });
    });
    after(async () => {
      client.close();
      assert.equal(await agent.stop(), 0, agent.stderr);
    });

    test("trace exec -p: the pod's exec exactly once with its pod, nobody else's; no new programs; the rules keep alerting", async () => {
      const pid = agent.child.pid as number;
      const p0 = programsOf(pid);
      const before = p0.n;
      assert.ok(before > 0, "the agent holds its capture programs");
      const status0 = await client.status();
      assert.equal(status0.node, NODE);
      assert.ok(status0.rules > 0);
      assert.ok(status0.capturePrograms > 0);
      assert.equal(status0.gadgetsRunning, 0);
      const g = await startGadget(client, {
        category: "trace",
        name: "exec",
        params: {},
        selection: pod("nodeapi-web", "nodeapi-a"),
      });
      assert.match(
        g.ready,
        /^gadget=trace exec, capture=agent's \(\d+ programs\), execve, execveat, node=nodeapi-node-1$/,
      );
      const during = programsOf(pid).n;
      assert.equal((await client.status()).gadgetsRunning, 1);
      await tc.exec(cWeb, ["/bin/sh", "-c", "sleep 0", "nodeapi-mark-web"]);
      await tc.exec(cOther, ["/bin/sh", "-c", "sleep 0", "nodeapi-mark-other"]);
      execFileSync("/bin/sh", ["-c", "sleep 0", "nodeapi-mark-host"]);
      // a default rule's alert during the run (a credential file read on the host)
      const reader = spawnSync("/usr/bin/head", ["-c", "1", "/etc/shadow"]);
      assert.equal(reader.status, 0);
      await until(
        () => g.events.some((e) => String(e["exec.args"]).includes("nodeapi-mark-web")),
        "the web pod's exec",
      );
      await agent.waitFor(
        () =>
          agent.alerts.some(
            (a) =>
              a.rule === "Credential file read by unexpected program" &&
              a.output_fields["proc.pid"] === reader.pid,
          ),
        "the credential read alert",
      );
      // what is in flight arrives before the run is stopped
      await new Promise((r) => setTimeout(r, 1000));
      await g.stop();
      const mine = g.events.filter((e) => String(e["exec.args"]).includes("nodeapi-mark-web"));
      assert.equal(mine.length, 1, show(mine));
      const e = mine[0] as GadgetRecord;
      assert.equal(e["k8s.pod.name"], "nodeapi-web");
      assert.equal(e["k8s.ns.name"], "nodeapi-a");
      assert.equal(e["k8s.node.name"], NODE);
      assert.equal(e["container.name"], "main");
      assert.equal(e["container.id"], cWeb.id.slice(0, 12));
      assert.equal(e["exec.args"], "/bin/sh -c sleep 0 nodeapi-mark-web");
      for (const x of g.events) assert.equal(x["k8s.pod.name"], "nodeapi-web", show(x));
      assert.equal(
        g.events.filter((x) => /nodeapi-mark-(other|host)/.test(String(x["exec.args"]))).length,
        0,
      );
      console.log(`# trace exec: agent programs before ${before}, during ${during} (${p0.how})`);
      assert.equal(during, before, "no second capture");
      await until(() => programsOf(pid).n === before, "the programs after the run");
      const after = await client.status();
      assert.equal(after.gadgetsRunning, 0);
      assert.ok(after.alerts >= 1);
    });

    test("bpftrace --pod: the node's bpftrace counts the pod's kills only, maps printed at the timeout", async () => {
      const out: string[] = [];
      const ready: string[] = [];
      const p = client.bpftrace(
        {
          program: "tracepoint:syscalls:sys_enter_kill { @nodeapi_kills = count(); }",
          programName: "-e",
          pod: "nodeapi-web",
          namespace: "nodeapi-a",
          format: "text",
          timeoutS: 4,
        },
        { ready: (s, n) => ready.push(`${n} ${s}`), stdout: (t) => out.push(t), stderr: (t) => out.push(t) },
      );
      await until(() => ready.length > 0, "bpftrace attached");
      await tc.exec(cWeb, ["/bin/sh", "-c", "i=0; while [ $i -lt 7 ]; do kill -0 $$; i=$((i+1)); done"]);
      await tc.exec(cOther, ["/bin/sh", "-c", "i=0; while [ $i -lt 50 ]; do kill -0 $$; i=$((i+1)); done"]);
      execFileSync("/bin/sh", ["-c", "i=0; while [ $i -lt 50 ]; do kill -0 $$; i=$((i+1)); done"]);
      const code = await p;
      const text = out.join("");
      console.log(`# bpftrace through the node API: exit ${code}, ready '${ready[0]}', output ${show(text)}`);
      assert.equal(code, 0);
      assert.match(ready[0] ?? "", new RegExp(`^${NODE} .*nodeapi-web`));
      // runc's own kills in the pod's cgroup (SIGURG to its threads) may add to the shell's 7
      const n = Number(/@nodeapi_kills: (\d+)/.exec(text)?.[1]);
      assert.ok(n >= 7 && n < 50, `@nodeapi_kills: ${n}`);
    });

    test("trace open -p: the pod's opens arrive; the agent's programs do not double", async () => {
      const pid = agent.child.pid as number;
      const before = programsOf(pid).n;
      const g = await startGadget(client, {
        category: "trace",
        name: "open",
        params: {},
        selection: pod("nodeapi-web", "nodeapi-a"),
      });
      const during = programsOf(pid).n;
      await tc.exec(cWeb, ["/bin/sh", "-c", "cat /etc/hostname > /dev/null"]);
      await tc.exec(cOther, ["/bin/sh", "-c", "cat /etc/passwd > /dev/null"]);
      await until(() => g.events.some((e) => e["fd.name"] === "/etc/hostname"), "the web pod's open");
      await new Promise((r) => setTimeout(r, 500));
      await g.stop();
      console.log(`# trace open: agent programs before ${before}, during ${during}`);
      assert.equal(during, before);
      // (busybox sh runs cat without execve: the opener is named sh)
      const opens = g.events.filter((e) => e["fd.name"] === "/etc/hostname");
      assert.equal(opens.length, 1, show(opens));
      assert.equal(opens[0]?.["k8s.pod.name"], "nodeapi-web");
      assert.equal(opens[0]?.["evt.res"], "SUCCESS");
      for (const x of g.events) assert.equal(x["k8s.pod.name"], "nodeapi-web", show(x));
    });
  });

  describe("with rules that do not ask for the gadget's syscalls", () => {
    let agent: AgentProcess;
    let client: NodeClient;
    before(async () => {
      const rules = join(dir, "exec-only.yaml");
      writeFileSync(
        rules,
        "- rule: nodeapi exec\n  desc: only execve\n  condition: evt.type = execve and proc.name = nodeapi-nosuch\n" +
          "  output: exec %proc.name\n  priority: NOTICE\n",
      );
      // the node's name from NODE_NAME (as the DaemonSet sets it), not --node-name
      process.env["NODE_NAME"] = NODE;
      try {
        agent = new AgentProcess(["-r", rules, "--json", "--grpc", `unix://${join(dir, "agent2.sock")}`]);
      } finally {
        delete process.env["NODE_NAME"];
      }
      await agent.ready();
      client = new NodeClient({ address: `unix://${join(dir, "agent2.sock")}` });
    });
    after(async () => {
      client.close();
      assert.equal(await agent.stop(), 0, agent.stderr);
    });

    test("trace signal -p: the pod's kill arrives; 5000 kills elsewhere make (almost) no capture records", async () => {
      const base = await client.status();
      assert.equal(base.node, NODE, "NODE_NAME names the node");
      const g = await startGadget(client, {
        category: "trace",
        name: "signal",
        params: {},
        selection: pod("nodeapi-web", "nodeapi-a"),
      });
      assert.match(
        g.ready,
        /capture=agent's \(\d+ programs, \+kill,tkill,tgkill,rt_sigqueueinfo,rt_tgsigqueueinfo,pidfd_send_signal\)/,
      );
      // the web pod's cgroup is known to the gadget (its verdict reached the kernel) once
      // one of its events was placed: a first kill there
      await tc.exec(cWeb, ["/bin/sh", "-c", "kill -0 $$"]);
      await until(() => g.events.some((x) => x["evt.type"] === "kill"), "the web pod's kill");
      // capture records made while fn runs: the fewest of three tries (the machine is shared:
      // other processes' records only add; 5000 kills that were captured would be in each)
      const recordsDuring = async (fn: () => Promise<unknown>): Promise<number[]> => {
        const out: number[] = [];
        for (let i = 0; i < 3; i++) {
          const a = await client.status();
          await fn();
          await new Promise((r) => setTimeout(r, 200));
          out.push((await client.status()).events - a.events);
        }
        return out;
      };
      const KILLS = "i=0; while [ $i -lt 5000 ]; do kill -0 $$; i=$((i+1)); done";
      const NO_KILLS = "i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done";
      // 5000 kills by a host process (not selected): a shell loop of builtins, nothing else
      const host = await recordsDuring(async () => execFileSync("/bin/sh", ["-c", KILLS]));
      // 5000 in the other pod (ctr exec and runc make records of their own: the state's)
      const otherPod = await recordsDuring(() => tc.exec(cOther, ["/bin/sh", "-c", KILLS]));
      const noKills = await recordsDuring(() => tc.exec(cOther, ["/bin/sh", "-c", NO_KILLS]));
      // and 2000 in the selected pod: those are made (the measure sees kills when there are)
      const w0 = await client.status();
      await tc.exec(cWeb, ["/bin/sh", "-c", "i=0; while [ $i -lt 2000 ]; do kill -0 $$; i=$((i+1)); done"]);
      await until(
        () => g.events.filter((x) => x["evt.type"] === "kill").length >= 2001,
        "the web pod's next kills",
      );
      const web = (await client.status()).events - w0.events;
      await new Promise((r) => setTimeout(r, 500));
      await g.stop();
      console.log(
        `# trace signal on an exec-only agent: capture records during 5000 host kills +${host.join(", +")}; ` +
          `during 5000 kills in another pod +${otherPod.join(", +")}; the same exec there without kills +${noKills.join(", +")}; ` +
          `during 2000 kills in the selected pod +${web}`,
      );
      assert.ok(
        Math.min(...host) < 1000,
        `capture records grew by ${host.join(", ")} during the host's kills`,
      );
      assert.ok(
        Math.min(...otherPod) < Math.min(...noKills) + 1000,
        `capture records grew by ${otherPod.join(", ")} during the other pod's kills`,
      );
      // the shells' kills (runc's Go runtime also signals its threads there: tgkill SIGURG)
      const kills = g.events.filter((x) => x["evt.type"] === "kill");
      assert.equal(kills.length, 2001, `${kills.length} kills`);
      assert.ok(web >= 2000, `${web} capture records during the selected pod's kills`);
      for (const x of kills) {
        assert.equal(x["proc.name"], "sh");
        assert.equal(x["signal.num"], 0);
        assert.equal(x["signal.thostpid"], x["proc.pid"]);
      }
      for (const x of g.events) assert.equal(x["k8s.pod.name"], "nodeapi-web", show(x));
      assert.deepEqual(g.lost, []);
      // the selection narrows back: the web pod's kills make no records once it ended
      let e0 = await client.status();
      for (let i = 0; i < 100 && e0.gadgetsRunning !== 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        e0 = await client.status();
      }
      assert.equal(e0.gadgetsRunning, 0);
      assert.equal(e0.capturePrograms, base.capturePrograms, "the added tracepoints are detached");
      const webAfter = await recordsDuring(() => tc.exec(cWeb, ["/bin/sh", "-c", KILLS]));
      console.log(
        `# after the run: capture records during 5000 kills in the web pod +${webAfter.join(", +")}`,
      );
      assert.ok(
        Math.min(...webAfter) < Math.min(...noKills) + 1000,
        `capture records grew by ${webAfter.join(", ")}: the kills are still captured`,
      );
    });
  });
  describe("with the API server: only this node's pods", () => {
    let agent: AgentProcess;
    let client: NodeClient;
    let api: KubeApiStandin;
    before(async () => {
      api = new KubeApiStandin();
      await api.start();
      api.addNamespace("nodeapi-a");
      api.addNamespace("nodeapi-b");
      // one shared containerd and kernel: the web pod is this node's, the other pod another's
      api.addPod({ name: "nodeapi-web", namespace: "nodeapi-a", uid: web.spec.uid, nodeName: NODE });
      api.addPod({
        name: "nodeapi-other",
        namespace: "nodeapi-b",
        uid: other.spec.uid,
        nodeName: "nodeapi-node-2",
      });
      const kubeconfig = api.writeKubeconfig(join(dir, "kubeconfig"));
      agent = new AgentProcess([
        "--json",
        "--grpc",
        `unix://${join(dir, "agent3.sock")}`,
        "--node-name",
        NODE,
        "--kubeconfig",
        kubeconfig,
      ]);
      await agent.ready();
      client = new NodeClient({ address: `unix://${join(dir, "agent3.sock")}` });
    });
    after(async () => {
      client.close();
      assert.equal(await agent.stop(), 0, agent.stderr);
      await api.stop();
    });

    test("trace exec -A --host: this node's pod and the host, never another node's pod", async () => {
      const g = await startGadget(client, {
        category: "trace",
        name: "exec",
        params: {},
        selection: { namespaces: [], allNamespaces: true, pods: [], containers: [], labels: [], host: true },
      });
      await tc.exec(cWeb, ["/bin/sh", "-c", "sleep 0", "nodeapi-mine-web"]);
      await tc.exec(cOther, ["/bin/sh", "-c", "sleep 0", "nodeapi-mine-other"]);
      execFileSync("/bin/sh", ["-c", "sleep 0", "nodeapi-mine-host"]);
      const marked = (m: string): GadgetRecord[] =>
        g.events.filter((e) => String(e["exec.args"]).includes(m));
      await until(
        () => marked("nodeapi-mine-web").length > 0 && marked("nodeapi-mine-host").length > 0,
        "the execs",
      );
      await new Promise((r) => setTimeout(r, 2500));
      await g.stop();
      // (the host's ctr and runc name the markers too: those are host events)
      const inWeb = marked("nodeapi-mine-web").filter((e) => e["container.id"] !== "host");
      assert.equal(inWeb.length, 1, show(inWeb));
      assert.equal(inWeb[0]?.["k8s.pod.name"], "nodeapi-web");
      assert.equal(inWeb[0]?.["k8s.node.name"], NODE);
      assert.equal(inWeb[0]?.["exec.args"], "/bin/sh -c sleep 0 nodeapi-mine-web");
      const host = marked("nodeapi-mine-host");
      assert.equal(host.length, 1, show(marked("nodeapi-mine-host")));
      assert.equal(host[0]?.["container.id"], "host");
      assert.deepEqual(
        marked("nodeapi-mine-other").filter((e) => e["container.id"] !== "host"),
        [],
        "another node's pod is never reported",
      );
      for (const e of g.events) assert.notEqual(e["k8s.pod.name"], "nodeapi-other", show(e));
    });
  });
});
