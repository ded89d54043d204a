// A long-lived child process fed on stdin, respawned with exponential backoff when it dies.
// Shared by the program output (`sh -c CMD`) and the syslog output (util-linux `logger`).

import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import type { Logger } from "./logger.js";
import { errorMessage, sleep } from "./output.js";

export interface ChildFeederOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logger: Logger;
  /** First respawn delay (default 100 ms); doubles per quick death up to backoffMaxMs. */
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  /** A child that lived this long resets the backoff (default 10 s). */
  readonly stableAfterMs?: number;
  /** stdout/stderr of the child (default inherit both). */
  readonly stdio?: readonly ["inherit" | "ignore" | "pipe", "inherit" | "ignore" | "pipe"];
  /** Called with each line the child prints on a piped stderr. */
  readonly onStderrLine?: (line: string) => void;
}

export class ChildFeeder {
  readonly #opts: ChildFeederOptions;
  #child: ChildProcess | undefined;
  #spawnedAt = 0;
  #nextSpawnAt = 0;
  #backoffMs: number;
  #closing = false;
  readonly #abort = new AbortController();
  /** Children started so far (1 after the first spawn). */
  spawns = 0;
  /** Children that exited while still wanted. */
  deaths = 0;

  constructor(opts: ChildFeederOptions) {
    this.#opts = opts;
    this.#backoffMs = opts.backoffMinMs ?? 100;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Write buf to a live child's stdin; resolves once the OS pipe took it. Retries once on a fresh child. */
  async write(buf: Buffer): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const child = await this.#live();
      try {
        await new Promise<void>((resolve, reject) => {
          const stdin = child.stdin;
          if (stdin === null || stdin.destroyed) return reject(new Error("child stdin closed"));
          stdin.write(buf, (err) => (err ? reject(err) : resolve()));
        });
        return;
      } catch (err) {
        if (attempt >= 1 || this.#closing) throw err;
        // The child died under us; wait for its exit to be noticed, then go round again.
        if (this.#child === child) await this.#waitExit(child, 200);
      }
    }
  }

  /** End the current child gracefully; the next write starts a new one without backoff. */
  async restart(deadlineMs = 2000): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    this.#nextSpawnAt = 0;
    this.#backoffMs = this.#opts.backoffMinMs ?? 100;
    if (child) await this.#stop(child, deadlineMs);
  }

  async close(deadlineMs = 2000): Promise<void> {
    this.#closing = true;
    this.#abort.abort();
    const child = this.#child;
    this.#child = undefined;
    if (child) await this.#stop(child, deadlineMs);
  }

  async #live(): Promise<ChildProcess> {
    for (;;) {
      if (this.#closing) throw new Error("output closed");
      const c = this.#child;
      if (c !== undefined && c.exitCode === null && c.signalCode === null) return c;
      const wait = this.#nextSpawnAt - Date.now();
      if (wait > 0) {
        await sleep(wait, this.#abort.signal);
        continue;
      }
      this.#spawn();
    }
  }

  #spawn(): void {
    const o = this.#opts;
    const [out, err] = o.stdio ?? ["inherit", "inherit"];
    const stdio: StdioOptions = ["pipe", out, err];
    const child = spawn(o.command, [...o.args], { stdio });
    this.spawns++;
    this.#spawnedAt = Date.now();
    this.#child = child;
    child.stdin?.on("error", () => {}); // EPIPE surfaces through the write callback
    child.on("error", (e) => {
      o.logger("error", `${o.name}: starting ${o.command}: ${errorMessage(e)}`);
      // A spawn failure (ENOENT, EACCES) may never emit 'exit': schedule the retry here.
      if (this.#child === child && child.pid === undefined) this.#died(child, null, null);
    });
    if (err === "pipe" && child.stderr) {
      let pending = "";
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (chunk: string) => {
        pending += chunk;
        let i;
        while ((i = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, i);
          pending = pending.slice(i + 1);
          if (o.onStderrLine) o.onStderrLine(line);
          else o.logger("warn", `${o.name}: ${line}`);
        }
      });
    }
    child.on("exit", (code, signal) => this.#died(child, code, signal));
  }

  #died(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    const o = this.#opts;
    if (this.#child !== child) return; // stopped on purpose, or already handled
    this.#child = undefined;
    if (this.#closing) return;
    this.deaths++;
    const lived = Date.now() - this.#spawnedAt;
    if (lived >= (o.stableAfterMs ?? 10_000)) this.#backoffMs = o.backoffMinMs ?? 100;
    this.#nextSpawnAt = Date.now() + this.#backoffMs;
    o.logger(
      "warn",
      `${o.name}: child ${child.pid ?? "?"} exited (${signal ?? `code ${code ?? "?"}`}) after ${lived} ms; respawning in ${this.#backoffMs} ms`,
    );
    this.#backoffMs = Math.min(this.#backoffMs * 2, o.backoffMaxMs ?? 30_000);
  }

  #waitExit(child: ChildProcess, ms: number): Promise<boolean> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      child.once("exit", () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  async #stop(child: ChildProcess, deadlineMs: number): Promise<void> {
    child.stdin?.end();
    if (await this.#waitExit(child, deadlineMs)) return;
    child.kill("SIGTERM");
    if (await this.#waitExit(child, 500)) return;
    child.kill("SIGKILL");
    await this.#waitExit(child, 500);
  }
}
