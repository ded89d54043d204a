/**
 * End-to-end: real behaviours against a real `lanner run --json`.
 *
 * Part 1 runs ONE agent with the embedded default ruleset (rules/lanner_rules.yaml) for
 * every default rule: the behaviour performed for real (on the host, and in a containerd
 * container where the rule is about containers) raises exactly that alert, with the
 * expected priority, source and output_fields; a benign look-alike raises nothing.
 * Part 2 does the same for a handful of Falco's stable rules, loaded with
 * `-r $LANNER_COMPAT_DIR/falco-rules/falco_rules.yaml` (default ../shared/compat).
 *
 * Alerts are tied to behaviours by pid (every default rule outputs %proc.pid), or by a
 * unique marker in the command line or a unique path (Falco's outputs have no pid).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { promisify } from "node:util";
import {
  containerdAvailable,
  TestContainers,
  type RunningContainer,
  type RunningPod,
} from "../helpers/containerd.js";
import { compatDirSetting, compatSkipReason } from "../helpers/compat.js";
import { Agent, REPO, runSkipReason, type AlertJson, type FieldValue } from "./agent.js";

const execFileP = promisify(execFile);
const PY = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const BEHAVE = join(REPO, "test/fixtures/behaviors/behave.py");
const FALCO_RULES_REL = "falco-rules/falco_rules.yaml";
const FALCO_RULES = join(compatDirSetting(), FALCO_RULES_REL);
const SYSCALL_TRACEPOINTS = [
  "/sys/kernel/tracing/events/syscalls",
  "/sys/kernel/debug/tracing/events/syscalls",
];

const SKIP = runSkipReason();
if (SKIP !== null) console.log(`# SKIP default-rules e2e: ${SKIP}`);

// ------------------------------------------------------------------ helpers

type Result = Record<string, unknown> & { pid: number; tag: string };

/** Runs one behaviour of behave.py; returns its JSON line plus the unique tag used. */
async function behave(...args: string[]): Promise<Result> {
  const tag = randomBytes(4).toString("hex");
  const { stdout } = await execFileP(PY, [BEHAVE, ...args, `--tag=${tag}`], { timeout: 60_000 });
  const last = stdout.trim().split("\n").pop() ?? "{}";
  return { ...(JSON.parse(last) as Record<string, unknown>), tag } as Result;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Expect = FieldValue | RegExp | ((v: FieldValue | undefined) => boolean);

function checkFields(a: AlertJson, want: Record<string, Expect>): void {
  for (const [k, exp] of Object.entries(want)) {
    assert.ok(
      k in a.output_fields,
      `rule '${a.rule}': output_fields has no '${k}' (${JSON.stringify(a.output_fields)})`,
    );
    const v = a.output_fields[k];
    if (exp instanceof RegExp) assert.match(String(v), exp, `rule '${a.rule}': ${k}=${JSON.stringify(v)}`);
    else if (typeof exp === "function")
      assert.ok(exp(v), `rule '${a.rule}': ${k}=${JSON.stringify(v)} rejected`);
    else assert.deepEqual(v, exp, `rule '${a.rule}': ${k}`);
  }
}

function describeAlerts(list: readonly AlertJson[]): string {
  return list.map((a) => `  ${a.rule} [${a.priority}] ${a.output}`).join("\n") || "  (none)";
}

const byPid =
  (pid: number) =>
  (a: AlertJson): boolean =>
    a.output_fields["proc.pid"] === pid;

const inContainer =
  (c: RunningContainer) =>
  (a: AlertJson): boolean =>
    a.output_fields["container.id"] === c.id.slice(0, 12);

const cmdlineHas =
  (s: string) =>
  (a: AlertJson): boolean =>
    String(a.output_fields["proc.cmdline"] ?? "").includes(s);

const and =
  (...ps: ((a: AlertJson) => boolean)[]) =>
  (a: AlertJson): boolean =>
    ps.every((p) => p(a));

/**
 * Waits for `n` alerts of `rule` among those selected by `sel`, checks their priority,
 * source and fields, and that `sel` selects no alert of any rule outside `allowed`.
 */
async function expectAlert(
  agent: Agent,
  sel: (a: AlertJson) => boolean,
  rule: string,
  priority: string,
  fields: Record<string, Expect>,
  opts: { n?: number; allowed?: readonly string[] } = {},
): Promise<AlertJson[]> {
  const n = opts.n ?? 1;
  const got = await agent.waitFor((a) => sel(a) && a.rule === rule, n);
  assert.ok(
    got.length >= n,
    `expected ${n} '${rule}' alert(s), got ${got.length}; alerts for this behaviour:\n${describeAlerts(agent.matching(sel))}`,
  );
  for (const a of got) {
    assert.equal(a.source, "syscall");
    assert.equal(a.priority, priority, `priority of '${rule}'`);
    checkFields(a, fields);
  }
  await sleep(300);
  const allowed = new Set([rule, ...(opts.allowed ?? [])]);
  const others = agent.matching((a) => sel(a) && !allowed.has(a.rule));
  assert.equal(others.length, 0, `unexpected alerts for this behaviour:\n${describeAlerts(others)}`);
  return got;
}

/** No alert selected by `sel` (call after a positive alert of a later behaviour arrived). */
function expectQuiet(agent: Agent, sel: (a: AlertJson) => boolean, what: string): void {
  const got = agent.matching(sel);
  assert.equal(got.length, 0, `benign look-alike (${what}) raised alerts:\n${describeAlerts(got)}`);
}

/** Kernel event drops (internal alerts) the agent reported so far. */
function dropsSeen(agent: Agent): number {
  return (
    agent.alerts.filter((a) => a.source === "internal" && /drop/i.test(a.rule)).length +
    (agent.stderr.match(/syscall event drop/g) ?? []).length
  );
}

type Body = (t: TestContext) => Promise<void>;

/**
 * A test whose body is performed again once if it failed while the agent reported kernel
 * event drops (the VM is shared: another job's syscall storm can overflow the ring and
 * take the behaviour's events with it). A failure without drops fails at once.
 */
function makeIt(getAgent: () => Agent) {
  return (name: string, a: Body | { todo?: string }, b?: Body): void => {
    const opts = typeof a === "function" ? {} : a;
    const body = (typeof a === "function" ? a : b) as Body;
    test(name, opts, async (t) => {
      const before = dropsSeen(getAgent());
      try {
        await body(t);
      } catch (err) {
        if (dropsSeen(getAgent()) === before) throw err;
        console.log(
          `# ${name}: retried once: the agent reported kernel event drops during the first attempt`,
        );
        await body(t);
      }
    });
  };
}

const HOST = { "container.id": "host", "user.name": "root", "user.uid": 0 };

// ------------------------------------------------------------------ containers

interface Containers {
  tc: TestContainers;
  pod: RunningPod;
  plain: RunningContainer;
  priv: RunningContainer;
  hostDir: string;
  ovlBase: string;
}

let ctrs: Containers | null = null;
let ctrSkip: string | null = "not set up";

async function setUpContainers(): Promise<void> {
  const av = await containerdAvailable();
  if (!av.ok) {
    ctrSkip = av.reason;
    return;
  }
  const hostDir = mkdtempSync("/tmp/lnr-e2e-ctr-");
  symlinkSync("/bin/busybox", join(hostDir, "debugfs")); // resolved inside the container
  mkdirSync(join(hostDir, "cg"));
  const ovlBase = mkdtempSync("/tmp/lnr-e2e-ovl-");
  await execFileP(PY, [BEHAVE, "overlay", "mount", ovlBase]);
  const tc = new TestContainers();
  try {
    const pod = await tc.startPod({ name: "lanner-e2e", namespace: "lanner-e2e" });
    const plain = await tc.start({
      name: "app",
      pod,
      mounts: [{ source: hostDir, destination: "/lnr" }],
    });
    const priv = await tc.start({
      name: "privileged",
      privileged: true,
      mounts: [
        { source: hostDir, destination: "/lnr" },
        { source: join(ovlBase, "merged"), destination: "/ovl" },
      ],
    });
    ctrs = { tc, pod, plain, priv, hostDir, ovlBase };
    ctrSkip = null;
  } catch (err) {
    ctrSkip = `starting test containers failed: ${String(err)}`;
    await tc.cleanup().catch(() => undefined);
  }
}

async function tearDownContainers(): Promise<void> {
  if (ctrs !== null) {
    await ctrs.tc.cleanup().catch(() => undefined);
    await execFileP(PY, [BEHAVE, "overlay", "umount", ctrs.ovlBase]).catch(() => undefined);
    rmSync(ctrs.hostDir, { recursive: true, force: true });
    ctrs = null;
  }
}

function needContainers(t: TestContext): Containers | null {
  if (ctrs === null) {
    console.log(`# SKIP ${t.name}: ${ctrSkip ?? "no containers"}`);
    t.skip(ctrSkip ?? "no containers");
    return null;
  }
  return ctrs;
}

/** `ctr task exec` in container c; with tty, under a pseudo-terminal (`-t`). */
async function ctrExec(c: RunningContainer, args: readonly string[], tty = false): Promise<void> {
  const execId = `e2e-${randomBytes(4).toString("hex")}`;
  const argv = [
    "-n",
    c.namespace,
    "task",
    "exec",
    ...(tty ? ["-t"] : []),
    "--exec-id",
    execId,
    c.id,
    ...args,
  ];
  if (tty) await execFileP(PY, [BEHAVE, "pty-run", "ctr", ...argv], { timeout: 30_000 });
  else await execFileP("ctr", argv, { timeout: 30_000 }).catch(() => undefined); // exit codes are not the point
}

function moduleTracepointMissing(): string | null {
  for (const d of SYSCALL_TRACEPOINTS) {
    if (!existsSync(d)) continue;
    if (existsSync(join(d, "sys_exit_finit_module"))) return null;
    return `kernel has no syscalls/sys_exit_finit_module tracepoint (no module support)`;
  }
  return null;
}

// ------------------------------------------------------------------ part 1: default rules

before(async () => {
  if (SKIP === null) await setUpContainers();
});

after(async () => {
  await tearDownContainers();
});

describe("default ruleset, real behaviours", { skip: SKIP ?? false, timeout: 600_000 }, () => {
  let agent: Agent;
  const it = makeIt(() => agent);

  before(async () => {
    agent = await Agent.start([]);
  });

  after(async () => {
    const code = await agent.stop();
    for (const l of agent.stderr.split("\n").filter((x) => x !== "" && !x.startsWith("lanner: ready")))
      console.log(`# agent stderr: ${l}`);
    console.log(`# agent raised ${agent.alerts.length} alerts`);
    // LANNER_E2E_ALERTS=FILE keeps the alerts (rules/README.md examples come from there)
    const keep = process.env["LANNER_E2E_ALERTS"];
    if (keep !== undefined && keep !== "")
      writeFileSync(keep, agent.alerts.map((a) => JSON.stringify(a)).join("\n") + "\n");
    assert.equal(code, 0, `lanner run exited ${String(code)}; stderr:\n${agent.stderr}`);
    assert.deepEqual(agent.junk, [], "every stdout line is a JSON alert");
  });

  it("Credential file read by unexpected program", async () => {
    const benign = await behave("read-file", "/etc/passwd");
    const r = await behave("read-file", "/etc/shadow");
    await expectAlert(agent, byPid(r.pid), "Credential file read by unexpected program", "Warning", {
      ...HOST,
      "fd.name": "/etc/shadow",
      "proc.name": "python3",
      "proc.pid": r.pid,
      "evt.arg.flags": /O_RDONLY/,
    });
    expectQuiet(agent, byPid(benign.pid), "reading /etc/passwd");
  });

  it("System file read through path traversal", async () => {
    const benign = await behave("read-file", "/etc/hostname");
    const r = await behave("traversal-read");
    await expectAlert(agent, byPid(r.pid), "System file read through path traversal", "Warning", {
      ...HOST,
      "fd.name": "/etc/hostname",
      "evt.arg.name": r["path"] as string,
      "proc.name": "python3",
    });
    expectQuiet(agent, byPid(benign.pid), "reading /etc/hostname by absolute path");
  });

  it("Interactive shell in container", async (t) => {
    const c = needContainers(t);
    if (c === null) return;
    const tag = randomBytes(4).toString("hex");
    await ctrExec(c.plain, ["sh", "-c", `echo lnr-notty-${tag}`]);
    await ctrExec(c.plain, ["sh", "-c", `sh -c 'echo lnr-tty-${tag}'; true`], true);
    const [a] = await expectAlert(
      agent,
      and(inContainer(c.plain), cmdlineHas(`lnr-tty-${tag}`)),
      "Interactive shell in container",
      "Notice",
      {
        "proc.name": "sh",
        "container.id": c.plain.id.slice(0, 12),
        "container.image.repository": "docker.io/library/busybox",
        "k8s.pod.name": "lanner-e2e",
        "k8s.ns.name": "lanner-e2e",
        "user.uid": 0,
        "proc.tty": (v) => typeof v === "number" && v !== 0,
      },
    );
    // one alert per session: the nested shell (parent sh) is not reported
    assert.match(String(a?.output_fields["proc.cmdline"]), /sh -c sh -c/);
    expectQuiet(agent, cmdlineHas(`lnr-notty-${tag}`), "shell without a terminal");
  });

  it("Interactive shell as a system account", async () => {
    const tag = randomBytes(4).toString("hex");
    // benign: the same shell without a terminal, and a root shell with one
    await execFileP("su", ["nobody", "-s", "/bin/sh", "-c", `echo lnr-notty-${tag}`]);
    await behave("pty-run", "su", "--pty", "root", "-s", "/bin/sh", "-c", `echo lnr-root-${tag}`);
    // util-linux su -c starts a new session without a terminal; --pty gives the shell one
    await behave("pty-run", "su", "--pty", "nobody", "-s", "/bin/sh", "-c", `echo lnr-sys-${tag}`);
    await expectAlert(
      agent,
      cmdlineHas(`lnr-sys-${tag}`),
      "Interactive shell as a system account",
      "Notice",
      {
        "user.name": "nobody",
        "user.uid": 65534,
        "proc.name": "sh",
        "proc.pname": "su",
        "proc.tty": (v) => typeof v === "number" && v !== 0,
        "container.id": "host",
      },
    );
    expectQuiet(agent, cmdlineHas(`lnr-notty-${tag}`), "system account shell without a terminal");
    expectQuiet(agent, cmdlineHas(`lnr-root-${tag}`), "root shell with a terminal");
  });

  it("Shell started by a network service", async () => {
    const benign = await behave("service-shell", "worker");
    const r = await behave("service-shell", "nginx");
    const byParent = (pid: number) => (a: AlertJson) => a.output_fields["proc.ppid"] === pid;
    await expectAlert(agent, byParent(r.pid), "Shell started by a network service", "Notice", {
      ...HOST,
      "proc.name": "sh",
      "proc.pname": "nginx",
      "proc.cmdline": "sh -c exit 0",
    });
    expectQuiet(agent, byParent(benign.pid), "shell started by a program named worker");
  });

  it("Netcat-style tool wired to a program (host)", async () => {
    const benign = await behave("netcat", "plain");
    const r = await behave("netcat", "exec");
    await expectAlert(
      agent,
      byPid(r.pid),
      "Netcat-style tool wired to a program",
      "Warning",
      { ...HOST, "proc.name": "nc", "proc.args": `127.0.0.1 ${String(r["port"])} -e /bin/true` },
      { allowed: ["Standard stream redirected to network socket"] },
    );
    // busybox nc -e moves the socket onto stdin and stdout before running the program
    await expectAlert(
      agent,
      byPid(r.pid),
      "Standard stream redirected to network socket",
      "Warning",
      { ...HOST, "proc.name": "nc", "fd.sip": "127.0.0.1", "fd.sport": r["port"] as number },
      { allowed: ["Netcat-style tool wired to a program"] },
    );
    expectQuiet(agent, byPid(benign.pid), "nc without -e");
  });

  it("Netcat-style tool wired to a program (container, started by busybox sh)", async (t) => {
    const c = needContainers(t);
    if (c === null) return;
    const port = 20000 + Math.floor(Math.random() * 40000);
    // busybox sh runs the nc applet through /proc/self/exe: comm is "exe", argv[0] is "nc"
    await ctrExec(c.plain, [
      "sh",
      "-c",
      `nc -l -p ${port} </dev/null >/dev/null & sleep 0.5; nc 127.0.0.1 ${port} -e /bin/true; wait`,
    ]);
    const [a] = await expectAlert(
      agent,
      and(inContainer(c.plain), (x) => String(x.output_fields["proc.args"] ?? "").includes(`${port} -e`)),
      "Netcat-style tool wired to a program",
      "Warning",
      {
        "proc.exe": "nc",
        "container.id": c.plain.id.slice(0, 12),
        "proc.args": `127.0.0.1 ${port} -e /bin/true`,
      },
    );
    const pid = a?.output_fields["proc.pid"] as number;
    await expectAlert(
      agent,
      byPid(pid),
      "Standard stream redirected to network socket",
      "Warning",
      { "container.id": c.plain.id.slice(0, 12), "fd.sip": "127.0.0.1", "fd.sport": port },
      { n: 2, allowed: ["Netcat-style tool wired to a program"] },
    );
    expectQuiet(
      agent,
      and(inContainer(c.plain), (x) => String(x.output_fields["proc.args"] ?? "").includes(`-l -p ${port}`)),
      "nc listener without -e",
    );
  });

  it("Standard stream redirected to network socket", async () => {
    const benign = await behave("redirect", "pipe");
    const r = await behave("redirect", "socket");
    const got = await expectAlert(
      agent,
      byPid(r.pid),
      "Standard stream redirected to network socket",
      "Warning",
      { ...HOST, "proc.name": "python3", "fd.sip": "127.0.0.1", "fd.sport": r["port"] as number },
      { n: 2 },
    );
    assert.deepEqual(got.map((a) => a.output_fields["evt.rawres"]).sort(), [0, 1]);
    expectQuiet(agent, byPid(benign.pid), "socket dup'd to a high fd, pipe onto stdout");
  });

  it("Packet socket opened (host)", async () => {
    const benign = await behave("packet-socket", "inet");
    const r = await behave("packet-socket", "packet");
    await expectAlert(agent, byPid(r.pid), "Packet socket opened", "Notice", {
      ...HOST,
      "evt.arg.domain": "AF_PACKET",
      "proc.name": "python3",
    });
    expectQuiet(agent, byPid(benign.pid), "AF_INET datagram socket");
  });

  it("Packet socket opened (container)", async (t) => {
    const c = needContainers(t);
    if (c === null) return;
    await ctrExec(c.plain, ["ping", "-c", "1", "-W", "1", "127.0.0.1"]);
    await ctrExec(c.plain, ["arping", "-c", "1", "-w", "1", "-I", "lo", "127.0.0.1"]);
    await expectAlert(
      agent,
      and(inContainer(c.plain), (a) => a.output_fields["proc.name"] === "arping"),
      "Packet socket opened",
      "Notice",
      {
        "evt.arg.domain": "AF_PACKET",
        "container.id": c.plain.id.slice(0, 12),
      },
    );
    expectQuiet(
      agent,
      and(inContainer(c.plain), (a) => a.output_fields["proc.name"] === "ping"),
      "ping",
    );
  });

  it("Kernel module load requested", async (t) => {
    const missing = moduleTracepointMissing();
    const r = await behave("module-load");
    const got = await agent.waitFor(
      (a) => byPid(r.pid)(a) && a.rule === "Kernel module load requested",
      1,
      missing === null ? 15_000 : 3_000,
    );
    if (got.length === 0 && missing !== null) {
      console.log(`# SKIP ${t.name}: ${missing}; finit_module returned errno ${String(r["errno"])}`);
      t.skip(missing);
      return;
    }
    await expectAlert(agent, byPid(r.pid), "Kernel module load requested", "Warning", {
      ...HOST,
      "proc.name": "python3",
      "evt.res": (v) => typeof v === "string",
    });
  });

  it("Process attached with ptrace", async () => {
    const benign = await behave("ptrace-attach", "detach");
    const r = await behave("ptrace-attach", "attach");
    await expectAlert(agent, byPid(r.pid), "Process attached with ptrace", "Warning", {
      ...HOST,
      "evt.arg.request": "PTRACE_ATTACH",
      "evt.arg.pid": r["target"] as number,
      "proc.name": "python3",
      "evt.res": "SUCCESS",
    });
    expectQuiet(agent, byPid(benign.pid), "PTRACE_DETACH");
  });

  it("Process traced by its parent on request", async () => {
    let benignPids: number[] = [];
    if (existsSync("/usr/bin/gdb")) {
      // gdb starts its inferior with PTRACE_TRACEME from a child still named gdb
      const b = await behave("spawn", "/usr/bin/gdb", "-nx", "-batch", "-ex", "run", "--args", "/bin/true");
      benignPids = [b.pid];
    }
    const r = await behave("traceme");
    await expectAlert(agent, byPid(r.pid), "Process traced by its parent on request", "Notice", {
      ...HOST,
      "evt.arg.request": "PTRACE_TRACEME",
      "proc.name": "python3",
      "proc.pname": "python3",
    });
    for (const p of benignPids)
      expectQuiet(
        agent,
        (a) =>
          a.rule === "Process traced by its parent on request" &&
          (a.output_fields["proc.ppid"] === p || a.output_fields["proc.pid"] === p),
        "gdb starting a program",
      );
  });

  it("Symlink to credential file created", async () => {
    const benign = await behave("symlink", "/etc/hostname");
    const r = await behave("symlink", "/etc/shadow");
    await expectAlert(agent, byPid(r.pid), "Symlink to credential file created", "Warning", {
      ...HOST,
      "evt.arg.target": "/etc/shadow",
      "evt.arg.linkpath": r["link"] as string,
      "proc.name": "python3",
    });
    expectQuiet(agent, byPid(benign.pid), "symlink to /etc/hostname");
  });

  it("Hard link to credential file created", async () => {
    const benign = await behave("hardlink-benign");
    const r = await behave("hardlink", "/etc/shadow");
    await expectAlert(agent, byPid(r.pid), "Hard link to credential file created", "Warning", {
      ...HOST,
      "evt.arg.oldpath": "/etc/shadow",
      "evt.arg.newpath": r["link"] as string,
      "evt.res": "SUCCESS",
    });
    expectQuiet(agent, byPid(benign.pid), "hard link of a scratch file");
  });

  it("Log file truncated", async () => {
    const benign = await behave("log-tamper", "append");
    const r = await behave("log-tamper", "truncate");
    await expectAlert(
      agent,
      byPid(r.pid),
      "Log file truncated",
      "Warning",
      { ...HOST, "fd.name": r["path"] as string, "evt.arg.flags": /O_TRUNC/, "proc.name": "python3" },
      { allowed: ["Log file deleted"] }, // the fixture removes its log file afterwards
    );
    // the benign run also unlinked its file: that is the deletion rule, not truncation
    expectQuiet(
      agent,
      and(byPid(benign.pid), (a) => a.rule === "Log file truncated"),
      "log opened for append",
    );
  });

  it("Log file truncated: truncate(2) and ftruncate(2) to length 0", async () => {
    // truncate names a path (fs.path.name); ftruncate an open fd (fd.name)
    for (const [kind, type, field] of [
      ["truncate-path", "truncate", "fs.path.name"],
      ["ftruncate", "ftruncate", "fd.name"],
    ] as const) {
      const r = await behave("log-tamper", kind);
      await expectAlert(
        agent,
        byPid(r.pid),
        "Log file truncated",
        "Warning",
        { ...HOST, "evt.type": type, [field]: r["path"] as string, "proc.name": "python3" },
        { allowed: ["Log file deleted"] },
      );
    }
  });

  it("Log file deleted", async () => {
    const benign = await behave("tmp-delete");
    const r = await behave("log-tamper", "delete");
    await expectAlert(agent, byPid(r.pid), "Log file deleted", "Warning", {
      ...HOST,
      "fs.path.name": r["path"] as string,
      "proc.name": "python3",
    });
    expectQuiet(agent, byPid(benign.pid), "deleting a file outside /var/log");
  });

  it("Data destruction tool run", async () => {
    const benign = await behave("shred", "version");
    const r = await behave("shred", "run");
    await expectAlert(agent, byPid(r.pid), "Data destruction tool run", "Warning", {
      ...HOST,
      "proc.name": "shred",
      "proc.args": `-u ${String(r["path"])}`,
    });
    expectQuiet(agent, byPid(benign.pid), "shred --version");
  });

  it("Private key search", async () => {
    const b1 = await behave("search", "grep-plain");
    const b2 = await behave("search", "find-plain");
    const g = await behave("search", "grep-key");
    const f = await behave("search", "find-key");
    await expectAlert(agent, byPid(g.pid), "Private key search", "Warning", {
      ...HOST,
      "proc.name": "grep",
      "proc.args": /BEGIN RSA PRIVATE KEY/,
    });
    await expectAlert(agent, byPid(f.pid), "Private key search", "Warning", {
      ...HOST,
      "proc.name": "find",
      "proc.args": /-name id_rsa$/,
    });
    expectQuiet(agent, byPid(b1.pid), "grep TODO");
    expectQuiet(agent, byPid(b2.pid), "find -name *.txt");
  });

  it("Cloud credential search", async () => {
    const b1 = await behave("search", "grep-plain");
    const g = await behave("search", "grep-aws");
    const f = await behave("search", "find-aws");
    await expectAlert(agent, byPid(g.pid), "Cloud credential search", "Warning", {
      ...HOST,
      "proc.name": "grep",
      "proc.args": /aws_secret_access_key/,
    });
    await expectAlert(agent, byPid(f.pid), "Cloud credential search", "Warning", {
      ...HOST,
      "proc.name": "find",
      "proc.args": /\.aws\/credentials$/,
    });
    expectQuiet(agent, byPid(b1.pid), "grep TODO");
  });

  it("Program run from shared memory", async () => {
    const b1 = await behave("exec-copy", "/tmp");
    const b2 = await behave("shm-read");
    const r = await behave("exec-copy", "/dev/shm");
    await expectAlert(agent, byPid(r.pid), "Program run from shared memory", "Warning", {
      ...HOST,
      "proc.exepath": r["path"] as string,
      "proc.name": r["name"] as string,
    });
    expectQuiet(agent, byPid(b1.pid), "program run from /tmp");
    expectQuiet(agent, byPid(b2.pid), "cat of a file in /dev/shm");
  });

  it("Program run from memory file descriptor", async () => {
    const benign = await behave("memfd-exec", "write");
    const r = await behave("memfd-exec", "exec");
    await expectAlert(agent, byPid(r.pid), "Program run from memory file descriptor", "Critical", {
      ...HOST,
      "proc.exepath": new RegExp(`memfd:${String(r["name"])}`),
      "proc.pname": "python3",
    });
    expectQuiet(agent, byPid(benign.pid), "memfd written, not executed");
  });

  it("Executable written in container was run", async (t) => {
    const c = needContainers(t);
    if (c === null) return;
    await ctrExec(c.priv, ["/ovl/sleep", "0"]); // in the lower layer: part of the "image"
    await ctrExec(c.priv, ["sh", "-c", "cp /bin/busybox /ovl/true && /ovl/true"]);
    await expectAlert(
      agent,
      and(inContainer(c.priv), (a) => a.output_fields["proc.exepath"] === "/ovl/true"),
      "Executable written in container was run",
      "Critical",
      { "proc.name": "true", "container.id": c.priv.id.slice(0, 12) },
    );
    expectQuiet(
      agent,
      and(inContainer(c.priv), (a) => a.output_fields["proc.exepath"] === "/ovl/sleep"),
      "lower-layer program",
    );
  });

  it("Cgroup release_agent opened for writing", async (t) => {
    const c = needContainers(t);
    if (c === null) return;
    const name = `lnr${randomBytes(3).toString("hex")}`;
    await ctrExec(c.priv, [
      "sh",
      "-c",
      `mount -t cgroup -o none,name=${name} cgroup /lnr/cg && cat /lnr/cg/release_agent && : >> /lnr/cg/release_agent; umount /lnr/cg`,
    ]);
    await expectAlert(
      agent,
      and(inContainer(c.priv), (a) => a.output_fields["fd.name"] === "/lnr/cg/release_agent"),
      "Cgroup release_agent opened for writing",
      "Critical",
      {
        "proc.name": "sh",
        "container.id": c.priv.id.slice(0, 12),
        "thread.cap_effective": /CAP_SYS_ADMIN/,
        "evt.arg.flags": /O_APPEND/,
      },
    );
    // cat read it first: exactly one alert means the read was not reported
  });

  it("Filesystem debugger in privileged container", async (t) => {
    const c = needContainers(t);
    if (c === null) return;
    await ctrExec(c.plain, ["/lnr/debugfs", "-R", "stats", "/dev/null"]);
    await ctrExec(c.priv, ["/lnr/debugfs", "-R", "stats", "/dev/null"]);
    await expectAlert(
      agent,
      and(inContainer(c.priv), (a) => a.output_fields["proc.name"] === "debugfs"),
      "Filesystem debugger in privileged container",
      "Warning",
      {
        "container.id": c.priv.id.slice(0, 12),
        "container.privileged": true,
        "proc.args": "-R stats /dev/null",
      },
    );
    expectQuiet(
      agent,
      and(inContainer(c.plain), (a) => a.output_fields["proc.name"] === "debugfs"),
      "debugfs in an unprivileged container",
    );
  });

  it("SSH client to non-standard port", async () => {
    const benign = await behave("ssh", "python");
    const r = await behave("ssh", "ssh");
    await expectAlert(agent, byPid(r.pid), "SSH client to non-standard port", "Notice", {
      ...HOST,
      "proc.name": "ssh",
      "fd.sip": "127.0.0.1",
      "fd.sport": r["port"] as number,
    });
    expectQuiet(agent, byPid(benign.pid), "python connecting to the same port");
  });

  it("Kubernetes API contacted from container", async (t) => {
    const c = needContainers(t);
    if (c === null) return;
    // The privileged container gives its own loopback the API service address and serves
    // port 443 there, so the connection really succeeds (as it would in a cluster).
    await ctrExec(c.priv, [
      "sh",
      "-c",
      "ip addr add 10.96.0.1/32 dev lo; (nc -l -p 443 </dev/null >/dev/null &); (nc -l -p 8080 </dev/null >/dev/null &); sleep 0.5; " +
        "nc -w 1 10.96.0.1 8080 </dev/null; nc -w 1 10.96.0.1 443 </dev/null; ip addr del 10.96.0.1/32 dev lo",
    ]);
    await expectAlert(
      agent,
      and(
        inContainer(c.priv),
        (a) => a.output_fields["fd.sip"] === "10.96.0.1" && a.output_fields["fd.sport"] === 443,
      ),
      "Kubernetes API contacted from container",
      "Notice",
      {
        "container.id": c.priv.id.slice(0, 12),
        "evt.res": "SUCCESS",
        "proc.pid": (v) => typeof v === "number",
      },
    );
    expectQuiet(
      agent,
      and(inContainer(c.priv), (a) => a.output_fields["fd.sport"] === 8080),
      "same address, other port",
    );
  });

  it(
    "Kubernetes API contacted from container (failed attempt from a pod)",
    // regression: a connect that fails before the kernel routes it (ENETUNREACH) used to
    // render the empty kernel tuple (0.0.0.0:0) as fd.sip/fd.sport instead of its sockaddr
    async (t) => {
      const c = needContainers(t);
      if (c === null) return;
      await ctrExec(c.plain, ["nc", "-w", "1", "10.96.0.1", "443"]);
      await expectAlert(
        agent,
        and(inContainer(c.plain), (a) => a.rule === "Kubernetes API contacted from container"),
        "Kubernetes API contacted from container",
        "Notice",
        {
          "proc.name": "nc",
          "fd.sip": "10.96.0.1",
          "fd.sport": 443,
          "evt.res": "ENETUNREACH",
          "k8s.ns.name": "lanner-e2e",
          "k8s.pod.name": "lanner-e2e",
        },
      );
    },
  );

  it("File below /etc opened for writing", async () => {
    const benign = await behave("read-file", "/etc/hostname");
    const r = await behave("write-under", "/etc");
    await expectAlert(agent, byPid(r.pid), "File below /etc opened for writing", "Error", {
      ...HOST,
      "fd.name": r["path"] as string,
      "evt.arg.flags": /O_WRONLY/,
      "proc.name": "python3",
    });
    expectQuiet(agent, byPid(benign.pid), "reading a file below /etc");
  });

  it("File in binary directory opened for writing", async () => {
    const benign = await behave("write-under", "/usr/local/share");
    const r = await behave("write-under", "/usr/local/bin");
    await expectAlert(agent, byPid(r.pid), "File in binary directory opened for writing", "Error", {
      ...HOST,
      "fd.name": r["path"] as string,
      "proc.name": "python3",
    });
    expectQuiet(agent, byPid(benign.pid), "writing below /usr/local/share");
  });

  it("Setuid or setgid bit set", async () => {
    const benign = await behave("chmod", "755");
    const r = await behave("chmod", "4755");
    await expectAlert(agent, byPid(r.pid), "Setuid or setgid bit set", "Notice", {
      ...HOST,
      "fs.path.name": r["path"] as string,
      "evt.arg.mode": /4755|S_ISUID/,
      "proc.name": "python3",
    });
    expectQuiet(agent, byPid(benign.pid), "chmod 755");
  });

  it("Package manager run in container", async (t) => {
    const c = needContainers(t);
    if (c === null) return;
    const hostDpkg = await behave("spawn", "dpkg", "-l", "busybox*");
    await ctrExec(c.plain, ["ls", "/"]);
    await ctrExec(c.plain, ["dpkg", "-l"]);
    await expectAlert(
      agent,
      and(inContainer(c.plain), (a) => a.output_fields["proc.name"] === "dpkg"),
      "Package manager run in container",
      "Error",
      { "container.id": c.plain.id.slice(0, 12), "proc.args": "-l", "k8s.ns.name": "lanner-e2e" },
    );
    expectQuiet(agent, byPid(hostDpkg.pid), "dpkg on the host");
    expectQuiet(
      agent,
      and(inContainer(c.plain), (a) => a.output_fields["proc.name"] === "ls"),
      "ls in the container",
    );
  });
});

// ------------------------------------------------------------------ part 2: Falco's stable rules

const FALCO_SKIP = SKIP ?? compatSkipReason(FALCO_RULES_REL);
if (FALCO_SKIP !== null && SKIP === null) console.log(`# SKIP Falco stable rules e2e: ${FALCO_SKIP}`);

describe(
  "Falco stable rules (compat file), real behaviours",
  { skip: FALCO_SKIP ?? false, timeout: 600_000 },
  () => {
    let agent: Agent;
    const it = makeIt(() => agent);

    before(async () => {
      agent = await Agent.start(["-r", FALCO_RULES]);
    });

    after(async () => {
      const code = await agent.stop();
      assert.equal(code, 0, `lanner run exited ${String(code)}; stderr:\n${agent.stderr}`);
    });

    const TAIL = { "user.name": "root", "user.uid": 0 };

    it("Read sensitive file untrusted", async () => {
      const benign = await behave("read-file", "/etc/passwd");
      const r = await behave("read-file", "/etc/shadow");
      await expectAlert(agent, cmdlineHas(r.tag), "Read sensitive file untrusted", "Warning", {
        ...TAIL,
        "fd.name": "/etc/shadow",
        "proc.name": "python3",
        "evt.type": "openat",
      });
      expectQuiet(agent, cmdlineHas(benign.tag), "reading /etc/passwd");
    });

    it("Search Private Keys or Passwords", async () => {
      const benign = await behave("search", "grep-plain");
      const r = await behave("search", "grep-key");
      const dir = (r["argv"] as string[])[3] as string;
      await expectAlert(agent, cmdlineHas(dir), "Search Private Keys or Passwords", "Warning", {
        ...TAIL,
        "proc.name": "grep",
        "evt.type": "execve",
      });
      expectQuiet(agent, cmdlineHas((benign["argv"] as string[])[3] as string), "grep TODO");
    });

    it("Find AWS Credentials", async () => {
      const benign = await behave("search", "find-plain");
      const r = await behave("search", "find-aws");
      const dir = (r["argv"] as string[])[1] as string;
      await expectAlert(agent, cmdlineHas(dir), "Find AWS Credentials", "Warning", {
        ...TAIL,
        "proc.name": "find",
      });
      expectQuiet(agent, cmdlineHas((benign["argv"] as string[])[1] as string), "find -name *.txt");
    });

    it("Clear Log Activities", async () => {
      const benign = await behave("log-tamper", "append");
      const r = await behave("log-tamper", "truncate");
      await expectAlert(agent, cmdlineHas(r.tag), "Clear Log Activities", "Warning", {
        ...TAIL,
        "fd.name": r["path"] as string,
        "proc.name": "python3",
      });
      expectQuiet(agent, cmdlineHas(benign.tag), "log opened for append");
    });

    it("Create Symlink Over Sensitive Files", async () => {
      const benign = await behave("symlink", "/etc/hostname");
      const r = await behave("symlink", "/etc/shadow");
      await expectAlert(agent, cmdlineHas(r.tag), "Create Symlink Over Sensitive Files", "Warning", {
        ...TAIL,
        "evt.arg.target": "/etc/shadow",
        "evt.arg.linkpath": r["link"] as string,
      });
      expectQuiet(agent, cmdlineHas(benign.tag), "symlink to /etc/hostname");
    });

    it("Create Hardlink Over Sensitive Files", async () => {
      const benign = await behave("hardlink-benign");
      const r = await behave("hardlink", "/etc/shadow");
      await expectAlert(agent, cmdlineHas(r.tag), "Create Hardlink Over Sensitive Files", "Warning", {
        ...TAIL,
        "evt.arg.oldpath": "/etc/shadow",
        "evt.arg.newpath": r["link"] as string,
      });
      expectQuiet(agent, cmdlineHas(benign.tag), "hard link of a scratch file");
    });

    it("Remove Bulk Data from Disk", async () => {
      const r = await behave("shred", "run");
      await expectAlert(agent, cmdlineHas(String(r["path"])), "Remove Bulk Data from Disk", "Warning", {
        ...TAIL,
        "proc.name": "shred",
      });
    });

    it("Execution from /dev/shm", async () => {
      const benign = await behave("exec-copy", "/tmp");
      const r = await behave("exec-copy", "/dev/shm");
      await expectAlert(
        agent,
        (a) => a.output_fields["proc.exepath"] === r["path"],
        "Execution from /dev/shm",
        "Warning",
        {
          ...TAIL,
          "proc.name": r["name"] as string,
        },
      );
      expectQuiet(agent, (a) => a.output_fields["proc.exepath"] === benign["path"], "program run from /tmp");
    });

    it("Fileless execution via memfd_create", async () => {
      const r = await behave("memfd-exec", "exec");
      await expectAlert(
        agent,
        (a) => String(a.output_fields["proc.exepath"]).includes(`memfd:${String(r["name"])}`),
        "Fileless execution via memfd_create",
        "Critical",
        { ...TAIL, "proc.pname": "python3" },
      );
    });

    it("PTRACE attached to process", async () => {
      const benign = await behave("ptrace-attach", "detach");
      const r = await behave("ptrace-attach", "attach");
      await expectAlert(agent, cmdlineHas(r.tag), "PTRACE attached to process", "Warning", {
        ...TAIL,
        "proc.name": "python3",
        "evt.type": "ptrace",
      });
      expectQuiet(agent, cmdlineHas(benign.tag), "PTRACE_DETACH");
    });

    it("Run shell untrusted", async () => {
      await behave("service-shell", "worker");
      await behave("service-shell", "nginx");
      await expectAlert(
        agent,
        (a) => a.output_fields["proc.pname"] === "nginx",
        "Run shell untrusted",
        "Notice",
        {
          ...TAIL,
          "proc.name": "sh",
          "proc.cmdline": "sh -c exit 0",
        },
      );
      expectQuiet(
        agent,
        (a) => a.output_fields["proc.pname"] === "worker",
        "shell started by a program named worker",
      );
    });

    it("Terminal shell in container", async (t) => {
      const c = needContainers(t);
      if (c === null) return;
      const tag = randomBytes(4).toString("hex");
      await ctrExec(c.plain, ["sh", "-c", `echo lnr-notty-${tag}`]);
      await ctrExec(c.plain, ["sh", "-c", `echo lnr-tty-${tag}`], true);
      await expectAlert(agent, cmdlineHas(`lnr-tty-${tag}`), "Terminal shell in container", "Notice", {
        "proc.name": "sh",
        "proc.tty": (v) => typeof v === "number" && v !== 0,
      });
      expectQuiet(agent, cmdlineHas(`lnr-notty-${tag}`), "shell without a terminal");
    });

    it("Netcat Remote Code Execution in Container", async (t) => {
      const c = needContainers(t);
      if (c === null) return;
      const port = 20000 + Math.floor(Math.random() * 40000);
      await ctrExec(c.plain, ["nc", "-w", "1", "127.0.0.1", String(port + 1)]);
      // started directly (not from busybox sh, whose applets all have comm "exe")
      await c.tc.execDetached(c.plain, ["nc", "-l", "-p", String(port)]);
      await ctrExec(c.plain, ["nc", "127.0.0.1", String(port), "-e", "/bin/true"]);
      await expectAlert(
        agent,
        cmdlineHas(`nc 127.0.0.1 ${port} -e`),
        "Netcat Remote Code Execution in Container",
        "Warning",
        { "proc.name": "nc" },
        { allowed: ["Redirect STDOUT/STDIN to Network Connection in Container"] },
      );
      await expectAlert(
        agent,
        cmdlineHas(`nc 127.0.0.1 ${port} -e`),
        "Redirect STDOUT/STDIN to Network Connection in Container",
        "Notice",
        { "proc.name": "nc", "fd.rport": port, "fd.sip": "127.0.0.1" },
        { n: 2, allowed: ["Netcat Remote Code Execution in Container"] },
      );
      expectQuiet(agent, cmdlineHas(`127.0.0.1 ${port + 1}`), "nc without -e");
    });

    it("Packet socket created in container", async (t) => {
      const c = needContainers(t);
      if (c === null) return;
      await ctrExec(c.plain, ["arping", "-c", "1", "-w", "1", "-I", "lo", "127.0.0.1"]);
      await expectAlert(
        agent,
        (a) => a.output_fields["proc.name"] === "arping",
        "Packet socket created in container",
        "Notice",
        {
          "evt.type": "socket",
        },
      );
    });

    it("Debugfs Launched in Privileged Container", async (t) => {
      const c = needContainers(t);
      if (c === null) return;
      await ctrExec(c.plain, ["/lnr/debugfs", "-R", "stats", "/dev/zero"]);
      await ctrExec(c.priv, ["/lnr/debugfs", "-R", "stats", "/dev/full"]);
      await expectAlert(
        agent,
        cmdlineHas("/dev/full"),
        "Debugfs Launched in Privileged Container",
        "Warning",
        {
          "proc.name": "debugfs",
        },
      );
      expectQuiet(agent, cmdlineHas("/dev/zero"), "debugfs in an unprivileged container");
    });

    it("Detect release_agent File Container Escapes", async (t) => {
      const c = needContainers(t);
      if (c === null) return;
      const name = `lnr${randomBytes(3).toString("hex")}`;
      await ctrExec(c.priv, [
        "sh",
        "-c",
        `mount -t cgroup -o none,name=${name} cgroup /lnr/cg && cat /lnr/cg/release_agent && : >> /lnr/cg/release_agent; umount /lnr/cg`,
      ]);
      await expectAlert(
        agent,
        cmdlineHas(`name=${name}`),
        "Detect release_agent File Container Escapes",
        "Critical",
        {
          "fd.name": "/lnr/cg/release_agent",
          "thread.cap_effective": /CAP_SYS_ADMIN/,
          "proc.name": "sh",
        },
      );
    });

    it("Drop and execute new binary in container", async (t) => {
      const c = needContainers(t);
      if (c === null) return;
      await ctrExec(c.priv, ["sh", "-c", "cp /bin/busybox /ovl/echo && /ovl/echo lnr-drift"]);
      await expectAlert(
        agent,
        (a) => a.output_fields["proc.exepath"] === "/ovl/echo",
        "Drop and execute new binary in container",
        "Critical",
        {
          "proc.name": "echo",
        },
      );
    });
  },
);
