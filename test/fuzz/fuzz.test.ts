// Every fuzz target, briefly (a few seconds in all): no unexpected exception, no input over
// 100 ms. `make fuzz` runs them at length.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatFailure, formatSummary, Rng, runTarget } from "./harness.js";
import { TARGETS } from "./targets.js";

test("the generator is reproducible: input #k of seed s is the same every time", () => {
  for (const t of TARGETS) {
    const a = t.show(t.generate(Rng.forInput(7, 123)));
    const b = t.show(t.generate(Rng.forInput(7, 123)));
    assert.equal(a, b, t.name);
    assert.notEqual(a, t.show(t.generate(Rng.forInput(7, 124))), t.name);
  }
});

for (const t of TARGETS) {
  test(`fuzz target ${t.name}: no unexpected exception, no input over 100 ms`, () => {
    const s = runTarget(t, { seed: Number(process.env["LANNER_FUZZ_SEED"] ?? 20240), seconds: 2 });
    const report = [formatSummary(s), ...s.failures.map((f) => formatFailure(t.name, s.seed, f))].join("\n");
    process.stdout.write(`${report}\n`);
    assert.equal(s.unexpected, 0, report);
    assert.equal(s.slow, 0, report);
    assert.ok(s.inputs >= 50, report);
    // both outcomes are exercised: seeds that are accepted, mutations that are diagnosed
    assert.ok(s.accepted > 0 && s.diagnosed > 0, report);
  });
}
