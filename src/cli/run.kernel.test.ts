/**
 * `lanner run` end to end: rules refused or loaded, reload, drops, shutdown flush.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { AgentProcess, LANNER } from "../../test/helpers/agent.js";
import { freePort, kernelSkipReason, PYTHON } from "../../test/helpers/kernel.js";
import { packageRoot } from "../capture/paths.js";

const execFileP = promisify(execFile);

const rule = (name: string, cond: string, prio = "WARNING"): string =>
  `- rule: ${name}\n  desc: test rule\n  condition: ${cond}\n  output: "${name} by %proc.name (file=%fd.name pid=%proc.pid)"\n  priority: ${prio}\n  tags: [test]\n`;

describe("lanner run", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "lanner-run-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("bad rules: every problem as FILE:LINE:COL, and run refuses to start", async () => {
    const f = join(dir, "bad.yaml");
    writeFileSync(
      f,
      rule("Ok", "evt.type = openat") + rule("Bad field", "evt.type = openat and proc.nosuch = x"),
    );
    const r = spawnSync(process.execPath, [LANNER, "run", "-r", f], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^${f}:9:36: error: unknown field .proc\\.nosuch.$`, "m"));
    assert.match(r.stderr, /refusing to start/);
  });

  test("config: unknown keys warn, bad values are errors naming the key", async () => {
    const c = join(dir, "lanner.yaml");
    writeFileSync(c, "json_output: true\nno_such_key: 1\nrule_matching: sometimes\n");
    const r = spawnSync(
      process.execPath,
      [LANNER, "run", "-c", c, "-o", "priority=loud", "-o", "capture.stash_entries=12"],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /lanner run: warning: no_such_key: unknown key, ignored/);
    assert.match(r.stderr, /lanner run: error: rule_matching: expected first or all, got "sometimes"/);
    assert.match(r.stderr, /lanner run: error: priority: unknown priority "loud"/);
    assert.match(
      r.stderr,
      /lanner run: error: capture.stash_entries: expected an integer in 256..1048576, got 12/,
    );
  });

  const skip = kernelSkipReason();
  if (skip) console.log(`# SKIP lanner run kernel tests: ${skip}`);

  test(
    "base_syscalls: custom_set adds syscalls, !name leaves out the rules' own, never state's",
    { skip: skip ?? false },
    async () => {
      const rules = join(dir, "base.yaml");
      writeFileSync(rules, rule("Base", "evt.type = chmod and fd.name = /nonexistent"));
      const syscalls = async (extra: string[]): Promise<{ n: number; stderr: string }> => {
        const agent = new AgentProcess(["-r", rules, ...extra]);
        try {
          await agent.ready();
          const m = /lanner: ready \(rules=\d+, syscalls=(\d+),/.exec(agent.stderr);
          assert.ok(m, agent.stderr);
          return { n: Number(m[1]), stderr: agent.stderr };
        } finally {
          assert.equal(await agent.stop(), 0);
        }
      };
      const base = await syscalls([]);
      const more = await syscalls(["-o", "base_syscalls.custom_set=[nanosleep, getppid]"]);
      assert.equal(more.n, base.n + 2, "two syscalls added");
      // quoted: an unquoted !name is a YAML tag
      const less = await syscalls(["-o", 'base_syscalls.custom_set=["!chmod", "!execve"]']);
      assert.equal(less.n, base.n - 1, "the rule's chmod left out; execve kept (state needs it)");
      assert.match(
        less.stderr,
        /base_syscalls.custom_set: '!execve' kept: Lanner's process and fd state needs execve/,
      );
      const bad = spawnSync(
        process.execPath,
        [LANNER, "run", "-r", rules, "-o", "base_syscalls.custom_set=[nosuchcall]"],
        {
          encoding: "utf8",
        },
      );
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /error: base_syscalls.custom_set: unknown syscall 'nosuchcall'/);
    },
  );

  test(
    "alerts on real behaviour; reload takes effect without restart; a broken reload keeps the old rules",
    { skip: skip ?? false },
    async () => {
      const rules = join(dir, "reload.yaml");
      const a = join(dir, "marker-a");
      const b = join(dir, "marker-b");
      writeFileSync(a, "");
      writeFileSync(b, "");
      writeFileSync(rules, rule("Marker A", `evt.type in (open, openat) and fd.name = ${a}`));
      const out = join(dir, "alerts.jsonl");
      const agent = new AgentProcess(["--json", "-r", rules, "--file-output", out]);
      try {
        await agent.ready();
        execFileSync("/bin/cat", [a]);
        await agent.waitFor(() => agent.alerts.some((x) => x.rule === "Marker A"), "Marker A");
        // a valid new file: takes effect, old rule gone
        writeFileSync(rules, rule("Marker B", `evt.type in (open, openat) and fd.name = ${b}`, "NOTICE"));
        await agent.waitFor(() => agent.stderr.includes("rules reloaded"), "reload");
        execFileSync("/bin/cat", [a]);
        execFileSync("/bin/cat", [b]);
        await agent.waitFor(() => agent.alerts.some((x) => x.rule === "Marker B"), "Marker B");
        // a broken file: reported, old rules stay active
        writeFileSync(rules, "- rule: broken\n  condition: (evt.type = openat\n");
        await agent.waitFor(() => agent.stderr.includes("failed: keeping"), "failed reload");
        assert.match(agent.stderr, new RegExp(`${rules}:\\d+:\\d+: error:`));
        execFileSync("/bin/cat", [b]);
        await agent.waitFor(
          () => agent.alerts.filter((x) => x.rule === "Marker B").length >= 2,
          "Marker B after broken reload",
        );
        assert.equal(
          agent.alerts.filter((x) => x.rule === "Marker A").length,
          1,
          "Marker A only before the reload",
        );
        const bAlert = agent.alerts.find((x) => x.rule === "Marker B")!;
        assert.equal(bAlert.priority, "Notice");
        assert.equal(bAlert.source, "syscall");
        assert.equal(bAlert.output_fields["fd.name"], b);
        assert.equal(bAlert.output_fields["proc.name"], "cat");
        assert.match(bAlert.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      } finally {
        assert.equal(await agent.stop("SIGTERM"), 0, "SIGTERM: flush and exit 0");
      }
      // the file output got every alert, flushed at shutdown
      const lines = readFileSync(out, "utf8").trim().split("\n");
      assert.equal(lines.length, agent.alerts.length);
    },
  );

  test(
    "config reload: a changed output takes effect; a broken config keeps the one in force",
    { skip: skip ?? false },
    async () => {
      const rules = join(dir, "cfg-rules.yaml");
      const marker = join(dir, "cfg-marker");
      writeFileSync(marker, "");
      writeFileSync(rules, rule("Cfg marker", `evt.type in (open, openat) and fd.name = ${marker}`));
      const outA = join(dir, "cfg-a.jsonl");
      const outB = join(dir, "cfg-b.jsonl");
      const cfg = join(dir, "cfg.yaml");
      const port = await freePort();
      const config = (out: string): string =>
        `rules_files: [${rules}]\njson_output: true\nstdout_output: {enabled: false}\nfile_output: {enabled: true, filename: ${out}}\n` +
        `metrics: {enabled: true, listen_address: "127.0.0.1:${port}"}\n`;
      const delivered = async (): Promise<string | undefined> =>
        /\nlanner_output_delivered_total\{kind="file",output="file"\} (\d+)\n/.exec(
          await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
        )?.[1];
      writeFileSync(cfg, config(outA));
      const agent = new AgentProcess(["-c", cfg]);
      const lines = (f: string): number => {
        try {
          return readFileSync(f, "utf8").trim().split("\n").filter(Boolean).length;
        } catch {
          return 0;
        }
      };
      try {
        await agent.ready();
        execFileSync("/bin/cat", [marker]);
        await agent.waitFor(() => lines(outA) === 1, "an alert in file A");
        assert.equal(await delivered(), "1");
        writeFileSync(cfg, config(outB));
        await agent.waitFor(() => agent.stderr.includes("outputs reconfigured"), "outputs reconfigured");
        execFileSync("/bin/cat", [marker]);
        await agent.waitFor(() => lines(outB) === 1, "an alert in file B");
        writeFileSync(cfg, config(outA) + "rule_matching: never\n");
        await agent.waitFor(
          () => agent.stderr.includes("failed: keeping the configuration"),
          "failed config reload",
        );
        assert.match(agent.stderr, /rule_matching: expected first or all/);
        execFileSync("/bin/cat", [marker]);
        await agent.waitFor(() => lines(outB) === 2, "the next alert still in file B");
        assert.equal(lines(outA), 1);
        // /metrics reports the outputs in force: file B's two alerts, not file A's one
        assert.equal(await delivered(), "2");
      } finally {
        assert.equal(await agent.stop(), 0);
      }
    },
  );

  test(
    "fd.sip.name: a rule's domain is resolved and matched against the server IP of a real connect",
    { skip: skip ?? false },
    async () => {
      const rules = join(dir, "dns.yaml");
      const port = await freePort();
      const out = (name: string): string =>
        `- rule: ${name}\n  desc: test rule\n  condition: COND\n  output: "${name} %fd.sip.name %fd.sip"\n  priority: NOTICE\n`;
      writeFileSync(
        rules,
        out("To localhost by name").replace(
          "COND",
          `evt.type = connect and fd.sport = ${port} and fd.sip.name = localhost`,
        ) +
          out("Not to localhost by name").replace(
            "COND",
            `evt.type = connect and fd.sport = ${port} and fd.sip.name != localhost`,
          ),
      );
      const agent = new AgentProcess(["--json", "-r", rules]);
      try {
        await agent.ready();
        // one listener on every loopback address; connects to 127.0.0.1 (localhost) and 127.0.0.2
        const py = [
          "import socket",
          "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
          `s.bind(("0.0.0.0", ${port})); s.listen(4)`,
          `for ip in ("127.0.0.1", "127.0.0.2"):`,
          `    c = socket.create_connection((ip, ${port})); a, _ = s.accept(); a.close(); c.close()`,
        ].join("\n");
        execFileSync(PYTHON, ["-c", py]);
        await agent.waitFor(() => agent.alerts.length >= 2, "two connect alerts");
        await new Promise((r) => setTimeout(r, 200));
        const by = agent.alerts.map((x) => [
          x.rule,
          x.output_fields["fd.sip"],
          x.output_fields["fd.sip.name"],
        ]);
        assert.deepEqual(by, [
          ["To localhost by name", "127.0.0.1", "localhost"],
          ["Not to localhost by name", "127.0.0.2", null],
        ]);
      } finally {
        assert.equal(await agent.stop(), 0);
      }
    },
  );

  test("metrics: Prometheus text at /metrics, /healthz", { skip: skip ?? false }, async () => {
    const rules = join(dir, "metrics.yaml");
    const marker = join(dir, "metrics-marker");
    writeFileSync(marker, "");
    writeFileSync(rules, rule("Metrics marker", `evt.type in (open, openat) and fd.name = ${marker}`));
    const port = await freePort();
    const agent = new AgentProcess(["--json", "-r", rules, "--metrics", `127.0.0.1:${port}`]);
    try {
      await agent.ready();
      execFileSync("/bin/cat", [marker]);
      await agent.waitFor(() => agent.alerts.length === 1, "the alert");
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 200);
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      for (const name of [
        "lanner_events_captured_total",
        'lanner_events_dropped_total{cpu="0",reason="ring_full"}',
        "lanner_events_evaluated_total",
        "lanner_records_corrupt_total",
        "lanner_process_table_size",
        "lanner_container_table_size",
        "lanner_dns_lookup_failures_total",
        "lanner_resident_memory_bytes",
        "lanner_event_lag_seconds",
        'lanner_output_delivered_total{kind="stdout",output="stdout"}',
      ]) {
        assert.ok(text.includes(`\n${name} `), `${name} in /metrics`);
      }
      assert.match(text, /\nlanner_alerts_total\{priority="Warning",rule="Metrics marker"\} 1\n/);
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });

  test(
    "kernel drops become an internal alert (source internal) and the agent keeps running",
    { skip: skip ?? false },
    async () => {
      const rules = join(dir, "drops.yaml");
      writeFileSync(rules, rule("Never", "evt.type = openat and fd.name = /nonexistent/never"));
      const agent = new AgentProcess([
        "--json",
        "-r",
        rules,
        "-o",
        "capture.ring_mib=1",
        "-o",
        "capture.stash_entries=4096",
        "-o",
        "syscall_event_drops.threshold=0",
        "-o",
        "syscall_event_drops.actions=[log, alert]",
      ]);
      try {
        await agent.ready();
        const loadgen = join(packageRoot(), "bench/.output/loadgen");
        // openat floods: the agent decodes and evaluates every one of them
        await execFileP(loadgen, ["openclose", "1.5"]);
        await agent.waitFor(() => agent.alerts.some((x) => x.source === "internal"), "a drop alert", 10000);
        const d = agent.alerts.find((x) => x.source === "internal")!;
        assert.equal(d.rule, "Lanner internal: syscall event drop");
        assert.equal(d.priority, "Debug");
        assert.ok(Number(d.output_fields["n_drops"]) > 0);
        assert.match(agent.stderr, /syscall event drop: \d+ of \d+ events/);
        // still alive and evaluating
        assert.equal(agent.child.exitCode, null);
      } finally {
        assert.equal(await agent.stop("SIGINT"), 0);
      }
    },
  );
});
