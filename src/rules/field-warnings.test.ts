/**
 * `rules validate` names what it cannot honour: a field Lanner does not produce (another
 * tool's), a field used for event types that never produce it, capture keys it ignores, and
 * an engine version beyond the one it implements. Each is a warning naming the field and
 * the rule at its position, and the rest of the file still loads.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RECORDS } from "../../test/helpers/rules.js";
import { formatDiagnostic } from "./diagnostics.js";
import { ENGINE_VERSION, loadRules } from "./loader.js";

function load(text: string) {
  const r = loadRules([{ name: "t.yaml", text }], { fields: RECORDS });
  return { r, msgs: r.diagnostics.map(formatDiagnostic) };
}

const rule = (name: string, condition: string, output = "o %proc.name", extra = "") =>
  `- rule: ${name}\n  desc: d\n  condition: ${condition}\n  output: ${output}\n  priority: WARNING\n${extra}`;

test("a field Lanner does not produce: a warning naming it and the rule; the rule loads, the check is false", () => {
  const { r, msgs } = load(rule("hc", "evt.type = execve and not proc.is_container_healthcheck = true"));
  assert.deepEqual(msgs, [
    "t.yaml:3:40: warning: rule 'hc': field 'proc.is_container_healthcheck' is not produced by Lanner (the health-check and probe commands of containers are not collected): it reads as unknown and checks on it are false",
  ]);
  assert.equal(r.errors, 0);
  // unknown makes the check false, so `not` of it holds
  assert.deepEqual(
    r.ruleset.match({ "proc.name": "x" }, "execve").map((x) => x.name),
    ["hc"],
  );
});

test("in outputs too", () => {
  const { msgs } = load(rule("ip", "evt.type = connect", "o %container.ip"));
  assert.deepEqual(msgs, [
    "t.yaml:4:14: warning: rule 'ip': field 'container.ip' is not produced by Lanner (the runtime does not report it to Lanner): it reads as unknown and checks on it are false",
  ]);
});

test("a field read for event types that never produce it", () => {
  const { msgs } = load(rule("lat", "evt.type in (connect, setuid) and evt.latency > 0"));
  assert.deepEqual(msgs, [
    "t.yaml:3:14: warning: rule 'lat': field 'evt.latency' is never produced for setuid events, which the rule can match: checks on it are false there",
  ]);
  // a branch restricted to the types that do produce it is fine
  assert.deepEqual(
    load(rule("ok", "(evt.type = connect and evt.latency > 0) or evt.type = setuid")).msgs,
    [],
  );
});

test("capture keys are ignored, and said so", () => {
  const { msgs } = load(rule("c", "evt.type = execve", "o", "  capture: true\n  capture_duration: 5000\n"));
  assert.deepEqual(msgs, [
    "t.yaml:6:3: warning: rule 'c': 'capture' and 'capture_duration' are ignored: Lanner does not write capture files",
  ]);
});

test("the engine version Lanner claims is the one whose language it implements", () => {
  assert.equal(ENGINE_VERSION, "0.62.0");
  assert.deepEqual(load(`- required_engine_version: 0.62.0\n${rule("a", "evt.type = execve")}`).msgs, []);
  assert.deepEqual(load(`- required_engine_version: 0.63.0\n${rule("a", "evt.type = execve")}`).msgs, [
    "t.yaml:1:28: error: rules require engine version 0.63.0, Lanner implements engine version 0.62.0",
  ]);
});
