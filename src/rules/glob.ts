/**
 * glob / iglob: fnmatch(3) without FNM_PATHNAME, as Falco uses it: `*` matches any run of
 * characters including '/', `?` one character, `[abc]`, `[a-z]`, `[!x]` / `[^x]` classes,
 * `\x` a literal x. Compiled once to an anchored RegExp.
 */
export function globToRegExp(pattern: string, caseInsensitive: boolean): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === "*") {
      re += "[\\s\\S]*";
    } else if (c === "?") {
      re += "[\\s\\S]";
    } else if (c === "\\" && i + 1 < pattern.length) {
      re += escapeRe(pattern.charAt(++i));
    } else if (c === "[") {
      const close = findClassEnd(pattern, i);
      if (close < 0) {
        re += "\\[";
        continue;
      }
      let body = pattern.slice(i + 1, close);
      let neg = false;
      if (body.startsWith("!") || body.startsWith("^")) {
        neg = true;
        body = body.slice(1);
      }
      let cls = "";
      for (let j = 0; j < body.length; j++) {
        const b = body.charAt(j);
        if (b === "\\" || b === "]" || b === "[" || b === "^") cls += "\\" + b;
        else cls += b;
      }
      re += `[${neg ? "^" : ""}${cls}]`;
      i = close;
    } else {
      re += escapeRe(c);
    }
  }
  return new RegExp(re + "$", caseInsensitive ? "i" : "");
}

function findClassEnd(p: string, open: number): number {
  let j = open + 1;
  if (p.charAt(j) === "!" || p.charAt(j) === "^") j++;
  if (p.charAt(j) === "]") j++; // leading ] is literal
  for (; j < p.length; j++) if (p.charAt(j) === "]") return j;
  return -1;
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? "\\" + c : c;
}
