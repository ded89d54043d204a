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

/** A SourceRef over a bare string (line/col computed inside the string itself). */
export function stringSource(file: string, text: string, line0 = 1, col0 = 1): SourceRef {
  return {
    file,
    position(offset: number) {
      let line = line0;
      let col = col0;
      const n = Math.min(offset, text.length);
      for (let i = 0; i < n; i++) {
        if (text.charCodeAt(i) === 10) {
          line++;
          col = 1;
        } else col++;
      }
      return { line, col };
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
