/**
 * A bpftrace program's top level, parsed just enough to scope it: which probes each block
 * has, where its predicate and body are, which `$container_*` variables it uses; then the
 * rewrite that confines every task-context probe to a set of cgroup v2 ids and substitutes
 * `$container_pid`.
 *
 * Grammar (top level only; expressions and statements are bpftrace's business):
 *
 *   program    = { item } ;
 *   item       = preprocessor | definition | config | block ;
 *   preprocessor = "#" ... end of line (backslash-newline continues it) ;
 *   definition = ( "struct" | "union" | "enum" | "typedef" ) ... ";"   (braces balanced) ;
 *   config     = "config" "=" "{" ... "}"      (bpftrace >= 0.19; passed through) ;
 *   block      = probe { "," probe } [ "/" predicate "/" ] "{" body "}" ;
 *   probe      = word of anything but whitespace, "," and "{" (quoted parts may hold those;
 *                "/" belongs to the probe, as in bpftrace: `uprobe:/bin/sh:main`) ;
 *   predicate  = up to the last "/" before the first "{" outside parentheses, strings and
 *                comments (so `/pid / 2 == 1/` is one predicate) ;
 *   body       = balanced braces; strings and comments may hold braces.
 * Comments (`//`, `/* *\/`) and whitespace go anywhere between items and inside them.
 *
 * The rewrite is line-preserving: nothing it inserts holds a newline, removed probes are
 * blanked with spaces, and the copy a mixed probe list needs is appended to the block's last
 * line. bpftrace's line numbers are therefore the user's; columns are mapped back with
 * `Rewritten.originalPosition`.
 */

export type ProbeContext = "task" | "special" | "unscopable";

/** Probe types (and bpftrace's short names) and whether they run in a task's context. */
const PROBE_TYPES: ReadonlyMap<string, ProbeContext> = new Map<string, ProbeContext>([
  ["tracepoint", "task"],
  ["t", "task"],
  ["rawtracepoint", "task"],
  ["rt", "task"],
  ["kprobe", "task"],
  ["k", "task"],
  ["kretprobe", "task"],
  ["kr", "task"],
  ["uprobe", "task"],
  ["u", "task"],
  ["uretprobe", "task"],
  ["ur", "task"],
  ["usdt", "task"],
  ["U", "task"],
  ["kfunc", "task"],
  ["f", "task"],
  ["kretfunc", "task"],
  ["fr", "task"],
  ["fentry", "task"],
  ["fexit", "task"],
  ["software", "task"],
  ["s", "task"],
  ["hardware", "task"],
  ["h", "task"],
  ["profile", "task"],
  ["p", "task"],
  ["watchpoint", "task"],
  ["w", "task"],
  ["asyncwatchpoint", "task"],
  ["aw", "task"],
  ["BEGIN", "special"],
  ["END", "special"],
  ["begin", "special"],
  ["end", "special"],
  ["interval", "special"],
  ["i", "special"],
  // an iterator runs in the reader's (bpftrace's) context: a cgroup test would drop it all
  ["iter", "unscopable"],
  ["it", "unscopable"],
]);

/** The variables the rewrite provides. */
export const CONTAINER_VARIABLES = ["$container_pid"] as const;

/** A problem in the program's text, at a 1-based line and column. */
export class ProgramError extends Error {
  override readonly name = "ProgramError";
  constructor(
    readonly line: number,
    readonly col: number,
    readonly reason: string,
  ) {
    super(`${line}:${col}: ${reason}`);
  }
}

export interface Probe {
  readonly text: string;
  readonly start: number;
  readonly end: number;
  /** the part before the first ':' (the whole text for BEGIN/END) */
  readonly type: string;
  readonly context: ProbeContext;
}

export interface ProbeBlock {
  readonly probes: readonly Probe[];
  /** offsets of the commas between probes (commas[i] separates probes i and i+1) */
  readonly commas: readonly number[];
  /** offsets of the predicate's opening and closing '/' */
  readonly predicate: { readonly open: number; readonly close: number } | null;
  /** offsets of the body's '{' and '}' */
  readonly body: { readonly open: number; readonly close: number };
}

export interface VariableUse {
  readonly name: string;
  readonly start: number;
}

export interface ParsedProgram {
  readonly source: string;
  readonly blocks: readonly ProbeBlock[];
  /** `$container_*` uses outside strings and comments (inside probe specs too) */
  readonly variables: readonly VariableUse[];
  /** comment ranges [start, end) */
  readonly comments: ReadonlyArray<readonly [number, number]>;
  /** preprocessor line ranges [start, end) */
  readonly preprocessor: ReadonlyArray<readonly [number, number]>;
}

/** Maximum program size (bytes): bpftrace programs are small; this bounds the work. */
export const MAX_PROGRAM_BYTES = 1 << 20;

function lineStarts(s: string): number[] {
  const out = [0];
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 10) out.push(i + 1);
  return out;
}

/** 1-based line and column of an offset. */
export function positionOf(starts: readonly number[], offset: number): { line: number; col: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] as number) <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, col: offset - (starts[lo] as number) + 1 };
}

const IDENT_START = /[A-Za-z_]/;
const VAR_RE = /\$[A-Za-z_][A-Za-z0-9_]*/y;

class Parser {
  private pos = 0;
  private readonly starts: number[];
  readonly blocks: ProbeBlock[] = [];
  readonly variables: VariableUse[] = [];
  readonly comments: Array<readonly [number, number]> = [];
  readonly preprocessor: Array<readonly [number, number]> = [];

  constructor(private readonly src: string) {
    this.starts = lineStarts(src);
  }

  error(offset: number, reason: string): ProgramError {
    const p = positionOf(this.starts, offset);
    return new ProgramError(p.line, p.col, reason);
  }

  private at(i = 0): string {
    return this.src[this.pos + i] ?? "";
  }

  private atLineStart(offset: number): boolean {
    for (let i = offset - 1; i >= 0; i--) {
      const c = this.src[i];
      if (c === "\n") return true;
      if (c !== " " && c !== "\t" && c !== "\r") return false;
    }
    return true;
  }

  /** Skips a comment at pos if there is one; true if it did. */
  private comment(): boolean {
    if (this.at() !== "/") return false;
    const start = this.pos;
    if (this.at(1) === "/") {
      const nl = this.src.indexOf("\n", this.pos);
      this.pos = nl < 0 ? this.src.length : nl;
      this.comments.push([start, this.pos]);
      return true;
    }
    if (this.at(1) === "*") {
      const end = this.src.indexOf("*/", this.pos + 2);
      if (end < 0) throw this.error(start, "unterminated comment '/*'");
      this.pos = end + 2;
      this.comments.push([start, this.pos]);
      return true;
    }
    return false;
  }

  private trivia(): void {
    for (;;) {
      const c = this.at();
      if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v") this.pos++;
      else if (!this.comment()) return;
    }
  }

  /** A string at pos ('"'), with backslash escapes; must end on its line. */
  private string(): void {
    const start = this.pos;
    this.pos++;
    for (;;) {
      const c = this.at();
      if (c === "" || c === "\n") throw this.error(start, "unterminated string");
      if (c === "\\") {
        this.pos += 2;
        continue;
      }
      this.pos++;
      if (c === '"') return;
    }
  }

  /** A preprocessor line at pos ('#'), with backslash-newline continuations. */
  private preprocessorLine(): void {
    const start = this.pos;
    for (;;) {
      const nl = this.src.indexOf("\n", this.pos);
      if (nl < 0) {
        this.pos = this.src.length;
        break;
      }
      let j = nl - 1;
      if (this.src[j] === "\r") j--;
      if (this.src[j] === "\\") {
        this.pos = nl + 1;
        continue;
      }
      this.pos = nl;
      break;
    }
    this.preprocessor.push([start, this.pos]);
  }

  /** A `$name` at pos: recorded when it is a `$container_` one. */
  private variable(): void {
    VAR_RE.lastIndex = this.pos;
    const m = VAR_RE.exec(this.src);
    if (m === null) {
      this.pos++;
      return;
    }
    if (m[0].startsWith("$container_")) this.variables.push({ name: m[0], start: this.pos });
    this.pos += m[0].length;
  }

  /** Code from pos to the '}' matching the '{' at pos; returns the '}' offset. */
  private balanced(): number {
    const open = this.pos;
    let depth = 0;
    for (;;) {
      const c = this.at();
      if (c === "") throw this.error(open, "'{' is not closed");
      if (c === '"') this.string();
      else if (c === "/" && this.comment()) continue;
      else if (c === "#" && this.atLineStart(this.pos)) this.preprocessorLine();
      else if (c === "$") this.variable();
      else {
        if (c === "{") depth++;
        else if (c === "}") {
          depth--;
          if (depth === 0) {
            this.pos++;
            return this.pos - 1;
          }
        }
        this.pos++;
      }
    }
  }

  private word(): string {
    const m = /[A-Za-z_][A-Za-z0-9_]*/y;
    m.lastIndex = this.pos;
    return m.exec(this.src)?.[0] ?? "";
  }

  parse(): void {
    if (this.src.length > MAX_PROGRAM_BYTES)
      throw new ProgramError(1, 1, `the program is longer than ${MAX_PROGRAM_BYTES} bytes`);
    for (;;) {
      this.trivia();
      const c = this.at();
      if (c === "") return;
      if (c === "#") {
        if (!this.atLineStart(this.pos)) throw this.error(this.pos, "'#' must start a line");
        this.preprocessorLine();
        continue;
      }
      if (c === ";") {
        this.pos++;
        continue;
      }
      const w = this.word();
      if (w === "struct" || w === "union" || w === "enum" || w === "typedef") {
        this.definition();
        continue;
      }
      if (w === "config") {
        const save = this.pos;
        this.pos += w.length;
        this.trivia();
        if (this.at() === "=") {
          this.pos++;
          this.trivia();
          if (this.at() !== "{") throw this.error(this.pos, "expected '{' after 'config ='");
          this.balanced();
          continue;
        }
        this.pos = save;
      }
      this.block();
    }
  }

  /** A C definition at top level: up to its ';' outside braces. */
  private definition(): void {
    const start = this.pos;
    let depth = 0;
    for (;;) {
      const c = this.at();
      if (c === "") throw this.error(start, "definition is not ended with ';'");
      if (c === '"') this.string();
      else if (c === "/" && this.comment()) continue;
      else {
        this.pos++;
        if (c === "{") depth++;
        else if (c === "}") depth--;
        else if (c === ";" && depth === 0) return;
      }
    }
  }

  private probe(): Probe {
    const start = this.pos;
    if (!IDENT_START.test(this.at()))
      throw this.error(start, `expected a probe, found '${this.at() === "\n" ? "\\n" : this.at()}'`);
    for (;;) {
      const c = this.at();
      if (c === "" || c === "," || c === "{" || /\s/.test(c)) break;
      if (c === '"') {
        this.string();
        continue;
      }
      if (c === "$") {
        this.variable();
        continue;
      }
      this.pos++;
    }
    const text = this.src.slice(start, this.pos);
    const colon = text.indexOf(":");
    const type = colon < 0 ? text : text.slice(0, colon);
    const context = PROBE_TYPES.get(type);
    if (context === undefined) throw this.error(start, `unknown probe type '${type}' in '${text}'`);
    if (colon < 0 && context !== "special")
      throw this.error(start, `probe '${text}' needs a target ('${type}:...')`);
    return { text, start, end: this.pos, type, context };
  }

  private block(): void {
    const probes: Probe[] = [this.probe()];
    const commas: number[] = [];
    for (;;) {
      this.trivia();
      if (this.at() !== ",") break;
      commas.push(this.pos);
      this.pos++;
      this.trivia();
      probes.push(this.probe());
    }
    let predicate: ProbeBlock["predicate"] = null;
    if (this.at() === "/") {
      const open = this.pos;
      this.pos++;
      let parens = 0;
      let last = -1; // the last significant character's offset
      for (;;) {
        const c = this.at();
        if (c === "") throw this.error(open, "predicate is not closed with '/'");
        if (c === '"') {
          last = this.pos;
          this.string();
          continue;
        }
        if (c === "/" && this.comment()) continue;
        if (c === "$") {
          last = this.pos;
          this.variable();
          continue;
        }
        if (c === "(" || c === "[") parens++;
        else if (c === ")" || c === "]") parens--;
        else if (c === "{" && parens <= 0) break;
        if (!/\s/.test(c)) last = this.pos;
        this.pos++;
      }
      if (last < 0 || this.src[last] !== "/")
        throw this.error(open, "predicate is not closed with '/' before '{'");
      // only whitespace and comments between the slashes
      let inner = "";
      let k = open + 1;
      for (const [a, b] of this.comments)
        if (a > open && b <= last) {
          inner += this.src.slice(k, a);
          k = b;
        }
      inner += this.src.slice(k, last);
      if (last === open || inner.trim() === "") throw this.error(open, "empty predicate");
      predicate = { open, close: last };
    }
    this.trivia();
    if (this.at() !== "{") {
      const what = this.at() === "" ? "end of program" : `'${this.at()}'`;
      throw this.error(
        this.pos,
        `expected '{' after probe '${(probes[probes.length - 1] as Probe).text}', found ${what}`,
      );
    }
    const open = this.pos;
    const close = this.balanced();
    this.blocks.push({ probes, commas, predicate, body: { open, close } });
  }
}

/** Parses a program's top level; throws ProgramError. */
export function parseProgram(source: string): ParsedProgram {
  const p = new Parser(source);
  p.parse();
  return {
    source,
    blocks: p.blocks,
    variables: p.variables,
    comments: p.comments,
    preprocessor: p.preprocessor,
  };
}

export interface ProgramScope {
  /** cgroup v2 ids the task-context probes are confined to (at least one) */
  readonly cgroupIds: readonly bigint[];
  /** what `$container_pid` becomes */
  readonly containerPid: number;
}

interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

export interface Rewritten {
  readonly text: string;
  /** task-context probe blocks scoped, and blocks split because they mixed BEGIN/END/interval in */
  readonly scopedBlocks: number;
  readonly splitBlocks: number;
  /** the user's 1-based line and column of a position in `text` (same line: the rewrite keeps lines) */
  originalPosition(line: number, col: number): { line: number; col: number };
  /** the user's text of a line */
  originalLine(line: number): string;
}

function scopeExpression(ids: readonly bigint[]): string {
  return ids.map((id) => `cgroup == ${id}`).join(" || ");
}

/**
 * Rewrites a parsed program: with a scope, every task-context probe runs only in its
 * cgroups and `$container_pid` is substituted; without one, the program is unchanged (a
 * `$container_*` variable is then an error). Throws ProgramError.
 */
export function rewriteProgram(prog: ParsedProgram, scope: ProgramScope | null): Rewritten {
  const src = prog.source;
  const starts = lineStarts(src);
  const err = (offset: number, reason: string): ProgramError => {
    const p = positionOf(starts, offset);
    return new ProgramError(p.line, p.col, reason);
  };
  for (const v of prog.variables)
    if (!(CONTAINER_VARIABLES as readonly string[]).includes(v.name))
      throw err(v.start, `unknown variable ${v.name} (Lanner provides ${CONTAINER_VARIABLES.join(", ")})`);
  if (scope === null) {
    const v = prog.variables[0];
    if (v !== undefined) throw err(v.start, `${v.name} needs --pod (the container whose pid it is)`);
    return apply(src, starts, [], 0, 0, endsInLineComment(prog));
  }
  if (scope.cgroupIds.length === 0) throw new ProgramError(1, 1, "no cgroup to scope the program to");
  const pid = String(scope.containerPid);
  const cg = scopeExpression(scope.cgroupIds);
  const edits: Edit[] = prog.variables.map((v) => ({
    start: v.start,
    end: v.start + v.name.length,
    text: pid,
  }));

  /** [start, end) of the source on one line: comments dropped, newlines as spaces, variables substituted. */
  const oneLine = (start: number, end: number): string => {
    for (const [a] of prog.preprocessor)
      if (a >= start && a < end)
        throw err(a, "a preprocessor line inside a block that mixes BEGIN/END/interval with other probes");
    let out = "";
    let i = start;
    const skips = [
      ...prog.comments.filter(([a]) => a >= start && a < end).map(([a, b]) => ({ a, b, text: " " })),
      ...prog.variables
        .filter((v) => v.start >= start && v.start < end)
        .map((v) => ({ a: v.start, b: v.start + v.name.length, text: pid })),
    ].sort((x, y) => x.a - y.a);
    for (const s of skips) {
      out += src.slice(i, s.a) + s.text;
      i = s.b;
    }
    out += src.slice(i, end);
    return out.replace(/\r?\n/g, " ");
  };

  let scopedBlocks = 0;
  let splitBlocks = 0;
  for (const b of prog.blocks) {
    const unscopable = b.probes.find((p) => p.context === "unscopable");
    if (unscopable !== undefined)
      throw err(
        unscopable.start,
        `'${unscopable.text}' runs outside any task's context and cannot be scoped to a pod`,
      );
    const task = b.probes.filter((p) => p.context === "task");
    if (task.length === 0) continue;
    scopedBlocks++;
    const special = b.probes.filter((p) => p.context === "special");
    if (special.length > 0) {
      splitBlocks++;
      // blank the special probes and every comma not between two kept probes
      const keptIdx = b.probes.map((p, i) => (p.context === "task" ? i : -1)).filter((i) => i >= 0);
      const keepComma = new Set<number>();
      for (let k = 0; k + 1 < keptIdx.length; k++) keepComma.add(keptIdx[k] as number);
      for (const p of special) edits.push({ start: p.start, end: p.end, text: " ".repeat(p.end - p.start) });
      b.commas.forEach((c, i) => {
        if (!keepComma.has(i)) edits.push({ start: c, end: c + 1, text: " " });
      });
      const pred = b.predicate === null ? "" : `/${oneLine(b.predicate.open + 1, b.predicate.close)}/ `;
      const copy = ` ${special.map((p) => oneLine(p.start, p.end)).join(", ")} ${pred}${oneLine(b.body.open, b.body.close + 1)}`;
      edits.push({ start: b.body.close + 1, end: b.body.close + 1, text: copy });
    }
    if (b.predicate === null) {
      edits.push({ start: b.body.open, end: b.body.open, text: `/${cg}/ ` });
    } else {
      edits.push({ start: b.predicate.open + 1, end: b.predicate.open + 1, text: "(" });
      edits.push({ start: b.predicate.close, end: b.predicate.close, text: `) && (${cg})` });
    }
  }
  return apply(src, starts, edits, scopedBlocks, splitBlocks, endsInLineComment(prog));
}

function endsInLineComment(prog: ParsedProgram): boolean {
  const last = prog.comments[prog.comments.length - 1];
  return last !== undefined && last[1] === prog.source.length && prog.source.startsWith("//", last[0]);
}

function apply(
  src: string,
  starts: readonly number[],
  edits: Edit[],
  scopedBlocks: number,
  splitBlocks: number,
  endsInLineComment: boolean,
): Rewritten {
  // insertions before replacements at the same offset; a predicate inserted right after a
  // probe (`t:a:b{`) gets a space so that it is not read as part of the probe
  edits.sort((a, b) => a.start - b.start || a.end - a.start - (b.end - b.start));
  let text = "";
  let i = 0;
  const anchors: Array<{ outStart: number; outEnd: number; origStart: number; origEnd: number }> = [];
  for (const e of edits) {
    text += src.slice(i, e.start);
    let t = e.text;
    if (t.startsWith("/") && e.start === e.end && !/\s/.test(src[e.start - 1] ?? " ")) t = ` ${t}`;
    anchors.push({
      outStart: text.length,
      outEnd: text.length + t.length,
      origStart: e.start,
      origEnd: e.end,
    });
    text += t;
    i = e.end;
  }
  text += src.slice(i);
  // bpftrace 0.17 reads a `//` comment only up to a newline: one that ends the program gets one
  if (endsInLineComment) text += "\n";
  const outStarts = lineStarts(text);
  const origLines = src.split("\n");
  return {
    text,
    scopedBlocks,
    splitBlocks,
    originalPosition(line, col) {
      const ls = outStarts[line - 1];
      if (ls === undefined) return { line, col };
      const o = ls + col - 1;
      let orig = o;
      // the last edit that starts at or before o
      let lo = 0;
      let hi = anchors.length - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if ((anchors[mid] as (typeof anchors)[number]).outStart <= o) {
          found = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      if (found >= 0) {
        const a = anchors[found] as (typeof anchors)[number];
        orig = o < a.outEnd ? a.origStart : a.origEnd + (o - a.outEnd);
      }
      orig = Math.min(orig, src.length);
      return positionOf(starts, orig);
    },
    originalLine(line) {
      return (origLines[line - 1] ?? "").replace(/\r$/, "");
    },
  };
}
