/**
 * The CLI as users run it: `bin/lanner` in a child process. Kernel parts skip with a
 * printed reason when not root.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { packageRoot } from "../capture/paths.js";
import { kernelSkipReason } from "../../test/helpers/kernel.js";
import { startCapture } from "../../test/helpers/capture.js";

const execFileP = promisify(execFile);
const LANNER = join(packageRoot(), "bin/lanner");

async function lanner(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [LANNER, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe("lanner CLI", () => {
  test("an unknown name in --types is a clear error, exit 2", async () => {
    const r = await lanner("capture", "--types", "openat,nosuchcall,alsonot");
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "lanner capture: --types: unknown syscall names: nosuchcall, alsonot\n");
  });

  test("bad option values name the option", async () => {
    assert.equal(
      (await lanner("capture", "-o", "xml")).stderr,
      "lanner capture: --output: expected json, text or none, got 'xml'\n",
    );
    assert.equal(
      (await lanner("capture", "--count", "0")).stderr,
      "lanner capture: --count: expected a positive number, got '0'\n",
    );
    const unknown = await lanner("capture", "--nope");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^lanner capture: Unknown option '--nope'/);
  });

  test("a bad --filter is a positioned error, exit 2", async () => {
    const r = await lanner("capture", "--filter", "evt.type = openat and");
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      "lanner capture: --filter:1:22: error: expected a field, a macro, 'not' or '(' but found end of condition\n",
    );
    const u = await lanner("capture", "--filter", "proc.nosuchfield = x");
    assert.equal(u.code, 2);
    assert.match(u.stderr, /^lanner capture: --filter:1:1: error: .*proc\.nosuchfield/);
  });

  test("every command has --help; unknown commands fail", async () => {
    for (const c of ["capture", "doctor"]) {
      const r = await lanner(c, "--help");
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^Usage: lanner /);
    }
    const r = await lanner("frobnicate");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
  });

  const skip = kernelSkipReason();
  if (skip) console.log(`# SKIP lanner CLI kernel tests: ${skip}`);

  test(
    "capture -o json prints the exec of a real process after the readiness line",
    { skip: skip ?? false },
    async () => {
      const cap = await startCapture(["-o", "json", "-t", "execve", "--comm", "true", "--count", "1"]);
      const child = cap.child;
      const t = spawn("/bin/true", ["cli-test-arg"]);
      const exitCode = await new Promise<number | null>((resolve) => child.on("exit", resolve));
      assert.equal(exitCode, 0, cap.stderr);
      const lines = cap.stdout().trim().split("\n");
      assert.equal(lines.length, 1);
      const ev = JSON.parse(lines[0]!) as Record<string, unknown>;
      assert.equal(ev["evt.type"], "execve");
      assert.equal(ev["proc.name"], "true");
      assert.equal(ev["proc.pid"], t.pid);
      assert.equal(ev["proc.cmdline"], "true cli-test-arg");
      assert.equal(ev["evt.res"], "SUCCESS");
      assert.match(String(ev["evt.time"]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    },
  );

  test("capture --filter selects with the rules language", { skip: skip ?? false }, async () => {
    const cap = await startCapture([
      "-o",
      "json",
      "--count",
      "1",
      "--filter",
      "evt.type = openat and fd.name = /etc/hostname and proc.name = cat",
    ]);
    const child = cap.child;
    assert.match(cap.stderr, /syscalls=1,/, "the filter's event types narrow the kernel selection");
    spawn("/bin/cat", ["/etc/hosts"]); // a look-alike that must not match
    await new Promise((r) => setTimeout(r, 200));
    const cat = spawn("/bin/cat", ["/etc/hostname"]);
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 0, cap.stderr);
    const lines = cap.stdout().trim().split("\n");
    assert.equal(lines.length, 1);
    const ev = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(ev["fd.name"], "/etc/hostname");
    assert.equal(ev["proc.pid"], cat.pid);
  });

  test(
    "doctor --json reports probes, both capture modes and every gadget",
    { skip: skip ?? false },
    async () => {
      const r = await lanner("doctor", "--json");
      assert.equal(r.code, 0, r.stderr);
      const d = JSON.parse(r.stdout) as {
        probes: { id: string; ok: boolean; reason?: string }[];
        capture: { name: string; ok: boolean }[];
        gadgets: { gadget: string; ok: boolean; reason?: string }[];
      };
      const { GADGETS, gadgetId } = await import("../gadgets/index.js");
      assert.deepEqual(
        d.gadgets.map((g) => g.gadget),
        GADGETS.map((g) => gadgetId(g)),
      );
      for (const g of d.gadgets) if (!g.ok) assert.ok(g.reason, `${g.gadget}: says what is missing`);
      const ids = new Map(d.probes.map((p) => [p.id, p]));
      assert.equal(ids.get("prog:tracepoint")?.ok, true);
      assert.equal(ids.get("map:ringbuf")?.ok, true);
      for (const p of d.probes)
        if (!p.ok) assert.ok(p.reason && !p.reason.includes("\n"), `${p.id} has a one-line reason`);
      assert.deepEqual(
        d.capture.map((c) => [c.name, c.ok]),
        [
          ["selected", true],
          ["all", true],
        ],
      );
    },
  );
});
