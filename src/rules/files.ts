/** Reading rules files and directories from disk (the rest of the library is pure). */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Diagnostic } from "./diagnostics.js";
import type { RulesFileInput } from "./loader.js";

/**
 * Read rules files in order; a directory contributes its *.yaml / *.yml files sorted by
 * name. Unreadable paths become error diagnostics at line 1, column 1.
 */
export function readRulesFiles(paths: readonly string[]): {
  files: RulesFileInput[];
  diagnostics: Diagnostic[];
} {
  const files: RulesFileInput[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const p of paths) {
    try {
      if (statSync(p).isDirectory()) {
        const names = readdirSync(p)
          .filter((n) => n.endsWith(".yaml") || n.endsWith(".yml"))
          .sort();
        for (const n of names) files.push({ name: join(p, n), text: readFileSync(join(p, n), "utf8") });
      } else {
        files.push({ name: p, text: readFileSync(p, "utf8") });
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      diagnostics.push({
        file: p,
        line: 1,
        col: 1,
        severity: "error",
        message: `cannot read rules file: ${code}`,
      });
    }
  }
  return { files, diagnostics };
}
