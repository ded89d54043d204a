/**
 * `regex` uses RE2 syntax and semantics (linear time, full match of the value). JS RegExp
 * runs RE2-compatible patterns the same way once the few syntax differences are
 * translated; features RE2 does not have (backreferences, lookaround) are rejected so a
 * rule cannot depend on them or on backtracking blow-ups.
 */
export type RegexResult = { ok: true; re: RegExp } | { ok: false; message: string };

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

export function compileRe2(pattern: string): RegexResult {
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
    return { ok: true, re: new RegExp(`^(?:${out})$`, flags.replace("U", "")) };
  } catch (e) {
    return {
      ok: false,
      message: `invalid regex: ${(e as Error).message.replace(/^Invalid regular expression: /, "")}`,
    };
  }
}
