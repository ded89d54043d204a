/**
 * `regex`: RE2 syntax and semantics (as Falco, which uses RE2), the whole value must match,
 * in time linear in the value. Our own engine, in three steps:
 *
 *  1. parse: RE2's Perl-like syntax (the RE2/Go grammar): literals and escapes (`\n`, `\x41`,
 *     `\x{10FFFF}`, octal `\101`, `\Q...\E`, escaped punctuation), `.`, classes `[a-z]`,
 *     `[^...]`, `[[:alpha:]]`, `[[:^digit:]]`, Perl classes `\d \s \w` and negations,
 *     Unicode classes `\pL`, `\p{Greek}`, `\P{...}`, `\p{^...}`; groups `(re)`, `(?:re)`,
 *     `(?P<name>re)`, `(?<name>re)`; flags `(?imsU)`, `(?i-s:re)`; alternation; repetition
 *     `* + ? {n} {n,} {n,m}` (greedy or lazy: the same for a yes/no full match), counts up
 *     to 1000; assertions `^ $ \A \z \b \B`. What RE2 rejects is rejected here with its
 *     reason and the offset in the pattern: backreferences, lookaround, `\Z`, `\C`,
 *     stacked repetitions (`a**`), bad escapes, unbalanced parentheses, bad ranges.
 *  2. compile to a Thompson NFA (a few instructions per pattern element; patterns whose
 *     repetitions expand beyond MAX_INSTRUCTIONS are rejected: "regex too large").
 *  3. match with a DFA built lazily from the NFA (a DFA state is a set of NFA states), as
 *     RE2 does: each input character costs one table look-up once its transition is known
 *     and at most O(NFA size) the first time. No backtracking, so `a*a*a*a*b` or
 *     `(a|aa)*b` cost the same per character as `abc`. The state cache is bounded
 *     (MAX_DFA_STATES, then flushed), so memory stays bounded too.
 *
 * Characters are code points. Case-insensitive matching `(?i)` uses Unicode simple case
 * folding and `\p{...}` Unicode's tables, both through the JS engine's own `u`-mode
 * character tests on single characters (never on the value as a whole).
 */

import { clipText } from "./diagnostics.js";
import { IndexCache } from "./glob.js";

export type RegexResult =
  | { readonly ok: true; readonly test: (s: string) => boolean }
  | { readonly ok: false; readonly offset: number; readonly message: string };

/** RE2's limit on a repetition count. */
export const MAX_REPEAT = 1000;
/** Nesting of groups (RE2 also caps it at 1000). */
export const MAX_NESTING = 1000;
/** NFA size after expanding repetitions. */
export const MAX_INSTRUCTIONS = 100_000;
/** DFA states kept per regex before the cache is flushed. */
export const MAX_DFA_STATES = 512;

// ------------------------------------------------------------------ character sets

/** One character test, used by a CHAR instruction. */
interface CharSet {
  test(cp: number): boolean;
}

class LiteralSet implements CharSet {
  constructor(readonly cp: number) {}
  test(cp: number): boolean {
    return cp === this.cp;
  }
}

class DotSet implements CharSet {
  constructor(readonly nl: boolean) {}
  test(cp: number): boolean {
    return this.nl || cp !== 10;
  }
}

/**
 * A class, as the source of a one-character JS `u`-mode class (`[...]` or `[^...]`) and
 * flags (`i` for case folding): JS supplies Unicode tables and simple case folding. The
 * RegExp is only built when first needed; ASCII answers are cached.
 */
class JsClassSet implements CharSet {
  private re: RegExp | undefined;
  private readonly ascii = new Int8Array(128).fill(-1);
  constructor(
    readonly source: string,
    readonly fold: boolean,
  ) {}
  regexp(): RegExp {
    return (this.re ??= new RegExp(`^${this.source}$`, this.fold ? "iu" : "u"));
  }
  test(cp: number): boolean {
    if (cp < 128) {
      const a = this.ascii[cp] as number;
      if (a >= 0) return a === 1;
      const r = this.regexp().test(String.fromCharCode(cp));
      this.ascii[cp] = r ? 1 : 0;
      return r;
    }
    return this.regexp().test(String.fromCodePoint(cp));
  }
}

/** `\u{...}` escape of a code point for a JS class body. */
function jsCp(cp: number): string {
  return `\\u{${cp.toString(16)}}`;
}

/** Complement of sorted, non-overlapping inclusive ranges over all code points. */
function complement(ranges: readonly number[]): number[] {
  const out: number[] = [];
  let next = 0;
  for (let k = 0; k < ranges.length; k += 2) {
    const lo = ranges[k] as number;
    const hi = ranges[k + 1] as number;
    if (lo > next) out.push(next, lo - 1);
    next = hi + 1;
  }
  if (next <= 0x10ffff) out.push(next, 0x10ffff);
  return out;
}

function rangesSource(ranges: readonly number[]): string {
  let s = "";
  for (let k = 0; k < ranges.length; k += 2) {
    const lo = ranges[k] as number;
    const hi = ranges[k + 1] as number;
    s += lo === hi ? jsCp(lo) : `${jsCp(lo)}-${jsCp(hi)}`;
  }
  return s;
}

/** Perl classes, RE2's (ASCII) definitions; sorted ranges. */
const PERL_CLASSES: Readonly<Record<string, readonly number[]>> = {
  d: [0x30, 0x39],
  s: [0x09, 0x0a, 0x0c, 0x0d, 0x20, 0x20],
  w: [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a],
};

/** POSIX classes `[:name:]` (ASCII, as RE2); sorted ranges. */
const POSIX_CLASSES: Readonly<Record<string, readonly number[]>> = {
  alnum: [0x30, 0x39, 0x41, 0x5a, 0x61, 0x7a],
  alpha: [0x41, 0x5a, 0x61, 0x7a],
  ascii: [0x00, 0x7f],
  blank: [0x09, 0x09, 0x20, 0x20],
  cntrl: [0x00, 0x1f, 0x7f, 0x7f],
  digit: [0x30, 0x39],
  graph: [0x21, 0x7e],
  lower: [0x61, 0x7a],
  print: [0x20, 0x7e],
  punct: [0x21, 0x2f, 0x3a, 0x40, 0x5b, 0x60, 0x7b, 0x7e],
  space: [0x09, 0x0d, 0x20, 0x20],
  upper: [0x41, 0x5a],
  word: [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a],
  xdigit: [0x30, 0x39, 0x41, 0x46, 0x61, 0x66],
};

// ------------------------------------------------------------------ syntax tree

const enum Assert {
  BeginText,
  EndText,
  BeginLine,
  EndLine,
  WordBoundary,
  NotWordBoundary,
}

type Node =
  | { readonly t: "empty" }
  | { readonly t: "char"; readonly set: CharSet }
  | { readonly t: "cat"; readonly items: readonly Node[] }
  | { readonly t: "alt"; readonly items: readonly Node[] }
  | { readonly t: "rep"; readonly x: Node; readonly min: number; readonly max: number }
  | { readonly t: "assert"; readonly a: Assert };

interface Flags {
  readonly i: boolean;
  readonly m: boolean;
  readonly s: boolean;
}

class RegexSyntaxError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

function isOctal(c: string): boolean {
  return c >= "0" && c <= "7";
}
function isHex(c: string): boolean {
  return /^[0-9A-Fa-f]$/.test(c);
}
function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** May this code point have other case forms? (then a literal under (?i) is a folded class) */
function hasCase(cp: number): boolean {
  return cp >= 128 || (cp >= 65 && cp <= 90) || (cp >= 97 && cp <= 122);
}

class RegexParser {
  private pos = 0;
  private depth = 0;
  private readonly names = new Set<string>();
  private readonly find: IndexCache;

  constructor(private readonly p: string) {
    this.find = new IndexCache(p);
  }

  private fail(offset: number, message: string): never {
    throw new RegexSyntaxError(offset, message);
  }

  parse(): Node {
    const n = this.alternation({ i: false, m: false, s: false });
    if (this.pos < this.p.length) {
      // only an unmatched ')' stops an alternation early
      this.fail(this.pos, "unexpected ): the regex has more ')' than '('");
    }
    return n;
  }

  private literal(cp: number, f: Flags): Node {
    if (f.i && hasCase(cp)) return { t: "char", set: new JsClassSet(`[${jsCp(cp)}]`, true) };
    return { t: "char", set: new LiteralSet(cp) };
  }

  /** alternation = concat { '|' concat }; stops at ')' or the end. Flags set by (?i) last to the end of the group. */
  private alternation(f0: Flags): Node {
    const alts: Node[] = [];
    const flags = { ...f0 };
    for (;;) {
      alts.push(this.concat(flags));
      if (this.p.charAt(this.pos) === "|") {
        this.pos++;
        continue;
      }
      break;
    }
    return alts.length === 1 ? (alts[0] as Node) : { t: "alt", items: alts };
  }

  private concat(flags: { i: boolean; m: boolean; s: boolean }): Node {
    const p = this.p;
    const items: Node[] = [];
    /** Start offset of the last repetition operator, when the last item is one (RE2 forbids stacking them). */
    let lastRepeat = -1;
    while (this.pos < p.length) {
      const c = p.charAt(this.pos);
      if (c === "|" || c === ")") break;
      const start = this.pos;
      if (c === "*" || c === "+" || c === "?" || c === "{") {
        let min = 0;
        let max = -1;
        if (c === "{") {
          const r = this.repeatBraces();
          if (r === undefined) {
            // not a repetition: a literal '{'
            this.pos++;
            items.push(this.literal(123, flags));
            lastRepeat = -1;
            continue;
          }
          min = r.min;
          max = r.max;
        } else {
          this.pos++;
          if (c === "+") min = 1;
          else if (c === "?") max = 1;
        }
        if (p.charAt(this.pos) === "?") this.pos++; // lazy: same language
        const op = p.slice(start, this.pos);
        if (lastRepeat >= 0) {
          this.fail(lastRepeat, `bad repetition operator: ${p.slice(lastRepeat, this.pos)}`);
        }
        const last = items.pop();
        if (last === undefined) this.fail(start, `missing argument to repetition operator: ${op}`);
        if (min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && min > max)) {
          this.fail(start, `bad repetition operator: ${op} (counts go up to ${MAX_REPEAT}, and min <= max)`);
        }
        items.push({ t: "rep", x: last, min, max });
        lastRepeat = start;
        continue;
      }
      lastRepeat = -1;
      if (c === "(") {
        const g = this.group(flags);
        if (g !== undefined) items.push(g);
        continue;
      }
      if (c === "[") {
        items.push(this.charClass(flags));
        continue;
      }
      if (c === ".") {
        this.pos++;
        items.push({ t: "char", set: new DotSet(flags.s) });
        continue;
      }
      if (c === "^") {
        this.pos++;
        items.push({ t: "assert", a: flags.m ? Assert.BeginLine : Assert.BeginText });
        continue;
      }
      if (c === "$") {
        this.pos++;
        items.push({ t: "assert", a: flags.m ? Assert.EndLine : Assert.EndText });
        continue;
      }
      if (c === "\\") {
        const e = p.charAt(this.pos + 1);
        if (e === "A" || e === "z" || e === "b" || e === "B") {
          this.pos += 2;
          const a =
            e === "A"
              ? Assert.BeginText
              : e === "z"
                ? Assert.EndText
                : e === "b"
                  ? Assert.WordBoundary
                  : Assert.NotWordBoundary;
          items.push({ t: "assert", a });
          continue;
        }
        if (e === "Q") {
          this.pos += 2;
          const end = p.indexOf("\\E", this.pos);
          const stop = end < 0 ? p.length : end;
          for (let k = this.pos; k < stop;) {
            const cp = p.codePointAt(k) as number;
            items.push(this.literal(cp, flags));
            k += cp > 0xffff ? 2 : 1;
          }
          this.pos = end < 0 ? p.length : end + 2;
          continue;
        }
        const cls = this.classEscape(flags);
        if (cls !== undefined) {
          items.push({ t: "char", set: cls });
          continue;
        }
        items.push(this.literal(this.escape(), flags));
        continue;
      }
      const cp = p.codePointAt(this.pos) as number;
      this.pos += cp > 0xffff ? 2 : 1;
      items.push(this.literal(cp, flags));
    }
    if (items.length === 0) return { t: "empty" };
    return items.length === 1 ? (items[0] as Node) : { t: "cat", items };
  }

  /**
   * `{n}`, `{n,}`, `{n,m}` at pos; undefined (pos unchanged) when it is not one, as RE2:
   * then `{` is a literal (also for a count with a leading zero, such as `{01}`).
   */
  private repeatBraces(): { min: number; max: number } | undefined {
    const re = /\{(\d+)(?:(,)(\d*))?\}/y;
    re.lastIndex = this.pos;
    const m = re.exec(this.p);
    if (m === null) return undefined;
    const lo = m[1] as string;
    const hi = m[3] ?? "";
    if (/^0\d/.test(lo) || /^0\d/.test(hi)) return undefined;
    const num = (s: string): number => (s.length > 7 ? MAX_REPEAT + 1 : Number(s));
    const min = num(lo);
    const max = m[2] === undefined ? min : hi === "" ? -1 : num(hi);
    this.pos += m[0].length;
    return { min, max };
  }

  /** `(` at pos: a group, or a flag setting `(?i)` (which returns undefined and changes flags). */
  private group(flags: { i: boolean; m: boolean; s: boolean }): Node | undefined {
    const p = this.p;
    const open = this.pos;
    if (++this.depth > MAX_NESTING) this.fail(open, `regex nested deeper than ${MAX_NESTING} levels`);
    this.pos++;
    let inner: Flags = flags;
    if (p.charAt(this.pos) === "?") {
      const rest = p.slice(this.pos + 1, this.pos + 3);
      if (rest.startsWith("P<") || (rest.startsWith("<") && rest !== "<=" && rest !== "<!")) {
        const nameStart = this.pos + (rest.startsWith("P") ? 3 : 2);
        const close = this.find.indexOf(">", nameStart);
        if (close < 0) this.fail(open, `invalid named capture group: ${p.slice(open, open + 20)}`);
        const name = p.slice(nameStart, close);
        if (!/^[A-Za-z0-9_]+$/.test(name))
          this.fail(open, `invalid named capture group: (?${clipText(p.slice(this.pos + 1, close + 1))}`);
        if (this.names.has(name)) this.fail(open, `duplicate capture group name: ${name}`);
        this.names.add(name);
        this.pos = close + 1;
      } else if (/^(=|!|<=|<!)/.test(p.slice(this.pos + 1, this.pos + 3))) {
        const op = /^(=|!|<=|<!)/.exec(p.slice(this.pos + 1, this.pos + 3))?.[0] ?? "";
        this.fail(
          open,
          `invalid or unsupported Perl syntax: (?${op} (lookaround assertions are not supported by RE2)`,
        );
      } else {
        // flags: (?flags) or (?flags:re)
        let k = this.pos + 1;
        let neg = false;
        let sawFlag = false;
        const nf = { ...flags };
        for (;;) {
          const c = p.charAt(k);
          if (c === "i" || c === "m" || c === "s" || c === "U") {
            if (c !== "U") nf[c] = !neg;
            sawFlag = true;
            k++;
          } else if (c === "-" && !neg) {
            neg = true;
            sawFlag = false;
            k++;
          } else if ((c === ":" || c === ")") && (sawFlag || !neg)) {
            break; // (?flags:re), (?flags), and (?:re) or (?) without flags; not (?i-)
          } else {
            this.fail(
              open,
              `invalid or unsupported Perl syntax: ${p.slice(open, Math.min(p.length, k + 1))}`,
            );
          }
        }
        if (p.charAt(k) === ")") {
          // (?flags): for the rest of the current group
          flags.i = nf.i;
          flags.m = nf.m;
          flags.s = nf.s;
          this.pos = k + 1;
          this.depth--;
          return undefined;
        }
        inner = nf;
        this.pos = k + 1;
      }
    }
    const n = this.alternation(inner);
    if (p.charAt(this.pos) !== ")") this.fail(open, "missing closing ): this '(' is never closed");
    this.pos++;
    this.depth--;
    return n;
  }

  /** An escape at pos that is a class (`\d`, `\pL`...), or undefined. */
  private classEscape(f: Flags): CharSet | undefined {
    const r = this.classEscapeItem();
    if (r === undefined) return undefined;
    // a negated class is a JS negated class: under (?i) both negate after folding, as RE2
    return new JsClassSet(`[${r.neg ? "^" : ""}${r.body}]`, f.i);
  }

  /**
   * `\d \D \s \S \w \W \p.. \P..` at pos (consumed): the JS class body of the positive
   * class and whether it is negated; for Perl classes also their ranges.
   */
  private classEscapeItem(): { body: string; neg: boolean; ranges?: readonly number[] } | undefined {
    const p = this.p;
    const e = p.charAt(this.pos + 1);
    if (e === "d" || e === "s" || e === "w" || e === "D" || e === "S" || e === "W") {
      const ranges = PERL_CLASSES[e.toLowerCase()] as readonly number[];
      this.pos += 2;
      return { body: rangesSource(ranges), neg: e !== e.toLowerCase(), ranges };
    }
    if (e === "p" || e === "P") {
      const start = this.pos;
      let name: string;
      if (p.charAt(this.pos + 2) === "{") {
        const close = this.find.indexOf("}", this.pos + 3);
        if (close < 0) this.fail(start, `invalid character class range: ${p.slice(start, start + 20)}`);
        name = p.slice(this.pos + 3, close);
        this.pos = close + 1;
      } else {
        const cp = p.codePointAt(this.pos + 2);
        if (cp === undefined) this.fail(start, "invalid escape sequence: \\" + e);
        name = String.fromCodePoint(cp);
        this.pos += 2 + name.length;
      }
      let neg = e === "P";
      if (name.startsWith("^")) {
        neg = !neg;
        name = name.slice(1);
      }
      const text = p.slice(start, this.pos);
      if (name === "Any") return { body: "\\u{0}-\\u{10ffff}", neg };
      const prop = /^[A-Z][a-z]?$/.test(name) ? name : `Script=${name}`;
      const body = `\\p{${prop}}`;
      try {
        new RegExp(body, "u");
      } catch {
        this.fail(start, `invalid character class range: ${clipText(text)}`);
      }
      return { body, neg };
    }
    return undefined;
  }

  /**
   * The body of a negated ASCII class inside brackets: the complement of the class closed
   * under case folding when (?i) is on (RE2 negates after folding, so (?i)[\W] holds no k).
   */
  private negatedInBrackets(ranges: readonly number[], fold: boolean): string {
    if (!fold) return rangesSource(complement(ranges));
    const cps = new Set<number>();
    for (let k = 0; k < ranges.length; k += 2)
      for (let c = ranges[k] as number; c <= (ranges[k + 1] as number) && c < 128; c++) {
        cps.add(c);
        if (c >= 65 && c <= 90) cps.add(c + 32);
        if (c >= 97 && c <= 122) cps.add(c - 32);
      }
    if (cps.has(0x73)) cps.add(0x17f); // s S ſ
    if (cps.has(0x6b)) cps.add(0x212a); // k K K (Kelvin)
    const sorted = [...cps].sort((a, b) => a - b);
    const closed: number[] = [];
    for (const c of sorted) {
      if (closed.length > 0 && closed[closed.length - 1] === c - 1) closed[closed.length - 1] = c;
      else closed.push(c, c);
    }
    return rangesSource(complement(closed));
  }

  /** A single-character escape at pos (consumed): its code point. */
  private escape(): number {
    const p = this.p;
    const start = this.pos;
    if (start + 1 >= p.length) this.fail(start, "trailing backslash at end of regex");
    const c = p.codePointAt(start + 1) as number;
    const ch = String.fromCodePoint(c);
    this.pos = start + 1 + ch.length;
    if (c < 128 && !isAlnum(c)) return c; // escaped punctuation is itself
    if (ch >= "1" && ch <= "7" && !isOctal(p.charAt(this.pos))) {
      this.fail(start, `invalid escape sequence: \\${ch} (backreferences are not supported by RE2)`);
    }
    if (ch >= "0" && ch <= "7") {
      let v = c - 48;
      for (let k = 0; k < 2 && isOctal(p.charAt(this.pos)); k++) v = v * 8 + (p.charCodeAt(this.pos++) - 48);
      return v;
    }
    if (ch === "x") {
      if (p.charAt(this.pos) === "{") {
        const close = p.indexOf("}", this.pos);
        const hex = close < 0 ? "" : p.slice(this.pos + 1, close);
        if (!/^[0-9A-Fa-f]{1,8}$/.test(hex) || parseInt(hex, 16) > 0x10ffff) {
          this.fail(
            start,
            `invalid escape sequence: ${clipText(p.slice(start, close < 0 ? start + 4 : close + 1))}`,
          );
        }
        this.pos = close + 1;
        return parseInt(hex, 16);
      }
      const a = p.charAt(this.pos);
      const b = p.charAt(this.pos + 1);
      if (!isHex(a) || !isHex(b))
        this.fail(start, `invalid escape sequence: ${p.slice(start, this.pos + 2)}`);
      this.pos += 2;
      return parseInt(a + b, 16);
    }
    switch (ch) {
      case "a":
        return 7;
      case "f":
        return 12;
      case "n":
        return 10;
      case "r":
        return 13;
      case "t":
        return 9;
      case "v":
        return 11;
    }
    this.fail(start, `invalid escape sequence: \\${ch}`);
  }

  /** `[...]` at pos. */
  private charClass(f: Flags): Node {
    const p = this.p;
    const open = this.pos;
    this.pos++;
    let neg = false;
    if (p.charAt(this.pos) === "^") {
      neg = true;
      this.pos++;
    }
    let body = "";
    let first = true;
    for (;;) {
      if (this.pos >= p.length) this.fail(open, `missing closing ]: ${p.slice(open, open + 20)}`);
      const c = p.charAt(this.pos);
      if (c === "]" && !first) {
        this.pos++;
        break;
      }
      first = false;
      if (c === "[" && p.charAt(this.pos + 1) === ":") {
        const close = this.find.indexOf(":]", this.pos + 2);
        if (close >= 0) {
          let name = p.slice(this.pos + 2, close);
          const nneg = name.startsWith("^");
          if (nneg) name = name.slice(1);
          const r = POSIX_CLASSES[name];
          if (r === undefined)
            this.fail(this.pos, `invalid character class range: ${clipText(p.slice(this.pos, close + 2))}`);
          body += nneg ? this.negatedInBrackets(r, f.i) : rangesSource(r);
          this.pos = close + 2;
          continue;
        }
      }
      if (c === "\\") {
        const r = this.classEscapeItem();
        if (r !== undefined) {
          if (!r.neg) body += r.body;
          else if (r.ranges !== undefined) body += this.negatedInBrackets(r.ranges, f.i);
          else body += r.body.replace("\\p{", "\\P{"); // \P{..}: JS's negation
          continue;
        }
      }
      const itemStart = this.pos;
      const lo = this.classChar();
      if (p.charAt(this.pos) === "-" && this.pos + 1 < p.length && p.charAt(this.pos + 1) !== "]") {
        this.pos++;
        const hi = this.classChar();
        if (hi < lo) this.fail(itemStart, `invalid character class range: ${p.slice(itemStart, this.pos)}`);
        body += `${jsCp(lo)}-${jsCp(hi)}`;
      } else body += jsCp(lo);
    }
    if (body === "") {
      // only a negated empty set can come out empty: [^\x{0}-\x{10FFFF}]
      return {
        t: "char",
        set: new JsClassSet(neg ? "[\\u{0}-\\u{10ffff}]" : "[^\\u{0}-\\u{10ffff}]", false),
      };
    }
    return { t: "char", set: new JsClassSet(`[${neg ? "^" : ""}${body}]`, f.i) };
  }

  /** One character inside a class (escape or not). */
  private classChar(): number {
    const p = this.p;
    if (this.pos >= p.length) this.fail(this.pos, "missing closing ]");
    if (p.charAt(this.pos) === "\\") return this.escape();
    const cp = p.codePointAt(this.pos) as number;
    this.pos += cp > 0xffff ? 2 : 1;
    return cp;
  }
}

// ------------------------------------------------------------------ NFA

const OP_CHAR = 0;
const OP_SPLIT = 1;
const OP_JMP = 2;
const OP_ASSERT = 3;

/** NFA instructions after expansion, capped at MAX_INSTRUCTIONS (before anything is built). */
function sizeOf(n: Node): number {
  switch (n.t) {
    case "empty":
      return 0;
    case "char":
    case "assert":
      return 1;
    case "cat": {
      let s = 0;
      for (const x of n.items) s = Math.min(s + sizeOf(x), MAX_INSTRUCTIONS + 1);
      return s;
    }
    case "alt": {
      let s = 0;
      for (const x of n.items) s = Math.min(s + sizeOf(x) + 2, MAX_INSTRUCTIONS + 1);
      return s;
    }
    case "rep": {
      const x = sizeOf(n.x);
      const copies = n.max < 0 ? n.min + 1 : n.max;
      return Math.min(x * copies + 2 * (copies + 1), MAX_INSTRUCTIONS + 1);
    }
  }
}

class Program {
  readonly op: number[] = [];
  readonly a: number[] = [];
  readonly b: number[] = [];
  readonly sets: CharSet[] = [];
  hasAsserts = false;

  emit(op: number, a = 0, b = 0): number {
    this.op.push(op);
    this.a.push(a);
    this.b.push(b);
    return this.op.length - 1;
  }

  /** Compile n; returns nothing, instructions fall through to the next one. */
  compile(n: Node): void {
    switch (n.t) {
      case "empty":
        return;
      case "char":
        this.sets.push(n.set);
        this.emit(OP_CHAR, this.sets.length - 1);
        return;
      case "assert":
        this.hasAsserts = true;
        this.emit(OP_ASSERT, n.a);
        return;
      case "cat":
        for (const x of n.items) this.compile(x);
        return;
      case "alt": {
        // SPLIT L1, next; L1: x1; JMP end; next: SPLIT L2, next2 ... last: xn; end:
        const jumps: number[] = [];
        const items = n.items;
        for (let k = 0; k < items.length; k++) {
          if (k < items.length - 1) {
            const split = this.emit(OP_SPLIT);
            this.a[split] = split + 1;
            this.compile(items[k] as Node);
            jumps.push(this.emit(OP_JMP));
            this.b[split] = this.op.length;
          } else this.compile(items[k] as Node);
        }
        for (const j of jumps) this.a[j] = this.op.length;
        return;
      }
      case "rep": {
        for (let k = 0; k < n.min; k++) this.compile(n.x);
        if (n.max < 0) {
          // L: SPLIT body, end; body: x; JMP L; end:
          const split = this.emit(OP_SPLIT);
          this.a[split] = split + 1;
          this.compile(n.x);
          this.emit(OP_JMP, split);
          this.b[split] = this.op.length;
          return;
        }
        // optional copies, nested: (x(x(x)?)?)?
        const splits: number[] = [];
        for (let k = n.min; k < n.max; k++) {
          const split = this.emit(OP_SPLIT);
          this.a[split] = split + 1;
          splits.push(split);
          this.compile(n.x);
        }
        for (const s of splits) this.b[s] = this.op.length;
        return;
      }
    }
  }
}

// ------------------------------------------------------------------ lazy DFA

/** Context of a position, from the character before it (or after it for look-ahead). */
const CTX_EDGE = 0; // start or end of the text
const CTX_NL = 1;
const CTX_WORD = 2;
const CTX_OTHER = 3;

function ctxOf(cp: number): number {
  if (cp === 10) return CTX_NL;
  return (cp >= 48 && cp <= 57) || (cp >= 65 && cp <= 90) || (cp >= 97 && cp <= 122) || cp === 95
    ? CTX_WORD
    : CTX_OTHER;
}

interface DState {
  /** NFA pcs reached by the last character (before following empty transitions). */
  readonly kernel: readonly number[];
  /** Context of the character before (CTX_EDGE at the start). */
  readonly prev: number;
  /** Transitions on ASCII characters. */
  readonly ascii: (DState | undefined)[];
  readonly other: Map<number, DState>;
  /** Whether the value may end here: undefined until computed. */
  accept: boolean | undefined;
}

class Dfa {
  private states = new Map<string, DState>();
  private start: DState;
  private readonly dead: DState;
  // scratch for closures
  private readonly mark: Int32Array;
  private gen = 0;
  private readonly stack: number[] = [];

  constructor(private readonly prog: Program) {
    this.mark = new Int32Array(prog.op.length + 1);
    this.dead = { kernel: [], prev: 0, ascii: [], other: new Map(), accept: false };
    this.start = this.state([0], CTX_EDGE);
  }

  private state(kernel: readonly number[], prev: number): DState {
    if (kernel.length === 0) return this.dead;
    const p = this.prog.hasAsserts ? prev : 0;
    const key = `${p}:${kernel.join(",")}`;
    let s = this.states.get(key);
    if (s === undefined) {
      if (this.states.size >= MAX_DFA_STATES) {
        // bounded memory: start over (states in use keep working, their tables are dropped with them)
        this.states = new Map();
        this.start = this.state([0], CTX_EDGE);
      }
      s = { kernel, prev: p, ascii: [], other: new Map(), accept: undefined };
      this.states.set(key, s);
    }
    return s;
  }

  private assertHolds(a: number, prev: number, next: number): boolean {
    switch (a) {
      case Assert.BeginText:
        return prev === CTX_EDGE;
      case Assert.EndText:
        return next === CTX_EDGE;
      case Assert.BeginLine:
        return prev === CTX_EDGE || prev === CTX_NL;
      case Assert.EndLine:
        return next === CTX_EDGE || next === CTX_NL;
      case Assert.WordBoundary:
        return (prev === CTX_WORD) !== (next === CTX_WORD);
      default:
        return (prev === CTX_WORD) === (next === CTX_WORD);
    }
  }

  /** CHAR and MATCH pcs reachable from the kernel by empty transitions. */
  private closure(s: DState, next: number): number[] {
    const { op, a, b } = this.prog;
    const out: number[] = [];
    const mark = this.mark;
    const g = ++this.gen;
    if (g === 0x7fffffff) {
      mark.fill(0);
      this.gen = 1;
    }
    const gen = this.gen;
    const stack = this.stack;
    for (let k = s.kernel.length - 1; k >= 0; k--) stack.push(s.kernel[k] as number);
    while (stack.length > 0) {
      const pc = stack.pop() as number;
      if (mark[pc] === gen) continue;
      mark[pc] = gen;
      if (pc >= op.length) {
        out.push(pc); // past the end: the match
        continue;
      }
      switch (op[pc]) {
        case OP_CHAR:
          out.push(pc);
          break;
        case OP_SPLIT:
          stack.push(b[pc] as number, a[pc] as number);
          break;
        case OP_JMP:
          stack.push(a[pc] as number);
          break;
        case OP_ASSERT:
          if (this.assertHolds(a[pc] as number, s.prev, next)) stack.push(pc + 1);
          break;
      }
    }
    return out;
  }

  private step(s: DState, cp: number): DState {
    const prog = this.prog;
    const next = ctxOf(cp);
    const kernel: number[] = [];
    for (const pc of this.closure(s, next)) {
      if (pc < prog.op.length && (prog.sets[prog.a[pc] as number] as CharSet).test(cp)) kernel.push(pc + 1);
    }
    kernel.sort((x, y) => x - y);
    const t = this.state(kernel, next);
    if (cp < 128) s.ascii[cp] = t;
    else s.other.set(cp, t);
    return t;
  }

  private accepts(s: DState): boolean {
    if (s.accept === undefined) {
      const end = this.prog.op.length;
      s.accept = this.closure(s, CTX_EDGE).includes(end);
    }
    return s.accept;
  }

  /** Does the whole of `str` match? */
  test(str: string): boolean {
    let s = this.start;
    const dead = this.dead;
    const n = str.length;
    for (let i = 0; i < n;) {
      let cp = str.charCodeAt(i++);
      if (cp >= 0xd800 && cp <= 0xdbff && i < n) {
        const lo = str.charCodeAt(i);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = ((cp - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
          i++;
        }
      }
      const t = cp < 128 ? s.ascii[cp] : s.other.get(cp);
      s = t ?? this.step(s, cp);
      if (s === dead) return false;
    }
    return this.accepts(s);
  }
}

// ------------------------------------------------------------------ API

/** Compile a `regex` operand (RE2 syntax, whole-value match). Never throws on bad input. */
export function compileRe2(pattern: string): RegexResult {
  let tree: Node;
  try {
    tree = new RegexParser(pattern).parse();
  } catch (e) {
    if (e instanceof RegexSyntaxError)
      return { ok: false, offset: e.offset, message: `invalid regex: ${e.message}` };
    throw e;
  }
  const size = sizeOf(tree);
  if (size > MAX_INSTRUCTIONS) {
    return {
      ok: false,
      offset: 0,
      message: `invalid regex: pattern too large (over ${MAX_INSTRUCTIONS} states once repetitions are expanded)`,
    };
  }
  const prog = new Program();
  prog.compile(tree); // reaching pc === length is the match
  const dfa = new Dfa(prog);
  return { ok: true, test: (s) => dfa.test(s) };
}
