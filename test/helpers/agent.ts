/**
 * Runs `bin/lanner run` as users do, for end-to-end tests: waits for the readiness line,
 * collects JSON alerts from stdout and lines from stderr, stops with a signal.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { join } from "node:path";
import { packageRoot } from "../../src/capture/paths.js";

export const LANNER = join(packageRoot(), "bin/lanner");

export interface AgentAlert {
  time: string;
  rule: string;
  priority: string;
  source: string;
  hostname: string;
  output: string;
  output_fields: Record<string, unknown>;
  tags: string[];
}

export class AgentProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly alerts: AgentAlert[] = [];
  stdout = "";
  stderr = "";
  private waiters: { pred: () => boolean; resolve: () => void }[] = [];
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [LANNER, "run", ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let partial = "";
    this.child.stdout.on("data", (d: Buffer) => {
      this.stdout += d.toString();
      partial += d.toString();
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) {
        if (l.startsWith("{")) {
          try {
            this.alerts.push(JSON.parse(l) as AgentAlert);
          } catch {
            // not an alert line
          }
        }
      }
      this.check();
    });
    this.child.stderr.on("data", (d: Buffer) => {
      this.stderr += d.toString();
      this.check();
    });
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred()) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves when pred() holds (checked on every output chunk), rejects after ms. */
  waitFor(pred: () => boolean, what: string, ms = 15000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      // checked on every output chunk, and every 50 ms for conditions outside the process
      const poll = setInterval(() => this.check(), 50);
      const t = setTimeout(() => {
        clearInterval(poll);
        reject(new Error(`timed out waiting for ${what}; stderr:\n${this.stderr}`));
      }, ms);
      this.waiters.push({
        pred,
        resolve: () => {
          clearTimeout(t);
          clearInterval(poll);
          resolve();
        },
      });
      void this.exited.then((code) => {
        clearTimeout(t);
        clearInterval(poll);
        if (!pred())
          reject(new Error(`agent exited (${code}) while waiting for ${what}; stderr:\n${this.stderr}`));
      });
    });
  }

  ready(): Promise<void> {
    return this.waitFor(() => this.stderr.includes("lanner: ready"), "the readiness line", 30000);
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}
