/**
 * The dispatcher: which commands `lanner` and `kubectl lanner` run, and how the program's
 * name picks between them.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { cliMain, isPluginName } from "./main.js";

async function cli(argv: string[], plugin: boolean): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await cliMain(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) }, { plugin });
  return { code, out, err };
}

test("the program's name: kubectl-lanner is the plugin, anything else lanner", () => {
  assert.equal(isPluginName("/usr/local/bin/kubectl-lanner"), true);
  assert.equal(isPluginName("kubectl-lanner"), true);
  assert.equal(isPluginName("/work/bin/lanner"), false);
  assert.equal(isPluginName("/tmp/kubectl-lanner-old"), false);
  assert.equal(isPluginName(undefined), false);
});

test("every listed command is registered: lanner and kubectl lanner", async () => {
  for (const [cmd, usage] of [
    ["bpftrace", "Usage: lanner bpftrace"],
    ["deploy", "Usage: lanner deploy"],
    ["undeploy", "Usage: lanner undeploy"],
    ["trace", "Usage: lanner trace <gadget>"],
  ] as const) {
    const r = await cli([cmd, "--help"], false);
    assert.equal(r.code, 0, `${cmd}: ${r.err}`);
    assert.ok(r.out.startsWith(usage), `${cmd}: ${r.out.slice(0, 80)}`);
  }
  for (const [cmd, usage] of [
    ["trace", "Usage: kubectl lanner trace <gadget>"],
    ["top", "Usage: kubectl lanner top <gadget>"],
    ["snapshot", "Usage: kubectl lanner snapshot <gadget>"],
    ["deploy", "Usage: lanner deploy"],
  ] as const) {
    const r = await cli([cmd, "--help"], true);
    assert.equal(r.code, 0, `${cmd}: ${r.err}`);
    assert.ok(r.out.startsWith(usage), `${cmd}: ${r.out.slice(0, 80)}`);
  }
  const help = await cli(["--help"], true);
  assert.match(help.out, /^Usage: kubectl lanner <command>/);
  const unknown = await cli(["nope"], true);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /^kubectl lanner: unknown command 'nope'/);
});
