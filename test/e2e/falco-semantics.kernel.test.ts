/**
 * End-to-end: Falco's semantics (issue 8, section 1), each shown by a real workload against a
 * real `lanner run --json` that loads Falco's stable and incubating rules from the compat
 * directory ($LANNER_COMPAT_DIR, default ../shared/compat) and, after them, a rules file of
 * this test's own (rules built on Falco's macros: `outbound`, `spawned_process`).
 *
 * One agent serves every test; it runs with `--rule-matching all` so a test rule and a Falco
 * rule matching the same event both report it. Alerts are tied to workloads by a unique tag in
 * the command line (or the environment, or a unique path). The workloads are the commands of
 * test/fixtures/behaviors/semantics.py. Network traffic goes only to loopback or to addresses
 * inside a network namespace this test creates (and removes).
 *
 * Five of these once showed Lanner differing from Falco (sendmsg's name change, memfd
 * exepaths, execve args, list fields in JSON, fd.types per type); they are regression tests.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { arch, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { promisify } from "node:util";
import { compatDirSetting, compatSkipReason } from "../helpers/compat.js";
import { Agent, REPO, runSkipReason, type AlertJson, type FieldValue } from "./agent.js";

const execFileP = promisify(execFile);
const PY = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const FIXTURE = join(REPO, "test/fixtures/behaviors/semantics.py");
const STABLE_REL = "falco-rules/falco_rules.yaml";
const INCUBATING_REL = "falco-rules/falco-incubating_rules.yaml";

function skipReason(): string | null {
  const run = runSkipReason();
  if (run !== null) return run;
  if (arch() !== "x64") return `semantics.py calls open/openat2 by x86_64 syscall number (this is ${arch()})`;
  for (const tool of ["ip", "useradd", "userdel", "setpriv", "curl"])
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  return compatSkipReason(STABLE_REL, INCUBATING_REL);
}

const SKIP = skipReason();
if (SKIP !== null) console.log(`# SKIP Falco semantics e2e: ${SKIP}`);

// ------------------------------------------------------------------ helpers

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const newTag = (): string => randomBytes(4).toString("hex");

type Result = Record<string, unknown> & { pid: number; tag: string };

/** Runs a semantics.py command (optionally prefixed, e.g. by `ip netns exec NS`); its JSON line. */
async function workload(args: readonly string[], opts: { prefix?: readonly string[] } = {}): Promise<Result> {
  const tag = newTag();
  const argv = [...(opts.prefix ?? []), PY, FIXTURE, ...args, `--tag=${tag}`];
  const { stdout } = await execFileP(argv[0]!, argv.slice(1), { timeout: 30_000 });
  const last = stdout.trim().split("\n").pop() ?? "{}";
  return { ...(JSON.parse(last) as Record<string, unknown>), tag } as Result;
}

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

const field =
  (name: string, s: string) =>
  (a: AlertJson): boolean =>
    String(a.output_fields[name] ?? "").includes(s);
const cmdlineHas = (s: string): ((a: AlertJson) => boolean) => field("proc.cmdline", s);
const ruleIs =
  (rule: string, sel: (a: AlertJson) => boolean) =>
  (a: AlertJson): boolean =>
    a.rule === rule && sel(a);

/** At least n alerts of `rule` among those `sel` selects (asserted), with their priority. */
async function expectAlerts(
  agent: Agent,
  rule: string,
  sel: (a: AlertJson) => boolean,
  priority: string,
  n = 1,
): Promise<AlertJson[]> {
  const got = await agent.waitFor(ruleIs(rule, sel), n);
  assert.ok(
    got.length >= n,
    `expected ${n} '${rule}' alert(s), got ${got.length}; alerts of this workload:\n${describeAlerts(agent.matching(sel))}`,
  );
  for (const a of got) {
    assert.equal(a.source, "syscall");
    assert.equal(a.priority, priority, `priority of '${rule}'`);
  }
  return got;
}

/** No alert of `rule` selected by `sel` (call once a later workload's alert has arrived). */
function expectNone(agent: Agent, rule: string, sel: (a: AlertJson) => boolean, what: string): void {
  const got = agent.matching(ruleIs(rule, sel));
  assert.equal(got.length, 0, `${what} raised '${rule}':\n${describeAlerts(got)}`);
}

/** Kernel event drops the agent reported so far. */
function dropsSeen(agent: Agent): number {
  return (
    agent.alerts.filter((a) => a.source === "internal" && /drop/i.test(a.rule)).length +
    (agent.stderr.match(/syscall event drop/g) ?? []).length
  );
}

type Body = (t: TestContext) => Promise<void>;

/** A test performed again once if it failed while the agent reported kernel event drops. */
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

function sh(cmd: string, args: readonly string[]): void {
  execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"], timeout: 20_000 });
}

function quietly(cmd: string, args: readonly string[]): void {
  spawnSync(cmd, args, { stdio: "ignore", timeout: 20_000 });
}

/** A uid with no account (and no process) on this host. */
function freeUid(): number {
  const used = new Set(
    readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .map((l) => Number(l.split(":")[2])),
  );
  for (let i = 0; i < 200; i++) {
    const uid = 3200 + Math.floor(Math.random() * 600);
    if (!used.has(uid)) return uid;
  }
  throw new Error("no free uid in 3200..3799");
}

/** Other names /etc/hosts gives 127.0.0.1, besides localhost. */
function loopbackAliases(): string[] {
  const names: string[] = [];
  for (const line of readFileSync("/etc/hosts", "utf8").split("\n")) {
    const [ip, ...rest] = line.replace(/#.*/, "").trim().split(/\s+/);
    if (ip !== "127.0.0.1") continue;
    for (const n of rest)
      if (n !== "localhost" && /^[A-Za-z0-9.-]+$/.test(n) && !names.includes(n)) names.push(n);
  }
  return names;
}

// ------------------------------------------------------------------ the test's own rules

const NS_ADDR = "203.0.113.10";
const NS_PEER_A = "203.0.113.20";
const NS_PEER_B = "203.0.113.21";

function ownRules(alias: string | null): string {
  const rules = [
    `- rule: Semantics test UDP datagram to a new peer
  desc: Falco's outbound macro (its sendto/sendmsg branch) for UDP, from the workload of this test only.
  condition: outbound and fd.l4proto=udp and proc.cmdline contains "semantics.py udp-peers"
  output: udp datagram to a new peer (name=%fd.name rport=%fd.rport type=%evt.type proto=%fd.l4proto changed=%fd.name_changed cmd=%proc.cmdline)
  priority: NOTICE`,
    `- rule: Semantics test exec flags
  desc: what the exit of an exec says about the new image, for programs given the marker argument.
  condition: spawned_process and proc.cmdline contains lnrsemflag
  output: exec flags=%evt.arg.flags (exe=%proc.exepath uid=%user.uid cmd=%proc.cmdline)
  priority: NOTICE`,
    `- rule: Semantics test failed exec
  desc: an execve that failed, from the workload of this test only.
  condition: evt.type = execve and evt.res != SUCCESS and proc.cmdline contains "semantics.py failed-exec"
  output: failed exec (cmdline=%proc.cmdline args=%proc.args exe=%proc.exe call_args=%evt.arg.args res=%evt.res)
  priority: NOTICE`,
    `- rule: Semantics test list fields
  desc: list-valued fields in an output, on the open of a file unique to this test.
  condition: evt.type in (open, openat, openat2) and fd.name startswith /tmp/lnr-sem-types-
  output: lists (aname=%proc.aname types=%fd.types file=%fd.name)
  priority: NOTICE`,
    `- rule: Semantics test user below sshd
  desc: any program started below a process named sshd with the marker in its command line.
  condition: spawned_process and proc.aname = sshd and user.uid != 0 and proc.cmdline contains lnrsemuser
  output: user below sshd (user=%user.name uid=%user.uid cmd=%proc.cmdline)
  priority: NOTICE`,
    // the incubating rules this test relies on, enabled whatever the compat file says
    ...[
      "Program run with disallowed http proxy env",
      "Potential Local Privilege Escalation via Environment Variables Misuse",
    ].map(
      (r) => `- rule: ${r}
  override:
    enabled: replace
  enabled: true`,
    ),
    `- rule: Semantics test environment variable
  desc: proc.env[NAME] compared and printed.
  condition: spawned_process and proc.env[LNR_SEM_MARK] startswith "lnr-sem-env-"
  output: marked environment (mark=%proc.env[LNR_SEM_MARK] cmd=%proc.cmdline)
  priority: NOTICE`,
  ];
  if (alias !== null)
    rules.push(`- rule: Semantics test server name
  desc: fd.sip.name when more than one watched name resolves to the server IP.
  condition: evt.type = connect and fd.sip.name in (localhost, ${alias}) and proc.cmdline contains "semantics.py connect-loop"
  output: connect to a named server (sip_name=%fd.sip.name sip=%fd.sip cmd=%proc.cmdline)
  priority: NOTICE`);
  return rules.join("\n\n") + "\n";
}

// ------------------------------------------------------------------ the tests

describe(
  "Falco semantics on real workloads (stable + incubating rules)",
  { skip: SKIP ?? false, timeout: 300_000 },
  () => {
    let agent: Agent;
    const it = makeIt(() => agent);
    const ns = `lnr-sem-${newTag()}`;
    const inNs = ["ip", "netns", "exec", ns];
    let nsUp = false;
    let listener: ReturnType<typeof spawn> | null = null;
    let dir = "";
    const alias = loopbackAliases()[0] ?? null;
    const uid = freeUid();
    const users: string[] = [];
    const sshdExists = spawnSync("getent", ["passwd", "sshd"]).status === 0;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "lnr-sem-rules-"));
      const own = join(dir, "semantics-rules.yaml");
      writeFileSync(own, ownRules(alias));
      // the namespace: three addresses on its loopback, TCP listeners on the first
      sh("ip", ["netns", "add", ns]);
      nsUp = true;
      sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
      for (const a of [NS_ADDR, NS_PEER_A, NS_PEER_B])
        sh("ip", ["-n", ns, "addr", "add", `${a}/32`, "dev", "lo"]);
      listener = spawn("ip", [...inNs.slice(1), PY, FIXTURE, "listen", NS_ADDR, "22", "80", "4444"], {
        stdio: ["pipe", "pipe", "inherit"],
      });
      await new Promise<void>((resolve, reject) => {
        listener!.stdout!.once("data", () => resolve());
        listener!.once("exit", (c) => reject(new Error(`listener exited ${String(c)}`)));
      });
      const compat = compatDirSetting();
      agent = await Agent.start([
        "-r",
        join(compat, STABLE_REL),
        "-r",
        join(compat, INCUBATING_REL),
        "-r",
        own,
        "--rule-matching",
        "all",
      ]);
    });

    after(async () => {
      listener?.stdin?.end();
      listener?.kill();
      if (nsUp) quietly("ip", ["netns", "del", ns]);
      for (const u of users) quietly("userdel", ["-f", u]);
      if (dir !== "") rmSync(dir, { recursive: true, force: true });
      if (agent === undefined) return;
      const code = await agent.stop();
      for (const l of agent.stderr.split("\n").filter((x) => x !== "" && !x.startsWith("lanner: ready")))
        console.log(`# agent stderr: ${l}`);
      console.log(`# agent raised ${agent.alerts.length} alerts`);
      // LANNER_E2E_ALERTS=FILE keeps the alerts
      const keep = process.env["LANNER_E2E_ALERTS"];
      if (keep !== undefined && keep !== "")
        writeFileSync(keep, agent.alerts.map((a) => JSON.stringify(a)).join("\n") + "\n");
      assert.equal(code, 0, `lanner run exited ${String(code)}; stderr:\n${agent.stderr}`);
      assert.deepEqual(agent.junk, [], "every stdout line is a JSON alert");
    });

    // ---------------------------------------------------------------- 1. fd.nameraw

    const TRAVERSAL = "Directory traversal monitored file read";

    it(`${TRAVERSAL}: open, openat and openat2 through '..' (absolute, and relative from /var/tmp)`, async () => {
      // look-alikes first: a plain absolute read, and one '../' only (Falco's directory_traversal
      // macro wants two: fd.nameraw glob '*../*../*', so /etc/../etc/shadow does not fire in Falco)
      const plain = await workload(["read", "/", "/etc/passwd"]);
      const once = await workload(["read", "/", "/etc/../etc/shadow"]);
      const cases = [
        { cwd: "/", raw: "/etc/../../etc/shadow", name: "/etc/shadow" },
        { cwd: "/var/tmp", raw: "../../etc/passwd", name: "/etc/passwd" },
      ];
      for (const c of cases) {
        const r = await workload(["read", c.cwd, c.raw]);
        assert.deepEqual(
          Object.values(r["fds"] as Record<string, number>).filter((fd) => fd < 0),
          [],
          "every open succeeded",
        );
        const got = await expectAlerts(agent, TRAVERSAL, cmdlineHas(r.tag), "Warning", 3);
        assert.deepEqual(got.map((a) => a.output_fields["evt.type"]).sort(), ["open", "openat", "openat2"]);
        for (const a of got)
          checkFields(a, {
            "fd.name": c.name,
            "fd.nameraw": c.raw,
            "proc.name": "python3",
            "user.name": "root",
          });
        assert.match(got[0]!.output, new RegExp(`file=${c.name} fileraw=${c.raw.replace(/\./g, "\\.")} `));
      }
      expectNone(agent, TRAVERSAL, cmdlineHas(plain.tag), "reading /etc/passwd by its absolute path");
      expectNone(agent, TRAVERSAL, cmdlineHas(once.tag), "reading /etc/../etc/shadow (a single '../')");
    });

    // ---------------------------------------------------------------- 2. negated either-end fields

    const SSH = "Disallowed SSH Connection Non Standard Port";

    it(`${SSH}: argv[0] ssh connecting to ${NS_ADDR}:80 and :4444, not :22`, async () => {
      const benign = await workload(["ssh-like", NS_ADDR, "22"], { prefix: inNs });
      assert.equal(benign["connected"], true);
      for (const port of [80, 4444]) {
        const r = await workload(["ssh-like", NS_ADDR, String(port)], { prefix: inNs });
        assert.equal(r["connected"], true, "the connection was made");
        const [a] = await expectAlerts(agent, SSH, cmdlineHas(r.tag), "Notice");
        checkFields(a!, {
          "fd.rport": port,
          "fd.l4proto": "tcp",
          "evt.type": "connect",
          "fd.name": new RegExp(
            `^${NS_ADDR.replace(/\./g, "\\.")}:\\d+->${NS_ADDR.replace(/\./g, "\\.")}:${port}$`,
          ),
          "proc.name": "bash",
          "user.name": "root",
        });
      }
      expectNone(agent, SSH, cmdlineHas(benign.tag), "an ssh-named client on port 22");
    });

    // ---------------------------------------------------------------- 3. outbound, UDP branch

    const UDP_RULE = "Semantics test UDP datagram to a new peer";
    let udp: { tag: string; port: number; lport: Record<string, number> } | null = null;

    /** The alerts of UDP_RULE for the udp-peers workload's `call` datagrams, as "fd.name". */
    async function udpAlerts(call: string, n: number, timeoutMs: number): Promise<string[]> {
      assert.ok(udp !== null, "the udp-peers workload did not run");
      const sel = (a: AlertJson): boolean => cmdlineHas(udp!.tag)(a) && a.output_fields["evt.type"] === call;
      const got = await agent.waitFor(ruleIs(UDP_RULE, sel), n, timeoutMs);
      await sleep(300);
      for (const a of got)
        checkFields(a, { "fd.l4proto": "udp", "fd.name_changed": true, "fd.rport": udp.port });
      return agent.matching(ruleIs(UDP_RULE, sel)).map((a) => String(a.output_fields["fd.name"]));
    }

    const udpExpected = (call: string): string[] => {
      const lp = udp!.lport[call]!;
      return [`${NS_ADDR}:${lp}->${NS_PEER_A}:${udp!.port}`, `${NS_ADDR}:${lp}->${NS_PEER_B}:${udp!.port}`];
    };

    it("outbound, sendto: UDP to a new peer fires, the same peer again does not, another peer does", async () => {
      const port = 20000 + Math.floor(Math.random() * 20000);
      // per socket (sendto, then sendmsg): peer A, peer A again, peer B
      const r = await workload(["udp-peers", NS_ADDR, NS_PEER_A, NS_PEER_B, String(port)], { prefix: inNs });
      udp = { tag: r.tag, port, lport: r["lport"] as Record<string, number> };
      assert.deepEqual(await udpAlerts("sendto", 2, 15_000), udpExpected("sendto"));
    });

    it("outbound, sendmsg: UDP to a new peer fires, the same peer again does not", async () => {
      assert.deepEqual(await udpAlerts("sendmsg", 2, 2_000), udpExpected("sendmsg"));
    });

    // ---------------------------------------------------------------- 4. user names

    const SYSUSER = "System user interactive";

    it(`${SYSUSER}: a uid re-created as sshd seconds after another account had it`, async (t) => {
      if (sshdExists) {
        const why = "an account named sshd exists on this host (the test creates and removes its own)";
        console.log(`# SKIP ${t.name}: ${why}`);
        t.skip(why);
        return;
      }
      const old = `lnrsem${newTag().slice(0, 5)}`;
      const own = "Semantics test user below sshd";
      const add = (name: string): void => {
        users.push(name);
        sh("useradd", ["-M", "-N", "-g", "65534", "-u", String(uid), "-s", "/bin/sh", name]);
      };
      const del = (name: string): void => {
        sh("userdel", ["-f", name]);
        users.splice(users.indexOf(name), 1);
      };
      try {
        add(old);
        const m1 = `lnrsemuser${newTag()}`;
        await workload(["under-sshd", String(uid), m1]);
        const [first] = await expectAlerts(agent, own, cmdlineHas(m1), "Notice");
        checkFields(first!, { "user.name": old, "user.uid": uid });
        del(old);
        add("sshd");
        const m2 = `lnrsemuser${newTag()}`;
        await workload(["under-sshd", String(uid), m2]);
        const [a] = await expectAlerts(agent, SYSUSER, cmdlineHas(m2), "Informational");
        checkFields(a!, { "user.name": "sshd", "user.uid": uid, "evt.type": "execve" });
        const [mine] = await expectAlerts(agent, own, cmdlineHas(m2), "Notice");
        checkFields(mine!, { "user.name": "sshd", "user.uid": uid });
        expectNone(agent, SYSUSER, cmdlineHas(m1), `the same workload under the account ${old}`);
      } finally {
        for (const u of [...users]) {
          quietly("userdel", ["-f", u]);
          users.splice(users.indexOf(u), 1);
        }
      }
    });

    // ---------------------------------------------------------------- 5. exec flags

    let memfd: { alert: AlertJson; name: string } | null = null;

    it("Fileless execution via memfd_create prints evt.arg.flags with EXE_FROM_MEMFD", async () => {
      const marker = `lnrsemmemfd${newTag()}`;
      const r = await workload(["memfd-exec", marker]);
      assert.equal(r["rc"], 0);
      const [a] = await expectAlerts(
        agent,
        "Fileless execution via memfd_create",
        cmdlineHas(marker),
        "Critical",
      );
      checkFields(a!, {
        "evt.arg.flags": /(^|\|)EXE_FROM_MEMFD(\||$)/,
        "proc.exepath": (v) => String(v).includes(`memfd:${String(r["name"])}`),
      });
      assert.match(a!.output, /exe_flags=\S*EXE_FROM_MEMFD/);
      memfd = { alert: a!, name: String(r["name"]) };
    });

    it("proc.exepath of a memfd program is memfd:NAME", async (t) => {
      if (memfd === null) return t.skip("the memfd test did not run");
      assert.equal(memfd.alert.output_fields["proc.exepath"], `memfd:${memfd.name}`);
    });

    it("evt.arg.flags: EXE_WRITABLE for a program its user wrote, not for /bin/true", async () => {
      const marker = `lnrsemflag${newTag()}`;
      const r = await workload(["exec-flags", marker]);
      assert.equal(r["own_owner"], 65534, "nobody wrote the program");
      const rule = "Semantics test exec flags";
      const got = await expectAlerts(agent, rule, cmdlineHas(marker), "Notice", 3);
      // (the workload's own exec as root also has the marker in its command line)
      const own = got.find((a) => a.output_fields["proc.exepath"] === r["own"]);
      const sys = got.find((a) => String(a.output_fields["proc.cmdline"]).startsWith("true "));
      assert.ok(own !== undefined && sys !== undefined, describeAlerts(got));
      checkFields(own, { "evt.arg.flags": /(^|\|)EXE_WRITABLE(\||$)/, "user.uid": 65534 });
      checkFields(sys, { "evt.arg.flags": (v) => !String(v).includes("EXE_WRITABLE"), "user.uid": 65534 });
    });

    // ---------------------------------------------------------------- 6. failed execve

    let failed: { alert: AlertJson; tag: string; missing: string } | null = null;

    it("a failed execve leaves proc.cmdline/args/exe the caller's; evt.arg.args is the call's", async () => {
      const tag = newTag();
      const missing = `/nonexistent-lnr-sem-${tag}/prog`;
      const r = await workload(["failed-exec", missing, `alpha-${tag}`, "beta"]);
      assert.equal(r["errno"], 2, "ENOENT");
      const rule = "Semantics test failed exec";
      const [a] = await expectAlerts(agent, rule, cmdlineHas(r.tag), "Notice");
      const args = `${FIXTURE} failed-exec ${missing} alpha-${tag} beta --tag=${r.tag}`;
      checkFields(a!, {
        "proc.cmdline": `python3 ${args}`,
        "proc.args": args,
        "proc.exe": PY,
        "evt.res": "ENOENT",
        // the call's own arguments (argv[1..]), not the caller's
        "evt.arg.args": (v) => String(v).includes(`alpha-${tag}`) && !String(v).includes("failed-exec"),
      });
      failed = { alert: a!, tag, missing };
    });

    it("evt.arg.args of an execve is rendered as Falco does (NULs as '.')", async (t) => {
      if (failed === null) return t.skip("the failed-execve test did not run");
      assert.equal(failed.alert.output_fields["evt.arg.args"], `alpha-${failed.tag}.beta.`);
    });

    // ---------------------------------------------------------------- 7. list fields in JSON

    let lists: { alert: AlertJson; types: string[] } | null = null;

    it("%proc.aname (space-separated ancestors) and %fd.types in outputs", async () => {
      const tag = newTag();
      const path = `/tmp/lnr-sem-types-${tag}`;
      const r = await workload(["list-fields", path]);
      const [a] = await expectAlerts(agent, "Semantics test list fields", field("fd.name", path), "Notice");
      const anc = (r["ancestors"] as string[]).join(" ");
      checkFields(a!, { "proc.aname": anc, "fd.name": path });
      lists = { alert: a!, types: r["types"] as string[] };
      // text: "(type,type,...)": the types the process had open (/proc/self/fd, read just before)
      const m = /aname=(.*) types=\(([a-z0-9_,]*)\) file=/.exec(a!.output);
      assert.ok(m !== null, a!.output);
      assert.equal(m[1], anc);
      assert.deepEqual([...new Set(m[2]!.split(","))].sort(), [...new Set(lists.types)].sort());
    });

    it("%fd.types in JSON output_fields is an array", async (t) => {
      if (lists === null) return t.skip("the list-fields test did not run");
      const types = lists.alert.output_fields["fd.types"];
      assert.ok(Array.isArray(types), `fd.types is a JSON array: ${JSON.stringify(types)}`);
      assert.deepEqual([...new Set(types as string[])].sort(), [...new Set(lists.types)].sort());
    });

    it("%fd.types lists each type once, as libsinsp does", async (t) => {
      if (lists === null) return t.skip("the list-fields test did not run");
      const m = /types=\(([a-z0-9_,]*)\)/.exec(lists.alert.output);
      assert.ok(m !== null, lists.alert.output);
      const listed = m[1]!.split(",");
      assert.equal(new Set(listed).size, listed.length, `duplicates in ${lists.alert.output}`);
    });

    it("%fd.sip.name when several watched names resolve to the server IP", async (t) => {
      if (alias === null) {
        const why = "/etc/hosts gives 127.0.0.1 no name besides localhost";
        console.log(`# SKIP ${t.name}: ${why}`);
        t.skip(why);
        return;
      }
      const tag = newTag();
      // the agent resolves the names its rules compare fd.sip.name with in the background: keep
      // connecting until the alert comes
      const child = spawn(PY, [FIXTURE, "connect-loop", "15", `--tag=${tag}`], { stdio: "ignore" });
      try {
        const [a] = await expectAlerts(agent, "Semantics test server name", cmdlineHas(tag), "Notice");
        const name = a!.output_fields["fd.sip.name"];
        // libsinsp's name_of: the first watched name whose addresses hold the IP, one string
        assert.ok(
          typeof name === "string" && ["localhost", alias].includes(name),
          `fd.sip.name=${JSON.stringify(name)}`,
        );
        checkFields(a!, { "fd.sip": "127.0.0.1" });
        assert.ok(a!.output.includes(`sip_name=${name} sip=127.0.0.1 `), a!.output);
      } finally {
        child.kill();
      }
    });

    // ---------------------------------------------------------------- 8. proc.env

    it("proc.env: Falco's incubating HTTP_PROXY and GLIBC_TUNABLES rules; proc.env[NAME]", async () => {
      const tag = newTag();
      const base = { LNR_SEM_TAG: tag, PATH: "/usr/bin:/bin" };
      const run = (file: string, args: string[], env: Record<string, string>) =>
        execFileP(file, args, { env, timeout: 20_000 }).catch(() => undefined);
      await run("curl", ["--version"], { ...base, LNR_SEM_CASE: "plain" }); // look-alike
      await run("curl", ["--version"], { ...base, HTTP_PROXY: "http://127.0.0.1:9" });
      await run("/bin/true", [], { ...base, GLIBC_TUNABLES: "glibc.malloc.check=0" });
      await run("/bin/true", [], { ...base, LNR_SEM_MARK: `other-${tag}` }); // look-alike
      await run("/bin/true", [], { ...base, LNR_SEM_MARK: `lnr-sem-env-${tag}` });
      const envHas = (s: string) => (a: AlertJson) =>
        field("proc.env", `LNR_SEM_TAG=${tag}`)(a) && field("proc.env", s)(a);

      const [proxy] = await expectAlerts(
        agent,
        "Program run with disallowed http proxy env",
        envHas("HTTP_PROXY"),
        "Notice",
      );
      checkFields(proxy!, {
        "proc.env": `LNR_SEM_TAG=${tag} PATH=/usr/bin:/bin HTTP_PROXY=http://127.0.0.1:9`,
        "proc.name": "curl",
      });
      const [tun] = await expectAlerts(
        agent,
        "Potential Local Privilege Escalation via Environment Variables Misuse",
        envHas("GLIBC_TUNABLES"),
        "Notice",
      );
      checkFields(tun!, {
        "proc.env": `LNR_SEM_TAG=${tag} PATH=/usr/bin:/bin GLIBC_TUNABLES=glibc.malloc.check=0`,
        "proc.name": "true",
      });
      const own = "Semantics test environment variable";
      const [mark] = await expectAlerts(agent, own, field("proc.env[LNR_SEM_MARK]", tag), "Notice");
      checkFields(mark!, { "proc.env[LNR_SEM_MARK]": `lnr-sem-env-${tag}` });
      assert.ok(mark!.output.includes(`mark=lnr-sem-env-${tag} `), mark!.output);
      expectNone(
        agent,
        "Program run with disallowed http proxy env",
        envHas("LNR_SEM_CASE=plain"),
        "curl without HTTP_PROXY",
      );
      expectNone(
        agent,
        own,
        field("proc.env[LNR_SEM_MARK]", `other-${tag}`),
        "LNR_SEM_MARK with another value",
      );
    });
  },
);
