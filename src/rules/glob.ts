/**
 * glob / iglob, with Falco's semantics: libsinsp matches with fnmatch(3) and no flags
 * (FNM_CASEFOLD for iglob), so `*` matches any run of characters including '/' and a
 * leading '.', `?` one character, `[...]` one character of a class: single characters,
 * ranges `a-z`, POSIX classes `[:alpha:]` (C locale), `[=c=]` and `[.c.]`, negated by a
 * leading `!` or `^`; a `]` right after the opening (and negation) is literal; `\x` is a
 * literal x, inside classes too. A `[` without a closing `]` is a literal '['.
 *
 * Where fnmatch would silently never match (a reversed range `[z-a]`, an unknown class
 * name, a trailing lone backslash), compileGlob returns an error with the offset in the
 * pattern, so a rules file says what is wrong instead of holding a rule that cannot fire.
 *
 * Matching never backtracks more than one level: `*` only ever needs to retry from the
 * last star (each other token matches exactly one character), so a match costs at most
 * O(pattern × value), linear in the value for a given pattern; compiling is linear in
 * the pattern. Characters are code points.
 */

import { clipText } from "./diagnostics.js";

export type GlobResult =
  | { readonly ok: true; readonly match: (s: string) => boolean }
  | { readonly ok: false; readonly offset: number; readonly message: string };

/** Token codes: >= 0 a literal code point; ANY `?`; STAR `*`; <= CLASS0 a class index. */
const ANY = -1;
const STAR = -2;
const CLASS0 = -3;

type CharTest = (cp: number) => boolean;

interface CharClass {
  readonly neg: boolean;
  /** Inclusive code point ranges, flattened: lo0, hi0, lo1, hi1... */
  readonly ranges: readonly number[];
  readonly named: readonly CharTest[];
}

/** POSIX character classes in the C locale (what fnmatch uses for Falco). */
const POSIX_CLASSES: Readonly<Record<string, CharTest>> = {
  alnum: (c) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122),
  alpha: (c) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122),
  blank: (c) => c === 32 || c === 9,
  cntrl: (c) => c < 32 || c === 127,
  digit: (c) => c >= 48 && c <= 57,
  graph: (c) => c > 32 && c < 127,
  lower: (c) => c >= 97 && c <= 122,
  print: (c) => c >= 32 && c < 127,
  punct: (c) => (c > 32 && c < 48) || (c > 57 && c < 65) || (c > 90 && c < 97) || (c > 122 && c < 127),
  space: (c) => c === 32 || (c >= 9 && c <= 13),
  upper: (c) => c >= 65 && c <= 90,
  xdigit: (c) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102),
};

/**
 * `text.indexOf(needle, from)` with the last answer per needle remembered: a query from
 * `from` inside [last from, last answer] has the same answer, so scanning for a closing
 * delimiter that is far away (or absent) from many openings stays linear.
 */
export class IndexCache {
  private readonly last = new Map<string, { from: number; at: number }>();
  constructor(private readonly text: string) {}
  indexOf(needle: string, from: number): number {
    const m = this.last.get(needle);
    if (m !== undefined && from >= m.from && (m.at < 0 || from <= m.at)) return m.at;
    const at = this.text.indexOf(needle, from);
    this.last.set(needle, { from, at });
    return at;
  }
}

class GlobSyntaxError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

function describeCp(cp: number): string {
  return cp >= 32 && cp < 127 ? String.fromCodePoint(cp) : `\\u{${cp.toString(16)}}`;
}

function cpWidth(cp: number): number {
  return cp > 0xffff ? 2 : 1;
}

/**
 * Parses one pattern. `dead[j]` marks offsets from which a class body was already scanned
 * to the end of the pattern without finding its `]`: scanning from an item boundary is
 * deterministic, so any later scan reaching such an offset fails too, and a pattern of
 * 100 000 `[` parses in linear time.
 */
class GlobParser {
  readonly codes: number[] = [];
  readonly classes: CharClass[] = [];
  private readonly dead: Uint8Array;
  private readonly find: IndexCache;

  constructor(private readonly p: string) {
    this.dead = new Uint8Array(p.length + 1);
    this.find = new IndexCache(p);
  }

  parse(): void {
    const p = this.p;
    let i = 0;
    while (i < p.length) {
      const c = p.codePointAt(i) as number;
      if (c === 42 /* * */) {
        if (this.codes[this.codes.length - 1] !== STAR) this.codes.push(STAR);
        i++;
      } else if (c === 63 /* ? */) {
        this.codes.push(ANY);
        i++;
      } else if (c === 92 /* \ */) {
        if (i + 1 >= p.length) {
          throw new GlobSyntaxError(i, "glob ends with a lone backslash (write '\\\\' for a backslash)");
        }
        const e = p.codePointAt(i + 1) as number;
        this.codes.push(e);
        i += 1 + cpWidth(e);
      } else if (c === 91 /* [ */) {
        const r = this.bracket(i);
        if (r === undefined) {
          this.codes.push(91); // no closing ']': a literal '['
          i++;
        } else {
          this.codes.push(CLASS0 - this.classes.length);
          this.classes.push(r.cls);
          i = r.end;
        }
      } else {
        this.codes.push(c);
        i += cpWidth(c);
      }
    }
  }

  /** `[...]` at `open`: the class and the offset after `]`, or undefined if it never closes. */
  private bracket(open: number): { cls: CharClass; end: number } | undefined {
    const p = this.p;
    let j = open + 1;
    let neg = false;
    if (p.charAt(j) === "!" || p.charAt(j) === "^") {
      neg = true;
      j++;
    }
    // already known to run off the end from here (a run of '[')
    if (j >= p.length || this.dead[j] === 1) return undefined;
    const ranges: number[] = [];
    const named: CharTest[] = [];
    let error: GlobSyntaxError | undefined;
    const visited: number[] = [];
    /** visited[k] starts a `[:name:]`-style item */
    const visitedClass: boolean[] = [];
    let first = true;
    /**
     * Runs off the end: remember it for the offsets visited. fnmatch reads an unclosed '['
     * as a literal, except when what follows holds a class item or ends in an unfinished
     * range ('a-'): then it never matches, and that is an error here.
     */
    const unterminated = (neverMatches: boolean): undefined => {
      let never = neverMatches;
      for (let k = visited.length - 1; k >= 0; k--) {
        never ||= visitedClass[k] === true;
        this.dead[visited[k] as number] = never ? 2 : 1;
      }
      if (never) {
        throw new GlobSyntaxError(
          open,
          "glob has a '[' that is never closed and cannot be read as a literal '[' (it holds a character class or ends in a range); close it with ']' or write '\\['",
        );
      }
      return undefined;
    };
    for (;;) {
      if (j >= p.length) return unterminated(false);
      const d = this.dead[j] as number;
      if (d !== 0) return unterminated(d === 2);
      visited.push(j);
      visitedClass.push(p.charAt(j) === "[" && /^[:=.]$/.test(p.charAt(j + 1)));
      const c = p.codePointAt(j) as number;
      if (c === 93 /* ] */ && !first) {
        if (error !== undefined) throw error;
        return { cls: { neg, ranges, named }, end: j + 1 };
      }
      first = false;
      const itemStart = j;
      const item = this.item(j);
      if (item === undefined) return unterminated(false);
      j = item.end;
      if (item.kind === "class") {
        if (item.test === undefined) error ??= new GlobSyntaxError(itemStart, item.message ?? "bad class");
        else named.push(item.test);
        continue;
      }
      // a range: item '-' item, unless the '-' is the last character before ']'
      if (p.charAt(j) === "-" && j + 1 >= p.length) return unterminated(true); // '[a-' at the end
      if (p.charAt(j) === "-" && p.charAt(j + 1) !== "]") {
        const hi = this.item(j + 1);
        if (hi === undefined) return unterminated(false);
        if (hi.kind === "class") {
          error ??= new GlobSyntaxError(itemStart, "glob range ends with a character class");
        } else if (hi.cp < item.cp) {
          error ??= new GlobSyntaxError(
            itemStart,
            `glob range '${describeCp(item.cp)}-${describeCp(hi.cp)}' is reversed (it matches nothing; write '${describeCp(hi.cp)}-${describeCp(item.cp)}')`,
          );
        } else ranges.push(item.cp, hi.cp);
        j = hi.end;
        continue;
      }
      ranges.push(item.cp, item.cp);
    }
  }

  /** One class item at `j`: a character (possibly escaped) or `[:name:]`, `[=c=]`, `[.c.]`. */
  private item(
    j: number,
  ):
    | { kind: "char"; cp: number; end: number }
    | { kind: "class"; test: CharTest | undefined; message?: string; end: number }
    | undefined {
    const p = this.p;
    const c = p.codePointAt(j) as number;
    if (c === 92 /* \ */) {
      if (j + 1 >= p.length) return undefined;
      const e = p.codePointAt(j + 1) as number;
      return { kind: "char", cp: e, end: j + 1 + cpWidth(e) };
    }
    if (c === 91 /* [ */) {
      const d = p.charAt(j + 1);
      if (d === ":" || d === "=" || d === ".") {
        const close = this.find.indexOf(`${d}]`, j + 2);
        if (close >= 0) {
          const name = p.slice(j + 2, close);
          const end = close + 2;
          if (d === ":") {
            const test = POSIX_CLASSES[name];
            return test === undefined
              ? {
                  kind: "class",
                  test,
                  message: `glob has an unknown character class '[:${clipText(name)}:]'`,
                  end,
                }
              : { kind: "class", test, end };
          }
          const cp = name.codePointAt(0);
          if (cp === undefined || cpWidth(cp) !== name.length) {
            return {
              kind: "class",
              test: undefined,
              message: `glob '[${d}${clipText(name)}${d}]' must name exactly one character`,
              end,
            };
          }
          return { kind: "char", cp, end };
        }
      }
    }
    return { kind: "char", cp: c, end: j + cpWidth(c) };
  }
}

/** Lower case of one code point when it is one code point (simple folding, as fnmatch's tolower). */
function lowerCp(cp: number): number {
  if (cp < 128) return cp >= 65 && cp <= 90 ? cp + 32 : cp;
  const l = String.fromCodePoint(cp).toLowerCase();
  const lc = l.codePointAt(0) as number;
  return l.length === cpWidth(lc) ? lc : cp;
}
function upperCp(cp: number): number {
  if (cp < 128) return cp >= 97 && cp <= 122 ? cp - 32 : cp;
  const u = String.fromCodePoint(cp).toUpperCase();
  const uc = u.codePointAt(0) as number;
  return u.length === cpWidth(uc) ? uc : cp;
}

function inClass(cls: CharClass, cp: number): boolean {
  const r = cls.ranges;
  for (let k = 0; k < r.length; k += 2) if (cp >= (r[k] as number) && cp <= (r[k + 1] as number)) return true;
  for (const t of cls.named) if (t(cp)) return true;
  return false;
}

/** Compile a glob (iglob when caseInsensitive). Never throws. */
export function compileGlob(pattern: string, caseInsensitive: boolean): GlobResult {
  const parser = new GlobParser(pattern);
  try {
    parser.parse();
  } catch (e) {
    if (e instanceof GlobSyntaxError) return { ok: false, offset: e.offset, message: e.message };
    throw e;
  }
  const codes = Int32Array.from(
    caseInsensitive ? parser.codes.map((c) => (c >= 0 ? lowerCp(c) : c)) : parser.codes,
  );
  const classes = parser.classes;
  const m = codes.length;
  let fixed = 0;
  let stars = 0;
  for (const c of codes) {
    if (c === STAR) stars++;
    else fixed++;
  }

  // No wildcard: plain equality (glob only; iglob folds each character below).
  if (!caseInsensitive && stars === 0 && codes.every((c) => c >= 0)) {
    let lit = "";
    for (const c of codes) lit += String.fromCodePoint(c);
    return { ok: true, match: (s) => s === lit };
  }
  const one = (tok: number, cp: number): boolean => {
    if (tok >= 0) return caseInsensitive ? lowerCp(cp) === tok : cp === tok;
    if (tok === ANY) return true;
    const cls = classes[CLASS0 - tok] as CharClass;
    let hit = inClass(cls, cp);
    if (!hit && caseInsensitive) {
      const l = lowerCp(cp);
      const u = upperCp(cp);
      hit = (l !== cp && inClass(cls, l)) || (u !== cp && inClass(cls, u));
    }
    return hit !== cls.neg;
  };

  const match = (s: string): boolean => {
    const n = s.length;
    if (fixed > n) return false; // each non-star token takes at least one UTF-16 unit
    if (stars === 0 && fixed * 2 < n) return false;
    let p = 0;
    let t = 0;
    let starP = -1;
    let starT = 0;
    while (t < n) {
      if (p < m) {
        const tok = codes[p] as number;
        if (tok === STAR) {
          starP = ++p;
          starT = t;
          if (p === m) return true; // a trailing star takes the rest
          continue;
        }
        const cp = s.codePointAt(t) as number;
        if (one(tok, cp)) {
          p++;
          t += cpWidth(cp);
          continue;
        }
      }
      if (starP < 0) return false;
      // the last star takes one more character; retry the rest from there
      starT += cpWidth(s.codePointAt(starT) as number);
      t = starT;
      p = starP;
    }
    while (p < m && codes[p] === STAR) p++;
    return p === m;
  };
  return { ok: true, match };
}
