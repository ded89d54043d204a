/**
 * Runs the fuzz targets at length:
 *
 *   node dist/test/fuzz/run.js [--target NAME] [--seconds N | --count N] [--seed S] [--input K]
 *
 * Without --target, every target in turn; without --seconds or --count, 30 s per target;
 * --input K runs only input #K of seed S (to reproduce a reported failure). Prints each
 * failing input as it is found and a summary per target; exits 1 on any failure
 * (an unexpected exception or an input over 100 ms).
 */
import { formatFailure, formatSummary, runTarget } from "./harness.js";
import { loadSeeds } from "./seeds.js";
import { TARGETS } from "./targets.js";

function usage(msg: string): never {
  process.stderr.write(
    `run.js: ${msg}\nusage: node dist/test/fuzz/run.js [--target ${TARGETS.map((t) => t.name).join("|")}] [--seconds N | --count N] [--seed S] [--input K]\n`,
  );
  process.exit(2);
}

function main(argv: readonly string[]): number {
  let target: string | undefined;
  let seconds: number | undefined;
  let count: number | undefined;
  let seed = 1;
  let only: number | undefined;
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    const val = (): number => {
      const v = Number(argv[++k]);
      if (!Number.isFinite(v) || v < 0) usage(`${a} needs a number`);
      return v;
    };
    if (a === "--target") target = argv[++k];
    else if (a === "--seconds") seconds = val();
    else if (a === "--count") count = Math.floor(val());
    else if (a === "--seed") seed = Math.floor(val());
    else if (a === "--input") only = Math.floor(val());
    else if (a === "--help" || a === "-h") usage("help");
    else usage(`unknown argument ${a}`);
  }
  if (seconds !== undefined && count !== undefined) usage("give --seconds or --count, not both");
  const targets = target === undefined ? TARGETS : TARGETS.filter((t) => t.name === target);
  if (targets.length === 0) usage(`no target ${target}`);
  const seeds = loadSeeds();
  if (seeds.compatMissing !== undefined) process.stdout.write(`note: ${seeds.compatMissing}\n`);
  process.stdout.write(
    `seeds: ${seeds.files.length} rules files (${seeds.files.map((f) => f.name).join(", ")}), ${seeds.items.length} items, ${seeds.conditions.length} conditions\n`,
  );
  let failed = false;
  for (const t of targets) {
    const summary = runTarget(t, {
      seed,
      ...(count !== undefined ? { count } : {}),
      ...(seconds !== undefined || count === undefined ? { seconds: seconds ?? 30 } : {}),
      ...(only !== undefined ? { only } : {}),
      onFailure: (f) => process.stdout.write(`${formatFailure(t.name, seed, f)}\n`),
    });
    process.stdout.write(`${formatSummary(summary)}\n`);
    if (summary.unexpected > 0 || summary.slow > 0) failed = true;
  }
  return failed ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
