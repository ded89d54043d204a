/**
 * Runs `bin/lanner capture` as users do: resolves once its readiness line is printed, then
 * collects its stdout (and JSON lines as events) while the test acts.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { LANNER } from "./agent.js";

export interface CaptureProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** JSON lines printed so far, parsed */
  readonly events: Record<string, unknown>[];
  stdout(): string;
  readonly stderr: string;
  /** SIGINT, then wait for the exit */
  stop(): Promise<void>;
}

export async function startCapture(args: string[], readyMs = 30000): Promise<CaptureProcess> {
  const child = spawn(process.execPath, [LANNER, "capture", ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let partial = "";
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const state = {
    child,
    events: [] as Record<string, unknown>[],
    stdout: () => stdout,
    stderr: "",
    stop: async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      await exited;
    },
  };
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    partial += d.toString();
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) if (l.startsWith("{")) state.events.push(JSON.parse(l) as Record<string, unknown>);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`lanner capture not ready: ${state.stderr}`)), readyMs);
      child.stderr.on("data", (d: Buffer) => {
        state.stderr += d.toString();
        if (state.stderr.includes("lanner: ready")) {
          clearTimeout(t);
          resolve();
        }
      });
    });
  } catch (e) {
    await state.stop();
    throw e;
  }
  return state;
}
