/**
 * `lanner run --cpu-prof[=FILE]`: the V8 profiler starts after the readiness line and a
 * valid .cpuprofile (nodes, samples, time deltas; Lanner's own functions in it) is written
 * when the agent stops on SIGTERM or SIGINT.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AgentProcess, LANNER } from "../../test/helpers/agent.js";
import { kernelSkipReason } from "../../test/helpers/kernel.js";
import { cpuProfilePath, planCpuProfile } from "./cpu-profile.js";

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Checks the shape Chrome DevTools and speedscope read; returns the profile. */
function readProfile(path: string): CpuProfile {
  const p = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  assert.ok(Array.isArray(p.nodes) && p.nodes.length > 1, "profile has call-tree nodes");
  const ids = new Set(p.nodes.map((n) => n.id));
  assert.equal(p.nodes[0]?.callFrame.functionName, "(root)");
  for (const n of p.nodes)
    for (const c of n.children ?? []) assert.ok(ids.has(c), `child ${c} of ${n.id} is a node`);
  assert.ok(p.samples.length > 0, "profile has samples");
  assert.equal(p.timeDeltas.length, p.samples.length, "one time delta per sample");
  for (const s of p.samples) assert.ok(ids.has(s), `sample ${s} is a node`);
  assert.ok(p.endTime > p.startTime, "endTime after startTime");
  return p;
}

/** 300 execs of cat, each opening a file: events through capture, state and rules. */
function workload(): void {
  execFileSync("/bin/sh", [
    "-c",
    "i=0; while [ $i -lt 300 ]; do cat /etc/hostname >/dev/null; i=$((i+1)); done",
  ]);
}

describe("lanner run --cpu-prof", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "lanner-cpuprof-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("the default file name; a file that cannot be written is refused before the agent starts", () => {
    const at = new Date(2026, 0, 2, 3, 4, 5);
    assert.equal(cpuProfilePath("", at, 42), join(process.cwd(), "lanner.20260102.030405.42.cpuprofile"));
    assert.equal(cpuProfilePath("x/p.cpuprofile"), join(process.cwd(), "x/p.cpuprofile"));
    assert.deepEqual(planCpuProfile(join(dir, "nodir", "p.cpuprofile")), {
      error: `directory ${join(dir, "nodir")} does not exist`,
    });
    assert.deepEqual(planCpuProfile(dir), { error: `${dir} is a directory` });
    const r = spawnSync(
      process.execPath,
      [LANNER, "run", `--cpu-prof=${join(dir, "nodir", "p.cpuprofile")}`],
      {
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `lanner run: --cpu-prof: directory ${join(dir, "nodir")} does not exist\n`);
  });

  const skip = kernelSkipReason();
  if (skip) console.log(`# SKIP lanner run --cpu-prof kernel tests: ${skip}`);

  test(
    "--cpu-prof=FILE: a valid profile of the running agent after SIGTERM",
    { skip: skip ?? false },
    async () => {
      const file = join(dir, "agent.cpuprofile");
      const agent = new AgentProcess(["--json", `--cpu-prof=${file}`]);
      try {
        await agent.waitFor(
          () => agent.stderr.includes("lanner: cpu profile: recording"),
          "the profiler",
          30000,
        );
        assert.ok(
          agent.stderr.indexOf("lanner: ready") < agent.stderr.indexOf("lanner: cpu profile: recording"),
          "the profiler starts after the readiness line",
        );
        assert.equal(existsSync(file), false, "written at exit, not before");
        workload();
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        const code = await agent.stop("SIGTERM");
        assert.equal(code, 0, `lanner run exited ${String(code)}; stderr:\n${agent.stderr}`);
      }
      const m = /lanner: cpu profile: (\d+) samples written to (.*)\n/.exec(agent.stderr);
      assert.ok(m, `the profile is reported; stderr:\n${agent.stderr}`);
      assert.equal(m[2], file);
      const p = readProfile(file);
      assert.equal(p.samples.length, Number(m[1]));
      // the agent's own code was sampled while it handled the workload's events
      const own = p.nodes.filter((n) => n.callFrame.url.includes("/dist/src/"));
      assert.ok(own.length > 0, "Lanner's functions appear in the profile");
    },
  );

  test(
    "--cpu-prof: the default name in the current directory, after SIGINT",
    { skip: skip ?? false },
    async () => {
      const cwd = mkdtempSync(join(dir, "cwd-"));
      const child = spawn(process.execPath, [LANNER, "run", "--cpu-prof"], {
        cwd,
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no profiler line; stderr:\n${stderr}`)), 30000);
        child.stderr.on("data", (d: Buffer) => {
          stderr += d.toString();
          if (stderr.includes("lanner: cpu profile: recording")) {
            clearTimeout(t);
            resolve();
          }
        });
        void exited.then(() => reject(new Error(`agent exited; stderr:\n${stderr}`)));
      });
      child.kill("SIGINT");
      assert.equal(await exited, 0, stderr);
      const files = readdirSync(cwd);
      assert.equal(files.length, 1, files.join(", "));
      assert.match(files[0] ?? "", new RegExp(`^lanner\\.\\d{8}\\.\\d{6}\\.${child.pid}\\.cpuprofile$`));
      readProfile(join(cwd, files[0] ?? ""));
    },
  );
});
