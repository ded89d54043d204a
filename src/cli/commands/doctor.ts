/**
 * `lanner doctor`: whether this machine has what Lanner uses today (each line says what for),
 * and how both capture modes attach here, with every fallback and its reason.
 */
import * as os from "node:os";
import { parseArgs } from "node:util";
import { CaptureSession } from "../../capture/capture-session.js";
import { probeAll } from "../../capture/features.js";
import { SUPPORTED_SYSCALLS } from "../../decode/syscall-params.js";
import { errorMessage } from "../../errors.js";
import type { CliIO } from "../io.js";

export const DOCTOR_HELP = `Usage: lanner doctor [--json]

Checks what Lanner uses on this machine, each with what it is used for: BTF, the
mounts it reads, and the BPF program and map types of its capture programs (probed by
loading a trivial program of each type). Then starts and stops both capture modes and
reports the attach points used and every fallback taken, with the reason, and which
gadgets (trace, top, snapshot) can run here and, for those that cannot, what is missing.
`;

export async function doctorCommand(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    strict: true,
  });
  if (values.help) {
    io.stdout(DOCTOR_HELP);
    return 0;
  }
  const probes = probeAll();
  const plans: { name: string; ok: boolean; detail: unknown }[] = [];
  for (const [name, syscalls] of [
    ["selected", SUPPORTED_SYSCALLS],
    ["all", "all"],
  ] as const) {
    try {
      const s = CaptureSession.start({ syscalls, onBatch: () => {}, ringBytes: 1 << 20 });
      plans.push({ name, ok: true, detail: s.report });
      s.close();
    } catch (e) {
      plans.push({ name, ok: false, detail: errorMessage(e) });
    }
  }
  const { GADGETS, gadgetId } = await import("../../gadgets/index.js");
  const gadgets = GADGETS.map((g) => {
    const why = g.unavailable?.();
    return { gadget: gadgetId(g), ok: why === undefined, ...(why !== undefined ? { reason: why } : {}) };
  });
  if (values.json) {
    io.stdout(JSON.stringify({ kernel: kernelRelease(), probes, capture: plans, gadgets }, null, 2) + "\n");
    return plans.some((p) => p.ok) ? 0 : 1;
  }
  io.stdout(`kernel: ${kernelRelease()}\n\nwhat Lanner uses (program and map types probed by loading):\n`);
  for (const p of probes) {
    io.stdout(
      `  ${p.ok ? "yes" : "no "}  ${p.id.padEnd(24)} ${p.use}${p.ok ? "" : `\n         why not: ${p.reason}`}\n`,
    );
  }
  io.stdout("\ncapture modes:\n");
  for (const p of plans) {
    if (!p.ok) {
      io.stdout(`  ${p.name}: FAILED: ${String(p.detail)}\n`);
      continue;
    }
    const r = p.detail as CaptureSession["report"];
    const attachKinds = new Map<string, number>();
    for (const a of r.attached) attachKinds.set(a.how, (attachKinds.get(a.how) ?? 0) + 1);
    io.stdout(
      `  ${p.name}: ok, mode ${r.mode}, ${r.attached.length} attach points (${[...attachKinds].map(([k, n]) => `${n} ${k}`).join(", ")})\n`,
    );
    for (const f of r.fallbacks)
      io.stdout(`    fallback: wanted ${f.wanted}, using ${f.used}: ${f.reason}\n`);
    for (const k of r.skipped) io.stdout(`    skipped ${k.syscall}: ${k.reason}\n`);
  }
  io.stdout("\ngadgets:\n");
  for (const g of gadgets)
    io.stdout(
      `  ${g.ok ? "yes" : "no "}  ${g.gadget}${g.reason !== undefined ? `\n         why not: ${g.reason}` : ""}\n`,
    );
  return plans.some((p) => p.ok) ? 0 : 1;
}

function kernelRelease(): string {
  return `${os.type()} ${os.release()} ${os.machine()}`;
}
