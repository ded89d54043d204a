// Bad rules files: every problem is one exact `FILE:LINE:COL: error: message` line.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatDiagnostic } from "./diagnostics.js";
import { loadRules } from "./loader.js";
import { RECORDS } from "../../test/helpers/rules.js";

function diags(name: string, text: string): string[] {
  return loadRules([{ name, text }], { fields: RECORDS }).diagnostics.map(formatDiagnostic);
}

const RULE = (cond: string, extra = "") => `- rule: R
  desc: d
  condition: ${cond}
  output: out
  priority: WARNING
${extra}`;

test("YAML syntax error", () => {
  const text = "- rule: A\n  desc: d\n  condition: proc.name = a\n   output: x\n";
  assert.deepEqual(
    diags("bad.yaml", text)[0],
    "bad.yaml:3:14: error: invalid YAML: Nested mappings are not allowed in compact mappings",
  );
  assert.deepEqual(diags("tab.yaml", "- rule: [a\n"), [
    "tab.yaml:2:1: error: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
  ]);
});

test("hostile YAML nesting is a diagnostic", () => {
  const d = diags("deep.yaml", "- rule: " + "[".repeat(100_000) + "]".repeat(100_000) + "\n");
  assert.deepEqual(d, [
    "deep.yaml:1:509: error: invalid YAML: nested too deeply (over 500 levels of indentation or of '[' and '{')",
  ]);
});

test("regression: YAML nested 2000 deep could abort node (V8 out of memory compiling a regex deep in the YAML parser's recursion) and took 0.2-0.7 s; now refused before parsing", () => {
  const shapes: Record<string, string> = {
    open: "- " + "[".repeat(2000) + "\n",
    braces: "- " + "{".repeat(30_000) + "\n",
    dashes: "- ".repeat(30_000) + "x\n",
    keys: "? ".repeat(5000) + "x\n",
    indent: Array.from({ length: 600 }, (_, i) => " ".repeat(i) + "a:").join("\n") + " x\n",
  };
  for (const [name, text] of Object.entries(shapes)) {
    const t0 = performance.now();
    const d = diags(`${name}.yaml`, text);
    assert.equal(d.length, 1, name);
    assert.match(d[0] ?? "", /: error: invalid YAML: nested too deeply \(over 500 levels/, name);
    assert.ok(performance.now() - t0 < 100, `${name}: ${(performance.now() - t0).toFixed(0)} ms`);
  }
  // brackets inside quoted scalars, comments and in earlier items do not count
  const ok = `# ${"[".repeat(600)}
- macro: m
  condition: proc.name glob '${"[".repeat(600)}' and proc.name != "${"{".repeat(600)}"
- list: l
  items: [${"a, ".repeat(600)}b]
`;
  assert.deepEqual(diags("ok.yaml", ok), []);
});

test("not a list of items", () => {
  assert.deepEqual(diags("m.yaml", "rule: x\n"), [
    "m.yaml:1:1: error: a rules file must be a YAML sequence of rule, macro and list items",
  ]);
});

test("unknown field, in a rule and in a macro", () => {
  assert.deepEqual(diags("f.yaml", RULE("evt.type = execve and proc.nme = bash")), [
    "f.yaml:3:36: error: unknown field 'proc.nme'",
  ]);
  const text = `- macro: m
  condition: fd.nmae startswith /etc
${RULE("evt.type = execve and m")}`;
  assert.deepEqual(diags("m.yaml", text), ["m.yaml:2:14: error: unknown field 'fd.nmae'"]);
});

test("operator that does not fit the field type", () => {
  assert.deepEqual(diags("o.yaml", RULE("evt.type = execve and fd.num contains 3")), [
    "o.yaml:3:43: error: operator 'contains' is not supported by field 'fd.num' of type int64",
  ]);
  assert.deepEqual(diags("n.yaml", RULE("evt.type = execve and user.uid = root")), [
    "n.yaml:3:47: error: 'root' is not a number (field 'user.uid' is uint32)",
  ]);
});

test("undefined macro and undefined list", () => {
  assert.deepEqual(diags("u.yaml", RULE("evt.type = execve and not_defined")), [
    "u.yaml:3:36: error: undefined macro 'not_defined'",
  ]);
  assert.deepEqual(diags("l.yaml", RULE("evt.type = execve and proc.name in missing_list")), [
    "l.yaml:3:49: error: undefined list 'missing_list'",
  ]);
});

test("exception values not matching fields", () => {
  const text = RULE(
    "evt.type = execve",
    `  exceptions:
    - name: pair
      fields: [proc.name, proc.pname]
      values:
        - [a, b]
        - [c]
    - name: bad_field
      fields: [proc.nam]
      values: [[x]]
    - name: single
      fields: proc.name
      comps: "="
      values: [a]
    - name: list_for_eq
      fields: [proc.name]
      comps: [startswith]
      values: [[[a, b]]]
`,
  );
  assert.deepEqual(diags("e.yaml", text), [
    "e.yaml:11:11: error: exception 'pair' of rule 'R': values entry has 1 item but 'fields' has 2",
    "e.yaml:13:16: error: unknown field 'proc.nam'",
    "e.yaml:17:14: error: exception 'single' of rule 'R': with a single field, comps must be in, pmatch, intersects or an operator with oneof/anyof/allof",
    "e.yaml:22:17: error: exception 'list_for_eq' of rule 'R': value for 'proc.name' is a list but 'startswith' takes one value",
  ]);
});

test("unterminated string", () => {
  assert.deepEqual(diags("s.yaml", RULE("evt.type = execve and proc.name = 'abc")), [
    "s.yaml:3:48: error: rule 'R': unterminated string",
  ]);
});

test("100 000-deep parentheses", () => {
  const cond = "(".repeat(100_000) + "evt.type = execve" + ")".repeat(100_000);
  assert.deepEqual(diags("p.yaml", RULE(cond)), [
    "p.yaml:3:1014: error: rule 'R': expression nested deeper than 1000 levels",
  ]);
});

test("positions inside folded and literal block scalars and quoted strings", () => {
  const text = `- rule: R
  desc: d
  condition: >
    evt.type = execve
    and fd.num contains 3
  output: out
  priority: WARNING
- rule: S
  desc: d
  condition: |
    evt.type = execve and
      proc.nme = x
  output: out
  priority: WARNING
- rule: T
  desc: d
  condition: "evt.type = execve and \\"a\\" = b"
  output: out
  priority: WARNING
- rule: U
  desc: d
  condition: 'evt.type = execve and proc.name = ''x'' and proc.nme = y'
  output: out
  priority: WARNING
`;
  assert.deepEqual(diags("b.yaml", text), [
    "b.yaml:5:16: error: operator 'contains' is not supported by field 'fd.num' of type int64",
    "b.yaml:12:7: error: unknown field 'proc.nme'",
    `b.yaml:17:37: error: rule 'T': expected a field, a macro, 'not' or '(' but found string "a"`,
    "b.yaml:22:59: error: unknown field 'proc.nme'",
  ]);
});

test("missing keys, bad priority, bad output field, unknown keys", () => {
  const text = `- rule: A
  desc: d
  condition: evt.type = execve
  output: "%proc.nope"
  priority: nope
- rule: B
  desc: d
  condition: evt.type = execve
  priority: debug
- rule: C
  desc: d
  condition: evt.type = execve
  output: o
  priority: debug
  colour: red
- bogus: 1
`;
  assert.deepEqual(diags("k.yaml", text), [
    "k.yaml:4:13: error: unknown field 'proc.nope'",
    "k.yaml:5:13: error: invalid priority 'nope' (expected one of emergency, alert, critical, error, warning, notice, informational, info, debug)",
    "k.yaml:6:9: error: rule 'B' has no 'output'",
    "k.yaml:15:3: warning: unknown key 'colour' in rule 'C'",
    "k.yaml:16:3: warning: unknown item 'bogus' ignored",
  ]);
});

test("unsafe <NA> comparison is a warning", () => {
  assert.deepEqual(diags("na.yaml", RULE("evt.type = execve and proc.pname != <NA>")), [
    "na.yaml:3:50: warning: comparing 'proc.pname' with <NA> never matches: unknown values make comparisons false; use 'proc.pname exists'",
  ]);
});

test("one pass reports every problem across files, in file order", () => {
  const r = loadRules(
    [
      { name: "a.yaml", text: RULE("evt.type = execve and proc.nme = x") },
      {
        name: "b.yaml",
        text: RULE("evt.type = execve and fd.num contains 1").replace("rule: R", "rule: R2"),
      },
    ],
    { fields: RECORDS },
  );
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    "a.yaml:3:36: error: unknown field 'proc.nme'",
    "b.yaml:3:43: error: operator 'contains' is not supported by field 'fd.num' of type int64",
  ]);
  assert.equal(r.errors, 2);
});

test("regression: a broken file with thousands of YAML errors took 0.2 s per 18 KB (an Error with a stack per problem) and listed them all; now capped at 100", () => {
  const items = Array.from(
    { length: 1500 },
    (_, i) => `- macro: m${i}\n  condition: proc.name = "a${i}"\n`,
  ).join("");
  const text = `- list: l\n  items: [\n"a",\n${items}`; // one unindented line in an open flow list
  const t0 = performance.now();
  const d = diags("broken.yaml", text);
  const ms = performance.now() - t0;
  assert.equal(d.length, 101);
  assert.match(
    d[100] ?? "",
    /^broken\.yaml:\d+:\d+: error: invalid YAML: \d+ more YAML errors after this one are not shown$/,
  );
  assert.ok(ms < 2000, `${ms.toFixed(0)} ms`);
});
