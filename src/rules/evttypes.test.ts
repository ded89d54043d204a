import assert from "node:assert/strict";
import { test } from "node:test";
import { evtSetToString } from "./evttypes.js";
import { compileFilter } from "./filter.js";
import { parseCondition } from "./parser.js";
import type { MacroEntry } from "./binder.js";
import { RECORDS } from "../../test/helpers/rules.js";

function types(cond: string, macros: Record<string, string> = {}): string {
  const m = new Map<string, MacroEntry>();
  for (const [k, v] of Object.entries(macros)) {
    const r = parseCondition(v);
    assert.ok(r.ok);
    m.set(k, { name: k, expr: r.expr });
  }
  const r = compileFilter(cond, { fields: RECORDS, macros: m });
  assert.ok(r.ok, cond);
  return evtSetToString(r.filter.eventTypes);
}

test("evt.type constraints", () => {
  assert.equal(types("evt.type = execve"), "{execve}");
  assert.equal(types("evt.type in (open, openat, openat2)"), "{open, openat, openat2}");
  assert.equal(types("evt.type != execve"), "all except {execve}");
  assert.equal(types("proc.name = bash"), "all");
});

test("and intersects, or unites", () => {
  assert.equal(types("evt.type in (open, openat) and evt.type in (openat, creat)"), "{openat}");
  assert.equal(types("evt.type = open or evt.type = execve"), "{execve, open}");
  assert.equal(types("evt.type = open and proc.name = x"), "{open}");
  assert.equal(types("evt.type = open or proc.name = x"), "all");
  assert.equal(types("evt.type = open and evt.type = execve"), "{}");
});

test("not is handled soundly", () => {
  assert.equal(types("not evt.type = open"), "all except {open}");
  assert.equal(types("not evt.type != open"), "{open}");
  // can be true for open events when proc.name != x
  assert.equal(types("not (evt.type = open and proc.name = x)"), "all");
  assert.equal(types("not (evt.type = open or evt.type = execve)"), "all except {execve, open}");
  assert.equal(types("evt.type in (open, execve) and not evt.type = open"), "{execve}");
});

test("the never_true idiom (evt.num = 0) matches nothing", () => {
  assert.equal(types("evt.num = 0"), "{}");
  assert.equal(types("proc.name = x and evt.num = 0"), "{}");
  assert.equal(types("not evt.num = 0"), "all");
  assert.equal(types("evt.type = open or evt.num = 0"), "{open}");
});

test("macros are expanded", () => {
  const macros = {
    spawned_process: "evt.type in (execve, execveat)",
    open_read: "evt.type = openat and fd.num >= 0",
  };
  assert.equal(types("spawned_process and proc.name = sh", macros), "{execve, execveat}");
  assert.equal(types("spawned_process or open_read", macros), "{execve, execveat, openat}");
  assert.equal(types("not spawned_process", macros), "all except {execve, execveat}");
});
