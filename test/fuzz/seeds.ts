/**
 * Seeds for the rules fuzz targets, and the mutations that turn them into hostile inputs.
 * Seeds are the project's rules file and, when present, the Falco rules in the compat
 * directory (LANNER_COMPAT_DIR): their top-level items (rules, macros, lists) and their
 * conditions. Mutations are what someone who controls a rules file or a command line would
 * try: broken syntax, bad literals (globs, regexes, numbers, addresses), deep nesting, big
 * lists, long values, odd characters.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isMap, isScalar, parseAllDocuments } from "yaml";
import { packageRoot } from "../../src/capture/paths.js";
import { compatDir } from "../helpers/compat.js";
import type { Rng } from "./harness.js";

export interface RulesFile {
  readonly name: string;
  readonly text: string;
}

export interface Seeds {
  /** Whole files, project first. */
  readonly files: readonly RulesFile[];
  /** Top-level items (their YAML text), from every file. */
  readonly items: readonly string[];
  /** Conditions of rules and macros. */
  readonly conditions: readonly string[];
  /** Where the compat files would be, when they are absent (printed once by the runner). */
  readonly compatMissing: string | undefined;
}

let cached: Seeds | undefined;

/** Split a rules file into its top-level items (a line starting with "- " opens one). */
function itemsOf(text: string): string[] {
  const out: string[] = [];
  let cur: string[] | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("- ")) {
      if (cur !== undefined) out.push(cur.join("\n"));
      cur = [line];
    } else if (cur !== undefined && !line.startsWith("#")) cur.push(line);
  }
  if (cur !== undefined) out.push(cur.join("\n"));
  return out.map((s) => s.trimEnd() + "\n");
}

function conditionsOf(text: string): string[] {
  const out: string[] = [];
  for (const doc of parseAllDocuments(text)) {
    const seq = doc.contents;
    if (seq === null || !("items" in seq)) continue;
    for (const item of seq.items as unknown[]) {
      if (!isMap(item)) continue;
      const c = item.get("condition", true);
      if (isScalar(c) && typeof c.value === "string") out.push(c.value);
    }
  }
  return out;
}

export function loadSeeds(): Seeds {
  if (cached !== undefined) return cached;
  const files: RulesFile[] = [];
  const project = join(packageRoot(), "rules", "lanner_rules.yaml");
  files.push({ name: "lanner_rules.yaml", text: readFileSync(project, "utf8") });
  const dir = compatDir();
  let compatMissing: string | undefined;
  if (dir === null)
    compatMissing =
      "compat rules not found (LANNER_COMPAT_DIR or ../shared/compat): seeds are the project's rules only";
  else {
    const falco = join(dir, "falco-rules");
    let names: string[] = [];
    try {
      names = readdirSync(falco).filter((n) => n.endsWith(".yaml"));
    } catch {
      compatMissing = `no ${falco}: seeds are the project's rules only`;
    }
    for (const n of names.sort()) files.push({ name: n, text: readFileSync(join(falco, n), "utf8") });
  }
  const items: string[] = [];
  const conditions: string[] = [];
  for (const f of files) {
    items.push(...itemsOf(f.text));
    conditions.push(...conditionsOf(f.text));
  }
  cached = { files, items, conditions, compatMissing };
  return cached;
}

// ------------------------------------------------------------------ mutations

const FIELDS = [
  "proc.name",
  "proc.cmdline",
  "proc.args",
  "proc.exepath",
  "proc.pname",
  "proc.aname",
  "proc.aname[2]",
  "fd.name",
  "fd.nameraw",
  "fd.directory",
  "fd.num",
  "fd.sip",
  "fd.cip",
  "fd.sport",
  "fd.net",
  "fd.typechar",
  "evt.type",
  "evt.arg.flags",
  "evt.arg[0]",
  "evt.rawres",
  "user.name",
  "user.uid",
  "container.id",
  "container.image.repository",
  "k8s.ns.name",
  "evt.buffer",
  "proc.env[HOME]",
  "fs.path.name",
  "nope.field",
];
const OPS = [
  "=",
  "==",
  "!=",
  "<",
  "<=",
  ">",
  ">=",
  "contains",
  "icontains",
  "bcontains",
  "startswith",
  "bstartswith",
  "endswith",
  "glob",
  "iglob",
  "regex",
  "in",
  "intersects",
  "pmatch",
  "exists",
  "oneof",
  "anyof",
  "allof",
  "=<",
];
const TOKENS = [
  "(",
  ")",
  ",",
  "and",
  "or",
  "not",
  "val(",
  "tolower(",
  "toupper(",
  "len(",
  "b64(",
  "basename(",
  "join(",
  "concat(",
  "getopt(",
  "'",
  '"',
  "\\",
  "<NA>",
  "0x",
  "-1",
  "1e309",
  "9999999999999999999999",
  "10.0.0.0/8",
  "::1",
  "fe80::/10",
  "999.1.1.1",
  "/etc/*",
  "*",
  "[",
  "]",
  "!",
  "{",
  "}",
  "|",
  "$",
  "^",
  "\t",
  "\n",
  "é",
  "😀",
  "\u0000",
  "\u202e",
];
const GLOB_PARTS = [
  "*",
  "?",
  "[",
  "]",
  "!",
  "^",
  "-",
  "\\",
  "a",
  "z",
  "/",
  ".",
  "[:alpha:]",
  "[z-a]",
  "[a-",
  "[!]",
  "[=a=]",
  "[.-.]",
];
const REGEX_PARTS = [
  "a",
  "b",
  ".",
  "*",
  "+",
  "?",
  "|",
  "(",
  ")",
  "(?:",
  "(?i)",
  "(?P<n>",
  "[",
  "]",
  "^",
  "$",
  "{2}",
  "{1000}",
  "{1001}",
  "{2,}",
  "\\",
  "\\d",
  "\\pL",
  "\\p{Greek}",
  "\\1",
  "(?=",
  "\\Q",
  "\\E",
  "\\x{41}",
  "[[:alpha:]]",
  "[z-a]",
  "a*a*a*",
  "(a|aa)*",
  "(a+)+",
  "\\b",
  "\\z",
];
const CHARS = " ()[]{}<>,.'\"\\/*?!=-+^$|:;#&%@`~\t\n\r\u0000\u00e9\u202e\ud83d\ude00\ud800azAZ09_";

function randomString(rng: Rng, parts: readonly string[], n: number): string {
  let s = "";
  for (let k = 0; k < n; k++) s += rng.pick(parts);
  return s;
}

function quote(rng: Rng, s: string): string {
  return rng.chance(0.8) ? `'${s.replace(/'/g, "\\'")}'` : `"${s.replace(/"/g, '\\"')}"`;
}

/** A random check, often with a hostile literal. */
export function randomCheck(rng: Rng): string {
  const field = rng.pick(FIELDS);
  switch (rng.int(9)) {
    case 0:
      return `${field} glob ${quote(rng, randomString(rng, GLOB_PARTS, rng.range(1, 12)))}`;
    case 1:
      return `${field} iglob ${quote(rng, rng.chance(0.1) ? "[".repeat(rng.range(1000, 20_000)) : randomString(rng, GLOB_PARTS, rng.range(1, 30)))}`;
    case 2:
      return `${field} regex ${quote(rng, randomString(rng, REGEX_PARTS, rng.range(1, 14)))}`;
    case 3: {
      const n = rng.chance(0.2) ? rng.range(100, 3000) : rng.range(0, 8);
      const items: string[] = [];
      for (let k = 0; k < n; k++)
        items.push(rng.pick(["a", "1", "-1", "0x1f", "10.0.0.1", "'x y'", "(a, b)", "", "<NA>", "1.5"]));
      return `${field} ${rng.pick(["in", "intersects", "pmatch"])} (${items.join(rng.chance(0.3) ? ",\n" : ", ")})`;
    }
    case 4:
      return `${field} ${rng.pick(["glob", "regex"])} ${quote(rng, rng.pick(["ab?", "a[bc]", "*a", "(a|b)"]).repeat(rng.range(100, 6000)))}`;
    case 5:
      return `${rng.pick(["tolower", "toupper", "b64", "basename", "len"])}(${field}) ${rng.pick(OPS)} ${rng.pick(TOKENS)}`;
    case 6:
      return `${field} ${rng.pick(OPS)} val(${rng.pick(FIELDS)})`;
    case 7:
      return `${field} ${rng.pick(["contains", "startswith", "=", "glob"])} ${rng.pick(["oneof", "anyof", "allof"])} (${rng.pick(["a", "'*b*'", "c"])}, ${rng.pick(["d", "[z-a]", "e"])})`;
    default:
      return `${field} ${rng.pick(OPS)} ${rng.chance(0.5) ? quote(rng, randomString(rng, CHARS.split(""), rng.range(0, 20))) : rng.pick(TOKENS)}`;
  }
}

/** Mutate a condition 1-4 times. */
export function mutateCondition(rng: Rng, seed: string, others: readonly string[]): string {
  let s = seed;
  const n = rng.range(1, 4);
  for (let k = 0; k < n; k++) {
    switch (rng.int(9)) {
      case 0: {
        // replace a token with another one, from the pool or from another seed
        const toks = s.split(/(\s+|[(),])/);
        const at = rng.int(toks.length);
        const donor = rng.chance(0.5) ? rng.pick(TOKENS) : rng.pick(rng.pick(others).split(/\s+/));
        toks[at] = donor;
        s = toks.join("");
        break;
      }
      case 1:
        s = `${s} ${rng.pick(["and", "or"])} ${rng.chance(0.6) ? randomCheck(rng) : rng.pick(others)}`;
        break;
      case 2: {
        // characters: delete, duplicate or insert a few
        const at = rng.int(s.length + 1);
        const len = rng.range(0, 6);
        const op = rng.int(3);
        if (op === 0) s = s.slice(0, at) + s.slice(at + len);
        else if (op === 1) s = s.slice(0, at) + s.slice(at, at + len).repeat(rng.range(2, 4)) + s.slice(at);
        else s = s.slice(0, at) + randomString(rng, CHARS.split(""), len) + s.slice(at);
        break;
      }
      case 3: {
        // deep nesting around it, sometimes past the parser's limit
        const d = rng.chance(0.3) ? rng.range(900, 1200) : rng.range(1, 30);
        s = rng.chance(0.5)
          ? `${"not ".repeat(d)}${s}`
          : `${"(".repeat(d)}${s}${")".repeat(rng.chance(0.9) ? d : d - 1)}`;
        break;
      }
      case 4:
        s = `not (${s})`;
        break;
      case 5:
        s = randomCheck(rng);
        break;
      case 6:
        s = `${s} and (${rng.pick(others)})`;
        break;
      case 7: {
        // a long run of one fragment
        const frag = rng.pick(["a or ", "(x and ", "proc.name = a or ", "'", "\\", "[", "not ", "a,"]);
        s = s + " " + frag.repeat(rng.range(10, 4000));
        break;
      }
      default:
        s = s.replace(/\b(and|or)\b/, () => rng.pick(["and", "or", "and not", "or or", "nand", ""]));
    }
  }
  return s;
}

const HOSTILE_ITEMS: readonly ((rng: Rng) => string)[] = [
  (rng) =>
    `- list: big_${rng.int(3)}\n  items: [${Array.from({ length: rng.range(1, 1500) }, (_, i) => `x${i}`).join(", ")}]\n`,
  (rng) => `- list: nest_${rng.int(3)}\n  items: [big_${rng.int(3)}, nest_${rng.int(3)}, y]\n`,
  (rng) =>
    `- list: big_${rng.int(3)}\n  items: [a, b]\n  ${rng.pick(["append: true", "override:\n    items: append", "override:\n    items: replace", "append: maybe"])}\n`,
  (rng) => {
    // a chain of macros, each nested deep
    const k = rng.range(1, 5);
    const d = rng.pick([10, 300, 999, 1001]);
    let s = "";
    for (let m = 0; m < k; m++)
      s += `- macro: chain_${m}\n  condition: ${"not ".repeat(d)}${m < k - 1 ? `chain_${m + 1}` : "proc.name = x"}\n`;
    return s;
  },
  (rng) => `- macro: self_${rng.int(2)}\n  condition: self_${rng.int(2)} or proc.name = a\n`,
  (rng) =>
    `- rule: Hostile ${rng.int(5)}\n  desc: d\n  condition: evt.type = execve and ${randomCheck(rng)}\n  output: "%proc.name %${rng.pick(FIELDS)} %nope"\n  priority: ${rng.pick(["WARNING", "info", "bad", "1"])}\n`,
  (rng) =>
    `- rule: Exc ${rng.int(3)}\n  desc: d\n  condition: evt.type = open and chain_0\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e${rng.int(3)}\n      fields: [${rng.pick(FIELDS)}, ${rng.pick(FIELDS)}]\n      comps: [${rng.pick(OPS)}, ${rng.pick(OPS)}]\n      values:\n        - [${rng.pick(TOKENS)}, ${rng.pick(["'[z-a]'", "a", "(x)"])}]\n`,
  () => `- rule: Alias\n  desc: &a [1, 2]\n  condition: *a\n  output: *b\n  priority: INFO\n`,
  (rng) => `- required_engine_version: ${rng.pick(["0.1.0", "99.0.0", "x", "[1]", "0.57.0"])}\n`,
  (rng) => `- rule: R${rng.int(3)}\n  enabled: ${rng.pick(["false", "true", "maybe"])}\n`,
  (rng) =>
    `${"  ".repeat(rng.range(0, 3))}- ${"[".repeat(rng.chance(0.5) ? rng.range(1, 20) : rng.range(490, 700))}\n`,
];

/**
 * Size of a generated rules file. The YAML parser costs about 1-2 ms per KB here (more for
 * a file full of YAML errors): a 100 ms budget per input holds files of this size.
 */
export const MAX_FILE_CHARS = 20_000;

/** A rules file made of 1-10 seed items, mutated. */
export function generateRulesFile(rng: Rng, seeds: Seeds): string {
  const parts: string[] = [];
  const n = rng.range(1, 10);
  let size = 0;
  for (let k = 0; k < n; k++) {
    const item = rng.chance(0.25) ? rng.pick(HOSTILE_ITEMS)(rng) : rng.pick(seeds.items);
    if (size + item.length > MAX_FILE_CHARS && parts.length > 0) break;
    parts.push(item);
    size += item.length;
  }
  let lines = parts.join("\n").split("\n");
  const edits = rng.range(0, 4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(lines.length);
    const line = lines[at] ?? "";
    switch (rng.int(6)) {
      case 0: {
        // rewrite a condition line with a mutated condition
        const m = /^(\s*condition:\s*)(.*)$/.exec(line);
        if (m !== null)
          lines[at] = `${m[1]}${JSON.stringify(mutateCondition(rng, m[2] ?? "", seeds.conditions))}`;
        else lines[at] = `  condition: ${JSON.stringify(randomCheck(rng))}`;
        break;
      }
      case 1:
        lines.splice(at, 1);
        break;
      case 2:
        lines.splice(at, 0, line);
        break;
      case 3:
        lines[at] = " ".repeat(rng.range(0, 5)) + line.trimStart();
        break;
      case 4: {
        const c = rng.int(line.length + 1);
        lines[at] =
          line.slice(0, c) + randomString(rng, CHARS.split(""), rng.range(1, 4)) + line.slice(c + rng.int(3));
        break;
      }
      default:
        lines = lines.concat(rng.pick(seeds.items).split("\n"));
    }
  }
  return lines.join("\n");
}
