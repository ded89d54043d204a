/**
 * `lanner rules validate|list|fields`: argument parsing; the work is in ./rules.ts.
 */
import { parseArgs } from "node:util";
import { UsageError, type CliIO } from "../io.js";
import { rulesFields, rulesList, rulesValidate } from "./rules.js";
import { defaultRulesPath } from "./run.js";

export const RULES_HELP = `Usage: lanner rules <validate|list|fields> [options]

  validate FILE...        load rules files in order (as 'run' would); print each problem as
                          FILE:LINE:COL: error|warning: message; exit 1 on any error
  list [-r FILE]... [--json]
                          rules with priority, source, tags and enabled (default: the
                          embedded default rules)
  fields [--json]         every supported field with its type and description
`;

export async function rulesCli(argv: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h") {
    io.stdout(RULES_HELP);
    return sub === undefined ? 2 : 0;
  }
  switch (sub) {
    case "validate": {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { help: { type: "boolean", short: "h" } },
        allowPositionals: true,
        strict: true,
      });
      if (values.help) {
        io.stdout(RULES_HELP);
        return 0;
      }
      if (positionals.length === 0) throw new UsageError("rules validate: expected one or more rules files");
      return rulesValidate(positionals, io);
    }
    case "list": {
      const { values } = parseArgs({
        args: rest,
        options: {
          rules: { type: "string", short: "r", multiple: true },
          json: { type: "boolean" },
          help: { type: "boolean", short: "h" },
        },
        strict: true,
      });
      if (values.help) {
        io.stdout(RULES_HELP);
        return 0;
      }
      return rulesList(values.rules ?? [defaultRulesPath()], io, values.json ?? false);
    }
    case "fields": {
      const { values } = parseArgs({
        args: rest,
        options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
        strict: true,
      });
      if (values.help) {
        io.stdout(RULES_HELP);
        return 0;
      }
      return rulesFields(values.json ?? false, io);
    }
    default:
      throw new UsageError(`unknown rules subcommand '${sub}' (validate, list, fields)`);
  }
}
