/**
 * `lanner bpftrace`'s command line without a kernel: what parseBpftraceArgs gives the runner
 * (and the lead's cluster path), every usage error with exit 2 naming the flag or file, --help,
 * and --node naming another node.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { findBpftrace } from "../../bpftrace/index.js";
import { UsageError } from "../io.js";
import { BPFTRACE_HELP, bpftraceCommand, parseBpftraceArgs } from "./bpftrace.js";

async function lanner(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await bpftraceCommand(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

let noBpftrace: string | null = null;
try {
  findBpftrace();
  if (process.getuid?.() !== 0) noBpftrace = "bpftrace needs root";
} catch (e) {
  noBpftrace = (e as Error).message;
}
if (noBpftrace !== null) console.log(`# SKIP lanner bpftrace runs on this host: ${noBpftrace}`);

const dir = mkdtempSync(join(tmpdir(), "bpft-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("every flag reaches the options", () => {
  assert.deepEqual(
    parseBpftraceArgs([
      "-e",
      "BEGIN { }",
      "--pod",
      "web",
      "-n",
      "shop",
      "-c",
      "app",
      "--node",
      "n1",
      "--timeout",
      "2.5",
      "-o",
      "json",
    ]),
    {
      program: "BEGIN { }",
      programName: "-e",
      pod: "web",
      namespace: "shop",
      container: "app",
      format: "json",
      timeoutS: 2.5,
      node: "n1",
    },
  );
  const file = join(dir, "p.bt");
  writeFileSync(file, "END { }\n");
  assert.deepEqual(
    parseBpftraceArgs(["-f", file, "--namespace=x", "--container=y", "--pod=z", "--output", "text"]),
    {
      program: "END { }\n",
      programName: file,
      pod: "z",
      namespace: "x",
      container: "y",
      format: "text",
      timeoutS: undefined,
      node: undefined,
    },
  );
  assert.equal(parseBpftraceArgs(["--help"]), null);
  assert.equal(parseBpftraceArgs(["-h", "-e", "x"]), null);
});

test("usage errors name the flag or file, exit 2", async () => {
  const cases: Array<[string[], string]> = [
    [[], "a program is needed: -e PROGRAM or -f FILE"],
    [["-e", "BEGIN { }", "-f", "x.bt"], "-e and -f exclude each other"],
    [["-e", "  "], "-e: the program is empty"],
    [
      ["-f", join(dir, "nope.bt")],
      `-f ${join(dir, "nope.bt")}: ENOENT: no such file or directory, open '${join(dir, "nope.bt")}'`,
    ],
    [
      ["-e", "BEGIN { }", "prog.bt"],
      "unexpected argument 'prog.bt' (the program goes in -e PROGRAM or -f FILE)",
    ],
    [["-e", "BEGIN { }", "-c", "app"], "-c app: a container is chosen within a pod (--pod NAME)"],
    [["-e", "BEGIN { }", "--pod", ""], "--pod: empty name"],
    [["-e", "BEGIN { }", "--timeout", "0"], "--timeout: expected a positive number of seconds, got '0'"],
    [
      ["-e", "BEGIN { }", "--timeout", "soon"],
      "--timeout: expected a positive number of seconds, got 'soon'",
    ],
    [["-e", "BEGIN { }", "-o", "yaml"], "--output: expected text or json, got 'yaml'"],
  ];
  for (const [argv, msg] of cases) {
    assert.throws(
      () => parseBpftraceArgs(argv),
      (e: unknown) => e instanceof UsageError && e.message === msg,
      msg,
    );
    const r = await lanner(argv);
    assert.equal(r.code, 2, msg);
    assert.equal(r.err, `lanner bpftrace: ${msg}\n`);
  }
  const u = await lanner(["-e", "BEGIN { }", "--bogus"]);
  assert.equal(u.code, 2);
  assert.match(u.err, /^lanner bpftrace: Unknown option '--bogus'/);
});

test("a program that cannot be scoped is exit 2 with its position, before anything runs", async () => {
  const r = await lanner(["-e", "BEGIN {\n  print($container_name);\n}"]);
  assert.equal(r.code, 2);
  assert.equal(
    r.err,
    "lanner bpftrace: -e:2:9: unknown variable $container_name (Lanner provides $container_pid)\n",
  );
});

test("--help describes what is scoped and what is not", async () => {
  const r = await lanner(["--help"]);
  assert.equal(r.code, 0);
  assert.equal(r.out, BPFTRACE_HELP);
  assert.match(r.out, /BEGIN, END and\s+interval probes run in no task's context and are NOT scoped/);
  for (const flag of [
    "--pod",
    "--namespace",
    "--container",
    "--node",
    "--timeout",
    "--output",
    "--expr",
    "--file",
  ])
    assert.ok(r.out.includes(flag), flag);
});

test("--node naming another node says kubectl lanner runs it there, exit 2", async () => {
  const here = process.env["NODE_NAME"] ?? hostname();
  const r = await lanner(["-e", "BEGIN { }", "--node", "bpft-elsewhere"]);
  assert.equal(r.code, 2);
  assert.equal(
    r.err,
    `lanner bpftrace: --node bpft-elsewhere: this is node ${here} (kubectl lanner bpftrace runs it on other nodes)\n`,
  );
});

test(
  '--node naming this node runs here; -f FILE\'s #include "x.h" resolves next to it',
  { skip: noBpftrace ?? false },
  async () => {
    const sub = mkdtempSync(join(dir, "inc-"));
    writeFileSync(join(sub, "bpft-defs.h"), "#define BPFT_ANSWER 42\n");
    const file = join(sub, "answer.bt");
    writeFileSync(file, '#include "bpft-defs.h"\nBEGIN { printf("answer=%d\\n", BPFT_ANSWER); exit(); }\n');
    const here = process.env["NODE_NAME"] ?? hostname();
    const r = await lanner(["-f", file, "--node", here]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "Attaching 1 probe...\nanswer=42\n\n\n");
    assert.match(r.err, /^lanner: ready \(host \(not scoped\)\)$/m);
  },
);
