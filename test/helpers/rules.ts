/**
 * Helpers shared by the rules tests: the syscall field schema over plain records (a test
 * event is an object keyed by field text: `{"proc.name": "bash", "proc.aname[2]": "sshd"}`),
 * condition evaluation and errors, and where the compat rules files are.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SYSCALL_FIELDS } from "../../src/engine/fields/index.js";
import {
  compileFilter,
  formatDiagnostic,
  recordRegistry,
  type FieldRecord,
  type FieldValue,
} from "../../src/rules/index.js";
import { compatDirSetting, compatSkipReason } from "./compat.js";

/** The syscall fields' schema with producers that read plain records. */
export const RECORDS = recordRegistry(SYSCALL_FIELDS);

/** Evaluate `cond` against an event given as field -> value. */
export function evalCond(
  cond: string,
  fields: Readonly<Record<string, FieldValue | undefined>>,
  evtType = "openat",
): boolean {
  const r = compileFilter(cond, { fields: RECORDS });
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return r.filter.predicate(fields as FieldRecord, evtType);
}

/** The first diagnostic of a condition that fails to compile, as `COL: message`. */
export function condError(cond: string): string {
  const r = compileFilter(cond, { fields: RECORDS });
  if (r.ok) return "compiled";
  const d = r.diagnostics[0];
  return d === undefined ? "no diagnostic" : `${d.col}: ${d.message}`;
}

/**
 * Path of a compat rules file (tests read them in place, never copy them), under the one
 * compat setting (LANNER_COMPAT_DIR, default ../shared/compat); it may not exist.
 */
export function compatPath(name: string): string {
  return join(compatDirSetting(), "falco-rules", name);
}

/** Why a test needing these compat rules files must skip, or false when they are there. */
export function compatRulesSkip(...names: string[]): string | false {
  return compatSkipReason(...names.map((n) => `falco-rules/${n}`)) ?? false;
}

/** Repository root (dist/test/helpers -> repo). */
export function repoPath(rel: string): string {
  return fileURLToPath(new URL(`../../../${rel}`, import.meta.url));
}
