/**
 * lanner.yaml: Falco-like keys, read in one place. Precedence: defaults < file <
 * `-o key=value` < flags. Unknown keys are warnings; bad values are errors naming the key.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml, parseDocument } from "yaml";
import { OUTPUT_CONFIG_KEYS } from "../outputs/config.js";

export interface ConfigProblem {
  readonly severity: "error" | "warning";
  /** dotted key, or the file:line:col for YAML syntax errors */
  readonly key: string;
  readonly message: string;
}

/** Keys the engine reads (the outputs layer reads OUTPUT_CONFIG_KEYS). */
export const ENGINE_CONFIG_KEYS = [
  "rules_files",
  "rules_file",
  "priority",
  "rule_matching",
  "base_syscalls",
  "metrics",
  "node_name",
  "capture",
  "syscall_event_drops",
] as const;

const KNOWN = new Set<string>([...ENGINE_CONFIG_KEYS, ...OUTPUT_CONFIG_KEYS]);

/** Reads a config file; YAML errors are reported with file:line:col. */
export function readConfigFile(path: string): { raw: Record<string, unknown>; problems: ConfigProblem[] } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return {
      raw: {},
      problems: [
        {
          severity: "error",
          key: path,
          message: `cannot read config file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
        },
      ],
    };
  }
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length) {
    return {
      raw: {},
      problems: doc.errors.map((err) => ({
        severity: "error" as const,
        key: `${path}:${err.linePos?.[0]?.line ?? 1}:${err.linePos?.[0]?.col ?? 1}`,
        message: err.message.split("\n")[0] ?? err.message,
      })),
    };
  }
  const v = doc.toJS() as unknown;
  if (v === null || v === undefined) return { raw: {}, problems: [] };
  if (typeof v !== "object" || Array.isArray(v)) {
    return {
      raw: {},
      problems: [{ severity: "error", key: path, message: "expected a mapping at the top level" }],
    };
  }
  return { raw: v as Record<string, unknown>, problems: [] };
}

/** Applies `key.sub=value` (value parsed as a YAML scalar or flow collection). */
export function applyOverride(raw: Record<string, unknown>, kv: string): ConfigProblem | null {
  const eq = kv.indexOf("=");
  if (eq <= 0) return { severity: "error", key: kv, message: "expected key=value" };
  const key = kv.slice(0, eq).trim();
  const text = kv.slice(eq + 1);
  let value: unknown;
  try {
    value = text === "" ? "" : parseYaml(text);
  } catch {
    value = text;
  }
  const parts = key.split(".");
  let o = raw;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i] as string;
    const cur = o[p];
    if (cur === undefined || cur === null || typeof cur !== "object" || Array.isArray(cur)) o[p] = {};
    o = o[p] as Record<string, unknown>;
  }
  o[parts[parts.length - 1] as string] = value;
  return null;
}

/** Warnings for top-level keys nobody reads. */
export function unknownKeys(raw: Record<string, unknown>): ConfigProblem[] {
  return Object.keys(raw)
    .filter((k) => !KNOWN.has(k))
    .map((k) => ({ severity: "warning" as const, key: k, message: "unknown key, ignored" }));
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.severity}: ${p.key}: ${p.message}`;
}
