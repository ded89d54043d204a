// Hostile rules files and conditions (issue 8, section 4): each is a diagnostic or works, in
// time linear in its size, and never escapes as an exception or a stack overflow.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_EXPANDED_DEPTH } from "./binder.js";
import { formatDiagnostic, LineIndex, stringSource } from "./diagnostics.js";
import { compileFilter } from "./filter.js";
import { loadRules } from "./loader.js";
import { RECORDS } from "../../test/helpers/rules.js";

const RULE = (cond: string) => `- rule: R
  desc: d
  condition: ${cond}
  output: o
  priority: WARNING
`;

function timed<T>(f: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = f();
  return { value, ms: performance.now() - t0 };
}

test("LineIndex: offsets to lines and columns by binary search", () => {
  const text = "ab\ncd\n\nxyz";
  const ix = new LineIndex(text);
  const at = (o: number) => ix.linePos(o);
  assert.deepEqual(at(0), { line: 1, col: 1 });
  assert.deepEqual(at(2), { line: 1, col: 3 }); // the newline itself
  assert.deepEqual(at(3), { line: 2, col: 1 });
  assert.deepEqual(at(6), { line: 3, col: 1 });
  assert.deepEqual(at(9), { line: 4, col: 3 });
  assert.deepEqual(at(10), { line: 4, col: 4 }); // end of text
  const src = stringSource("f", "a\nbc", 5, 7); // a string that starts at line 5, column 7
  assert.deepEqual(src.position(1), { line: 5, col: 8 });
  assert.deepEqual(src.position(3), { line: 6, col: 2 });
  assert.deepEqual(src.position(99), { line: 6, col: 3 }); // clamped
});

test("regression: 'fd.num in (a,a,...)' with 64 000 bad items took 9 s (each position recounted the lines)", () => {
  const items = Array(64_000).fill("a").join(",\n  ");
  const cond = `fd.num in (${items})`;
  const f = timed(() => compileFilter(cond, { fields: RECORDS }));
  assert.equal(f.value.ok, false);
  if (!f.value.ok) {
    assert.equal(f.value.diagnostics.length, 64_000);
    assert.equal(
      formatDiagnostic(f.value.diagnostics[63_999] as never),
      "<filter>:64000:3: error: 'a' is not a number (field 'fd.num' is int64)",
    );
  }
  const text = RULE(`>\n    evt.type = open and fd.num in (${Array(64_000).fill("a").join(",\n      ")})`);
  const l = timed(() => loadRules([{ name: "n.yaml", text }], { fields: RECORDS }));
  assert.equal(l.value.errors, 64_000);
  assert.equal(
    formatDiagnostic(l.value.diagnostics[63_999] as never),
    "n.yaml:64003:7: error: 'a' is not a number (field 'fd.num' is int64)",
  );
  assert.ok(f.ms < 5000 && l.ms < 8000, `filter ${f.ms.toFixed(0)} ms, rules file ${l.ms.toFixed(0)} ms`);
});

test("regression: four macros nested 999 deep each overflowed the stack; now a positioned error", () => {
  for (const [name, body] of [
    ["not", (next: string) => `${"not ".repeat(999)}${next}`],
    ["and", (next: string) => `${"proc.pid = 1 and (".repeat(999)}${next}${")".repeat(999)}`],
  ] as const) {
    let text = "";
    for (let m = 0; m < 4; m++)
      text += `- macro: m${m}\n  condition: ${body(m < 3 ? `m${m + 1}` : "proc.name = x")}\n`;
    const r = loadRules([{ name: "m.yaml", text: text + RULE("evt.type = open and m0") }], {
      fields: RECORDS,
    });
    const d = r.diagnostics.map(formatDiagnostic);
    assert.equal(r.errors, 1, `${name}: ${d.join("\n")}`);
    assert.match(
      d[0] ?? "",
      new RegExp(
        `^m\\.yaml:\\d+:\\d+: error: condition nested deeper than ${MAX_EXPANDED_DEPTH} levels once macros are expanded \\(in macro m0 -> m1\\)$`,
      ),
    );
  }
  // three of them (about 3000 levels) are over the limit too; two are fine and evaluate
  let text = "";
  for (let m = 0; m < 2; m++)
    text += `- macro: m${m}\n  condition: ${"not not ".repeat(450)}${m < 1 ? "m1" : "proc.name = x"}\n`;
  const r = loadRules([{ name: "ok.yaml", text: text + RULE("evt.type = open and m0") }], {
    fields: RECORDS,
  });
  assert.equal(r.errors, 0, r.diagnostics.map(formatDiagnostic).join("\n"));
  // a macro reused deeper than it was first bound is checked against its depth too
  text = `- macro: deep\n  condition: ${"not ".repeat(999)}proc.name = x\n- macro: outer\n  condition: ${"not ".repeat(999)}deep\n`;
  const r2 = loadRules([{ name: "re.yaml", text: text + RULE("evt.type = open and deep and outer") }], {
    fields: RECORDS,
  });
  assert.deepEqual(r2.diagnostics.map(formatDiagnostic), [
    `re.yaml:4:4010: error: condition nested deeper than ${MAX_EXPANDED_DEPTH} levels once macros are expanded (macro 'deep' is 1001 levels deep)`,
  ]);
});

test("regression: a 130 000-item list included in another list overflowed the stack (push(...items))", () => {
  const big = Array.from({ length: 130_000 }, (_, i) => `x${i}`).join(", ");
  const text = `- list: big
  items: [${big}]
- list: outer
  items: [big, y]
- list: outer
  items: [${big}]
  append: true
${RULE("evt.type = open and proc.name in (outer)")}`;
  const r = loadRules([{ name: "l.yaml", text }], { fields: RECORDS });
  assert.equal(r.errors, 0, r.diagnostics.map(formatDiagnostic).join("\n"));
  assert.equal(r.lists.get("outer")?.items.length, 130_002);
  const f = compileFilter("proc.name in (outer)", { fields: RECORDS, lists: r.lists, macros: r.macros });
  assert.ok(f.ok);
  const has = (name: string) => f.filter.predicate({ "proc.name": name }, "open");
  assert.equal(has("x129999"), true);
  assert.equal(has("y"), true);
  assert.equal(has("x130000"), false);
});

test("a megabyte-long token or literal is quoted cut short in its diagnostic", () => {
  const long = "x".repeat(100_000);
  for (const cond of [
    `fd.num = ${long}`,
    `proc.name ${long} a`,
    `proc.name regex '[[:${long}:]]'`,
    `${long}.a`,
  ]) {
    const r = compileFilter(cond, { fields: RECORDS });
    assert.equal(r.ok, false, cond.slice(0, 40));
    if (!r.ok) {
      const msg = r.diagnostics[0]?.message ?? "";
      assert.ok(msg.length < 300, msg.slice(0, 300));
      assert.match(msg, /\.\.\.\(100\d{3} characters\)/);
    }
  }
});
