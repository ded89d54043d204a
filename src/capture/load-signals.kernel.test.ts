// The capture objects load while the process is being hit by signals: Node's sampling profiler
// (`node --cpu-prof`) sends the main thread SIGPROF at every interval, and a signal pending
// during verification makes the kernel's verifier give up with EAGAIN. The addon blocks
// asynchronous signals around the load; this runs the real load under the real profiler.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { kernelSkipReason } from "../../test/helpers/kernel.js";

const skip = kernelSkipReason();

// Loads (and attaches) the capture objects the way `lanner run` does, in every mode, several
// times: each start runs the probes and loads capture.bpf.o.
const CHILD = `
const { CaptureSession } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, "capture-session.js")).href)});
const runs = [
  { syscalls: "all" },
  { syscalls: ["openat", "execve", "connect"] },
  { syscalls: ["openat", "execve", "connect"], avoid: ["tp_btf"] },
  { syscalls: "all", avoid: ["tp_btf"] },
];
let n = 0;
for (let round = 0; round < 2; round++)
  for (const r of runs) {
    const s = CaptureSession.start({ ...r, filterPid: process.pid, ringBytes: 1 << 20, onBatch: () => {} });
    s.close();
    n++;
  }
console.log("loaded " + n);
`;

test("the capture objects load under node --cpu-prof (SIGPROF every 50 µs)", { skip: skip ?? false }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), "lanner-prof-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = spawnSync(
    process.execPath,
    ["--cpu-prof", "--cpu-prof-interval", "50", "--cpu-prof-dir", dir, "--input-type=module", "-e", CHILD],
    { encoding: "utf8", timeout: 120_000 },
  );
  assert.equal(
    r.status,
    0,
    `child exited ${String(r.status)} (${String(r.signal)}); stderr:\n${r.stderr.slice(-3000)}`,
  );
  assert.match(r.stdout, /^loaded 8$/m);
  // the profiler really was sampling (signalling) while the loads ran
  const files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  assert.equal(files.length, 1, `one profile written, got ${files.join(", ")}`);
  const prof = JSON.parse(readFileSync(join(dir, files[0] ?? ""), "utf8")) as { samples: number[] };
  t.diagnostic(`profile samples: ${prof.samples.length}`);
  assert.ok(prof.samples.length > 100, `profiler took ${prof.samples.length} samples`);
});
