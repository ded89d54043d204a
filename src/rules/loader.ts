/**
 * Rules-file loader: YAML items in file order (`rule`, `macro`, `list`,
 * `required_engine_version`, `required_plugin_versions`), with Falco's redefinition,
 * `append: true` (deprecated) and `override:` semantics; then every rule is parsed,
 * checked and compiled once all files are loaded, so macros and lists resolve against
 * their final definitions.
 *
 * Ordering semantics (as Falco):
 *  - a later item with the same name redefines the earlier one in place (load order of
 *    the first definition is kept; earlier appends are lost);
 *  - `append: true` / `override:` modify the definition seen so far, so they must come
 *    after it (in the same or an earlier file) or they are an error;
 *  - an item with only `rule` and `enabled` toggles an existing rule.
 */
import type { FieldSchema } from "./fields.js";
import {
  isMap,
  isScalar,
  isSeq,
  parseAllDocuments,
  type Node as YNode,
  type Pair,
  type Scalar,
  type YAMLMap,
} from "yaml";
import type {
  CheckNode,
  Expr,
  FieldExpr,
  ListNode,
  Modifier,
  Operator,
  StringNode,
  ValueNode,
} from "./ast.js";
import { BINARY_OPERATORS, exprText, LIST_OPERATORS, MODIFIABLE_OPERATORS, MODIFIERS } from "./ast.js";
import { BindContext, bindCondition, type ListEntry, type MacroEntry } from "./binder.js";
import { compileCondition, ConditionCompiler } from "./compiler.js";
import { DiagnosticBag, LineIndex, type Diagnostic, type SourceRef } from "./diagnostics.js";
import { eventTypesOf, evtSetToString, isAllTypes, type EvtSet } from "./evttypes.js";
import { fieldsNotProduced } from "./field-events.js";
import { compileOutput } from "./output.js";
import { parseCondition, parseFieldExprAt } from "./parser.js";
import { parsePriority, priorityLevel, type Priority } from "./priority.js";
import { RuleSet, type CompiledRule, type RuleSetOptions } from "./ruleset.js";
import { joinSourced, offsetSource, scalarSource, type SourcedText } from "./yaml-source.js";

/**
 * The Falco engine version whose rules language Lanner implements: 0.62.0 (Falco 0.44) has
 * the comparison modifiers, the transformers and val() Lanner implements; 0.63.0 adds matching
 * on raw bytes with `\xHH` escapes in literals, which Lanner does not (values are UTF-8 text).
 */
export const ENGINE_VERSION = "0.62.0";
/** Plugins whose fields Lanner provides natively. */
export const NATIVE_PLUGINS: ReadonlySet<string> = new Set(["container", "k8smeta"]);
/** Event sources Lanner provides. */
export const SOURCES: ReadonlySet<string> = new Set(["syscall"]);

export interface RulesFileInput {
  /** Name used in diagnostics (normally the path as given). */
  readonly name: string;
  readonly text: string;
}

export interface LoadOptions extends RuleSetOptions {
  /** The fields conditions and outputs are resolved against (the engine's syscall fields). */
  readonly fields: FieldSchema;
  /** Rules less severe than this are loaded and checked but left out of the rule set. */
  readonly minPriority?: Priority;
}

/** What `lanner rules list` shows about every rule, compiled or not. */
export interface RuleInfo {
  readonly name: string;
  readonly desc: string;
  readonly priority: Priority | undefined;
  readonly source: string;
  readonly tags: readonly string[];
  readonly enabled: boolean;
  readonly file: string;
  readonly line: number;
  /** Compiled without errors (false for skipped rules of unknown sources too). */
  readonly compiled: boolean;
  readonly eventTypes: EvtSet | undefined;
}

export interface LoadResult {
  readonly diagnostics: readonly Diagnostic[];
  readonly errors: number;
  readonly warnings: number;
  readonly rules: readonly RuleInfo[];
  /** Compiled rules (enabled or not), load order. */
  readonly compiled: readonly CompiledRule[];
  /** Enabled compiled rules at or above minPriority. */
  readonly ruleset: RuleSet;
  readonly macroCount: number;
  readonly listCount: number;
  /** Final macros and lists, e.g. for compileFilter(text, { macros, lists }). */
  readonly macros: ReadonlyMap<string, MacroEntry>;
  readonly lists: ReadonlyMap<string, ListEntry>;
}

// ------------------------------------------------------------------ definitions

interface ExceptionDef {
  readonly name: string;
  readonly at: SourceRef;
  readonly fields: readonly StringNode[];
  readonly singleField: boolean;
  readonly comps: readonly StringNode[] | undefined;
  readonly values: (ValueNode | readonly ValueNode[])[];
  /** Declared without fields: only valid to append values to an existing exception. */
  readonly noFields: boolean;
}

interface RuleDef {
  name: string;
  at: SourceRef;
  file: string;
  line: number;
  desc: SourcedText | undefined;
  condition: SourcedText | undefined;
  output: SourcedText | undefined;
  priority: Priority | undefined;
  enabled: boolean;
  tags: string[];
  source: string;
  exceptions: ExceptionDef[];
  warnEvttypes: boolean;
  skipIfUnknownFilter: boolean;
  /** Had errors at load time: still checked, never compiled into the rule set. */
  broken: boolean;
  /** Parsed condition; undefined if it did not parse (reported). */
  expr: Expr | undefined;
}

interface MacroDef {
  name: string;
  at: SourceRef;
  condition: SourcedText;
  /** Parsed condition; undefined if it did not parse (reported). */
  expr: Expr | undefined;
}

interface ListDef {
  name: string;
  at: SourceRef;
  items: StringNode[];
}

const RULE_KEYS = new Set([
  "rule",
  "desc",
  "condition",
  "output",
  "priority",
  "enabled",
  "tags",
  "source",
  "exceptions",
  "override",
  "append",
  "capture",
  "capture_duration",
  "warn_evttypes",
  "skip-if-unknown-filter",
]);
const MACRO_KEYS = new Set(["macro", "condition", "append", "override", "source", "required_engine_version"]);
const LIST_KEYS = new Set(["list", "items", "append", "override", "source"]);
const RULE_APPENDABLE = new Set(["condition", "output", "desc", "tags", "exceptions"]);
const RULE_REPLACEABLE = new Set([
  "condition",
  "output",
  "desc",
  "priority",
  "capture",
  "capture_duration",
  "tags",
  "exceptions",
  "enabled",
  "warn_evttypes",
  "skip-if-unknown-filter",
]);

function compareVersions(a: string, b: string): number {
  const pa = a
    .split(/[.+-]/)
    .slice(0, 3)
    .map((x) => Number.parseInt(x, 10) || 0);
  const pb = b
    .split(/[.+-]/)
    .slice(0, 3)
    .map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Deepest YAML nesting handed to the YAML parser. It recurses once per level: thousands of
 * levels overflow its stack (caught, but slow), and near the stack limit V8 can abort the
 * whole process while compiling one of the parser's regular expressions. Rules files nest
 * a handful of levels; a file nested deeper is refused before parsing.
 */
export const MAX_YAML_DEPTH = 500;
/** YAML errors reported per file (one unclosed '[' can make one per following token). */
export const MAX_YAML_ERRORS = 100;

function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/**
 * Offset where an upper bound of the nesting of `text` first exceeds MAX_YAML_DEPTH, or -1.
 * The bound: at each line start, its indentation plus its `- `/`? `/`: ` indicators (each
 * level of block nesting takes at least one column or indicator), plus the flow collections
 * (`[`, `{`) open at that point, counted outside quoted scalars and comments. Linear time.
 */
export function yamlNestingTooDeep(text: string): number {
  const n = text.length;
  let flow = 0;
  let i = 0;
  let lineStart = true;
  while (i < n) {
    if (lineStart) {
      lineStart = false;
      let k = i;
      let block = 0;
      while (k < n) {
        const c = text.charCodeAt(k);
        if (c === 32 || c === 9) {
          block++;
          k++;
        } else if ((c === 45 || c === 63 || c === 58) && (k + 1 >= n || isBlank(text.charCodeAt(k + 1)))) {
          block++;
          k++;
        } else break;
      }
      // a new top-level item: flow collections of earlier items cannot be open here
      if (k === i + 1 && text.charCodeAt(i) === 45) flow = 0;
      if (block + flow > MAX_YAML_DEPTH) return k;
      i = k;
      continue;
    }
    const c = text.charCodeAt(i);
    const prev = i === 0 ? 10 : text.charCodeAt(i - 1);
    const boundary = isBlank(prev) || prev === 91 || prev === 123 || prev === 44 || prev === 58;
    if (c === 10) {
      lineStart = true;
      i++;
    } else if (c === 35 && isBlank(prev)) {
      const nl = text.indexOf("\n", i);
      i = nl < 0 ? n : nl;
    } else if ((c === 39 || c === 34) && boundary) {
      // a quoted scalar: '' escapes in single quotes, backslash escapes in double quotes
      let k = i + 1;
      for (; k < n; k++) {
        const d = text.charCodeAt(k);
        if (c === 34 && d === 92) k++;
        else if (d === c) {
          if (c === 39 && text.charCodeAt(k + 1) === 39) k++;
          else break;
        }
      }
      i = k + 1;
    } else {
      if (c === 91 || c === 123) {
        if (++flow > MAX_YAML_DEPTH) return i;
      } else if ((c === 93 || c === 125) && flow > 0) flow--;
      i++;
    }
  }
  return -1;
}

function yamlMessage(m: string): string {
  if (m.includes("Maximum call stack size exceeded")) return "nested too deeply";
  return m.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "") ?? m;
}

// ------------------------------------------------------------------ per-file reader

class FileReader {
  /** Line starts of the file: every position is a binary search. */
  readonly lc: LineIndex;
  constructor(
    readonly file: string,
    readonly text: string,
    readonly diags: DiagnosticBag,
    readonly loader: Loader,
  ) {
    this.lc = new LineIndex(text);
  }

  srcAt(offset: number): SourceRef {
    return offsetSource(this.file, this.lc, offset);
  }

  nodeSrc(n: YNode | Pair | null | undefined): SourceRef {
    const range = n !== null && n !== undefined && "range" in n ? (n as YNode).range : undefined;
    return this.srcAt(range?.[0] ?? 0);
  }

  error(n: YNode | null | undefined, message: string): void {
    this.diags.at(this.nodeSrc(n), 0, "error", message);
  }
  warn(n: YNode | null | undefined, message: string): void {
    this.diags.at(this.nodeSrc(n), 0, "warning", message);
  }

  load(): void {
    const deep = yamlNestingTooDeep(this.text);
    if (deep >= 0) {
      this.diags.at(
        this.srcAt(deep),
        0,
        "error",
        `invalid YAML: nested too deeply (over ${MAX_YAML_DEPTH} levels of indentation or of '[' and '{')`,
      );
      return;
    }
    let docs;
    // The YAML parser makes an Error object per problem, thousands in a broken file, and a
    // stack trace made most of its time: none are captured while it runs.
    const stackLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      docs = parseAllDocuments(this.text, { prettyErrors: false, uniqueKeys: true });
    } catch (e) {
      this.diags.at(this.srcAt(0), 0, "error", `invalid YAML: ${yamlMessage((e as Error).message)}`);
      return;
    } finally {
      Error.stackTraceLimit = stackLimit;
    }
    const list = Array.isArray(docs) ? docs : [];
    let bad = 0;
    let last = 0;
    for (const doc of list) {
      for (const err of doc.errors) {
        const msg = yamlMessage(err.message);
        // a stack overflow inside the YAML parser repeats on every level: report it once
        if (bad > 0 && msg === "nested too deeply") continue;
        if (++bad <= MAX_YAML_ERRORS) {
          this.diags.at(this.srcAt(err.pos[0]), 0, "error", `invalid YAML: ${msg}`);
          last = err.pos[0];
        }
      }
    }
    if (bad > MAX_YAML_ERRORS) {
      this.diags.at(
        this.srcAt(last),
        0,
        "error",
        `invalid YAML: ${bad - MAX_YAML_ERRORS} more YAML errors after this one are not shown`,
      );
    }
    if (bad > 0) return;
    for (const doc of list) {
      const c = doc.contents;
      if (c === null) continue;
      if (!isSeq(c)) {
        this.error(c, "a rules file must be a YAML sequence of rule, macro and list items");
        continue;
      }
      for (const item of c.items) {
        if (!isMap(item)) {
          this.error(
            item as YNode,
            "each item must be a mapping (rule, macro, list, required_engine_version or required_plugin_versions)",
          );
          continue;
        }
        this.item(item);
      }
    }
  }

  private pairs(m: YAMLMap): Map<string, Pair<unknown, unknown>> {
    const out = new Map<string, Pair<unknown, unknown>>();
    for (const p of m.items) {
      const k = isScalar(p.key) ? String(p.key.value) : undefined;
      if (k !== undefined) out.set(k, p);
    }
    return out;
  }

  private item(m: YAMLMap): void {
    const p = this.pairs(m);
    if (p.has("rule")) this.rule(m, p);
    else if (p.has("macro")) this.macro(m, p);
    else if (p.has("list")) this.list(m, p);
    else if (p.has("required_engine_version")) this.engineVersion(p.get("required_engine_version") as Pair);
    else if (p.has("required_plugin_versions"))
      this.pluginVersions(p.get("required_plugin_versions") as Pair);
    else {
      const first = m.items[0];
      const k = first !== undefined && isScalar(first.key) ? String(first.key.value) : "?";
      this.warn(m, `unknown item '${k}' ignored`);
    }
  }

  // ---- value helpers
  private valueNode(p: Pair | undefined): YNode | null {
    return (p?.value as YNode | null | undefined) ?? null;
  }

  private str(p: Pair | undefined, what: string): { value: string; node: Scalar } | undefined {
    const v = this.valueNode(p);
    if (v === null || !isScalar(v) || v.value === null || typeof v.value === "object") {
      this.error(v ?? (p?.key as YNode), `${what} must be a string`);
      return undefined;
    }
    return { value: String(v.value), node: v };
  }

  private sourced(p: Pair | undefined, what: string): SourcedText | undefined {
    const s = this.str(p, what);
    if (s === undefined) return undefined;
    return { text: s.value, src: scalarSource(this.file, this.text, this.lc, s.node, s.value) };
  }

  private bool(p: Pair | undefined, what: string): boolean | undefined {
    const v = this.valueNode(p);
    if (v !== null && isScalar(v) && typeof v.value === "boolean") return v.value;
    if (v !== null && isScalar(v) && (v.value === "true" || v.value === "false")) return v.value === "true";
    this.error(v ?? (p?.key as YNode), `${what} must be true or false`);
    return undefined;
  }

  private stringList(p: Pair | undefined, what: string): StringNode[] | undefined {
    const v = this.valueNode(p);
    if (v === null || (isScalar(v) && v.value === null)) return [];
    if (!isSeq(v)) {
      this.error(v, `${what} must be a list`);
      return undefined;
    }
    const out: StringNode[] = [];
    for (const it of v.items) {
      if (!isScalar(it) || it.value === null || typeof it.value === "object") {
        this.error(it as YNode, `${what} must contain only strings and numbers`);
        return undefined;
      }
      out.push(this.stringNode(it));
    }
    return out;
  }

  private stringNode(s: Scalar): StringNode {
    const value = String(s.value);
    const quoted = s.type === "QUOTE_DOUBLE" || s.type === "QUOTE_SINGLE";
    return { kind: "string", value, quoted, start: 0, end: value.length, src: this.nodeSrc(s) };
  }

  private checkKeys(m: YAMLMap, allowed: ReadonlySet<string>, what: string): void {
    for (const pr of m.items) {
      const k = isScalar(pr.key) ? String(pr.key.value) : "";
      if (!allowed.has(k)) this.warn(pr.key as YNode, `unknown key '${k}' in ${what}`);
    }
  }

  /** append / override handling common to all items. Returns the mode per key or undefined. */
  private modifiers(
    m: YAMLMap,
    p: Map<string, Pair>,
    kind: string,
    name: string,
    appendable: ReadonlySet<string>,
    replaceable: ReadonlySet<string>,
  ): { append: boolean; override: Map<string, "append" | "replace"> | undefined } | undefined {
    let append = false;
    const ap = p.get("append");
    if (ap !== undefined) {
      const b = this.bool(ap, `'append' of ${kind} '${name}'`);
      if (b === undefined) return undefined;
      append = b;
    }
    const op = p.get("override");
    if (op === undefined) {
      if (append) this.warn(ap?.key as YNode, `'append' is deprecated; use 'override' (${kind} '${name}')`);
      return { append, override: undefined };
    }
    if (ap !== undefined) {
      this.error(op.key as YNode, `${kind} '${name}': 'append' and 'override' cannot be used together`);
      return undefined;
    }
    const ov = this.valueNode(op);
    if (!isMap(ov)) {
      this.error(
        ov ?? (op.key as YNode),
        `'override' of ${kind} '${name}' must be a mapping of keys to append or replace`,
      );
      return undefined;
    }
    const modes = new Map<string, "append" | "replace">();
    const listed = new Set<string>();
    let ok = true;
    for (const pr of ov.items) {
      const k = isScalar(pr.key) ? String(pr.key.value) : "";
      listed.add(k);
      const v = isScalar(pr.value) ? String(pr.value.value) : "";
      if (v !== "append" && v !== "replace") {
        this.error(
          (pr.value ?? pr.key) as YNode,
          `override of '${k}' must be 'append' or 'replace', not '${v}'`,
        );
        ok = false;
        continue;
      }
      if ((v === "append" ? appendable : replaceable).has(k) === false) {
        this.error(pr.key as YNode, `${kind} '${name}': key '${k}' cannot be overridden with '${v}'`);
        ok = false;
        continue;
      }
      if (!p.has(k)) {
        this.error(pr.key as YNode, `${kind} '${name}': override of '${k}' but the item has no '${k}' key`);
        ok = false;
        continue;
      }
      modes.set(k, v);
    }
    for (const pr of m.items) {
      const k = isScalar(pr.key) ? String(pr.key.value) : "";
      if (k === kind || k === "override" || listed.has(k)) continue;
      if (appendable.has(k) || replaceable.has(k)) {
        this.error(pr.key as YNode, `${kind} '${name}': key '${k}' is not listed in 'override'`);
        ok = false;
      }
    }
    return ok ? { append: false, override: modes } : undefined;
  }

  /** Parse a (possibly appended) condition; errors are reported and give undefined. */
  private parse(c: SourcedText, what: string): Expr | undefined {
    const r = parseCondition(c.text, c.src);
    if (r.ok) return r.expr;
    this.diags.at(c.src, r.error.offset, "error", `${what}: ${r.error.message}`);
    return undefined;
  }

  // ---- items
  private engineVersion(p: Pair): void {
    const v = this.valueNode(p);
    if (v === null || !isScalar(v)) {
      this.error(v ?? (p.key as YNode), "required_engine_version must be a version string");
      return;
    }
    const s = String(v.value);
    const ver = /^\d+$/.test(s) ? `0.${s}.0` : s;
    if (!/^\d+\.\d+\.\d+/.test(ver)) {
      this.error(v, `required_engine_version '${s}' is not a version`);
      return;
    }
    if (compareVersions(ver, ENGINE_VERSION) > 0) {
      this.error(v, `rules require engine version ${s}, Lanner implements engine version ${ENGINE_VERSION}`);
    }
  }

  private pluginVersions(p: Pair): void {
    const v = this.valueNode(p);
    if (!isSeq(v)) {
      this.error(v ?? (p.key as YNode), "required_plugin_versions must be a list");
      return;
    }
    for (const it of v.items) {
      if (!isMap(it)) {
        this.error(it as YNode, "required_plugin_versions entries must have name and version");
        continue;
      }
      const ip = this.pairs(it);
      const name = this.str(ip.get("name"), "plugin 'name'");
      if (name === undefined) continue;
      if (!ip.has("version")) this.error(it, `required plugin '${name.value}' has no version`);
      const names = [name.value];
      const alts = this.valueNode(ip.get("alternatives"));
      if (isSeq(alts)) {
        for (const a of alts.items) {
          if (isMap(a)) {
            const an = a.get("name");
            if (typeof an === "string") names.push(an);
          }
        }
      }
      if (names.some((n) => NATIVE_PLUGINS.has(n))) continue;
      this.warn(
        name.node,
        `plugin '${name.value}' is not available: Lanner provides syscall, container and k8s fields natively; rules using this plugin's fields or source will not load`,
      );
    }
  }

  private list(m: YAMLMap, p: Map<string, Pair>): void {
    const n = this.str(p.get("list"), "'list' name");
    if (n === undefined) return;
    const name = n.value;
    this.checkKeys(m, LIST_KEYS, `list '${name}'`);
    if (!/^[A-Za-z_][A-Za-z0-9_.:\-/]*$/.test(name))
      this.warn(n.node, `list name '${name}' is not a valid identifier`);
    const mods = this.modifiers(m, p, "list", name, new Set(["items"]), new Set(["items"]));
    if (mods === undefined) return;
    if (!p.has("items")) {
      this.error(m, `list '${name}' has no 'items'`);
      return;
    }
    const items = this.stringList(p.get("items"), `'items' of list '${name}'`);
    if (items === undefined) return;
    const existing = this.loader.lists.get(name);
    const mode = mods.append ? "append" : mods.override?.get("items");
    if (mods.append || mods.override !== undefined) {
      if (existing === undefined) {
        this.error(
          n.node,
          `list '${name}' has 'append' or an override but no list by that name is defined before it`,
        );
        return;
      }
      if (mode === "append")
        for (const it of items) existing.items.push(it); // no push(...): huge lists
      else if (mode === "replace") existing.items = items;
      return;
    }
    const def: ListDef = { name, at: this.nodeSrc(m), items };
    this.loader.lists.set(name, def); // Map.set keeps the original insertion position
  }

  private macro(m: YAMLMap, p: Map<string, Pair>): void {
    const n = this.str(p.get("macro"), "'macro' name");
    if (n === undefined) return;
    const name = n.value;
    this.checkKeys(m, MACRO_KEYS, `macro '${name}'`);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      this.warn(n.node, `macro name '${name}' is not a valid identifier`);
    const mods = this.modifiers(m, p, "macro", name, new Set(["condition"]), new Set(["condition"]));
    if (mods === undefined) return;
    if (!p.has("condition")) {
      this.error(m, `macro '${name}' has no 'condition'`);
      return;
    }
    const cond = this.sourced(p.get("condition"), `'condition' of macro '${name}'`);
    if (cond === undefined) return;
    const existing = this.loader.macros.get(name);
    if (mods.append || mods.override !== undefined) {
      if (existing === undefined) {
        this.error(
          n.node,
          `macro '${name}' has 'append' or an override but no macro by that name is defined before it`,
        );
        return;
      }
      const mode = mods.append ? "append" : mods.override?.get("condition");
      const next = mode === "append" ? joinSourced(existing.condition, cond) : cond;
      const expr = this.parse(next, `macro '${name}'`);
      if (expr === undefined && existing.expr !== undefined) return; // keep what was accepted
      existing.condition = next;
      existing.expr = expr;
      return;
    }
    const expr = this.parse(cond, `macro '${name}'`);
    if (expr === undefined && existing?.expr !== undefined) return; // keep what was accepted
    this.loader.macros.set(name, { name, at: this.nodeSrc(m), condition: cond, expr });
  }

  private exceptions(p: Pair | undefined, ruleName: string): { list: ExceptionDef[]; ok: boolean } {
    const v = this.valueNode(p);
    if (v === null || (isScalar(v) && v.value === null)) return { list: [], ok: true };
    if (!isSeq(v)) {
      this.error(v, `'exceptions' of rule '${ruleName}' must be a list`);
      return { list: [], ok: false };
    }
    const out: ExceptionDef[] = [];
    let ok = true;
    for (const it of v.items) {
      if (!isMap(it)) {
        this.error(
          it as YNode,
          `exceptions of rule '${ruleName}' must be mappings with name, fields, comps and values`,
        );
        ok = false;
        continue;
      }
      const ip = this.pairs(it);
      for (const pr of it.items) {
        const k = isScalar(pr.key) ? String(pr.key.value) : "";
        if (!["name", "fields", "comps", "values"].includes(k))
          this.warn(pr.key as YNode, `unknown key '${k}' in exception of rule '${ruleName}'`);
      }
      const nm = this.str(ip.get("name"), `exception 'name' in rule '${ruleName}'`);
      if (nm === undefined) {
        ok = false;
        continue;
      }
      const what = `exception '${nm.value}' of rule '${ruleName}'`;
      const fv = this.valueNode(ip.get("fields"));
      let fields: StringNode[] = [];
      let single = false;
      if (fv !== null && isScalar(fv) && typeof fv.value === "string") {
        fields = [this.stringNode(fv)];
        single = true;
      } else if (fv !== null && isSeq(fv)) {
        const l = this.stringList(ip.get("fields"), `'fields' of ${what}`);
        if (l === undefined) {
          ok = false;
          continue;
        }
        fields = l;
      } else if (ip.has("fields")) {
        this.error(fv ?? it, `${what}: 'fields' must be a field name or a list of field names`);
        ok = false;
        continue;
      }
      const noFields = !ip.has("fields");
      let comps: StringNode[] | undefined;
      const cv = this.valueNode(ip.get("comps"));
      if (cv !== null) {
        if (single) {
          if (!isScalar(cv)) {
            this.error(cv, `${what}: with a single field, 'comps' must be one operator`);
            ok = false;
            continue;
          }
          comps = [this.stringNode(cv)];
        } else {
          const l = this.stringList(ip.get("comps"), `'comps' of ${what}`);
          if (l === undefined) {
            ok = false;
            continue;
          }
          if (l.length !== fields.length) {
            this.error(cv, `${what}: 'fields' has ${fields.length} entries but 'comps' has ${l.length}`);
            ok = false;
            continue;
          }
          comps = l;
        }
      }
      const values: (ValueNode | ValueNode[])[] = [];
      const vv = this.valueNode(ip.get("values"));
      if (vv !== null && !(isScalar(vv) && vv.value === null)) {
        if (!isSeq(vv)) {
          this.error(vv, `${what}: 'values' must be a list`);
          ok = false;
          continue;
        }
        for (const val of vv.items) {
          if (noFields) {
            // values appended to an existing exception: shape checked when merged
            if (isSeq(val)) {
              const tuple: ValueNode[] = [];
              for (const x of val.items) {
                const y = this.valueOf(x as YNode, what);
                if (y === undefined) ok = false;
                else tuple.push(y);
              }
              values.push(tuple);
            } else {
              const x = this.valueOf(val as YNode, what);
              if (x === undefined) ok = false;
              else values.push(x);
            }
          } else if (single) {
            const x = this.valueOf(val as YNode, what);
            if (x === undefined) ok = false;
            else values.push(x);
          } else {
            if (!isSeq(val)) {
              this.error(
                val as YNode,
                `${what}: each entry of 'values' must be a list of ${fields.length} values (one per field)`,
              );
              ok = false;
              continue;
            }
            if (val.items.length !== fields.length) {
              this.error(
                val,
                `${what}: values entry has ${val.items.length} item${val.items.length === 1 ? "" : "s"} but 'fields' has ${fields.length}`,
              );
              ok = false;
              continue;
            }
            const tuple: ValueNode[] = [];
            for (const x of val.items) {
              const y = this.valueOf(x as YNode, what);
              if (y === undefined) ok = false;
              else tuple.push(y);
            }
            if (tuple.length === fields.length) values.push(tuple);
          }
        }
      }
      if (out.some((e) => e.name === nm.value))
        this.warn(nm.node, `exception name '${nm.value}' is not unique in rule '${ruleName}'`);
      out.push({
        name: nm.value,
        at: this.nodeSrc(nm.node),
        fields,
        singleField: single,
        comps,
        values,
        noFields,
      });
    }
    return { list: out, ok };
  }

  /** Values appended to exception `pe`, checked against its fields. */
  private reshape(pe: ExceptionDef, e: ExceptionDef): (ValueNode | readonly ValueNode[])[] {
    if (!e.noFields) return e.values;
    const out: (ValueNode | readonly ValueNode[])[] = [];
    const what = `exception '${e.name}'`;
    for (const v of e.values) {
      if (pe.singleField) {
        if (Array.isArray(v)) {
          const items = (v as ValueNode[]).filter((x): x is StringNode => x.kind === "string");
          out.push({ kind: "list", items, start: 0, end: 0, src: e.at });
        } else out.push(v);
      } else if (!Array.isArray(v) || v.length !== pe.fields.length) {
        const n = Array.isArray(v) ? v.length : 1;
        this.diags.at(
          e.at,
          0,
          "error",
          `${what}: values entry has ${n} item${n === 1 ? "" : "s"} but 'fields' has ${pe.fields.length}`,
        );
      } else out.push(v);
    }
    return out;
  }

  private valueOf(n: YNode, what: string): ValueNode | undefined {
    if (isScalar(n) && n.value !== null && typeof n.value !== "object") return this.stringNode(n);
    if (isSeq(n)) {
      const items: StringNode[] = [];
      for (const x of n.items) {
        if (!isScalar(x) || x.value === null || typeof x.value === "object") {
          this.error(x as YNode, `${what}: values must be strings, numbers or lists of them`);
          return undefined;
        }
        items.push(this.stringNode(x));
      }
      const src = this.nodeSrc(n);
      return { kind: "list", items, start: 0, end: 0, src } satisfies ListNode;
    }
    this.error(n, `${what}: values must be strings, numbers or lists of them`);
    return undefined;
  }

  private rule(m: YAMLMap, p: Map<string, Pair>): void {
    const n = this.str(p.get("rule"), "'rule' name");
    if (n === undefined) return;
    const name = n.value;
    this.checkKeys(m, RULE_KEYS, `rule '${name}'`);
    const mods = this.modifiers(m, p, "rule", name, RULE_APPENDABLE, RULE_REPLACEABLE);
    if (mods === undefined) return;
    const existing = this.loader.rules.get(name);
    const keys = [...p.keys()];

    // read every present key (errors reported even for partial items)
    let ok = true;
    const cond = p.has("condition")
      ? this.sourced(p.get("condition"), `'condition' of rule '${name}'`)
      : undefined;
    const output = p.has("output") ? this.sourced(p.get("output"), `'output' of rule '${name}'`) : undefined;
    const desc = p.has("desc") ? this.sourced(p.get("desc"), `'desc' of rule '${name}'`) : undefined;
    if (
      (p.has("condition") && cond === undefined) ||
      (p.has("output") && output === undefined) ||
      (p.has("desc") && desc === undefined)
    )
      ok = false;
    let priority: Priority | undefined;
    if (p.has("priority")) {
      const ps = this.str(p.get("priority"), `'priority' of rule '${name}'`);
      if (ps !== undefined) {
        priority = parsePriority(ps.value);
        if (priority === undefined) {
          this.error(
            ps.node,
            `invalid priority '${ps.value}' (expected one of emergency, alert, critical, error, warning, notice, informational, info, debug)`,
          );
          ok = false;
        }
      } else ok = false;
    }
    let enabled: boolean | undefined;
    if (p.has("enabled")) {
      enabled = this.bool(p.get("enabled"), `'enabled' of rule '${name}'`);
      if (enabled === undefined) ok = false;
    }
    let tags: string[] | undefined;
    if (p.has("tags")) {
      const t = this.stringList(p.get("tags"), `'tags' of rule '${name}'`);
      if (t === undefined) ok = false;
      else tags = t.map((x) => x.value);
    }
    let source: string | undefined;
    if (p.has("source")) {
      const s = this.str(p.get("source"), `'source' of rule '${name}'`);
      if (s === undefined) ok = false;
      else source = s.value;
    }
    const flag = (k: string): boolean | undefined => {
      if (!p.has(k)) return undefined;
      const b = this.bool(p.get(k), `'${k}' of rule '${name}'`);
      if (b === undefined) ok = false;
      return b;
    };
    const warnEvttypes = flag("warn_evttypes");
    const skipUnknown = flag("skip-if-unknown-filter");
    if (flag("capture") === true || p.has("capture_duration"))
      this.warn(
        (p.get("capture") ?? p.get("capture_duration"))?.key as YNode,
        `rule '${name}': 'capture' and 'capture_duration' are ignored: Lanner does not write capture files`,
      );
    let exceptions: ExceptionDef[] | undefined;
    if (p.has("exceptions")) {
      const ex = this.exceptions(p.get("exceptions"), name);
      exceptions = ex.list;
      if (!ex.ok) ok = false;
    }

    const isModifier = mods.append || mods.override !== undefined;
    if (!ok && isModifier) return; // problems reported; do not half-apply a modification
    const onlyEnabled = !isModifier && keys.every((k) => k === "rule" || k === "enabled") && p.has("enabled");
    if (onlyEnabled && !ok) return;
    if (isModifier || onlyEnabled) {
      if (existing === undefined) {
        const what = onlyEnabled ? "only 'enabled'" : "'append' or an override";
        this.error(n.node, `rule '${name}' has ${what} but no rule by that name is defined before it`);
        return;
      }
      if (onlyEnabled) {
        existing.enabled = enabled as boolean;
        return;
      }
      const modeOf = (k: string): "append" | "replace" | undefined =>
        mods.append ? (RULE_APPENDABLE.has(k) ? "append" : "replace") : mods.override?.get(k);
      if (cond !== undefined) {
        const next =
          modeOf("condition") === "append" && existing.condition !== undefined
            ? joinSourced(existing.condition, cond)
            : cond;
        const expr = this.parse(next, `rule '${name}'`);
        if (expr === undefined && existing.expr !== undefined) return; // keep what was accepted
        existing.condition = next;
        existing.expr = expr;
      }
      if (output !== undefined)
        existing.output =
          modeOf("output") === "append" && existing.output !== undefined
            ? joinSourced(existing.output, output)
            : output;
      if (desc !== undefined)
        existing.desc =
          modeOf("desc") === "append" && existing.desc !== undefined
            ? joinSourced(existing.desc, desc)
            : desc;
      if (tags !== undefined)
        existing.tags =
          modeOf("tags") === "append"
            ? [...existing.tags, ...tags.filter((t) => !existing.tags.includes(t))]
            : tags;
      if (exceptions !== undefined) {
        if (modeOf("exceptions") === "append") {
          for (const e of exceptions) {
            const prev = existing.exceptions.findIndex((x) => x.name === e.name);
            const pe = existing.exceptions[prev];
            if (pe !== undefined) {
              existing.exceptions[prev] = { ...pe, values: [...pe.values, ...this.reshape(pe, e)] };
            } else existing.exceptions.push(e);
          }
        } else existing.exceptions = exceptions;
      }
      if (priority !== undefined) existing.priority = priority;
      if (enabled !== undefined) existing.enabled = enabled;
      if (warnEvttypes !== undefined) existing.warnEvttypes = warnEvttypes;
      if (skipUnknown !== undefined) existing.skipIfUnknownFilter = skipUnknown;
      return;
    }

    // full definition
    const missing = ["condition", "output", "desc", "priority"].filter((k) => !p.has(k));
    if (missing.length > 0) {
      this.error(n.node, `rule '${name}' has no ${missing.map((k) => `'${k}'`).join(", ")}`);
      return;
    }
    const expr = cond === undefined ? undefined : this.parse(cond, `rule '${name}'`);
    // a broken redefinition keeps the rule that was already accepted
    if ((!ok || expr === undefined) && existing !== undefined && !existing.broken) return;
    const pos = this.lc.linePos(n.node.range?.[0] ?? 0);
    const def: RuleDef = {
      name,
      at: this.nodeSrc(n.node),
      file: this.file,
      line: pos.line,
      desc,
      condition: cond,
      output,
      priority,
      enabled: enabled ?? true,
      tags: tags ?? [],
      source: source ?? "syscall",
      exceptions: exceptions ?? [],
      warnEvttypes: warnEvttypes ?? true,
      skipIfUnknownFilter: skipUnknown ?? false,
      broken: !ok || expr === undefined,
      expr,
    };
    this.loader.rules.set(name, def);
  }
}

// ------------------------------------------------------------------ exceptions -> AST

/** An exception's field: a field name (`proc.aname[2]`) or a transformer (`tolower(proc.name)`). */
function fieldNodeOf(s: StringNode): FieldExpr {
  const r = parseFieldExprAt(s.value, 0, s.src);
  if (r.ok && s.value.slice(r.end).trim() === "") return r.expr;
  const m = /^([^[\]]+)(?:\[(.*)\])?$/.exec(s.value);
  const name = m?.[1] ?? s.value;
  const arg = m?.[2];
  return {
    kind: "field",
    name,
    arg,
    argStart: arg === undefined ? undefined : name.length + 1,
    start: s.start,
    end: s.end,
    src: s.src,
  };
}

const LIST_OPS = new Set<string>(LIST_OPERATORS);
const ALL_OPS = new Set<string>([...BINARY_OPERATORS, ...LIST_OPERATORS]);

function exceptionExpr(e: ExceptionDef, ruleName: string, diags: DiagnosticBag): Expr | undefined {
  const what = `exception '${e.name}' of rule '${ruleName}'`;
  if (e.noFields) {
    diags.at(e.at, 0, "error", `${what} has no 'fields'`);
    return undefined;
  }
  if (e.values.length === 0 || e.fields.length === 0) return undefined;
  let ok = true;
  const comps: { op: Operator; modifier: Modifier | undefined }[] = e.fields.map((_, i) => {
    const c = e.comps?.[i];
    const text = c?.value.trim() ?? (e.singleField ? "in" : "=");
    const [opText = "", modText] = text.split(/\s+/);
    if (
      !ALL_OPS.has(opText) ||
      (modText !== undefined && !(MODIFIERS as readonly string[]).includes(modText))
    ) {
      diags.at(c?.src ?? e.at, 0, "error", `${what}: unknown comparison operator '${text}'`);
      ok = false;
    } else if (modText !== undefined && !MODIFIABLE_OPERATORS.has(opText)) {
      diags.at(c?.src ?? e.at, 0, "error", `${what}: operator '${opText}' does not take '${modText}'`);
      ok = false;
    } else if (e.singleField && !LIST_OPS.has(opText) && modText === undefined) {
      diags.at(
        c?.src ?? e.at,
        0,
        "error",
        `${what}: with a single field, comps must be in, pmatch, intersects or an operator with oneof/anyof/allof`,
      );
      ok = false;
    }
    return { op: opText as Operator, modifier: modText as Modifier | undefined };
  });
  if (!ok) return undefined;
  const check = (
    field: StringNode,
    comp: { op: Operator; modifier: Modifier | undefined },
    value: ValueNode,
  ): CheckNode | undefined => {
    const lhs = fieldNodeOf(field);
    let rhs: ValueNode = value;
    const takesList = LIST_OPS.has(comp.op) || comp.modifier !== undefined;
    if (takesList && value.kind === "string") {
      rhs = {
        kind: "list",
        items: [{ ...value, quoted: false }],
        start: value.start,
        end: value.end,
        src: value.src,
      };
    } else if (!takesList && value.kind === "list") {
      diags.at(
        value.src,
        0,
        "error",
        `${what}: value for '${field.value}' is a list but '${comp.op}' takes one value`,
      );
      return undefined;
    }
    return {
      kind: "check",
      lhs,
      op: comp.op,
      opStart: 0,
      modifier: comp.modifier,
      rhs,
      start: 0,
      end: 0,
      src: field.src,
    };
  };
  const alts: Expr[] = [];
  if (e.singleField) {
    const field = e.fields[0] as StringNode;
    const comp = comps[0] as { op: Operator; modifier: Modifier | undefined };
    const items: StringNode[] = [];
    const lists: ListNode[] = [];
    for (const v of e.values as ValueNode[]) {
      if (v.kind === "string") items.push({ ...v, quoted: false });
      else if (v.kind === "list") lists.push(v);
    }
    const all: (StringNode | ListNode)[] = [...items, ...lists];
    const c = check(field, comp, { kind: "list", items: all, start: 0, end: 0, src: e.at });
    if (c === undefined) return undefined;
    alts.push(c);
  } else {
    for (const tuple of e.values as (readonly ValueNode[])[]) {
      const ands: Expr[] = [];
      for (let i = 0; i < e.fields.length; i++) {
        const c = check(
          e.fields[i] as StringNode,
          comps[i] as { op: Operator; modifier: Modifier | undefined },
          tuple[i] as ValueNode,
        );
        if (c === undefined) return undefined;
        ands.push(c);
      }
      alts.push(
        ands.length === 1 ? (ands[0] as Expr) : { kind: "and", items: ands, start: 0, end: 0, src: e.at },
      );
    }
  }
  return alts.length === 1 ? (alts[0] as Expr) : { kind: "or", items: alts, start: 0, end: 0, src: e.at };
}

// ------------------------------------------------------------------ loader

class Loader {
  /** specialises conditions per event type for the fields-per-event check */
  readonly specializer = new ConditionCompiler();
  readonly rules = new Map<string, RuleDef>();
  readonly macros = new Map<string, MacroDef>();
  readonly lists = new Map<string, ListDef>();
  readonly diags = new DiagnosticBag();

  load(files: readonly RulesFileInput[], opts: LoadOptions): LoadResult {
    for (const f of files) new FileReader(f.name, f.text, this.diags, this).load();

    const macroEntries = new Map<string, MacroEntry>();
    for (const m of this.macros.values()) macroEntries.set(m.name, { name: m.name, expr: m.expr });
    const listEntries = new Map<string, ListEntry>();
    for (const l of this.lists.values()) listEntries.set(l.name, { name: l.name, items: l.items });
    const ctx = new BindContext(macroEntries, listEntries, this.diags, opts.fields);

    const infos: RuleInfo[] = [];
    const compiled: CompiledRule[] = [];
    for (const r of this.rules.values()) {
      const c = this.compileRule(r, ctx, compiled.length);
      if (c !== undefined) compiled.push(c);
      infos.push({
        name: r.name,
        desc: r.desc?.text ?? "",
        priority: r.priority,
        source: r.source,
        tags: r.tags,
        enabled: r.enabled,
        file: r.file,
        line: r.line,
        compiled: c !== undefined,
        eventTypes: c?.eventTypes,
      });
    }
    const min = opts.minPriority === undefined ? 7 : priorityLevel(opts.minPriority);
    const ruleset = new RuleSet(
      compiled.filter((c) => c.priorityLevel <= min),
      opts,
    );
    const order = new Map(files.map((f, i) => [f.name, i]));
    const diagnostics = [...this.diags.items].sort(
      (a, b) => (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) || a.line - b.line || a.col - b.col,
    );
    return {
      diagnostics,
      errors: this.diags.errorCount,
      warnings: this.diags.warningCount,
      rules: infos,
      compiled,
      ruleset,
      macroCount: this.macros.size,
      listCount: this.lists.size,
      macros: macroEntries,
      lists: listEntries,
    };
  }

  private compileRule(r: RuleDef, ctx: BindContext, index: number): CompiledRule | undefined {
    if (!SOURCES.has(r.source)) {
      this.diags.at(
        r.at,
        0,
        "warning",
        `rule '${r.name}' has source '${r.source}', which Lanner does not provide; rule skipped`,
      );
      return undefined;
    }
    const cond = r.condition;
    if (cond === undefined || r.output === undefined) return undefined;
    if (r.expr === undefined) return undefined; // parse error reported at load
    let expr: Expr = r.expr;
    let exOk = true;
    const nots: Expr[] = [];
    for (const e of r.exceptions) {
      const x = exceptionExpr(e, r.name, this.diags);
      if (x === undefined) {
        if (e.noFields || (e.values.length > 0 && e.fields.length > 0)) exOk = false;
        continue;
      }
      nots.push({ kind: "not", expr: x, start: 0, end: 0, src: e.at });
    }
    if (nots.length > 0)
      expr = { kind: "and", items: [expr, ...nots], start: expr.start, end: expr.end, src: cond.src };

    // skip-if-unknown-filter: bind into a scratch bag and drop it if an unknown field was the problem
    const outer = ctx.diags;
    const scratch = new DiagnosticBag();
    ctx.diags = scratch;
    ctx.owner = `rule '${r.name}'`;
    const b = bindCondition(expr, ctx);
    ctx.diags = outer;
    if (b.unknownField && r.skipIfUnknownFilter) {
      this.diags.at(
        cond.src,
        0,
        "warning",
        `rule '${r.name}' skipped: its condition uses a field Lanner does not know (skip-if-unknown-filter)`,
      );
      return undefined;
    }
    for (const d of scratch.items) this.diags.add(d);
    const out = compileOutput(r.output.text, this.diags, r.output.src, ctx);
    ctx.owner = undefined;
    if (b.bound === undefined || !out.ok || !exOk || r.broken || r.priority === undefined) return undefined;
    const types = eventTypesOf(b.bound);
    for (const [field, evts] of fieldsNotProduced(b.bound, types, this.specializer)) {
      this.diags.at(
        cond.src,
        0,
        "warning",
        `rule '${r.name}': field '${field}' is never produced for ${evts.join(", ")} events, which the rule can match: checks on it are false there`,
      );
    }
    if (r.warnEvttypes && types.neg) {
      const what = isAllTypes(types) ? "every event type" : `${evtSetToString(types)} event types`;
      this.diags.at(
        cond.src,
        0,
        "warning",
        `rule '${r.name}' matches ${what}: add an evt.type condition (or warn_evttypes: false); it will be evaluated for every event`,
      );
    }
    return {
      name: r.name,
      desc: r.desc?.text ?? "",
      priority: r.priority,
      priorityLevel: priorityLevel(r.priority),
      source: r.source,
      tags: r.tags,
      enabled: r.enabled,
      condition: compileCondition(b.bound),
      bound: b.bound,
      conditionText: exprText(expr),
      output: out.template,
      eventTypes: types,
      file: r.file,
      line: r.line,
      index,
    };
  }
}

/** Load rules files in order and compile every rule. Never throws on bad input. */
export function loadRules(files: readonly RulesFileInput[], opts: LoadOptions): LoadResult {
  return new Loader().load(files, opts);
}
