import assert from "node:assert/strict";
import { test } from "node:test";
import { alertToJson, buildAlert } from "./alert.js";
import { BindContext } from "./binder.js";
import { DiagnosticBag, formatDiagnostic, stringSource } from "./diagnostics.js";
import { loadRules } from "./loader.js";
import { compileOutput, formatRfc3339Nano, formatTimeOfDay, type OutputTemplate } from "./output.js";
import { RECORDS } from "../../test/helpers/rules.js";

function tpl(text: string): OutputTemplate {
  const d = new DiagnosticBag();
  const r = compileOutput(
    text,
    d,
    stringSource("out", text),
    new BindContext(new Map(), new Map(), d, RECORDS),
  );
  if (!r.ok) assert.fail(d.items.map(formatDiagnostic).join("\n"));
  return r.template;
}

function outErr(text: string): string {
  const d = new DiagnosticBag();
  const r = compileOutput(
    text,
    d,
    stringSource("out", text),
    new BindContext(new Map(), new Map(), d, RECORDS),
  );
  assert.equal(r.ok, false);
  return d.items.map(formatDiagnostic).join("\n");
}

const EV = {
  "proc.name": "bash",
  "proc.aname[2]": "sshd",
  "fd.num": 3,
  "user.uid": 0,
  "evt.arg[flags]": "O_RDONLY",
  "k8s.pod.label[app]": "web",
  "proc.tty": 34816,
  "evt.is_open_read": true,
  "fd.types": ["ipv4", "unix"],
};

test("text rendering with <NA> for unknown values", () => {
  const t = tpl("proc=%proc.name parent=%proc.pname anc=%proc.aname[2] fd=%fd.num flags=%evt.arg.flags");
  assert.equal(t.render(EV, "openat"), "proc=bash parent=<NA> anc=sshd fd=3 flags=O_RDONLY");
});

test("%(field), transformers and adjacent punctuation", () => {
  const t = tpl("(%proc.name) %(proc.name)x %toupper(proc.name), app=%k8s.pod.label[app].");
  assert.equal(t.render(EV, "openat"), "(bash) bashx BASH, app=web.");
  assert.equal(tpl("100% sure %evt.type").render(EV, "execve"), "100% sure execve");
  assert.equal(tpl("x %container.info y").render(EV, "execve"), "x  y");
});

test("typed output_fields: numbers as numbers, null for unknown", () => {
  const t = tpl(
    "%proc.name %proc.pname %fd.num %user.uid %proc.tty %evt.is_open_read %fd.types %proc.aname[2]",
  );
  assert.deepEqual(t.values(EV, "openat"), {
    "proc.name": "bash",
    "proc.pname": null,
    "fd.num": 3,
    "user.uid": 0,
    "proc.tty": 34816,
    "evt.is_open_read": true,
    "fd.types": ["ipv4", "unix"],
    "proc.aname[2]": "sshd",
  });
});

test("output errors point into the template", () => {
  assert.equal(outErr("a=%proc.nme b"), "out:1:4: error: unknown field 'proc.nme'");
  assert.equal(outErr("a=%(proc.name b"), "out:1:14: error: in output: expected ')' after '%(' field");
});

test("time formats", () => {
  const ns = 1767268800123456789n; // 2026-01-01T12:00:00.123456789Z
  assert.equal(formatRfc3339Nano(ns), "2026-01-01T12:00:00.123456789Z");
  assert.equal(formatTimeOfDay(ns), "12:00:00.123456789");
});

test("JSON alert shaped like Falco's", () => {
  const yaml = `
- rule: Shell
  desc: d
  condition: evt.type = execve and proc.name = bash
  output: shell %proc.name uid=%user.uid parent=%proc.pname
  priority: NOTICE
  tags: [shell, T1059]
`;
  const r = loadRules([{ name: "t.yaml", text: yaml }], { fields: RECORDS });
  assert.equal(r.errors, 0);
  const rule = r.ruleset.match(EV, "execve")[0];
  assert.ok(rule);
  const a = buildAlert(rule, EV, "execve", { timeNs: 1767268800123456789n, hostname: "node-1" });
  assert.equal(
    alertToJson(a),
    '{"time":"2026-01-01T12:00:00.123456789Z","rule":"Shell","priority":"Notice","source":"syscall",' +
      '"hostname":"node-1","output":"12:00:00.123456789: Notice shell bash uid=0 parent=<NA>",' +
      '"output_fields":{"evt.time":1767268800123456789,"proc.name":"bash","user.uid":0,"proc.pname":null},' +
      '"tags":["shell","T1059"]}',
  );
});
