import assert from "node:assert/strict";
import { test } from "node:test";
import { exprText } from "./ast.js";
import { MAX_DEPTH, parseCondition } from "./parser.js";

function ok(text: string): string {
  const r = parseCondition(text);
  if (!r.ok) assert.fail(`parse failed for ${JSON.stringify(text)}: ${r.error.offset}: ${r.error.message}`);
  return exprText(r.expr);
}

function bad(text: string): string {
  const r = parseCondition(text);
  if (r.ok) assert.fail(`expected an error for ${JSON.stringify(text)}`);
  return `${r.error.offset + 1}: ${r.error.message}`;
}

/** [input, normalised output] */
const ACCEPT: readonly [string, string][] = [
  ["proc.name = bash", "proc.name = bash"],
  ["proc.name=bash", "proc.name = bash"],
  ["proc.name == bash", "proc.name == bash"],
  ["proc.name != bash", "proc.name != bash"],
  ["fd.num < 3", "fd.num < 3"],
  ["fd.num<=3", "fd.num <= 3"],
  ["fd.num>3", "fd.num > 3"],
  ["fd.num >= -1", "fd.num >= -1"],
  ["proc.cmdline contains curl", "proc.cmdline contains curl"],
  ["proc.cmdline icontains CURL", "proc.cmdline icontains CURL"],
  ["evt.buffer bcontains cafebabe", "evt.buffer bcontains cafebabe"],
  ["fd.name startswith /etc", "fd.name startswith /etc"],
  ["evt.buffer bstartswith 7f454c46", "evt.buffer bstartswith 7f454c46"],
  ["fd.name endswith .conf", "fd.name endswith .conf"],
  ["fd.name glob '/home/*/.ssh/*'", 'fd.name glob "/home/*/.ssh/*"'],
  ["fd.name iglob '*.PEM'", 'fd.name iglob "*.PEM"'],
  ["proc.name regex 'ba.h'", 'proc.name regex "ba.h"'],
  ["proc.name in (bash, sh, 'zsh')", 'proc.name in (bash, sh, "zsh")'],
  ["proc.name in ()", "proc.name in ()"],
  ["proc.name in shell_binaries", "proc.name in shell_binaries"],
  ["proc.name in (shell_binaries, (a, b))", "proc.name in (shell_binaries, (a, b))"],
  ["proc.args intersects (-V, -l)", "proc.args intersects (-V, -l)"],
  ["fd.name pmatch (/etc, /usr/lib)", "fd.name pmatch (/etc, /usr/lib)"],
  ["proc.pname exists", "proc.pname exists"],
  ["proc.name startswith oneof (ba, z)", "proc.name startswith oneof (ba, z)"],
  ["proc.cmdline contains allof (a, b)", "proc.cmdline contains allof (a, b)"],
  ["proc.name = anyof (a, b)", "proc.name = anyof (a, b)"],
  ["proc.name = oneof", "proc.name = oneof"], // a bare value named oneof
  ["tolower(proc.name) = bash", "tolower(proc.name) = bash"],
  ["toupper(proc.name) = BASH", "toupper(proc.name) = BASH"],
  ["b64(proc.args) contains x", "b64(proc.args) contains x"],
  ["basename(proc.exepath) = sh", "basename(proc.exepath) = sh"],
  ["len(proc.args) > 3", "len(proc.args) > 3"],
  ["tolower(basename(proc.exepath)) = sh", "tolower(basename(proc.exepath)) = sh"],
  ["join(fd.types, ',') contains ipv4", 'join(fd.types, ",") contains ipv4'],
  ["concat(proc.name, ':', user.name) = 'sh:root'", 'concat(proc.name, ":", user.name) = "sh:root"'],
  ["getopt(proc.args, 'c') exists", 'getopt(proc.args, "c") exists'],
  ["proc.name = val(proc.pname)", "proc.name = val(proc.pname)"],
  ["fd.num > val(proc.pid)", "fd.num > val(proc.pid)"],
  ["proc.aname[2] = sshd", "proc.aname[2] = sshd"],
  ["evt.arg[0] = 3", "evt.arg[0] = 3"],
  ["evt.arg.flags contains O_CREAT", "evt.arg.flags contains O_CREAT"],
  ["k8s.pod.label[app] = web", "k8s.pod.label[app] = web"],
  ["container.label.io.kubernetes.pod.name = x", "container.label.io.kubernetes.pod.name = x"],
  ["container.mount.dest[/proc*] != N/A", "container.mount.dest[/proc*] != N/A"],
  ["proc.pname in (runc:[0:PARENT], runc:[1:CHILD])", "proc.pname in (runc:[0:PARENT], runc:[1:CHILD])"],
  ["evt.dir = <", "evt.dir = <"],
  ["proc.name = 'with space'", 'proc.name = "with space"'],
  ['proc.name = "quote\\"inside"', 'proc.name = "quote\\"inside"'],
  ["my_macro", "my_macro"],
  ["not my_macro", "not my_macro"],
  ["not not my_macro", "not not my_macro"],
  ["not(a)", "not a"],
  ["((a))", "a"],
  ["a and b", "a and b"],
  ["a or b", "a or b"],
  ["a and b or c", "a and b or c"],
  ["a or b and c", "a or b and c"],
  ["(a or b) and c", "(a or b) and c"],
  ["not a and b", "not a and b"],
  ["not (a and b)", "not (a and b)"],
  ["not a or b", "not a or b"],
  ["evt.type in (open,openat)and proc.name=x", "evt.type in (open, openat) and proc.name = x"],
  ["a and\nb", "a and b"],
];

test("accept table", () => {
  for (const [input, expected] of ACCEPT) assert.equal(ok(input), expected, input);
});

test("accept table re-tried with extra whitespace", () => {
  for (const [input, expected] of ACCEPT) {
    const spaced = "  \n\t" + input.replace(/ /g, "  \t ").replace(/\(/g, "( ").replace(/\)/g, " )") + " \n ";
    // spacing inside quoted strings changes their value; only compare the structure there
    if (/['"]/.test(input)) {
      assert.ok(parseCondition(spaced).ok, spaced);
      continue;
    }
    assert.equal(ok(spaced), expected, JSON.stringify(spaced));
  }
});

test("precedence: not > and > or", () => {
  const r = parseCondition("a or b and not c");
  assert.ok(r.ok);
  assert.equal(r.expr.kind, "or");
  if (r.expr.kind !== "or") return;
  const and = r.expr.items[1];
  assert.equal(and?.kind, "and");
  if (and?.kind !== "and") return;
  assert.equal(and.items[1]?.kind, "not");
  const r2 = parseCondition("not a and b");
  assert.ok(r2.ok && r2.expr.kind === "and");
});

test("nodes carry positions", () => {
  const r = parseCondition("  proc.name = bash and fd.num > 3");
  assert.ok(r.ok && r.expr.kind === "and");
  if (!r.ok || r.expr.kind !== "and") return;
  const c = r.expr.items[1];
  assert.ok(c?.kind === "check");
  if (c?.kind !== "check") return;
  assert.equal(c.start, 23);
  assert.equal(c.opStart, 30);
  assert.equal(c.lhs.start, 23);
  assert.equal(c.lhs.end, 29);
  assert.equal(c.rhs?.start, 32);
  assert.equal(c.end, 33);
});

/** [input, "col: message"] — columns are 1-based */
const REJECT: readonly [string, string][] = [
  ["", "1: empty condition"],
  ["   ", "4: empty condition"],
  ["proc.name", "10: expected an operator after 'proc.name' but found end of condition"],
  ["proc.name =", "12: expected a value after '=' but found end of condition"],
  ["proc.name = )", "13: expected a value after '=' but found ')'"],
  ["proc.name = (a, b)", "13: expected a value after '=' but found '('"],
  ["proc.name foo bar", "11: unknown operator 'foo'"],
  ["proc.name in", "13: expected '(' or a list name after 'in' but found end of condition"],
  ["proc.name in 'x'", "14: expected '(' or a list name after 'in' but found string 'x'"],
  ["proc.name in (a, b,)", "20: expected a list item after ',' but found ')'"],
  ["proc.name in (a,, b)", "17: expected a list item after ',' but found ','"],
  ["proc.name in (a b)", "17: expected ',' or ')' in list but found 'b'"],
  ["proc.name in (a, b", "19: expected ',' or ')' in list but found end of condition"],
  ["(a", "3: expected ')' but found end of condition"],
  ["a)", "2: unbalanced ')'"],
  ["()", "2: expected a field, a macro, 'not' or '(' but found ')'"],
  ["a and", "6: expected a field, a macro, 'not' or '(' but found end of condition"],
  ["a or or b", "6: expected a field, a macro, 'not' or '(' but found 'or'"],
  ["and a", "1: expected a field, a macro, 'not' or '(' but found 'and'"],
  ["not", "4: expected a field, a macro, 'not' or '(' but found end of condition"],
  ["a b", "3: expected 'and', 'or' or end of condition but found 'b'"],
  ["proc.name = a b", "15: expected 'and', 'or' or end of condition but found 'b'"],
  ["foo = bar", "1: 'foo' is not a field name (fields look like 'class.name')"],
  ["proc.name = 'abc", "13: unterminated string"],
  ['proc.name = "abc', "13: unterminated string"],
  ["proc.name in ('a, b)", "15: unterminated string"],
  ["proc.aname[2 = x", "11: unterminated field argument '['"],
  ["proc.name = x and @", "19: unexpected character '@'"],
  ["tolower(proc.name = x", "19: unexpected character '='"],
  ["tolower() = x", "9: expected a field in 'tolower(' but found ')'"],
  ["proc.name = val(proc.pname", "27: expected ')' after 'val(' field but found end of condition"],
  ["proc.name startswith oneof (a,", "31: expected a list item after ',' but found end of condition"],
];

test("reject table: exact messages and columns", () => {
  for (const [input, expected] of REJECT) assert.equal(bad(input), expected, input);
});

test("reject table re-tried with leading whitespace shifts columns", () => {
  for (const [input, expected] of REJECT) {
    if (input.trim() === "") continue;
    const m = /^(\d+): (.*)$/.exec(expected);
    assert.ok(m);
    assert.equal(bad("   " + input), `${Number(m[1]) + 3}: ${m[2]}`, input);
  }
});

test("100 000-deep parentheses are a diagnostic, not a stack overflow", () => {
  const deep = "(".repeat(100_000) + "a" + ")".repeat(100_000);
  assert.equal(bad(deep), `${MAX_DEPTH + 1}: expression nested deeper than ${MAX_DEPTH} levels`);
  const nots = "not ".repeat(100_000) + "a";
  assert.equal(bad(nots), `${MAX_DEPTH * 4 + 1}: expression nested deeper than ${MAX_DEPTH} levels`);
  const lists = "proc.name in " + "(".repeat(100_000);
  assert.equal(bad(lists), `${14 + MAX_DEPTH}: expression nested deeper than ${MAX_DEPTH} levels`);
  const tr = "tolower(".repeat(100_000) + "proc.name" + ")".repeat(100_000) + " = a";
  assert.equal(bad(tr), `${MAX_DEPTH * 8 + 1}: expression nested deeper than ${MAX_DEPTH} levels`);
  // just under the cap parses
  assert.equal(ok("(".repeat(MAX_DEPTH) + "a" + ")".repeat(MAX_DEPTH)), "a");
});

test("long flat chains parse without recursion", () => {
  const chain = Array.from({ length: 20_000 }, (_, i) => `proc.name = p${i}`).join(" or ");
  const r = parseCondition(chain);
  assert.ok(r.ok && r.expr.kind === "or" && r.expr.items.length === 20_000);
});

test("length cap", () => {
  const huge = "proc.name in (" + "a,".repeat(600_000) + "a)";
  assert.equal(bad(huge), "1: condition is longer than 1048576 characters");
});
