/**
 * BpftraceRun without a pod: the real bpftrace on the host (ready before the output, the
 * temporary program removed, the exit code passed on, --timeout's SIGINT printing the maps),
 * and the escalation SIGINT -> SIGTERM -> SIGKILL against a process that ignores the signals.
 * bpftrace cannot be made to miss its SIGINT, so that process is a shell script standing in
 * for a hung bpftrace (the signals and the timers under test are the real ones).
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { LannerError } from "../errors.js";
import { nodeEnvironment } from "../gadgets/environment.js";
import { BpftraceInputError, BpftraceRun, findBpftrace, type BpftraceOptions } from "./index.js";

let noBpftrace: string | null = null;
try {
  findBpftrace();
  if (process.getuid?.() !== 0) noBpftrace = "bpftrace needs root";
} catch (e) {
  noBpftrace = (e as Error).message;
}
if (noBpftrace !== null) console.log(`# SKIP real bpftrace runs: ${noBpftrace}`);

const env = nodeEnvironment("bpft-runner-test");
after(() => env.close());

interface Recorded {
  events: string[];
  out: string;
  err: string;
}

async function run(
  opts: Partial<BpftraceOptions> & { program: string },
): Promise<{ run: BpftraceRun; rec: Recorded; code: number }> {
  const rec: Recorded = { events: [], out: "", err: "" };
  const r = await BpftraceRun.start({ programName: "-e", format: "text", ...opts }, env, {
    ready: (s) => rec.events.push(`ready ${s}`),
    stdout: (s) => {
      rec.events.push("stdout");
      rec.out += s;
    },
    stderr: (s) => (rec.err += s),
  });
  const code = await r.done;
  return { run: r, rec, code };
}

describe("the real bpftrace", { skip: noBpftrace ?? false }, () => {
  test("ready comes before the output; the exit code is bpftrace's; the program file is removed", async () => {
    const { run: r, rec, code } = await run({ program: 'BEGIN { printf("hello %d\\n", 7); exit(); }' });
    assert.equal(code, 0, rec.err);
    assert.equal(rec.events[0], "ready host (not scoped)");
    assert.equal(rec.out, "Attaching 1 probe...\nhello 7\n\n\n");
    // bpftrace's RLIMIT_MEMLOCK complaint (moot under memcg accounting) is not passed on
    assert.equal(rec.err, "");
    assert.equal(existsSync(r.file), false);
    assert.equal(r.rewritten, 'BEGIN { printf("hello %d\\n", 7); exit(); }');
  });

  test("--timeout ends it with SIGINT: the maps are printed, exit 0", async () => {
    const t0 = Date.now();
    const { rec, code } = await run({ program: "BEGIN { @n = 41; @n++; }", timeoutS: 1 });
    const ms = Date.now() - t0;
    assert.equal(code, 0, rec.err);
    assert.match(rec.out, /^@n: 42$/m);
    assert.ok(ms >= 1000 && ms < 8000, `took ${ms} ms`);
  });

  test("-o json: bpftrace's JSON lines, ready on attached_probes", async () => {
    const { rec, code } = await run({ program: "BEGIN { @n = 3; exit(); }", format: "json" });
    assert.equal(code, 0, rec.err);
    const lines = rec.out.split("\n").filter((l) => l !== "");
    assert.deepEqual(
      lines.map((l) => JSON.parse(l) as unknown),
      [
        { type: "attached_probes", data: { probes: 1 } },
        { type: "map", data: { "@n": 3 } },
      ],
    );
    assert.equal(rec.events[0], "ready host (not scoped)");
  });

  test("a syntax error: bpftrace's exit 1, the position and line of the user's program", async () => {
    const { rec, code } = await run({ program: "BEGIN { }\n\nEND { @x = ; }", programName: "my.bt" });
    assert.equal(code, 1);
    assert.equal(rec.events.includes("ready host (not scoped)"), false);
    assert.match(rec.err, /^my\.bt:3:12-13: ERROR: syntax error, unexpected ;/m);
    assert.match(rec.err, /^END \{ @x = ; \}\n {11}~$/m);
    assert.doesNotMatch(rec.err, /program\.bt/);
  });
});

describe("bad input is BpftraceInputError before anything runs", () => {
  const cases: Array<[Partial<BpftraceOptions> & { program: string }, string]> = [
    [{ program: "t:a:b { } }" }, "-e:1:11: expected a probe, found '}'"],
    [
      { program: "BEGIN { print($container_pid); }" },
      "-e:1:15: $container_pid needs --pod (the container whose pid it is)",
    ],
    [{ program: "BEGIN { }", container: "x" }, "-c x: a container is chosen within a pod (--pod)"],
    [{ program: "BEGIN { }", timeoutS: 0 }, "--timeout: expected a positive number of seconds, got 0"],
  ];
  for (const [opts, msg] of cases)
    test(msg, async () => {
      await assert.rejects(
        run(opts),
        (e: unknown) => e instanceof BpftraceInputError && e.code === "EUSAGE" && e.message === msg,
      );
    });

  test("a bpftrace option that is not an executable is a LannerError naming it", async () => {
    await assert.rejects(
      run({ program: "BEGIN { }", bpftrace: "/nonexistent/bpft-bpftrace" }),
      (e: unknown) =>
        e instanceof LannerError &&
        e.message === "bpftrace: /nonexistent/bpft-bpftrace is not an executable file",
    );
  });
});

describe("stop() escalates when bpftrace does not exit", () => {
  const dir = mkdtempSync(join(tmpdir(), "bpft-runner-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  function hung(name: string, ignore: string): string {
    const p = join(dir, name);
    writeFileSync(
      p,
      `#!/bin/sh\ntrap '' ${ignore}\necho "Attaching 1 probe..."\nwhile :; do sleep 0.05; done\n`,
    );
    chmodSync(p, 0o755);
    return p;
  }

  test("SIGINT ignored: SIGTERM after the grace period (exit 128+15)", async () => {
    const t0 = Date.now();
    const { rec, code } = await run({
      program: "BEGIN { }",
      bpftrace: hung("int", "INT"),
      timeoutS: 0.2,
      killGraceMs: 300,
    });
    const ms = Date.now() - t0;
    assert.equal(code, 143);
    assert.equal(rec.events[0], "ready host (not scoped)");
    assert.ok(ms >= 500 && ms < 5000, `took ${ms} ms`);
  });

  test("SIGINT and SIGTERM ignored: SIGKILL after a second grace period (exit 128+9)", async () => {
    const t0 = Date.now();
    const { code } = await run({
      program: "BEGIN { }",
      bpftrace: hung("int-term", "INT TERM"),
      timeoutS: 0.2,
      killGraceMs: 300,
    });
    const ms = Date.now() - t0;
    assert.equal(code, 137);
    assert.ok(ms >= 800 && ms < 5000, `took ${ms} ms`);
  });
});
