/**
 * `regex` uses RE2 syntax and semantics: the whole value must match, in linear time.
 *
 * Patterns are validated by RE2 itself (Google's RE2 compiled to WebAssembly, package
 * `re2-wasm`), so exactly RE2's language is accepted. Matching then runs on a JS RegExp
 * translation of the pattern (RE2 syntax differences translated: `(?P<n>`, `\A`, `\z`,
 * `\Q..\E`, POSIX classes, leading flags) because it is ~50x faster per call, except for
 * patterns a backtracking engine could take exponential time on (a repeated group that
 * itself repeats or alternates), which run on RE2. Features RE2 lacks (backreferences,
 * lookaround) are rejected with a clear message.
 */
import { createRequire } from "node:module";

export type RegexResult = { ok: true; test: (s: string) => boolean } | { ok: false; message: string };
type Translation = { ok: true; re: RegExp; risky: boolean } | { ok: false; message: string };

interface Re2Like {
  test(s: string): boolean;
}
type Re2Ctor = new (pattern: string, flags: string) => Re2Like;

let re2Ctor: Re2Ctor | null | undefined;
function loadRe2(): Re2Ctor | null {
  if (re2Ctor === undefined) {
    try {
      const mod = createRequire(import.meta.url)("re2-wasm") as { RE2: Re2Ctor };
      re2Ctor = mod.RE2;
    } catch {
      re2Ctor = null; // not installed: JS translation only
    }
  }
  return re2Ctor;
}

/** True if the pattern has a quantified group containing a quantifier or an alternation. */
function isRisky(p: string): boolean {
  const stack: boolean[] = []; // per open group: body has repetition/alternation
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p.charAt(i);
    if (c === "\\") {
      i++;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "[") inClass = true;
    else if (c === "(") stack.push(false);
    else if (c === ")") {
      const inner = stack.pop() ?? false;
      const next = p.charAt(i + 1);
      const quantified = next === "*" || next === "+" || next === "{" || next === "?";
      if (inner && quantified && next !== "?") return true;
      if (stack.length > 0 && (inner || quantified)) stack[stack.length - 1] = true;
    } else if ((c === "*" || c === "+" || c === "|" || c === "{") && stack.length > 0) {
      stack[stack.length - 1] = true;
    }
  }
  return false;
}

/** Compile a `regex` operand: RE2-validated, full match. */
export function compileRe2(pattern: string): RegexResult {
  const tr = translate(pattern);
  if (!tr.ok && /not supported by RE2/.test(tr.message)) return tr;
  const RE2 = loadRe2();
  let re2: Re2Like | undefined;
  if (RE2 !== null) {
    try {
      re2 = new RE2(`^(?:${pattern})$`, "u");
    } catch (e) {
      const m = (e as Error).message.replace(/^Invalid regular expression: \/.*\/u: /s, "");
      return { ok: false, message: `invalid regex: ${m}` };
    }
  }
  // Unicode classes (\pL) mean something else to a non-unicode JS RegExp: RE2 evaluates them
  const unicodeClass = /\\[pP]/.test(pattern);
  if (tr.ok && ((!tr.risky && !unicodeClass) || re2 === undefined)) {
    const re = tr.re;
    return { ok: true, test: (s) => re.test(s) };
  }
  if (re2 !== undefined) {
    const r = re2;
    return { ok: true, test: (s) => r.test(s) };
  }
  return tr.ok ? { ok: true, test: (s) => tr.re.test(s) } : tr;
}

const POSIX: Record<string, string> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7F",
  blank: "\\t ",
  cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};

function translate(pattern: string): Translation {
  let flags = "";
  let out = "";
  let i = 0;
  // leading global flags (?i) (?s) (?m) (?U is not supported)
  const lead = /^\(\?([imsU]+)\)/.exec(pattern);
  if (lead !== null) {
    const f = lead[1] as string;
    if (f.includes("U")) return { ok: false, message: "regex flag 'U' (ungreedy) is not supported" };
    flags = f;
    i = lead[0].length;
  }
  let inClass = false;
  for (; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === "\\") {
      const n = pattern.charAt(i + 1);
      if (n === "") return { ok: false, message: "regex ends with a trailing backslash" };
      if (/[1-9]/.test(n) && !inClass)
        return { ok: false, message: "regex backreferences (\\1...) are not supported by RE2" };
      if (n === "k" && pattern.charAt(i + 2) === "<")
        return { ok: false, message: "regex named backreferences are not supported by RE2" };
      if (n === "A") out += "^";
      else if (n === "z") out += "$";
      else if (n === "C") return { ok: false, message: "regex \\C is not supported" };
      else if (n === "Q") {
        const end = pattern.indexOf("\\E", i + 2);
        const lit = pattern.slice(i + 2, end < 0 ? pattern.length : end);
        out += lit.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
        i = end < 0 ? pattern.length : end + 1;
        continue;
      } else out += c + n;
      i++;
      continue;
    }
    if (inClass) {
      if (c === "[" && pattern.charAt(i + 1) === ":") {
        const end = pattern.indexOf(":]", i + 2);
        if (end > 0) {
          let name = pattern.slice(i + 2, end);
          const neg = name.startsWith("^");
          if (neg) name = name.slice(1);
          const cls = POSIX[name];
          if (cls === undefined)
            return { ok: false, message: `regex has unknown character class '[:${name}:]'` };
          if (neg) return { ok: false, message: "negated POSIX classes are not supported" };
          out += cls;
          i = end + 1;
          continue;
        }
      }
      if (c === "[") {
        out += "\\[";
        continue;
      }
      if (c === "]") inClass = false;
      out += c;
      continue;
    }
    if (c === "[") {
      inClass = true;
      out += c;
      if (pattern.charAt(i + 1) === "^") {
        out += "^";
        i++;
      }
      if (pattern.charAt(i + 1) === "]") {
        out += "\\]";
        i++;
      }
      continue;
    }
    if (c === "(" && pattern.charAt(i + 1) === "?") {
      const rest = pattern.slice(i + 2);
      if (rest.startsWith("=") || rest.startsWith("!") || rest.startsWith("<=") || rest.startsWith("<!")) {
        return { ok: false, message: "regex lookaround assertions are not supported by RE2" };
      }
      if (rest.startsWith("P<")) {
        out += "(?<";
        i += 3;
        continue;
      }
      if (rest.startsWith(":") || rest.startsWith("<")) {
        out += c;
        continue;
      }
      return { ok: false, message: "regex inline flags are supported only at the start of the pattern" };
    }
    out += c;
  }
  if (inClass) return { ok: false, message: "regex has an unterminated character class" };
  try {
    return { ok: true, re: new RegExp(`^(?:${out})$`, flags.replace("U", "")), risky: isRisky(out) };
  } catch (e) {
    return {
      ok: false,
      message: `invalid regex: ${(e as Error).message.replace(/^Invalid regular expression: /, "")}`,
    };
  }
}
