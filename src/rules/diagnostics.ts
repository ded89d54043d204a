/**
 * Diagnostics: every problem found while loading, parsing, checking or compiling
 * rules is a Diagnostic, so one run reports them all.
 */

export type Severity = "error" | "warning";

export interface Diagnostic {
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column (UTF-16 code units). */
  readonly col: number;
  readonly severity: Severity;
  readonly message: string;
}

/** Source text quoted in a message, cut when long (a hostile token or literal can be megabytes). */
export function clipText(s: string, max = 80): string {
  return s.length <= max ? s : `${s.slice(0, max - 20)}...(${s.length} characters)`;
}

/** `FILE:LINE:COL: error|warning: message`, the format printed by `lanner rules validate`. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.message}`;
}

/**
 * Where a parsed text came from. A condition parsed from a YAML scalar maps an offset in
 * the condition string to a line and column in the original file.
 */
export interface SourceRef {
  readonly file: string;
  position(offset: number): { line: number; col: number; file?: string };
}

/**
 * Offsets of the line starts of a text, for offset -> line/column by binary search: a
 * position costs O(log lines), so thousands of diagnostics in a big file stay linear
 * (counting lines from the start for each one was quadratic).
 */
export class LineIndex {
  private readonly starts: Int32Array;
  constructor(text: string) {
    let n = 1;
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
    const starts = new Int32Array(n);
    let k = 1;
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) starts[k++] = i + 1;
    this.starts = starts;
  }

  /** 0-based line and column of `offset` (clamped to the text). */
  locate(offset: number): { line0: number; col0: number } {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((s[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line0: lo, col0: offset - (s[lo] as number) };
  }

  /** 1-based line and column of `offset`. */
  linePos(offset: number): { line: number; col: number } {
    const p = this.locate(offset);
    return { line: p.line0 + 1, col: p.col0 + 1 };
  }
}

/** A SourceRef over a bare string (line/col computed inside the string itself). */
export function stringSource(file: string, text: string, line0 = 1, col0 = 1): SourceRef {
  let index: LineIndex | undefined;
  return {
    file,
    position(offset: number) {
      index ??= new LineIndex(text);
      const p = index.locate(Math.max(0, Math.min(offset, text.length)));
      return p.line0 === 0 ? { line: line0, col: col0 + p.col0 } : { line: line0 + p.line0, col: 1 + p.col0 };
    },
  };
}

/** Collects diagnostics, dropping exact duplicates (a macro used by many rules reports once). */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];
  private readonly seen = new Set<string>();

  add(d: Diagnostic): void {
    const key = formatDiagnostic(d);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.items.push(d);
  }

  at(src: SourceRef | undefined, offset: number, severity: Severity, message: string): void {
    if (src === undefined) {
      this.add({ file: "<condition>", line: 1, col: offset + 1, severity, message });
      return;
    }
    const p = src.position(offset);
    this.add({ file: p.file ?? src.file, line: p.line, col: p.col, severity, message });
  }

  get errorCount(): number {
    let n = 0;
    for (const d of this.items) if (d.severity === "error") n++;
    return n;
  }

  get warningCount(): number {
    return this.items.length - this.errorCount;
  }
}

/** Base error class for rule-library failures thrown at startup. */
export class RulesError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RulesError";
    this.code = code;
  }
}
