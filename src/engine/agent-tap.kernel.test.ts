/**
 * Agent.tap on a real capture: a tap gets the agent's own events (no second session); a
 * syscall the rules do not capture is added under the tap's kernel slot and made only for the
 * cgroups the slot does not drop; an eighth concurrent tap has no slot and falls back to
 * every process (counted); closing narrows the capture back.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { kernelSkipReason } from "../../test/helpers/kernel.js";
import { findCgroup2Mount } from "../state/containers/cgroup-resolver.js";
import { unifiedPathFromProcCgroup } from "../state/containers/cgroup-path.js";
import { loadRules } from "../rules/index.js";
import { Agent, type AgentTap } from "./agent.js";
import { SYSCALL_FIELDS, type EventContext } from "./fields/index.js";

const skip = kernelSkipReason();
if (skip) console.log(`# SKIP agent tap kernel tests: ${skip}`);

/** A shell of builtins sending `n` kill(pid, 0) to itself; returns its pid. */
function kills(n: number): number {
  const out = execFileSync(
    "/bin/sh",
    ["-c", `echo $$; i=0; while [ $i -lt ${n} ]; do kill -0 $$; i=$((i+1)); done`],
    {
      encoding: "utf8",
    },
  );
  return Number(out.trim());
}

/** What the capture has read is delivered after this (its ring is drained every 5 ms). */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 300));

/** This process's cgroup v2 id (the inode of its cgroup directory). */
function ownCgroup(): bigint {
  const root = findCgroup2Mount(readFileSync("/proc/self/mountinfo", "utf8"));
  const path = unifiedPathFromProcCgroup(readFileSync("/proc/self/cgroup", "utf8"));
  assert.ok(root !== null && path !== null, "cgroup v2 is mounted");
  return statSync(`${root}${path}`, { bigint: true }).ino;
}

describe("Agent.tap", { skip: skip ?? false }, () => {
  let agent: Agent;
  const alerts: string[] = [];
  before(() => {
    const rules = loadRules(
      [
        {
          name: "exec-only.yaml",
          text: "- rule: nodeapi tap exec\n  desc: x\n  condition: evt.type = execve and proc.name = nodeapi-tap-nosuch\n  output: x\n  priority: NOTICE\n",
        },
      ],
      { fields: SYSCALL_FIELDS },
    );
    assert.equal(rules.errors, 0);
    agent = Agent.start({
      ruleset: rules.ruleset,
      onAlert: (a) => alerts.push(a.rule),
      hostname: "nodeapi-tap",
    });
  });
  after(() => agent.stop());

  test("a tap gets the agent's events of its syscalls; an extra syscall is scoped to its slot's cgroups", async () => {
    assert.equal(agent.captureInterest("kill"), 0, "the rules do not capture kill");
    assert.equal(agent.captureInterest("execve") & 1, 1);
    const got: { type: string; pid: number }[] = [];
    const tap = agent.tap(["kill", "execve", "procexec"]);
    tap.on((c: EventContext, type: string) => got.push({ type, pid: c.sys?.tgid ?? 0 }));
    assert.equal(tap.slot, 1);
    assert.deepEqual(tap.added, ["kill"]);
    assert.equal(agent.captureInterest("kill"), 1 << 1);
    assert.equal(agent.captureInterest("execve") & 1, 1, "what the rules capture stays every process's");
    const pid = kills(100);
    await settle();
    assert.equal(got.filter((g) => g.type === "kill" && g.pid === pid).length, 100);
    assert.ok(
      got.some((g) => g.type === "procexec"),
      "lifecycle events",
    );
    assert.ok(tap.procs.lookup(process.pid) !== undefined, "the agent's process table");

    // this test's cgroup dropped for the slot: its shells' kills make no records any more
    const cg = ownCgroup();
    const d0 = agent.stats().capture.delivered;
    tap.setCgroupVerdict(cg, "drop");
    const dropped = kills(5000);
    await settle();
    const grew = agent.stats().capture.delivered - d0;
    console.log(`# capture records during 5000 kills of a dropped cgroup: +${grew}`);
    assert.equal(got.filter((g) => g.pid === dropped && g.type === "kill").length, 0);
    assert.ok(grew < 1000, `+${grew}`);
    tap.setCgroupVerdict(cg, "pass");
    const back = kills(10);
    await settle();
    assert.equal(got.filter((g) => g.pid === back && g.type === "kill").length, 10);
    tap.close();
    assert.equal(agent.captureInterest("kill"), 0, "closed: the selection narrows back");
    assert.equal(agent.tapStats().open, 0);
  });

  test("an eighth tap finds no slot: its syscall is captured for every process (counted); closing frees it all", async () => {
    const taps: AgentTap[] = [];
    const counts: number[] = [];
    for (let i = 0; i < 8; i++) {
      const t = agent.tap(["kill"]);
      const k = i;
      counts.push(0);
      t.on((c: EventContext) => {
        if (c.sys?.type === "kill") counts[k] = (counts[k] ?? 0) + 1;
      });
      taps.push(t);
    }
    assert.deepEqual(
      taps.map((t) => t.slot),
      [1, 2, 3, 4, 5, 6, 7, 0],
    );
    assert.equal(agent.captureInterest("kill"), 0xff);
    assert.equal(agent.tapStats().slotless, 1);
    // every slot drops this test's cgroup: the eighth tap still gets the kills (bit 0)
    const cg = ownCgroup();
    for (const t of taps) t.setCgroupVerdict(cg, "drop");
    kills(50);
    await settle();
    // every tap sees every kill record the agent read (their selection is the runner's job)
    assert.deepEqual(counts, [50, 50, 50, 50, 50, 50, 50, 50]);
    (taps[7] as AgentTap).close();
    assert.equal(agent.captureInterest("kill"), 0xfe);
    kills(50);
    await settle();
    assert.deepEqual(counts, [50, 50, 50, 50, 50, 50, 50, 50], "dropped by every slot: no records");
    for (const t of taps) t.close();
    assert.equal(agent.captureInterest("kill"), 0);
    assert.equal(agent.tapStats().open, 0);
    assert.deepEqual(alerts, []);
    // the rules' syscalls are untouched
    assert.equal(agent.captureInterest("execve"), 1);
  });
});
