/**
 * The agent's per-event path without the kernel in the way: a mixed workload (execs of
 * /bin/true, cat over many files, loopback connects) is captured once with the syscalls the
 * rules and state need, then the recorded batches are fed again and again to offline agents
 * (`Agent.offline`: state, decode, fields, rules, alerts; no output). Prints JS CPU per
 * record and per evaluated event, the split between records that only update state and
 * those the rules see, and allocation (GC) share. Falco's stable rules when the compat files
 * are there, the embedded default rules otherwise.
 *
 * BENCH_QUICK=1: one small capture and few rounds (CI smoke run).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PerformanceObserver } from "node:perf_hooks";
import { CaptureSession } from "../../src/capture/capture-session.js";
import { Agent } from "../../src/engine/agent.js";
import { SYSCALL_FIELDS } from "../../src/engine/fields/index.js";
import { defaultRulesPath } from "../../src/cli/commands/run.js";
import { loadRules, readRulesFiles, type RuleSet } from "../../src/rules/index.js";
import { ContainerStore } from "../../src/state/containers/index.js";
import { createStateServices } from "../../src/state/services.js";
import { UserResolver } from "../../src/state/users/index.js";
import { compatFile } from "../../test/helpers/compat.js";
import { median } from "../floor.helper.js";

const QUICK = process.env["BENCH_QUICK"] === "1";
const FILES = QUICK ? 2000 : 20000;
const EXECS = QUICK ? 60 : 600;
const ROUNDS = QUICK ? 3 : 9;

function ruleset(): { rs: RuleSet; which: string } {
  const stable = compatFile("falco-rules/falco_rules.yaml");
  const path = stable ?? defaultRulesPath();
  const r = loadRules(readRulesFiles([path]).files, { fields: SYSCALL_FIELDS });
  if (r.errors > 0) throw new Error(`rules ${path}: ${r.errors} errors`);
  return { rs: r.ruleset, which: stable === null ? "embedded default rules" : "Falco's stable rules" };
}

function workload(dir: string): void {
  const files = join(dir, "files");
  mkdirSync(files);
  for (let i = 0; i < FILES; i++) writeFileSync(join(files, `f${i}`), `${i}\n`);
  const script = join(dir, "mixed.sh");
  writeFileSync(
    script,
    `for i in $(seq 1 ${EXECS}); do /bin/true; done\n` +
      `find ${files} -type f -print0 | xargs -0 -n 200 cat > /dev/null\n` +
      `for i in $(seq 1 ${EXECS / 6}); do (exec 3<>/dev/tcp/127.0.0.1/1) 2>/dev/null; done; true\n`,
  );
  execFileSync("bash", [script]);
}

if (process.getuid?.() !== 0) {
  console.log("bench engine: skipped: needs root to capture the workload (CI runs as root)");
  process.exit(0);
}

const { rs, which } = ruleset();
const probe = Agent.offline({ ruleset: rs, onAlert: () => undefined });
const batches: Buffer[] = [];
let bootToWallNs = 0n;
// BENCH_ENGINE_CAPTURE=FILE: replay the batches saved in FILE (written there when absent), so
// that two builds are compared on the same records
const saved = process.env["BENCH_ENGINE_CAPTURE"];
if (saved !== undefined && existsSync(saved)) {
  const all = readFileSync(saved);
  let o = 0;
  while (o + 4 <= all.length) {
    const n = all.readUInt32LE(o);
    batches.push(all.subarray(o + 4, o + 4 + n));
    o += 4 + n;
  }
} else {
  const dir = mkdtempSync(join(tmpdir(), "lanner-bench-engine-"));
  const session = CaptureSession.start({
    syscalls: probe.syscalls,
    pollMs: 5,
    onBatch: (batch, bytes) => batches.push(Buffer.from(batch.subarray(0, bytes))),
  });
  bootToWallNs = session.bootToWallNs;
  try {
    workload(dir);
    await new Promise((r) => setTimeout(r, 100));
    session.drain();
  } finally {
    session.close();
    rmSync(dir, { recursive: true, force: true });
  }
  if (saved !== undefined) {
    const parts: Buffer[] = [];
    for (const b of batches) {
      const h = Buffer.alloc(4);
      h.writeUInt32LE(b.length);
      parts.push(h, b);
    }
    writeFileSync(saved, Buffer.concat(parts));
  }
}
const bytes = batches.reduce((n, b) => n + b.length, 0);

let gcMs = 0;
const obs = new PerformanceObserver((l) => {
  for (const e of l.getEntries()) gcMs += e.duration;
});
obs.observe({ entryTypes: ["gc"] });

const perRecord: number[] = [];
const perEvaluated: number[] = [];
const gcShare: number[] = [];
let records = 0;
let evaluated = 0;
let alerts = 0;
// the state services an agent reads (containers from the runtime, users from passwd)
const containers = new ContainerStore({});
containers.start();
await containers.whenSynced(5000);
for (let round = 0; round < ROUNDS; round++) {
  let n = 0;
  const services = createStateServices({ containers, users: new UserResolver() });
  const a = Agent.offline({ ruleset: rs, services, onAlert: () => void n++ }, bootToWallNs);
  gcMs = 0;
  const c0 = process.cpuUsage();
  for (const b of batches) a.feed(b, b.length);
  const c = process.cpuUsage(c0);
  await new Promise((r) => setImmediate(r)); // let the gc observer report
  const st = a.stats();
  const us = c.user + c.system;
  records = st.capture.delivered || countRecords(batches);
  evaluated = st.evaluated;
  alerts = n;
  perRecord.push((us * 1000) / records);
  perEvaluated.push((us * 1000) / Math.max(1, evaluated));
  gcShare.push(gcMs / (us / 1000));
}
obs.disconnect();
await containers.close();

function countRecords(bs: readonly Buffer[]): number {
  let n = 0;
  for (const b of bs) {
    let o = 0;
    while (o + 8 <= b.length) {
      const len = b.readUInt32LE(o);
      if (len === 0) break;
      n++;
      o += 8 + ((len + 7) & ~7);
    }
  }
  return n;
}

const out = {
  rules: which,
  batches: batches.length,
  bytes,
  records,
  evaluated,
  alerts_per_round: alerts,
  rounds: ROUNDS,
  ns_per_record_median: Math.round(median(perRecord)),
  ns_per_evaluated_event_median: Math.round(median(perEvaluated)),
  gc_share_median: Number(median(gcShare).toFixed(3)),
};
console.log(JSON.stringify(out, null, 2));
