/**
 * Helpers for kernel tests: why a kernel test must skip (printed, never silent), and a
 * capture harness that records decoded events of chosen processes while a real workload
 * runs.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { CaptureSession, type CaptureOptions } from "../../src/capture/capture-session.js";
import { bpfObjectPath, packageRoot } from "../../src/capture/paths.js";
import { decodeRecord, type DecodedEvent } from "../../src/decode/event.js";
import { RecordView, walkBatch } from "../../src/decode/record-view.js";
import { State } from "../../src/state/state.js";
import { contextFor, snapshot, type Snapshot } from "./fields.js";

const execFileP = promisify(execFile);

/** The reason kernel tests cannot run here, or null when they can. */
export function kernelSkipReason(): string | null {
  if (process.getuid?.() !== 0) return "kernel test needs root (CI runs as root)";
  if (!existsSync("/sys/kernel/btf/vmlinux")) return "no BTF at /sys/kernel/btf/vmlinux";
  if (!existsSync(bpfObjectPath("capture")))
    return `BPF object ${bpfObjectPath("capture")} not built (make build)`;
  if (!existsSync(join(packageRoot(), "build/Release/lanner.node")))
    return "native addon not built (make build)";
  return null;
}

export const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
export const WORKLOAD = join(packageRoot(), "test/fixtures/workload.py");

/** Runs a workload subcommand; returns its JSON line. */
export async function workload(name: string, ...args: string[]): Promise<Record<string, number>> {
  const { stdout } = await execFileP(PYTHON, [WORKLOAD, name, ...args]);
  return JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as Record<string, number>;
}

export interface Recorded {
  events: DecodedEvent[];
  /** every field of an event, as the rules saw it when the event was read */
  fields: (ev: DecodedEvent) => Snapshot;
  session: CaptureSession;
}

/**
 * Starts a capture, runs `fn`, waits for the ring to drain, stops. Only events of processes
 * that are the test's descendants are kept (the test's own process is never traced).
 */
export async function recordDuring(
  opts: Omit<CaptureOptions, "onBatch">,
  fn: () => Promise<void>,
): Promise<Recorded> {
  const events: DecodedEvent[] = [];
  const snaps = new Map<DecodedEvent, Snapshot>();
  const state = new State();
  state.seed();
  const ctx = contextFor(state);
  const mine = new Set<number>();
  const view = new RecordView();
  const session: CaptureSession = CaptureSession.start({
    ...opts,
    onBatch: (batch, bytes) =>
      walkBatch(view, batch, bytes, (v) => {
        state.applyRecord(v, Date.now());
        const ev = decodeRecord(v);
        if (!ev) return;
        // The test process itself is never traced (not even its forks): its children are
        // recognised by their exec record's parent.
        if (ev.kind === "exec" && (ev.ppid === process.pid || mine.has(ev.ppid))) mine.add(ev.tgid);
        if (ev.kind === "fork" && mine.has(ev.tgid)) mine.add(ev.childTgid);
        if (!mine.has(ev.tgid)) return;
        events.push(ev);
        ctx.bootToWallNs = session.bootToWallNs;
        snaps.set(ev, snapshot(ctx, ev));
      }),
  });
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 60));
    session.drain();
  } finally {
    session.close();
  }
  return { events, session, fields: (ev) => snaps.get(ev) ?? {} };
}

/** Open fds of this process (for leak checks). */
export function openFdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/**
 * A TCP port free on every address now (the kernel picks it). Tests that must name a port
 * before listening use it instead of a fixed or pid-derived one, which collides with other
 * tests and ephemeral ports on a busy machine.
 */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "0.0.0.0", () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * BPF programs the process `pid` holds: bpftool's "pids" field, or, with a bpftool built
 * without it (no skeleton support: v7.1 here), the program fds in /proc/PID/fd.
 */
export function bpfProgramsOf(pid: number): { n: number; how: string } {
  const out = execFileSync("bpftool", ["prog", "show", "--json"], { encoding: "utf8", maxBuffer: 64 << 20 });
  const progs = JSON.parse(out) as { id: number; pids?: { pid: number }[] }[];
  if (progs.some((p) => p.pids !== undefined))
    return { n: progs.filter((p) => (p.pids ?? []).some((x) => x.pid === pid)).length, how: "bpftool pids" };
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === "anon_inode:bpf-prog") n++;
    } catch {
      // closed meanwhile
    }
  }
  return { n, how: "program fds in /proc/PID/fd (bpftool without pids)" };
}

/** Every BPF program loaded on the machine (`bpftool prog show`). */
export function bpfProgramCount(): number {
  const out = execFileSync("bpftool", ["prog", "show", "--json"], { encoding: "utf8", maxBuffer: 64 << 20 });
  return (JSON.parse(out) as unknown[]).length;
}
