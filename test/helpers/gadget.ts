/**
 * Runs `bin/lanner <category> <gadget>` as users do: resolves once its readiness line is
 * printed, then collects its JSON lines while the test acts. A few gadget processes can run
 * at once against the same workload (one per selection under test).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { LANNER } from "./agent.js";

export type GadgetEvent = Record<string, unknown>;

export interface GadgetProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** JSON lines printed so far, parsed */
  readonly events: GadgetEvent[];
  readonly stderr: () => string;
  readonly stdout: () => string;
  /** until `pred` holds for an event (or the time is up): the event, or undefined */
  waitFor(pred: (e: GadgetEvent) => boolean, ms?: number): Promise<GadgetEvent | undefined>;
  /** SIGINT, then wait for the exit; resolves to the exit code */
  stop(): Promise<number | null>;
  /** resolves to the exit code when the process ends by itself */
  readonly exited: Promise<number | null>;
}

/** `args`: everything after `lanner`, e.g. ["trace", "exec", "-o", "json"]. */
export async function startGadget(args: readonly string[], readyMs = 30000): Promise<GadgetProcess> {
  const child = spawn(process.execPath, [LANNER, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let partial = "";
  const events: GadgetEvent[] = [];
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    partial += d.toString();
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) if (l.startsWith("{")) events.push(JSON.parse(l) as GadgetEvent);
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const g: GadgetProcess = {
    child,
    events,
    stderr: () => stderr,
    stdout: () => stdout,
    exited,
    waitFor: async (pred, ms = 10000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = events.find(pred);
        if (hit !== undefined || Date.now() > deadline) return hit;
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      return exited;
    },
  };
  const ready = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), readyMs);
    const check = (): void => {
      if (stderr.includes("lanner: ready")) {
        clearTimeout(t);
        resolve(true);
      }
    };
    child.stderr.on("data", check);
    void exited.then(() => {
      clearTimeout(t);
      resolve(stderr.includes("lanner: ready"));
    });
  });
  if (!ready) {
    await g.stop();
    throw new Error(`lanner ${args.join(" ")} not ready: ${stderr}`);
  }
  return g;
}

/** Runs a gadget command to its end (bad input, snapshots, --timeout): code and output. */
export async function runGadget(
  args: readonly string[],
  timeoutMs = 60000,
): Promise<{ code: number | null; stdout: string; stderr: string; events: GadgetEvent[] }> {
  return runGadgetWithReady(args, timeoutMs).done;
}

/**
 * `lanner ARGS` to its end, with `ready`: resolved once it printed its readiness line (a
 * workload started after it is seen; a fixed wait is not enough on a loaded machine), or when
 * it exited without one.
 */
export function runGadgetWithReady(
  args: readonly string[],
  timeoutMs = 60000,
): {
  ready: Promise<void>;
  done: Promise<{ code: number | null; stdout: string; stderr: string; events: GadgetEvent[] }>;
} {
  const child = spawn(process.execPath, [LANNER, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
    if (stderr.includes("lanner: ready")) onReady();
  });
  const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const done = new Promise<number | null>((resolve) =>
    child.on("exit", (c) => {
      onReady();
      resolve(c);
    }),
  ).then((code) => {
    clearTimeout(t);
    const events = stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as GadgetEvent);
    return { code, stdout, stderr, events };
  });
  return { ready, done };
}
