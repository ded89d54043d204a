import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { rulesFields, rulesList, rulesValidate } from "./rules.js";

function io() {
  const out = { stdout: "", stderr: "" };
  return {
    out,
    io: {
      stdout: (s: string) => {
        out.stdout += s;
      },
      stderr: (s: string) => {
        out.stderr += s;
      },
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), "lanner-rules-"));
const good = join(dir, "good.yaml");
const bad = join(dir, "bad.yaml");
writeFileSync(
  good,
  "- rule: Shell\n  desc: d\n  condition: evt.type = execve and proc.name = sh\n  output: o\n  priority: notice\n  tags: [a, b]\n",
);
writeFileSync(
  bad,
  "- rule: Bad\n  desc: d\n  condition: evt.type = execve and proc.nme = sh\n  output: o\n  priority: notice\n",
);

test("validate: ok exits 0", async () => {
  const t = io();
  assert.equal(await rulesValidate([good], t.io), 0);
  assert.equal(t.out.stderr, "");
  assert.match(t.out.stdout, /^ok: .*1 rules \(1 enabled\)/);
});

test("validate: errors exit 1 and print FILE:LINE:COL", async () => {
  const t = io();
  assert.equal(await rulesValidate([good, bad], t.io), 1);
  assert.equal(t.out.stderr, `${bad}:3:36: error: unknown field 'proc.nme'\n`);
});

test("validate: unreadable file", async () => {
  const t = io();
  const missing = join(dir, "missing.yaml");
  assert.equal(await rulesValidate([missing], t.io), 1);
  assert.equal(t.out.stderr, `${missing}:1:1: error: cannot read rules file: ENOENT\n`);
});

test("list shows priority, source, enabled, tags", async () => {
  const t = io();
  assert.equal(await rulesList([good], t.io), 0);
  assert.deepEqual(t.out.stdout.split("\n").slice(0, 2), [
    "RULE   PRIORITY  SOURCE   ENABLED  TAGS",
    "Shell  Notice    syscall  true     a,b",
  ]);
  const j = io();
  await rulesList([good], j.io, true);
  assert.deepEqual(JSON.parse(j.out.stdout)[0].priority, "Notice");
});

test("fields, text and JSON", async () => {
  const t = io();
  assert.equal(await rulesFields(false, t.io), 0);
  assert.match(t.out.stdout, /^proc\.name +string +Process name/m);
  const j = io();
  await rulesFields(true, j.io);
  const rows = JSON.parse(j.out.stdout) as { name: string; type: string }[];
  assert.ok(rows.some((r) => r.name === "fd.sip" && r.type === "ipaddr"));
});
