// regex: RE2 syntax and semantics with our own linear-time engine; RE2 itself (re2-wasm,
// a development dependency) is the reference the random tests compare against.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import { formatDiagnostic } from "./diagnostics.js";
import { loadRules } from "./loader.js";
import { compileRe2, MAX_REPEAT } from "./regex.js";
import { RECORDS, condError, evalCond } from "../../test/helpers/rules.js";

function re(pattern: string): (s: string) => boolean {
  const r = compileRe2(pattern);
  if (!r.ok) throw new Error(`${pattern}: ${r.message}`);
  return r.test;
}
function err(pattern: string): string {
  const r = compileRe2(pattern);
  return r.ok ? "compiled" : `${r.offset}: ${r.message}`;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x100000000;
  };
}

interface Re2Like {
  test(s: string): boolean;
}
type Re2Ctor = new (pattern: string, flags: string) => Re2Like;
/** RE2 compiled to WebAssembly, or why it is not there. */
function reference(): Re2Ctor | string {
  try {
    return (createRequire(import.meta.url)("re2-wasm") as { RE2: Re2Ctor }).RE2;
  } catch (e) {
    return `re2-wasm (the reference RE2, a development dependency) is not installed: ${(e as Error).message.split("\n")[0]}`;
  }
}
/** re2-wasm's WebAssembly heap is 16 MiB and never grows: free what the test compiled. */
function free(r: Re2Like): void {
  (r as unknown as { wrapper?: { delete?: () => void } }).wrapper?.delete?.();
}

test("RE2 semantics: full match, flags, classes, escapes, assertions", () => {
  assert.equal(re("ba.h")("bash"), true);
  assert.equal(re("ba")("bash"), false); // the whole value
  assert.equal(re("a|ab")("ab"), true); // not leftmost-first: any way to match all of it
  assert.equal(re("(?i)BASH")("bash"), true);
  assert.equal(re("b(?i)ASH")("bash"), true);
  assert.equal(re("b(?i:A)sh")("bAsh"), true);
  assert.equal(re("b(?i:A)sh")("bASH"), false);
  assert.equal(re("(?i)k")("\u212a"), true); // Kelvin sign folds to k (Unicode simple folding)
  assert.equal(re("(?i)\\W")("k"), false); // RE2 negates after folding
  assert.equal(re(".")("\n"), false);
  assert.equal(re("(?s).")("\n"), true);
  assert.equal(re("a$")("a\n"), false); // $ is the end of text without (?m)
  assert.equal(re("(?m)a$\\n^b")("a\nb"), true);
  assert.equal(re(".*\\bfoo\\b.*")("a foo b"), true);
  assert.equal(re(".*\\bfoo\\b.*")("afoo"), false);
  assert.equal(re("\\Afoo\\z")("foo"), true);
  assert.equal(re("[[:alpha:]]+")("bash"), true);
  assert.equal(re("[[:^digit:]]+")("ab"), true);
  assert.equal(re("[^\\d\\s]+")("ab"), true);
  assert.equal(re("\\d+")("٣"), false); // \d is ASCII in RE2
  assert.equal(re("\\pL+")("bäsh"), true);
  assert.equal(re("\\p{Greek}+")("αβγ"), true);
  assert.equal(re("\\P{Greek}")("a"), true);
  assert.equal(re("\\x41\\x{42}\\103")("ABC"), true);
  assert.equal(re("\\Q.*\\E")(".*"), true);
  assert.equal(re("\\Q.*\\E")("ab"), false);
  assert.equal(re("(?P<x>b)a(?<y>s)h")("bash"), true);
  assert.equal(re("a{2,3}")("aaa"), true);
  assert.equal(re("a{2,3}")("aaaa"), false);
  assert.equal(re("a{,2}")("a{,2}"), true); // not a repetition: literal, as RE2
  assert.equal(re("a{01}")("a{01}"), true);
  assert.equal(re("(?U)b.*")("bash"), true);
  assert.equal(re("")(""), true);
  assert.equal(re("(|a)+")("aaa"), true);
  assert.equal(re("😀.")("😀😀"), true); // code points
});

test("what RE2 rejects is an error with its offset in the pattern", () => {
  assert.equal(
    err("(a)\\1"),
    "3: invalid regex: invalid escape sequence: \\1 (backreferences are not supported by RE2)",
  );
  assert.equal(
    err("a(?=b)"),
    "1: invalid regex: invalid or unsupported Perl syntax: (?= (lookaround assertions are not supported by RE2)",
  );
  assert.equal(err("ab(c"), "2: invalid regex: missing closing ): this '(' is never closed");
  assert.equal(err("abc)"), "3: invalid regex: unexpected ): the regex has more ')' than '('");
  assert.equal(err("x[a-"), "1: invalid regex: missing closing ]: [a-");
  assert.equal(err("[z-a]"), "1: invalid regex: invalid character class range: z-a");
  assert.equal(err("a**"), "1: invalid regex: bad repetition operator: **");
  assert.equal(err("*a"), "0: invalid regex: missing argument to repetition operator: *");
  assert.equal(
    err(`a{${MAX_REPEAT + 1}}`),
    "1: invalid regex: bad repetition operator: {1001} (counts go up to 1000, and min <= max)",
  );
  assert.equal(err("\\Z"), "0: invalid regex: invalid escape sequence: \\Z");
  assert.equal(err("\\C"), "0: invalid regex: invalid escape sequence: \\C");
  assert.equal(err("ab\\"), "2: invalid regex: trailing backslash at end of regex");
  assert.equal(err("\\p{Klingon}"), "0: invalid regex: invalid character class range: \\p{Klingon}");
  assert.equal(err("[[:foo:]]"), "1: invalid regex: invalid character class range: [:foo:]");
  assert.equal(err("(?P<n>a)(?P<n>b)"), "8: invalid regex: duplicate capture group name: n");
  assert.equal(err("(?i-)a"), "0: invalid regex: invalid or unsupported Perl syntax: (?i-)");
  assert.match(err("((a{100}){100}){100}"), /^0: invalid regex: pattern too large/);
  assert.match(
    err("(".repeat(1001) + ")".repeat(1001)),
    /^1000: invalid regex: regex nested deeper than 1000 levels/,
  );
});

test("a bad regex in a rules file is a positioned diagnostic", () => {
  const text =
    "- rule: R\n  desc: d\n  condition: evt.type = execve and proc.cmdline regex 'curl .*(a'\n  output: o\n  priority: WARNING\n";
  assert.deepEqual(
    loadRules([{ name: "r.yaml", text }], { fields: RECORDS }).diagnostics.map(formatDiagnostic),
    ["r.yaml:3:63: error: invalid regex: missing closing ): this '(' is never closed"],
  );
  assert.equal(
    condError("proc.name regex 'ab\\\\'"),
    "17: invalid regex: trailing backslash at end of regex",
  );
});

test("regression: 100 000 distinct regexes compiled, then 'ab+c' still compiles and matches (re2-wasm's heap filled up after ~4000)", () => {
  const t0 = performance.now();
  for (let i = 0; i < 100_000; i++) {
    const r = compileRe2(`x${i}(a|b)+c[0-9]*`);
    assert.ok(r.ok);
    if (i % 10_000 === 0) assert.equal(r.test(`x${i}abab12`), false);
  }
  const ms = performance.now() - t0;
  const plain = compileRe2("ab+c");
  assert.ok(plain.ok);
  assert.equal(plain.test("abbbc"), true);
  assert.equal(plain.test("ac"), false);
  assert.equal(evalCond("proc.name regex 'ab+c'", { "proc.name": "abc" }), true);
  assert.ok(ms < 60_000, `100 000 compiles took ${ms.toFixed(0)} ms`);
});

test("regression: 'a*a*a*a*b' took 0.5 s on 300 characters and grew polynomially; matching is linear", () => {
  const per = (pattern: string, s: string): number => {
    const t = re(pattern);
    t(s); // warm up: builds the DFA states
    const t0 = performance.now();
    for (let k = 0; k < 5; k++) t(s);
    return (performance.now() - t0) / 5;
  };
  for (const p of ["a*a*a*a*b", "(a|aa)*b", "(a+)+b", "(x+x+)+y", "(.*a){12}"]) {
    const s = (p.includes("x") ? "x" : "a").repeat(30_000);
    const big = per(p, s);
    assert.ok(big < 100, `${p} on 30 000 characters: ${big.toFixed(2)} ms`);
  }
  // a pattern whose DFA is exponential (2^20 states) falls back to bounded state caching
  let s = "";
  const r = rng(5);
  for (let i = 0; i < 3000; i++) s += r() < 0.5 ? "a" : "b";
  const t0 = performance.now();
  re("(a|b)*a(a|b){20}")(s);
  assert.ok(performance.now() - t0 < 2000);
});

test("regression: a 40 000-character regex compiled, then threw 'Regular expression too large' on every event", () => {
  const p = "a[bc]".repeat(8000);
  assert.equal(evalCond(`proc.name regex '${p}'`, { "proc.name": "ab".repeat(8000) }), true);
  assert.equal(evalCond(`proc.name regex '${p}'`, { "proc.name": "ab" }), false);
});

const ATOMS = [
  "a",
  "b",
  "c",
  "A",
  ".",
  "x",
  "_",
  "1",
  "é",
  "k",
  "s",
  "\\d",
  "\\w",
  "\\s",
  "\\D",
  "\\W",
  "\\S",
  "\\.",
  "\\n",
  "[abc]",
  "[^a]",
  "[a-c]",
  "[[:alpha:]]",
  "[[:^digit:]]",
  "[\\d_]",
  "[^\\W\\d]",
  "\\pL",
  "\\p{Greek}",
  "\\PL",
  "[^\\n]",
  "\\x41",
  "\\x{e9}",
  "\\101",
  "[é-ü]",
  "\\Qa.b\\E",
];
const ANCHORS = ["^", "$", "\\b", "\\B", "\\A", "\\z"];
const QUANTS = ["*", "+", "?", "{2}", "{1,3}", "{0,}", "*?", "+?", "??", "{2,}"];
const INPUT = [
  "a",
  "b",
  "c",
  "A",
  "B",
  "x",
  "_",
  "1",
  " ",
  ".",
  "\n",
  "é",
  "ü",
  "K",
  "k",
  "s",
  "ſ",
  "\u212a",
  "α",
  "Ω",
  "-",
];

test("matches RE2 (re2-wasm) on 600 random patterns x 12 values", (t) => {
  const RE2 = reference();
  if (typeof RE2 === "string") {
    t.skip(RE2);
    return;
  }
  const r = rng(17);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)] as T;
  let names = 0;
  const gen = (d: number): string => {
    const k = r();
    if (d > 3 || k < 0.35) return r() < 0.1 ? pick(ANCHORS) : pick(ATOMS);
    if (k < 0.55) return gen(d + 1) + gen(d + 1) + (r() < 0.5 ? gen(d + 1) : "");
    if (k < 0.7) return `${gen(d + 1)}|${gen(d + 1)}`;
    if (k < 0.85) {
      const open = pick(["(", "(?:", "(?i:", "(?s:", "(?m:", "(?-i:", `(?P<n${names++}>`]);
      return `${open}${gen(d + 1)})${r() < 0.5 ? pick(QUANTS) : ""}`;
    }
    return `(?:${gen(d + 1)})${pick(QUANTS)}`;
  };
  const wrong: string[] = [];
  let compared = 0;
  let matched = 0;
  for (let k = 0; k < 600; k++) {
    const p = (r() < 0.15 ? pick(["(?i)", "(?s)", "(?m)", "(?U)"]) : "") + gen(0);
    const mine = compileRe2(p);
    const ref = new RE2(`^(?:${p})$`, "u");
    if (!mine.ok) {
      wrong.push(`${JSON.stringify(p)}: RE2 accepts it, we say ${mine.message}`);
      free(ref);
      continue;
    }
    for (let j = 0; j < 12; j++) {
      let s = "";
      const n = Math.floor(r() * 7);
      for (let i = 0; i < n; i++) s += pick(INPUT);
      const want = ref.test(s);
      compared++;
      if (want) matched++;
      if (mine.test(s) !== want && wrong.length < 10)
        wrong.push(`${JSON.stringify(p)} on ${JSON.stringify(s)}: RE2 says ${want}`);
    }
    free(ref);
  }
  assert.deepEqual(wrong, []);
  assert.ok(matched > 300, `${compared} compared, ${matched} matched`);
});

test("accepts exactly what RE2 accepts on 3000 random token soups", (t) => {
  const RE2 = reference();
  if (typeof RE2 === "string") {
    t.skip(RE2);
    return;
  }
  const r = rng(23);
  const soup = [
    "a",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "*",
    "+",
    "?",
    "|",
    "^",
    "$",
    "\\",
    "-",
    ":",
    ",",
    "1",
    "0",
    "P",
    "<",
    ">",
    "=",
    "!",
    "i",
    "s",
    "d",
    "p",
    "x",
    "E",
    "z",
    "Z",
    "b",
    "8",
    ".",
    "{1000}",
    "{1001}",
    "(?",
    "\\p{",
    "[:",
    ":]",
    "\\Q",
    "\\E",
  ];
  const wrong: string[] = [];
  let rejected = 0;
  for (let k = 0; k < 3000; k++) {
    let p = "";
    const n = 1 + Math.floor(r() * 6);
    for (let i = 0; i < n; i++) p += soup[Math.floor(r() * soup.length)];
    let refOk = true;
    try {
      free(new RE2(p, "u"));
    } catch {
      refOk = false;
    }
    const mine = compileRe2(p);
    if (!mine.ok) rejected++;
    if (mine.ok !== refOk && wrong.length < 10)
      wrong.push(
        `${JSON.stringify(p)}: RE2 ${refOk ? "accepts" : "rejects"}, we ${mine.ok ? "accept" : `reject (${mine.message})`}`,
      );
  }
  assert.deepEqual(wrong, []);
  assert.ok(rejected > 500 && rejected < 2900, `${rejected} of 3000 rejected`);
});
