/**
 * docs/fields.md from the syscall registry: `node dist/src/engine/fields/docs.js --write`
 * (CI regenerates it and fails on drift).
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { renderFieldsMarkdown } from "../../rules/index.js";
import { SYSCALL_FIELDS } from "./index.js";

export function fieldsMarkdown(): string {
  return renderFieldsMarkdown(SYSCALL_FIELDS, "Fields", "`node dist/src/engine/fields/docs.js --write`");
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(process.argv[1]).href &&
  process.argv.includes("--write")
) {
  const out = fileURLToPath(new URL("../../../../docs/fields.md", import.meta.url));
  writeFileSync(out, fieldsMarkdown());
  process.stdout.write(`wrote ${out}\n`);
}
