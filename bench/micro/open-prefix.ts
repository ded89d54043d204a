/**
 * What the capture's open prefix filter (CaptureOptions.openPrefixes, `trace open
 * --prefixes`) costs an open, and what it saves. An open+close loop (CPU 0; the same file by
 * an absolute path, then by a path relative to the cwd) runs untraced, then under a capture
 * of openat (records drained by this process on CPU 1):
 *   - no prefixes: every open is recorded and delivered (the agent's configuration),
 *   - one prefix every open matches: recorded, plus the check,
 *   - one prefix no open matches: dropped in the kernel before the record is made,
 *   - 16 prefixes none matches: the most compares the kernel does.
 * Configurations are interleaved round by round (the VM drifts); costs are the loop's CPU
 * time (user + system, where the BPF programs run) per open+close, so time the loop spends
 * preempted by other jobs does not count. Prints the median ns of each, the ns each adds to
 * the untraced open, its difference to "no prefixes" (each round's difference, median), and
 * the records that reached user space.
 *
 * BENCH_QUICK=1: one short round (CI smoke).
 */
import { existsSync } from "node:fs";
import { CaptureSession } from "../../src/capture/capture-session.js";
import { bpfObjectPath } from "../../src/capture/paths.js";
import { LOADGEN, loopAsync, median, pinnedTo } from "../floor.helper.js";

const QUICK = process.env["BENCH_QUICK"] === "1";
const SECONDS = QUICK ? 0.3 : 2;
const ROUNDS = QUICK ? 1 : 5;

interface Config {
  readonly label: string;
  /** undefined: untraced */
  readonly prefixes?: readonly string[];
}

const CONFIGS: readonly Config[] = [
  { label: "untraced" },
  { label: "capture openat, no prefixes (every open recorded)", prefixes: [] },
  { label: "prefix /etc/ (every open matches: recorded + check)", prefixes: ["/etc/"] },
  { label: "prefix /lanner-none/ (no open matches: dropped)", prefixes: ["/lanner-none/"] },
  {
    label: "16 prefixes, none matches (dropped, most compares)",
    prefixes: Array.from({ length: 16 }, (_, i) => `/lanner-none-${i}/etc/`),
  },
];

/** ns per open (per open+close pair) and records delivered, under one configuration. */
async function under(mode: string, c: Config): Promise<{ ns: number; records: number }> {
  if (c.prefixes === undefined) {
    const r = await loopAsync(mode, SECONDS);
    return { ns: (r.cpu_seconds * 1e9) / r.ops, records: 0 };
  }
  let records = 0;
  const session = CaptureSession.start({
    syscalls: ["openat"],
    ...(c.prefixes.length > 0 ? { openPrefixes: c.prefixes } : {}),
    onBatch: (_b, _bytes, n) => {
      records += n;
    },
  });
  try {
    await new Promise((r) => setTimeout(r, 200));
    const before = records;
    const r = await loopAsync(mode, SECONDS);
    session.drain();
    return { ns: (r.cpu_seconds * 1e9) / r.ops, records: records - before };
  } finally {
    session.close();
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0 || !existsSync(LOADGEN) || !existsSync(bpfObjectPath("capture"))) {
    console.log("bench open-prefix: SKIP (needs root and `make build`)");
    return;
  }
  console.log(
    `bench open-prefix: open+close of /etc/hostname, ${SECONDS}s per configuration, ${ROUNDS} interleaved round(s), CPU ns per open+close, medians`,
  );
  for (const [mode, what] of [
    ["openclose", 'absolute path "/etc/hostname"'],
    ["openrelclose", 'relative path "hostname", cwd /etc'],
  ] as const) {
    const ns: number[][] = CONFIGS.map(() => []);
    const recs: number[][] = CONFIGS.map(() => []);
    await pinnedTo(1, async () => {
      for (let r = 0; r < ROUNDS; r++)
        for (let i = 0; i < CONFIGS.length; i++) {
          const x = await under(mode, CONFIGS[i]!);
          ns[i]!.push(x.ns);
          recs[i]!.push(x.records);
        }
    });
    console.log(`${what}:`);
    for (let i = 0; i < CONFIGS.length; i++) {
      const m = median(ns[i]!);
      const vsBase = median(ns[i]!.map((x, r) => x - ns[0]![r]!));
      const vsAll = median(ns[i]!.map((x, r) => x - ns[1]![r]!));
      const records = median(recs[i]!);
      console.log(
        `  ${CONFIGS[i]!.label.padEnd(54)} ${m.toFixed(0).padStart(5)} ns` +
          (i === 0
            ? ""
            : `  +${vsBase.toFixed(0).padStart(4)} vs untraced, ${vsAll >= 0 ? "+" : ""}${vsAll.toFixed(0).padStart(4)} vs no prefixes, ${records} records`),
      );
    }
  }
}

await main();
