/**
 * docs/fields.md and `lanner rules fields` are generated from the field table.
 * Regenerate the doc with: node dist/src/rules/field-docs.js --write
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { FIELD_CLASSES, FIELDS, type FieldDef } from "./fields.js";

function argSyntax(f: FieldDef): string {
  switch (f.arg) {
    case "none":
      return f.name;
    case "index":
      return `${f.name}[N]`;
    case "optional":
      return `${f.name}, ${f.name}[N]`;
    case "key":
      return f.dotted ? `${f.name}[KEY], ${f.name}.KEY` : `${f.name}[KEY]`;
  }
}

function eventsText(f: FieldDef): string {
  if (f.events === "all") return "all";
  if (f.events === "fd") return "fd events";
  return f.events.join(", ");
}

function esc(s: string): string {
  return s.replace(/\|/g, "\\|");
}

export function renderFieldsMarkdown(): string {
  const lines: string[] = [
    "# Fields",
    "",
    "<!-- Generated from src/rules/fields.ts by `node dist/src/rules/field-docs.js --write`; do not edit. -->",
    "",
    "Fields usable in rule conditions and outputs (`lanner rules fields` prints the same table).",
    "Types: `string`, `path` (a file-system path), `bytebuf` (raw bytes), `int64`, `uint64`,",
    "`int32`, `uint32`, `int16`, `port`, `double`, `bool`, `ipaddr`, `ipnet` (an address tested",
    "against networks), `abstime` (ns since the epoch), `reltime` (ns), `list(string)`.",
    "Unknown values are `<NA>` in text output and `null` in JSON; a condition on an unknown value",
    "is false.",
    "",
    `${FIELDS.length} fields.`,
    "",
  ];
  for (const c of FIELD_CLASSES) {
    const fs = FIELDS.filter((f) => f.className === c.name);
    lines.push(
      `## ${c.name}`,
      "",
      c.desc,
      "",
      "| field | type | filled by | description |",
      "| --- | --- | --- | --- |",
    );
    for (const f of fs) {
      lines.push(
        `| \`${esc(argSyntax(f))}\` | ${f.type} | ${esc(eventsText(f))} | ${esc(f.desc)}${f.deprecated ? " (deprecated)" : ""} |`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

export function fieldsJson(): object[] {
  return FIELDS.map((f) => ({
    name: f.name,
    class: f.className,
    type: f.type,
    arg: f.arg,
    ...(f.dotted ? { dotted: true } : {}),
    events: f.events,
    description: f.desc,
    ...(f.deprecated ? { deprecated: true } : {}),
  }));
}

/** Plain-text table for `lanner rules fields`. */
export function renderFieldsText(): string {
  const w = Math.max(...FIELDS.map((f) => argSyntax(f).length));
  const tw = Math.max(...FIELDS.map((f) => f.type.length));
  return FIELDS.map((f) => `${argSyntax(f).padEnd(w)}  ${f.type.padEnd(tw)}  ${f.desc}`).join("\n") + "\n";
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(process.argv[1]).href &&
  process.argv.includes("--write")
) {
  const out = fileURLToPath(new URL("../../../docs/fields.md", import.meta.url));
  writeFileSync(out, renderFieldsMarkdown());
  process.stdout.write(`wrote ${out}\n`);
}
