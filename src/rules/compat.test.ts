// The upstream Falco rules load unchanged: stable, incubating, sandbox (Falco's order).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { formatDiagnostic } from "./diagnostics.js";
import { loadRules } from "./loader.js";
import { RECORDS, compatPath, compatRulesSkip } from "../../test/helpers/rules.js";

const FILES = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"];
const skip = compatRulesSkip(...FILES);

function load(names: readonly string[]) {
  return loadRules(
    names.map((n) => ({ name: n, text: readFileSync(compatPath(n), "utf8") })),
    { fields: RECORDS },
  );
}

test(
  "the three compat files load together with zero errors and every enabled rule compiles",
  { skip },
  () => {
    const r = load(FILES);
    assert.deepEqual(r.diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic), []);
    assert.equal(r.rules.length, 25 + 31 + 37);
    const enabled = r.rules.filter((x) => x.enabled);
    assert.equal(enabled.length, 93 - 12);
    for (const info of r.rules) assert.ok(info.compiled, `rule '${info.name}' did not compile`);
    assert.equal(r.ruleset.rules.length, enabled.length);
    // every rule is restricted to some event types (no broad rules upstream)
    assert.equal(r.ruleset.eventTypes().all, false);
  },
);

test("the stable file alone: 25 rules, all enabled, no diagnostics", { skip }, () => {
  const r = load(["falco_rules.yaml"]);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
  assert.equal(r.ruleset.rules.length, 25);
  const types = r.ruleset.eventTypes();
  assert.equal(types.all, false);
  for (const t of ["execve", "execveat", "open", "openat", "openat2", "connect", "ptrace"]) {
    assert.ok(types.names.includes(t), t);
  }
});

test("each compat file on its own compiles (incubating and sandbox redefine shared macros)", { skip }, () => {
  for (const f of FILES) {
    const r = load([f]);
    assert.deepEqual(r.diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic), [], f);
  }
});
