// Random conditions never throw and never overflow the stack: every input either compiles
// or yields diagnostics.
import assert from "node:assert/strict";
import { test } from "node:test";
import { compileFilter } from "./filter.js";
import { loadRules } from "./loader.js";
import { RECORDS } from "../../test/helpers/rules.js";

const PIECES = [
  "proc.name",
  "fd.num",
  "fd.sip",
  "evt.type",
  "proc.aname[2]",
  "evt.arg.flags",
  "tolower(",
  "len(",
  "val(",
  "(",
  ")",
  ",",
  "=",
  "!=",
  "<",
  ">=",
  "in",
  "pmatch",
  "contains",
  "glob",
  "regex",
  "exists",
  "oneof",
  "and",
  "or",
  "not",
  "'x'",
  '"y',
  "\\",
  "10.0.0.0/8",
  "-1",
  "0x1f",
  "bash",
  "*",
  "[",
  "]",
  "\n",
  " ",
  "  ",
];

function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

test("random token soup: compileFilter never throws", () => {
  const r = rng(7);
  const ev = ({ "proc.name": "bash", "fd.num": 3, "fd.sip": "10.1.1.1" });
  let compiled = 0;
  for (let i = 0; i < 3000; i++) {
    const n = 1 + Math.floor(r() * 12);
    let s = "";
    for (let k = 0; k < n; k++) s += PIECES[Math.floor(r() * PIECES.length)] + (r() < 0.7 ? " " : "");
    const c = compileFilter(s, { fields: RECORDS });
    if (c.ok) {
      compiled++;
      assert.equal(typeof c.filter.predicate(ev, "execve"), "boolean");
    } else assert.ok(c.diagnostics.length > 0, s);
  }
  assert.ok(compiled > 0);
});

test("random bytes in rules files: the loader never throws", () => {
  const r = rng(11);
  const base =
    "- rule: R\n  desc: d\n  condition: evt.type = execve and proc.name = x\n  output: o %proc.name\n  priority: warning\n";
  for (let i = 0; i < 300; i++) {
    const chars = base.split("");
    const edits = 1 + Math.floor(r() * 4);
    for (let k = 0; k < edits; k++) {
      const at = Math.floor(r() * chars.length);
      chars[at] = String.fromCharCode(32 + Math.floor(r() * 95));
    }
    const res = loadRules([{ name: "f.yaml", text: chars.join("") }], { fields: RECORDS });
    for (const d of res.diagnostics) assert.ok(d.line >= 1 && d.col >= 1);
  }
});
