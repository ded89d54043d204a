/**
 * docs/gadgets.md from the gadget registry: `node dist/src/gadgets/docs.js --write` (CI
 * regenerates it and fails on drift). Every gadget's flags and fields come from its
 * description, as its `--help` does; its README (example, how it works, overhead) is linked.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { GADGETS, gadgetFields, gadgetId } from "./index.js";

const esc = (s: string): string => s.replace(/\|/g, "\\|");

export function gadgetsMarkdown(): string {
  let s =
    "# Gadgets\n\n" +
    "Generated from the gadget registry (src/gadgets/) by `node dist/src/gadgets/docs.js --write`; " +
    "do not edit. Each gadget's README has an example, how it works and what it costs.\n\n" +
    "Every gadget takes the selection flags (`-n/--namespace`, `-A/--all-namespaces`, `-p/--podname`, " +
    "`-c/--containername`, `-l/--selector`, `--host`, `--node`), `--filter COND` (the rules language on " +
    "the gadget's fields), `-o columns|json|yaml` (`columns=a,b`, `columns=+x,-k8s`) and `--timeout S`; " +
    "`top` gadgets also `--interval S`, `-m/--max-rows N` and `--sort [-]FIELD,...`, snapshots `--sort`. " +
    "The selection is applied in the kernel (by cgroup) wherever the gadget's source allows.\n\n";
  s += "| gadget | what it shows |\n| --- | --- |\n";
  for (const g of GADGETS) s += `| [\`${gadgetId(g)}\`](#${g.category}-${g.name}) | ${esc(g.summary)} |\n`;
  for (const g of GADGETS) {
    s += `\n## ${g.category} ${g.name}\n\n${g.summary[0]?.toUpperCase()}${g.summary.slice(1)}. `;
    s += `See [its README](../src/gadgets/${g.category}-${g.name}/README.md).\n\n`;
    if (g.params.length > 0) {
      s += "| flag | type | description |\n| --- | --- | --- |\n";
      for (const p of g.params) {
        const def =
          p.default !== undefined
            ? ` (default ${Array.isArray(p.default) ? p.default.join(",") : String(p.default)})`
            : "";
        s += `| \`--${p.name}\`${p.short !== undefined ? ` / \`-${p.short}\`` : ""} | ${p.type} | ${esc(p.desc)}${def} |\n`;
      }
      s += "\n";
    }
    if (g.defaultSort !== undefined) s += `Default sort: \`${g.defaultSort.join(",")}\`.\n\n`;
    s += "| field | type | shown | description |\n| --- | --- | --- | --- |\n";
    for (const f of gadgetFields(g))
      s += `| \`${f.name}\` | ${f.type} | ${g.defaults.includes(f.name) ? "yes" : ""} | ${esc(f.desc)} |\n`;
  }
  return s;
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(process.argv[1]).href &&
  process.argv.includes("--write")
) {
  const out = fileURLToPath(new URL("../../../docs/gadgets.md", import.meta.url));
  writeFileSync(out, gadgetsMarkdown());
  process.stdout.write(`wrote ${out}\n`);
}
