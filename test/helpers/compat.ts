/**
 * Where tests and benchmarks find the compat files (the upstream Falco rules and whatever else
 * lives beside them). One setting: the environment variable LANNER_COMPAT_DIR, a directory
 * (relative paths are taken from the current directory); unset or empty, `<project root>/
 * ../shared/compat`. A clone without that directory (what every user has) runs everything else
 * and skips what needs the files, saying so.
 */
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { packageRoot } from "../../src/capture/paths.js";

export const COMPAT_ENV = "LANNER_COMPAT_DIR";

/** The configured compat directory, whether or not it exists (for messages). */
export function compatDirSetting(): string {
  const env = process.env[COMPAT_ENV];
  if (env !== undefined && env !== "") return resolve(env);
  return resolve(packageRoot(), "..", "shared", "compat");
}

/** The compat directory, or null when it is not there. */
export function compatDir(): string | null {
  const dir = compatDirSetting();
  try {
    return statSync(dir).isDirectory() ? dir : null;
  } catch {
    return null;
  }
}

/**
 * Why tests needing these compat files (paths relative to the compat directory, e.g.
 * `falco-rules/falco_rules.yaml`) must skip, or null when they are all there.
 */
export function compatSkipReason(...rels: string[]): string | null {
  const dir = compatDirSetting();
  const how = `set ${COMPAT_ENV} to the directory holding them`;
  if (compatDir() === null) return `compat files not found: no directory ${dir} (${how})`;
  const missing = rels.filter((r) => !existsSync(join(dir, r)));
  if (missing.length > 0)
    return `compat file${missing.length > 1 ? "s" : ""} ${missing.join(", ")} not found in ${dir} (${how})`;
  return null;
}

const printed = new Set<string>();

/**
 * The path of a compat file (relative to the compat directory), or null after printing (once
 * per file and process, on stderr) why whatever needs it is skipped.
 */
export function compatFile(rel: string): string | null {
  const reason = compatSkipReason(rel);
  if (reason === null) return join(compatDirSetting(), rel);
  if (!printed.has(rel)) {
    printed.add(rel);
    process.stderr.write(`skipped: ${reason}\n`);
  }
  return null;
}
