/** Helpers shared by the rules tests. */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compatDirSetting, compatSkipReason } from "../../test/helpers/compat.js";
import type { FieldValue } from "./compiler.js";
import { formatDiagnostic } from "./diagnostics.js";
import { compileFilter } from "./filter.js";
import { ObjectFieldReader } from "./object-reader.js";

/** Evaluate `cond` against an event given as field -> value. */
export function evalCond(
  cond: string,
  fields: Readonly<Record<string, FieldValue | undefined>>,
  evtType = "openat",
): boolean {
  const r = compileFilter(cond);
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return r.filter.predicate(new ObjectFieldReader(fields), evtType);
}

/** The first diagnostic of a condition that fails to compile, as `COL: message`. */
export function condError(cond: string): string {
  const r = compileFilter(cond);
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

/** Repository root (dist/src/rules -> repo). */
export function repoPath(rel: string): string {
  return fileURLToPath(new URL(`../../../${rel}`, import.meta.url));
}
