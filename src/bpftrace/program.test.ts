/**
 * bpftrace program scoping without a kernel: the top-level parser on tricky inputs (division in
 * predicates, strings holding braces, slashes and comment markers, comments everywhere,
 * multi-probe lists, BEGIN mixed in), exact rewrites, exact errors with line:column, the rewrite
 * keeping every line where it was, and each rewritten program accepted by the real bpftrace's
 * parser and semantic checks (`bpftrace -d`, a dry run: nothing is attached).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parseProgram, ProgramError, rewriteProgram, type ProgramScope } from "./program.js";
import { findBpftrace } from "./runner.js";

const SCOPE: ProgramScope = { cgroupIds: [11n, 22n], containerPid: 4242 };
const CG = "cgroup == 11 || cgroup == 22";

function rewrite(src: string, scope: ProgramScope | null = SCOPE): string {
  return rewriteProgram(parseProgram(src), scope).text;
}

function errorOf(src: string, scope: ProgramScope | null = SCOPE): string {
  try {
    rewrite(src, scope);
  } catch (e) {
    if (e instanceof ProgramError) return e.message;
    throw e;
  }
  assert.fail(`no error for ${JSON.stringify(src)}`);
}

/** bpftrace's dry run (-d: parse, semantic analysis, codegen; nothing attached), or why it cannot run. */
const dryRun: { skip: string | null; check(text: string): void } = (() => {
  let bin: string;
  try {
    bin = findBpftrace();
  } catch (e) {
    return { skip: (e as Error).message, check: () => undefined };
  }
  if (process.getuid?.() !== 0) return { skip: "bpftrace -d needs root", check: () => undefined };
  const dir = mkdtempSync(join(tmpdir(), "bpft-program-test-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  return {
    skip: null,
    check(text: string): void {
      const file = join(dir, `p${n++}.bt`);
      writeFileSync(file, text);
      const r = spawnSync(bin, ["-d", file], { encoding: "utf8", timeout: 30_000 });
      const errors = r.stderr.split("\n").filter((l) => l.startsWith(file));
      assert.equal(
        r.status,
        0,
        `bpftrace -d refused:\n${text}\n${errors.join("\n") || r.stderr.slice(-2000)}`,
      );
    },
  };
})();
if (dryRun.skip !== null) console.log(`# SKIP bpftrace -d checks of rewritten programs: ${dryRun.skip}`);

/** The rewrite, checked against `expected` and by bpftrace itself; also with the whitespace changed. */
function same(src: string, expected: string): void {
  const out = rewrite(src);
  assert.equal(out, expected);
  // a final newline may be added (after a // comment that ends the program)
  const added = out.endsWith("\n") && !src.endsWith("\n") ? 1 : 0;
  assert.equal(out.split("\n").length, src.split("\n").length + added, "the rewrite keeps the lines");
  dryRun.check(out);
}

describe("scoping a program to cgroups", () => {
  test("a single probe gets a predicate; one with a predicate keeps it in parentheses", () => {
    same(
      "tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }",
      `tracepoint:syscalls:sys_enter_openat /${CG}/ { @[comm] = count(); }`,
    );
    same(
      "tracepoint:syscalls:sys_enter_openat /pid == 1 || pid == 2/ { @[comm] = count(); }",
      `tracepoint:syscalls:sys_enter_openat /(pid == 1 || pid == 2) && (${CG})/ { @[comm] = count(); }`,
    );
    // no space before '{' or after the probe: the predicate is still separate from the probe
    same(
      "t:syscalls:sys_enter_openat{ @x = count(); }",
      `t:syscalls:sys_enter_openat /${CG}/ { @x = count(); }`,
    );
  });

  test("division in a predicate is not its end", () => {
    same(
      "tracepoint:syscalls:sys_enter_read /pid / 2 == 1 && args->count / 4 > 0/ { @ = count(); }",
      `tracepoint:syscalls:sys_enter_read /(pid / 2 == 1 && args->count / 4 > 0) && (${CG})/ { @ = count(); }`,
    );
    same(
      "t:syscalls:sys_enter_read /(pid / 2) == 1/{ @ = count(); }",
      `t:syscalls:sys_enter_read /((pid / 2) == 1) && (${CG})/{ @ = count(); }`,
    );
  });

  test("strings hold braces, slashes and comment markers; comments go anywhere", () => {
    const src = [
      "/* a { comment } with // and / */",
      "tracepoint:syscalls:sys_enter_openat // after the probe {",
      '/ comm != "a/b{c}" /* why */ / // x',
      '{ printf("}{ /* not a comment */ %s // \\" }\\n", comm); /* } */ }',
    ].join("\n");
    same(
      src,
      [
        "/* a { comment } with // and / */",
        "tracepoint:syscalls:sys_enter_openat // after the probe {",
        `/( comm != "a/b{c}" /* why */ ) && (${CG})/ // x`,
        '{ printf("}{ /* not a comment */ %s // \\" }\\n", comm); /* } */ }',
      ].join("\n"),
    );
  });

  test("a multi-probe list with wildcards is scoped once; nested braces in the body", () => {
    same(
      "tracepoint:syscalls:sys_enter_open*, t:syscalls:sys_enter_read { if (pid > 1) { @[probe] = count(); } }",
      `tracepoint:syscalls:sys_enter_open*, t:syscalls:sys_enter_read /${CG}/ { if (pid > 1) { @[probe] = count(); } }`,
    );
  });

  test("BEGIN, END and interval stay unscoped; a list mixing them in is split on the same line", () => {
    const src = [
      'END { printf("end\\n"); }',
      "BEGIN, tracepoint:syscalls:sys_enter_openat,",
      "  interval:s:1 /1/ { @n = count(); }",
    ].join("\n");
    same(
      src,
      [
        'END { printf("end\\n"); }',
        "       tracepoint:syscalls:sys_enter_openat ",
        `               /(1) && (${CG})/ { @n = count(); } BEGIN, interval:s:1 /1/ { @n = count(); }`,
      ].join("\n"),
    );
    const rw = rewriteProgram(parseProgram(src), SCOPE);
    assert.equal(rw.scopedBlocks, 1);
    assert.equal(rw.splitBlocks, 1);
  });

  test("the copy of a split block is one line: its comments dropped, $container_pid substituted", () => {
    same(
      "t:syscalls:sys_enter_openat, END /pid != $container_pid/ {\n  // hi\n  @[comm] = count(); /* } */\n}",
      `t:syscalls:sys_enter_openat      /(pid != 4242) && (${CG})/ {\n  // hi\n  @[comm] = count(); /* } */\n} END /pid != 4242/ {       @[comm] = count();   }`,
    );
  });

  test("$container_pid is substituted in probes, predicates and bodies, not in strings or comments", () => {
    same(
      'BEGIN { printf("$container_pid=%d\\n", $container_pid); } // $container_pid\n',
      'BEGIN { printf("$container_pid=%d\\n", 4242); } // $container_pid\n',
    );
    // in a uprobe's path (kubectl-trace's example); not checked by bpftrace: no such pid here
    assert.equal(
      rewrite('uretprobe:/proc/$container_pid/exe:"main.f" { printf("%d\\n", retval); }'),
      `uretprobe:/proc/4242/exe:"main.f" /${CG}/ { printf("%d\\n", retval); }`,
    );
    same(
      "t:syscalls:sys_enter_kill /args->pid == $container_pid/ { @ = count(); }",
      `t:syscalls:sys_enter_kill /(args->pid == 4242) && (${CG})/ { @ = count(); }`,
    );
  });

  test("#include, #define, struct definitions and config pass through", () => {
    same(
      [
        "#define LIMIT 10",
        "struct foo { int a; struct { int b; } c; };",
        "t:syscalls:sys_enter_openat /pid > LIMIT/ { @ = count(); }",
      ].join("\n"),
      [
        "#define LIMIT 10",
        "struct foo { int a; struct { int b; } c; };",
        `t:syscalls:sys_enter_openat /(pid > LIMIT) && (${CG})/ { @ = count(); }`,
      ].join("\n"),
    );
    // config blocks are bpftrace >= 0.19 (0.17 here refuses them): passed through untouched
    assert.equal(
      rewrite("config = { max_map_keys = 2 }\nt:syscalls:sys_enter_openat { @ = count(); }"),
      `config = { max_map_keys = 2 }\nt:syscalls:sys_enter_openat /${CG}/ { @ = count(); }`,
    );
  });

  test("every task-context probe type and short name is scoped", () => {
    for (const p of [
      "tracepoint:a:b",
      "rawtracepoint:sched_switch",
      "kprobe:vfs_read",
      "kretprobe:vfs_read",
      "uprobe:/bin/sh:main",
      "uretprobe:/bin/sh:main",
      "usdt:/bin/x:p:q",
      "kfunc:vfs_read",
      "kretfunc:vfs_read",
      "software:cpu-clock:100",
      "hardware:cache-misses:1000",
      "profile:hz:99",
      "k:f",
      "kr:f",
      "u:/b:f",
      "ur:/b:f",
      "U:/b:p:q",
      "rt:x",
      "s:faults:1",
      "h:cycles:1",
      "p:ms:1",
      "f:x",
      "fr:x",
    ])
      assert.equal(rewrite(`${p} { @ = 1; }`), `${p} /${CG}/ { @ = 1; }`, p);
    for (const p of ["BEGIN", "END", "interval:s:1", "i:ms:100"])
      assert.equal(rewrite(`${p} { @ = 1; }`), `${p} { @ = 1; }`, p);
  });

  test("the same programs with other whitespace rewrite the same way", () => {
    const a = rewrite("t:syscalls:sys_enter_openat /pid/2==1/{@=count();}");
    assert.equal(a, `t:syscalls:sys_enter_openat /(pid/2==1) && (${CG})/{@=count();}`);
    dryRun.check(a);
    const b = rewrite("\n\n\tt:syscalls:sys_enter_openat\n\t/pid/2==1/\n\t{@=count();}\n");
    assert.equal(b, `\n\n\tt:syscalls:sys_enter_openat\n\t/(pid/2==1) && (${CG})/\n\t{@=count();}\n`);
    dryRun.check(b);
  });

  test("a // comment at the very end gets a newline (bpftrace 0.17 refuses one without)", () => {
    same(
      "t:syscalls:sys_enter_openat { @ = count(); } // end",
      `t:syscalls:sys_enter_openat /${CG}/ { @ = count(); } // end\n`,
    );
  });

  test("without a scope the program is unchanged", () => {
    const src = "BEGIN { } t:syscalls:sys_enter_openat /pid / 2/ { @ = count(); }";
    assert.equal(rewrite(src, null), src);
  });
});

describe("program errors, at the user's line and column", () => {
  const cases: Array<[string, string, (ProgramScope | null)?]> = [
    [
      'BEGIN { printf("%d", $container_id); }',
      "1:22: unknown variable $container_id (Lanner provides $container_pid)",
    ],
    [
      "BEGIN {\n  print($container_pid);\n}",
      "2:9: $container_pid needs --pod (the container whose pid it is)",
      null,
    ],
    ["t:syscalls:sys_enter_openat /pid == 1 { }", "1:29: predicate is not closed with '/' before '{'"],
    ["t:syscalls:sys_enter_openat { @ = count(); ", "1:29: '{' is not closed"],
    ["/* x", "1:1: unterminated comment '/*'"],
    ['BEGIN { printf("x); }', "1:16: unterminated string"],
    ["bogus:x { }", "1:1: unknown probe type 'bogus' in 'bogus:x'"],
    ["tracepoint { }", "1:1: probe 'tracepoint' needs a target ('tracepoint:...')"],
    ["t:a:b", "1:6: expected '{' after probe 't:a:b', found end of program"],
    ["t:a:b,\n  { }", "2:3: expected a probe, found '{'"],
    ["t:a:b // {\n", "2:1: expected '{' after probe 't:a:b', found end of program"],
    ["iter:task { }", "1:1: 'iter:task' runs outside any task's context and cannot be scoped to a pod"],
    ["t:a:b // x\n  // y\n  / / { }", "3:3: empty predicate"],
    ["struct x { int a; }", "1:1: definition is not ended with ';'"],
    ["BEGIN { } #include <x.h>", "1:11: '#' must start a line"],
  ];
  for (const [src, msg, scope] of cases)
    test(JSON.stringify(src), () => assert.equal(errorOf(src, scope === undefined ? SCOPE : scope), msg));

  test("a '/' right after a probe's name is part of it, as bpftrace 0.17 reads it", () => {
    assert.equal(
      errorOf("t:syscalls:sys_enter_openat/pid == 1/ { }"),
      "1:33: expected '{' after probe 't:syscalls:sys_enter_openat/pid', found '='",
    );
  });

  test("an iter probe is fine without a scope", () => {
    assert.equal(rewrite("iter:task { }", null), "iter:task { }");
  });
});

describe("positions in the rewritten program map back to the user's", () => {
  test("columns after an inserted predicate are the user's", () => {
    const src = "BEGIN { }\nt:syscalls:sys_enter_openat /pid == 1/ { @x = nosuch(); }";
    const rw = rewriteProgram(parseProgram(src), SCOPE);
    const out = rw.text.split("\n")[1] as string;
    const col = out.indexOf("nosuch") + 1;
    const line2 = src.split("\n")[1] as string;
    assert.deepEqual(rw.originalPosition(2, col), { line: 2, col: line2.indexOf("nosuch") + 1 });
    // a position inside the inserted text is where it was inserted: the predicate's closing '/'
    const inCg = out.indexOf("cgroup") + 1;
    assert.deepEqual(rw.originalPosition(2, inCg), { line: 2, col: line2.indexOf("1/") + 2 });
    assert.equal(rw.originalLine(2), line2);
  });
});
