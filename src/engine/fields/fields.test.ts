/**
 * The syscall field registry as a table: its doc is current, it covers the classes the
 * product names, and every field's producer runs, never throwing, on events of every kind
 * (the kernel test fields.kernel.test.ts shows each one filled from a real event).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SUPPORTED_SYSCALLS } from "../../decode/syscall-params.js";
import { State } from "../../state/state.js";
import { exec, exit, fork, syscall, tcp4 } from "../../state/test-events.js";
import { contextFor, snapshot } from "../../../test/helpers/fields.js";
import { repoPath } from "../../../test/helpers/rules.js";
import { fieldsMarkdown } from "./docs.js";
import { SYSCALL_FIELDS } from "./index.js";

test("docs/fields.md is up to date (regenerate: node dist/src/engine/fields/docs.js --write)", () => {
  const path = repoPath("docs/fields.md");
  assert.ok(existsSync(path), "docs/fields.md is missing");
  assert.equal(readFileSync(path, "utf8"), fieldsMarkdown());
});

test("every class the product names is produced", () => {
  for (const c of ["evt", "proc", "thread", "fd", "fs.path", "user", "group", "container", "k8s"])
    assert.ok(
      SYSCALL_FIELDS.defs.some((f) => f.className === c),
      c,
    );
});

test("a name is either produced or known as not produced, never both", () => {
  for (const name of SYSCALL_FIELDS.foreign.keys())
    assert.equal(SYSCALL_FIELDS.byName(name), undefined, `${name} is registered and listed as not produced`);
});

test("resolution of Falco's names and arguments", () => {
  const r = (n: string, a?: string) => {
    const x = SYSCALL_FIELDS.resolve(n, a);
    return x.ok ? `${x.field.def.name}|${String(x.field.arg)}` : x.message;
  };
  assert.equal(r("proc.aname", "2"), "proc.aname|2");
  assert.equal(r("proc.aname"), "proc.aname|undefined");
  assert.equal(r("evt.arg.flags"), "evt.arg|flags");
  assert.equal(r("evt.arg", "0"), "evt.arg|0");
  assert.equal(r("container.label.io.kubernetes.pod.name"), "container.label|io.kubernetes.pod.name");
  assert.equal(r("k8s.pod.label", "app"), "k8s.pod.label|app");
  assert.equal(r("k8smeta.pod.label.app"), "k8smeta.pod.label|app");
  assert.equal(r("proc.env", "HOME"), "proc.env|HOME");
  assert.equal(r("fd.types", "0"), "fd.types|0");
  assert.equal(r("thread.cgroup.cpuacct"), "thread.cgroup|cpuacct");
  assert.equal(r("evt.arg"), "field 'evt.arg' requires an argument: evt.arg[...]");
  assert.equal(r("nope.x"), "unknown field 'nope.x'");
  assert.equal(SYSCALL_FIELDS.byName("fd.sip")?.type, "ipaddr");
  assert.equal(SYSCALL_FIELDS.byName("fd.net")?.type, "ipnet");
  assert.equal(SYSCALL_FIELDS.byName("fd.ip")?.filterOnly, true);
});

test("every producer runs on every kind of event, never throwing", () => {
  const dir = mkdtempSync(join(tmpdir(), "lanner-fields-"));
  const s = new State({ procRoot: dir });
  s.apply(exec(100, "/usr/bin/bash", ["bash", "-l"], { ppid: 1, sid: 100 }));
  s.apply(fork(100, 200, { comm: "bash", sid: 100 }));
  s.apply(exec(200, "/usr/bin/cat", ["cat", "/etc/hostname"], { ppid: 100, sid: 100 }));
  s.apply(syscall("socket", 200, { ret: 4, args: [2, 1, 6] }));
  s.apply(syscall("connect", 200, { args: [4], tuple: tcp4("10.0.0.1", 40000, "10.0.0.9", 443) }));
  const ctx = contextFor(s);
  const events = [
    ...[...SUPPORTED_SYSCALLS].map((name) =>
      syscall(name, 200, {
        ret: 3,
        args: [4, 0x41, 2, 0o755, 0, 0],
        paths: [
          [0, "../etc/x"],
          [1, "/tmp/y"],
        ],
        dirs: [[0, "/root"]],
        tuple: tcp4("10.0.0.1", 40000, "10.0.0.9", 443),
      }),
    ),
    ...[...SUPPORTED_SYSCALLS].map((name) => syscall(name, 999, { ret: -2 })),
    fork(100, 300),
    exec(300, "/bin/true", ["true"]),
    exit(300),
  ];
  let values = 0;
  for (const ev of events) {
    const snap = snapshot(ctx, ev);
    values += Object.keys(snap).length;
    for (const d of SYSCALL_FIELDS.defs) {
      // keyed fields with an argument nothing has: unknown, not an exception
      if (d.arg === "key") assert.doesNotThrow(() => d.producer("nope")(ctx, "x"), d.name);
    }
  }
  assert.ok(values > events.length * 20, `only ${values} values over ${events.length} events`);
});
