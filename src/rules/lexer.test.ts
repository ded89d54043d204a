import assert from "node:assert/strict";
import { test } from "node:test";
import { Lexer, LexError } from "./lexer.js";

function exprTokens(text: string): string[] {
  const lx = new Lexer(text);
  const out: string[] = [];
  for (;;) {
    const t = lx.nextExpr();
    if (t.kind === "eof") return out;
    out.push(`${t.kind}:${t.value}${t.arg ? `[${t.arg.text}]` : ""}@${t.start}-${t.end}`);
  }
}

test("expression tokens carry positions", () => {
  assert.deepEqual(exprTokens("(proc.name and not x)"), [
    "lparen:(@0-1",
    "word:proc.name@1-10",
    "word:and@11-14",
    "word:not@15-18",
    "word:x@19-20",
    "rparen:)@20-21",
  ]);
});

test("field arguments: index, key, path glob, dotted keys", () => {
  assert.deepEqual(exprTokens("proc.aname[2]"), ["word:proc.aname[2]@0-13"]);
  assert.deepEqual(exprTokens("container.mount.dest[/proc*]"), ["word:container.mount.dest[/proc*]@0-28"]);
  assert.deepEqual(exprTokens("k8s.pod.label[app.kubernetes.io/name]"), [
    "word:k8s.pod.label[app.kubernetes.io/name]@0-37",
  ]);
  assert.deepEqual(exprTokens("container.label.io.kubernetes.pod-name"), [
    "word:container.label.io.kubernetes.pod-name@0-38",
  ]);
  assert.deepEqual(exprTokens("evt.arg.flags"), ["word:evt.arg.flags@0-13"]);
});

test("operators, symbolic and word", () => {
  for (const op of ["=", "==", "!=", "<", "<=", ">", ">="]) {
    const lx = new Lexer(`${op}x`);
    const t = lx.nextOperator();
    assert.equal(t.kind, "op");
    assert.equal(t.text, op);
  }
  const lx = new Lexer("  startswith /bin");
  const t = lx.nextOperator();
  assert.equal(t.kind, "word");
  assert.equal(t.text, "startswith");
  assert.equal(t.start, 2);
});

test("bare values stop at whitespace ( ) , = and quotes, but keep < > ! [ ] :", () => {
  const vals = (s: string) => {
    const lx = new Lexer(s);
    const out: string[] = [];
    for (;;) {
      const t = lx.nextValue();
      if (t.kind === "eof") return out;
      out.push(`${t.kind}:${t.value}`);
    }
  };
  assert.deepEqual(vals("(runc:[0:PARENT], <, /usr/bin/*,-1)"), [
    "lparen:(",
    "word:runc:[0:PARENT]",
    "comma:,",
    "word:<",
    "comma:,",
    "word:/usr/bin/*",
    "comma:,",
    "word:-1",
    "rparen:)",
  ]);
});

test("quoted strings and escapes", () => {
  const v = (s: string) => new Lexer(s).nextValue().value;
  assert.equal(v(`"a b"`), "a b");
  assert.equal(v(`'it''`), "it"); // ends at the first closing quote
  assert.equal(v(`"say \\"hi\\""`), 'say "hi"');
  assert.equal(v(`'it\\'s'`), "it's");
  assert.equal(v(`"a\\\\b"`), "a\\b");
  assert.equal(v(`"\\x41\\x42"`), "AB");
  assert.equal(v(`"tab\\there"`), "tab\there");
  assert.equal(v(`"\\d+"`), "\\d+"); // unknown escapes kept for regexes
  const t = new Lexer(`  "x"`).nextValue();
  assert.equal(t.kind, "string");
  assert.equal(t.start, 2);
  assert.equal(t.end, 5);
});

test("lexer errors have offsets", () => {
  const err = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof LexError);
      return `${e.offset}:${e.message}`;
    }
    return "no error";
  };
  assert.equal(
    err(() => new Lexer(`  "abc`).nextValue()),
    "2:unterminated string",
  );
  assert.equal(
    err(() => new Lexer(`"\\xZZ"`).nextValue()),
    "1:invalid escape '\\xZZ': expected two hex digits",
  );
  assert.equal(
    err(() => new Lexer(`proc.aname[2`).nextExpr()),
    "10:unterminated field argument '['",
  );
  assert.equal(
    err(() => new Lexer(`  @x`).nextExpr()),
    "2:unexpected character '@'",
  );
});
