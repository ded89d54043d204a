/**
 * `lanner rules validate|list|fields`. Argument parsing lives in the dispatcher; these take
 * parsed arguments and return the exit code.
 */
import { SYSCALL_FIELDS } from "../../engine/fields/index.js";
import { formatDiagnostic, type Diagnostic } from "../../rules/diagnostics.js";
import { fieldsJson, renderFieldsText } from "../../rules/field-docs.js";
import { readRulesFiles } from "../../rules/files.js";
import { loadRules, type LoadResult } from "../../rules/loader.js";

export interface RulesIO {
  stdout(s: string): void;
  stderr(s: string): void;
}

function load(files: readonly string[]): { result: LoadResult; readErrors: readonly Diagnostic[] } {
  const { files: inputs, diagnostics } = readRulesFiles(files);
  return { result: loadRules(inputs, { fields: SYSCALL_FIELDS }), readErrors: diagnostics };
}

/**
 * Load the files in order as `run` would; print every problem as
 * `FILE:LINE:COL: error|warning: message` on stderr and a summary on stdout.
 * Exit 1 if any error, 2 if no file was given.
 */
export async function rulesValidate(files: readonly string[], io: RulesIO): Promise<number> {
  if (files.length === 0) {
    io.stderr("lanner: rules validate: no rules file given\n");
    return 2;
  }
  const { result, readErrors } = load(files);
  const all = [...readErrors, ...result.diagnostics];
  for (const d of all) io.stderr(formatDiagnostic(d) + "\n");
  const errors = result.errors + readErrors.length;
  const enabled = result.rules.filter((r) => r.enabled).length;
  const summary =
    `${files.join(" ")}: ${result.rules.length} rules (${enabled} enabled), ${result.macroCount} macros, ` +
    `${result.listCount} lists; ${errors} error${errors === 1 ? "" : "s"}, ${result.warnings} warning${result.warnings === 1 ? "" : "s"}`;
  io.stdout(`${errors === 0 ? "ok" : "invalid"}: ${summary}\n`);
  return errors === 0 ? 0 : 1;
}

/** Rules with priority, source, tags and enabled; `--json` gives one array. */
export async function rulesList(files: readonly string[], io: RulesIO, json = false): Promise<number> {
  if (files.length === 0) {
    io.stderr("lanner: rules list: no rules file given\n");
    return 2;
  }
  const { result, readErrors } = load(files);
  for (const d of [...readErrors, ...result.diagnostics]) {
    if (d.severity === "error") io.stderr(formatDiagnostic(d) + "\n");
  }
  if (json) {
    const rows = result.rules.map((r) => ({
      name: r.name,
      priority: r.priority ?? null,
      source: r.source,
      enabled: r.enabled,
      tags: r.tags,
      file: r.file,
      line: r.line,
      compiled: r.compiled,
    }));
    io.stdout(JSON.stringify(rows) + "\n");
  } else {
    const head = ["RULE", "PRIORITY", "SOURCE", "ENABLED", "TAGS"];
    const rows = result.rules.map((r) => [
      r.name,
      r.priority ?? "-",
      r.source,
      r.enabled ? "true" : "false",
      r.tags.join(","),
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)));
    const fmt = (row: readonly string[]) =>
      row
        .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd() + "\n";
    io.stdout(fmt(head));
    for (const row of rows) io.stdout(fmt(row));
  }
  return result.errors + readErrors.length === 0 ? 0 : 1;
}

/** Every supported field with type and description. */
export async function rulesFields(json: boolean, io: RulesIO): Promise<number> {
  io.stdout(json ? JSON.stringify(fieldsJson(SYSCALL_FIELDS)) + "\n" : renderFieldsText(SYSCALL_FIELDS));
  return 0;
}
