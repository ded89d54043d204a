/**
 * The `lanner` command dispatcher (also `kubectl lanner`).
 */
import { createRequire } from "node:module";
import { errorMessage } from "../errors.js";
import { captureCommand } from "./commands/capture.js";
import { doctorCommand } from "./commands/doctor.js";
import { processIO, UsageError, type CliIO } from "./io.js";

const HELP = `Usage: lanner <command> [options]

Commands:
  run         the agent: capture, enrich, evaluate rules, deliver alerts
  capture     stream enriched kernel events, one per line
  doctor      what this kernel offers and what Lanner uses, with reasons
  rules       validate | list | fields
  version     print the version

Every command has --help.
`;

type Command = (argv: string[], io: CliIO) => Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = {
  capture: captureCommand,
  doctor: doctorCommand,
  // loaded lazily: the rules library and the outputs are large and `capture` needs neither
  run: async (argv, io) => (await import("./commands/run.js")).runCommand(argv, io),
  rules: async (argv, io) => (await import("./commands/rules-cli.js")).rulesCli(argv, io),
  version: async (_argv, io) => {
    const pkg = createRequire(import.meta.url)("../../../package.json") as { version: string };
    io.stdout(`lanner ${pkg.version}\n`);
    return 0;
  },
};

export async function cliMain(argv: string[], io: CliIO = processIO): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    io.stdout(HELP);
    return cmd === undefined ? 2 : 0;
  }
  const fn = COMMANDS[cmd];
  if (!fn) {
    io.stderr(`lanner: unknown command '${cmd}'\n${HELP}`);
    return 2;
  }
  try {
    return await fn(rest, io);
  } catch (e) {
    if (
      e instanceof UsageError ||
      (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS"))
    ) {
      io.stderr(`lanner ${cmd}: ${e.message}\n`);
      return 2;
    }
    io.stderr(`lanner ${cmd}: ${errorMessage(e)}\n`);
    return 1;
  }
}
