import assert from "node:assert/strict";
import { test } from "node:test";
import type { FieldValue } from "./compiler.js";
import { formatDiagnostic } from "./diagnostics.js";
import { compileFilter } from "./filter.js";
import { loadRules, type LoadOptions, type LoadResult } from "./loader.js";
import { RECORDS } from "../../test/helpers/rules.js";

function load(files: Record<string, string>, opts: Omit<LoadOptions, "fields"> = {}): LoadResult {
  return loadRules(
    Object.entries(files).map(([name, text]) => ({ name, text })),
    { fields: RECORDS, ...opts },
  );
}
function msgs(r: LoadResult): string[] {
  return r.diagnostics.map(formatDiagnostic);
}
function matches(r: LoadResult, fields: Record<string, FieldValue>, evtType = "execve"): string[] {
  return r.ruleset.match(fields, evtType).map((x) => x.name);
}
function cond(r: LoadResult, name: string): string | undefined {
  return r.compiled.find((c) => c.name === name)?.conditionText;
}

const rule = (name: string, condition: string, extra = "") =>
  `- rule: ${name}\n  desc: d\n  condition: ${condition}\n  output: o %proc.name\n  priority: WARNING\n${extra}`;

test("lists, macros and rules; macros resolve at use, after all files", () => {
  const r = load({
    "a.yaml": `${rule("R", "spawned and proc.name in (shells)")}
- macro: spawned
  condition: evt.type in (execve, execveat)
- list: shells
  items: [sh, more_shells]
- list: more_shells
  items: [bash, "zsh"]
`,
    "b.yaml": `- macro: spawned
  condition: evt.type = execveat
`,
  });
  assert.deepEqual(msgs(r), []);
  assert.deepEqual(matches(r, { "proc.name": "zsh" }, "execveat"), ["R"]);
  assert.deepEqual(matches(r, { "proc.name": "zsh" }, "execve"), []); // redefined in b.yaml
  assert.equal(r.compiled[0]?.eventTypes.names.has("execveat"), true);
});

test("redefinition in a later file replaces the rule in place", () => {
  const r = load({
    "a.yaml": rule("A", "evt.type = execve") + rule("B", "evt.type = execve"),
    "b.yaml": rule("A", "evt.type = execve and proc.name = x"),
  });
  assert.deepEqual(msgs(r), []);
  assert.deepEqual(
    r.rules.map((x) => x.name),
    ["A", "B"],
  );
  assert.deepEqual(matches(r, { "proc.name": "y" }), ["B"]);
  assert.deepEqual(matches(r, { "proc.name": "x" }), ["A"]);
});

test("deprecated append: true on lists, macros and rules (with a warning)", () => {
  const r = load({
    "a.yaml": `- list: l
  items: [a]
- macro: m
  condition: proc.name in (l)
${rule("R", "evt.type = execve and m")}`,
    "b.yaml": `- list: l
  items: [b]
  append: true
- macro: m
  condition: or proc.name = c
  append: true
- rule: R
  condition: and not proc.pname = p
  append: true
`,
  });
  assert.deepEqual(msgs(r), [
    "b.yaml:3:3: warning: 'append' is deprecated; use 'override' (list 'l')",
    "b.yaml:6:3: warning: 'append' is deprecated; use 'override' (macro 'm')",
    "b.yaml:9:3: warning: 'append' is deprecated; use 'override' (rule 'R')",
  ]);
  assert.equal(cond(r, "R"), "evt.type = execve and m and not proc.pname = p");
  assert.deepEqual(matches(r, { "proc.name": "b" }), ["R"]);
  assert.deepEqual(matches(r, { "proc.name": "c" }), ["R"]);
  assert.deepEqual(matches(r, { "proc.name": "c", "proc.pname": "p" }), []);
});

test("override: append and replace per key", () => {
  const r = load({
    "a.yaml": `- list: l
  items: [a]
- macro: m
  condition: proc.name in (l)
${rule("R", "evt.type = execve and m", "  tags: [t1]\n")}`,
    "b.yaml": `- list: l
  items: [b]
  override:
    items: append
- rule: R
  condition: and proc.pname = p
  priority: error
  tags: [t2]
  enabled: true
  override:
    condition: append
    priority: replace
    tags: append
    enabled: replace
- macro: m
  condition: proc.name = z
  override:
    condition: replace
`,
  });
  assert.deepEqual(msgs(r), []);
  const R = r.compiled[0];
  assert.equal(R?.priority, "Error");
  assert.deepEqual(R?.tags, ["t1", "t2"]);
  assert.deepEqual(matches(r, { "proc.name": "z", "proc.pname": "p" }), ["R"]);
  assert.deepEqual(matches(r, { "proc.name": "a", "proc.pname": "p" }), []);
});

test("append or override before the definition is an error; a later redefinition drops earlier appends", () => {
  const r = load({
    "a.yaml": `- rule: R
  condition: and proc.name = x
  override:
    condition: append
${rule("R", "evt.type = execve")}
- rule: R
  condition: and proc.name = y
  override:
    condition: append
${rule("R", "evt.type = execve and proc.pname = q")}`,
  });
  assert.deepEqual(msgs(r), [
    "a.yaml:1:9: error: rule 'R' has 'append' or an override but no rule by that name is defined before it",
  ]);
  assert.equal(cond(r, "R"), "evt.type = execve and proc.pname = q");
  const l = load({ "l.yaml": "- list: l\n  items: [a]\n  override:\n    items: append\n" });
  assert.deepEqual(msgs(l), [
    "l.yaml:1:9: error: list 'l' has 'append' or an override but no list by that name is defined before it",
  ]);
});

test("override validation: keys must match, modes must be allowed", () => {
  const base = rule("R", "evt.type = execve");
  const r = load({
    "a.yaml": `${base}- rule: R
  condition: and proc.name = x
  output: more
  override:
    condition: append
- rule: R
  override:
    desc: append
- rule: R
  priority: info
  override:
    priority: append
- rule: R
  append: true
  condition: x
  override:
    condition: append
`,
  });
  assert.deepEqual(msgs(r), [
    "a.yaml:8:3: error: rule 'R': key 'output' is not listed in 'override'",
    "a.yaml:13:5: error: rule 'R': override of 'desc' but the item has no 'desc' key",
    "a.yaml:17:5: error: rule 'R': key 'priority' cannot be overridden with 'append'",
    "a.yaml:21:3: error: rule 'R': 'append' and 'override' cannot be used together",
  ]);
});

test("an item with only rule and enabled toggles an existing rule", () => {
  const r = load({
    "a.yaml": rule("R", "evt.type = execve"),
    "b.yaml": "- rule: R\n  enabled: false\n- rule: Nope\n  enabled: false\n",
  });
  assert.deepEqual(msgs(r), [
    "b.yaml:3:9: error: rule 'Nope' has only 'enabled' but no rule by that name is defined before it",
  ]);
  assert.equal(r.rules[0]?.enabled, false);
  assert.deepEqual(matches(r, {}), []);
});

test("exceptions compile to and not (...): tuples, single field, list values, comps", () => {
  const r = load({
    "a.yaml": rule(
      "R",
      "evt.type = execve",
      `  exceptions:
    - name: by_pair
      fields: [proc.name, proc.pname]
      comps: [=, in]
      values:
        - [a, [p1, p2]]
        - [b, pp_list]
    - name: by_name
      fields: proc.name
      values: [c, d]
    - name: by_prefix
      fields: [fd.name]
      comps: [startswith]
      values: [[/tmp/]]
    - name: empty
      fields: [proc.name]
      values: []
- list: pp_list
  items: [q]
`,
    ),
  });
  assert.deepEqual(msgs(r), []);
  assert.equal(
    cond(r, "R"),
    "evt.type = execve and not (proc.name = a and proc.pname in (p1, p2) or proc.name = b and proc.pname in (pp_list)) and not proc.name in (c, d) and not fd.name startswith /tmp/",
  );
  assert.deepEqual(matches(r, { "proc.name": "a", "proc.pname": "p2" }), []);
  assert.deepEqual(matches(r, { "proc.name": "a", "proc.pname": "x" }), ["R"]);
  assert.deepEqual(matches(r, { "proc.name": "b", "proc.pname": "q" }), []);
  assert.deepEqual(matches(r, { "proc.name": "d" }), []);
  assert.deepEqual(matches(r, { "proc.name": "e", "fd.name": "/tmp/x" }), []);
  assert.deepEqual(matches(r, { "proc.name": "e", "fd.name": "/etc/x" }), ["R"]);
});

test("exceptions appended by override add values to an exception with the same name", () => {
  const r = load({
    "a.yaml": rule(
      "R",
      "evt.type = execve",
      `  exceptions:
    - name: names
      fields: [proc.name]
      values: [[a]]
`,
    ),
    "b.yaml": `- rule: R
  exceptions:
    - name: names
      values: [[b]]
    - name: dirs
      fields: proc.cwd
      comps: pmatch
      values: [/srv]
  override:
    exceptions: append
`,
  });
  assert.deepEqual(msgs(r), []);
  assert.deepEqual(matches(r, { "proc.name": "b" }), []);
  assert.deepEqual(matches(r, { "proc.name": "c", "proc.cwd": "/srv/app" }), []);
  assert.deepEqual(matches(r, { "proc.name": "c", "proc.cwd": "/home" }), ["R"]);
});

test("priorities: case-insensitive, INFO alias, the 8 names", () => {
  const names = [
    "EMERGENCY",
    "alert",
    "Critical",
    "ERROR",
    "warning",
    "NOTICE",
    "INFO",
    "informational",
    "debug",
  ];
  const text = names.map((p, i) => rule(`R${i}`, "evt.type = execve").replace("WARNING", p)).join("");
  const r = load({ "p.yaml": text });
  assert.deepEqual(msgs(r), []);
  assert.deepEqual(
    r.compiled.map((c) => c.priority),
    [
      "Emergency",
      "Alert",
      "Critical",
      "Error",
      "Warning",
      "Notice",
      "Informational",
      "Informational",
      "Debug",
    ],
  );
  const min = load({ "p.yaml": text }, { minPriority: "Warning" });
  assert.equal(min.ruleset.rules.length, 5);
});

test("required_engine_version and required_plugin_versions", () => {
  const r = load({
    "a.yaml": `- required_engine_version: 0.57.0
- required_engine_version: 99.0.0
- required_plugin_versions:
    - name: container
      version: 0.4.0
    - name: k8saudit
      version: 0.1.0
    - name: json
      version: 0.1.0
      alternatives:
        - name: container
          version: 0.1.0
`,
  });
  assert.deepEqual(msgs(r), [
    "a.yaml:2:28: error: rules require engine version 99.0.0, Lanner implements engine version 0.62.0",
    "a.yaml:6:13: warning: plugin 'k8saudit' is not available: Lanner provides syscall, container and k8s fields natively; rules using this plugin's fields or source will not load",
  ]);
});

test("unknown sources are skipped with a warning", () => {
  const r = load({ "a.yaml": rule("K", "ka.verb = create", "  source: k8s_audit\n") });
  assert.deepEqual(msgs(r), [
    "a.yaml:1:9: warning: rule 'K' has source 'k8s_audit', which Lanner does not provide; rule skipped",
  ]);
  assert.equal(r.errors, 0);
});

test("skip-if-unknown-filter", () => {
  const r = load({
    "a.yaml": rule("S", "evt.type = execve and proc.future_field = 1", "  skip-if-unknown-filter: true\n"),
  });
  assert.deepEqual(msgs(r), [
    "a.yaml:3:14: warning: rule 'S' skipped: its condition uses a field Lanner does not know (skip-if-unknown-filter)",
  ]);
  assert.equal(r.ruleset.rules.length, 0);
});

test("rules that can match every event type warn unless warn_evttypes: false", () => {
  const r = load({
    "a.yaml":
      rule("Broad", "proc.name = x") +
      rule("Quiet", "proc.name = y", "  warn_evttypes: false\n") +
      rule("Neg", "evt.type != execve"),
  });
  assert.deepEqual(msgs(r), [
    "a.yaml:3:14: warning: rule 'Broad' matches every event type: add an evt.type condition (or warn_evttypes: false); it will be evaluated for every event",
    "a.yaml:14:14: warning: rule 'Neg' matches all except {execve} event types: add an evt.type condition (or warn_evttypes: false); it will be evaluated for every event",
  ]);
  assert.deepEqual(r.ruleset.eventTypes(), { all: true, names: [] });
});

test("rule_matching first and all, evttype index", () => {
  const text =
    rule("A", "evt.type = execve and proc.name = x") +
    rule("B", "evt.type in (execve, openat)") +
    rule("C", "evt.type = openat");
  const first = load({ "a.yaml": text });
  assert.deepEqual(matches(first, { "proc.name": "x" }), ["A"]);
  assert.deepEqual(matches(first, {}, "openat"), ["B"]);
  const all = load({ "a.yaml": text }, { ruleMatching: "all" });
  assert.deepEqual(matches(all, { "proc.name": "x" }), ["A", "B"]);
  assert.deepEqual(matches(all, {}, "openat"), ["B", "C"]);
  assert.deepEqual(
    all.ruleset.rulesFor("openat").map((x) => x.name),
    ["B", "C"],
  );
  assert.deepEqual(all.ruleset.rulesFor("close"), []);
  assert.deepEqual(all.ruleset.eventTypes(), { all: false, names: ["execve", "openat"] });
  const noIndex = load({ "a.yaml": text }, { ruleMatching: "all", useIndex: false });
  assert.deepEqual(matches(noIndex, {}, "openat"), ["B", "C"]);
});

test("disabled rules are checked but not matched", () => {
  const r = load({
    "a.yaml":
      rule("D", "evt.type = execve and proc.nme = x", "  enabled: false\n") +
      rule("E", "evt.type = execve", "  enabled: false\n"),
  });
  assert.deepEqual(msgs(r), ["a.yaml:3:36: error: unknown field 'proc.nme'"]);
  assert.equal(r.ruleset.rules.length, 0);
  assert.equal(r.compiled.length, 1);
});

test("macros referring to themselves are an error, not a hang", () => {
  const r = load({
    "a.yaml": `- macro: a
  condition: b
- macro: b
  condition: a
${rule("R", "evt.type = execve and a")}`,
  });
  assert.deepEqual(msgs(r), ["a.yaml:4:14: error: macro 'a' refers to itself (a -> b -> a)"]);
});

test("shared macros are evaluated once per event but never reused across events", () => {
  const r = load(
    {
      "a.yaml": `- macro: shell_in_dir
  condition: proc.name = sh and proc.cwd = /tmp
${rule("A", "evt.type = execve and shell_in_dir and user.uid = 0")}${rule("B", "evt.type in (execve, openat) and shell_in_dir")}`,
    },
    { ruleMatching: "all" },
  );
  assert.deepEqual(msgs(r), []);
  const hit = { "proc.name": "sh", "proc.cwd": "/tmp", "user.uid": 0 };
  const miss = { "proc.name": "sh", "proc.cwd": "/home", "user.uid": 0 };
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(matches(r, hit), ["A", "B"]);
    assert.deepEqual(matches(r, miss), []);
    assert.deepEqual(matches(r, hit, "openat"), ["B"]);
  }
  const A = r.compiled[0];
  assert.ok(A);
  assert.equal(A.condition(hit, "execve"), true);
  assert.equal(A.condition(miss, "execve"), false);
});

test("per-type specialisation decides evt.type checks inside the condition", () => {
  const r = load(
    {
      "a.yaml": rule(
        "R",
        "evt.type in (execve, openat) and ((evt.type = execve and proc.name = a) or (evt.type = openat and fd.name = /x))",
      ),
    },
    { ruleMatching: "all" },
  );
  assert.deepEqual(matches(r, { "proc.name": "a" }, "execve"), ["R"]);
  assert.deepEqual(matches(r, { "proc.name": "a" }, "openat"), []);
  assert.deepEqual(matches(r, { "fd.name": "/x" }, "openat"), ["R"]);
  assert.deepEqual(matches(r, { "fd.name": "/x" }, "execve"), []);
});

test("nothing already accepted is lost: broken redefinitions and overrides keep the earlier definition", () => {
  const r = load({
    "a.yaml": `- macro: m
  condition: proc.name = a
${rule("R", "evt.type = execve and m")}`,
    "b.yaml": `- macro: m
  condition: proc.name = (
- macro: m
  condition: and
  override:
    condition: append
${rule("R", "evt.type = execve and proc.name = 'oops")}- rule: R
  condition: and (
  override:
    condition: append
`,
  });
  assert.deepEqual(msgs(r), [
    "b.yaml:2:26: error: macro 'm': expected a value after '=' but found '('",
    "b.yaml:4:17: error: macro 'm': expected a field, a macro, 'not' or '(' but found end of condition",
    "b.yaml:9:48: error: rule 'R': unterminated string",
    "b.yaml:13:19: error: rule 'R': expected a field, a macro, 'not' or '(' but found end of condition",
  ]);
  assert.equal(r.errors, 4);
  assert.deepEqual(matches(r, { "proc.name": "a" }), ["R"]);
});

test("exception fields may use arguments and transformers", () => {
  const r = load({
    "a.yaml": rule(
      "R",
      "evt.type = execve",
      `  exceptions:
    - name: anc
      fields:
        - proc.aname[2]
        - tolower(proc.name)
      values: [[sshd, bash]]
`,
    ),
  });
  assert.deepEqual(msgs(r), []);
  assert.deepEqual(matches(r, { "proc.aname[2]": "sshd", "proc.name": "BASH" }), []);
  assert.deepEqual(matches(r, { "proc.aname[2]": "cron", "proc.name": "BASH" }), ["R"]);
});

test("a filter can use the macros and lists of loaded rules", () => {
  const r = load({
    "a.yaml": "- list: shells\n  items: [sh, bash]\n- macro: shell\n  condition: proc.name in (shells)\n",
  });
  const f = compileFilter("evt.type = execve and shell", {
    fields: RECORDS,
    macros: r.macros,
    lists: r.lists,
  });
  assert.ok(f.ok);
  assert.equal(f.filter.predicate({ "proc.name": "bash" }, "execve"), true);
});
