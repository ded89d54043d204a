import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { renderFieldsMarkdown } from "./field-docs.js";
import { FIELD_CLASSES, FIELDS, fieldByName, resolveField } from "./fields.js";
import { repoPath } from "./testutil.js";

test("docs/fields.md is up to date (regenerate: node dist/src/rules/field-docs.js --write)", () => {
  const path = repoPath("docs/fields.md");
  assert.ok(existsSync(path), "docs/fields.md is missing");
  assert.equal(readFileSync(path, "utf8"), renderFieldsMarkdown());
});

test("one table: ids are indexes, names unique, classes known", () => {
  const classes = new Set(FIELD_CLASSES.map((c) => c.name));
  const names = new Set<string>();
  FIELDS.forEach((f, i) => {
    assert.equal(f.id, i);
    assert.ok(!names.has(f.name), f.name);
    names.add(f.name);
    assert.ok(classes.has(f.className), f.name);
    assert.ok(f.desc.length > 0, f.name);
  });
});

test("every required class is covered", () => {
  for (const c of ["evt", "proc", "thread", "fd", "fs.path", "user", "group", "container", "k8s"]) {
    assert.ok(
      FIELDS.some((f) => f.className === c),
      c,
    );
  }
});

test("resolution of arguments", () => {
  const r = (n: string, a?: string) => {
    const x = resolveField(n, a);
    return x.ok ? `${x.field.def.name}|${String(x.field.arg)}` : x.message;
  };
  assert.equal(r("proc.aname", "2"), "proc.aname|2");
  assert.equal(r("proc.aname"), "proc.aname|undefined");
  assert.equal(r("evt.arg.flags"), "evt.arg|flags");
  assert.equal(r("evt.arg", "0"), "evt.arg|0");
  assert.equal(r("container.label.io.kubernetes.pod.name"), "container.label|io.kubernetes.pod.name");
  assert.equal(r("k8s.pod.label", "app"), "k8s.pod.label|app");
  assert.equal(r("proc.env", "HOME"), "proc.env|HOME");
  assert.equal(r("fd.types", "0"), "fd.types|0");
  assert.equal(r("evt.arg"), "field 'evt.arg' requires an argument: evt.arg[...]");
  assert.equal(r("nope.x"), "unknown field 'nope.x'");
  assert.equal(fieldByName("fd.sip")?.type, "ipaddr");
  assert.equal(fieldByName("fd.net")?.type, "ipnet");
  assert.equal(fieldByName("fd.sport")?.type, "port");
  assert.equal(fieldByName("evt.time")?.type, "abstime");
});
