/**
 * A `lanner run --json` agent for end-to-end tests: spawn, wait for the readiness line,
 * collect alerts (JSON lines on stdout), wait for alerts matching a predicate, stop with
 * SIGTERM and report the exit code.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "bin", "lanner")) && existsSync(join(dir, "package.json"))) return dir;
    dir = dirname(dir);
  }
  throw new Error("test/e2e/agent: repository root not found");
})();

export const LANNER = join(REPO, "bin", "lanner");

export type FieldValue = string | number | boolean | null | readonly unknown[];

export interface AlertJson {
  time: string;
  rule: string;
  priority: string;
  source: string;
  hostname: string;
  output: string;
  output_fields: Record<string, FieldValue>;
  tags?: string[];
}

/** Why `lanner run` cannot be exercised here, or null. */
export function runSkipReason(): string | null {
  if (process.getuid?.() !== 0) return "end-to-end agent tests need root (CI runs as root)";
  const r = spawnSync(process.execPath, [LANNER, "run", "--help"], { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) {
    const why = (r.stderr || r.stdout || "").split("\n")[0] ?? "";
    return `'lanner run --help' failed (exit ${String(r.status)}): ${why}`;
  }
  return null;
}

export class Agent {
  readonly alerts: AlertJson[] = [];
  readonly junk: string[] = [];
  stderr = "";
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private listeners = new Set<() => void>();

  private constructor(child: ChildProcess) {
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", (code, sig) => resolve(sig ? -1 : code)));
    let buf = "";
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() === "") continue;
        try {
          this.alerts.push(JSON.parse(line) as AlertJson);
        } catch {
          this.junk.push(line);
        }
      }
      for (const l of this.listeners) l();
    });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      this.stderr += chunk;
      for (const l of this.listeners) l();
    });
  }

  /** Starts `lanner run --json ARGS` and resolves once it printed `lanner: ready`. */
  static async start(args: readonly string[], timeoutMs = 90_000): Promise<Agent> {
    const child = spawn(process.execPath, [LANNER, "run", "--json", ...args], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const agent = new Agent(child);
    let exitCode: number | null | undefined;
    void agent.exited.then((c) => {
      exitCode = c;
    });
    await agent.until(() => /^lanner: ready/m.test(agent.stderr) || exitCode !== undefined, timeoutMs);
    if (!/^lanner: ready/m.test(agent.stderr)) {
      child.kill("SIGKILL");
      throw new Error(
        `lanner run ${args.join(" ")} did not become ready (exit ${String(exitCode)}); stderr:\n${agent.stderr}`,
      );
    }
    return agent;
  }

  /** Resolves when `cond()` holds (re-checked on output and every 100 ms) or the time is up. */
  until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (cond()) return resolve(true);
      const check = (): void => {
        if (cond()) finish(true);
      };
      const timer = setInterval(check, 100);
      const deadline = setTimeout(() => finish(cond()), timeoutMs);
      const finish = (v: boolean): void => {
        clearInterval(timer);
        clearTimeout(deadline);
        this.listeners.delete(check);
        resolve(v);
      };
      this.listeners.add(check);
    });
  }

  /** Alerts matching `pred` once at least `n` arrived (or the time is up). */
  async waitFor(pred: (a: AlertJson) => boolean, n = 1, timeoutMs = 15_000): Promise<AlertJson[]> {
    await this.until(() => this.alerts.filter(pred).length >= n, timeoutMs);
    return this.alerts.filter(pred);
  }

  matching(pred: (a: AlertJson) => boolean): AlertJson[] {
    return this.alerts.filter(pred);
  }

  /** SIGTERM, then the exit code (SIGKILL after timeoutMs; -1 when killed by a signal). */
  async stop(timeoutMs = 20_000): Promise<number | null> {
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}
