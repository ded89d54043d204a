// http: one POST per alert with Falco's JSON (Falcosidekick's input, `POST /`), or text/plain.
// Failed attempts (network error, timeout, HTTP 408/429/5xx) are retried with exponential
// backoff; other 4xx answers fail at once. Each attempt is bounded by timeoutMs, so a hanging
// endpoint costs at most (maxRetries + 1) * timeoutMs plus backoff per alert; meanwhile the
// queue absorbs new alerts and drops (counted) when full. Optional mTLS and custom headers.

import http from "node:http";
import https from "node:https";
import type { Alert } from "../engine/alert.js";
import { AlertRenderer, type LineFormat } from "./format.js";
import { QueuedOutput, sleep, type QueuedOutputOptions } from "./output.js";

export interface HttpOutputOptions extends QueuedOutputOptions {
  readonly url: string;
  readonly format?: LineFormat;
  /** Extra request headers. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly userAgent?: string;
  /** Per-attempt timeout, connect to full response (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Retries after the first attempt (default 5). */
  readonly maxRetries?: number;
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  /** PEM: CA bundle to verify the server; client cert and key for mTLS. */
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Skip server certificate verification (like Falco's http_output.insecure). */
  readonly insecure?: boolean;
  readonly renderer?: AlertRenderer;
}

export class HttpStatusError extends Error {
  readonly status: number;
  constructor(status: number, body: string) {
    super(`HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ""}`);
    this.status = status;
  }
}

function retryable(err: unknown): boolean {
  if (err instanceof HttpStatusError) return err.status === 408 || err.status === 429 || err.status >= 500;
  return true;
}

export class HttpOutput extends QueuedOutput {
  readonly kind = "http";
  readonly url: URL;
  readonly #opts: HttpOutputOptions;
  readonly #agent: http.Agent;
  readonly #format: LineFormat;
  readonly #renderer: AlertRenderer;
  readonly #abort = new AbortController();
  /** Attempts that failed and were retried. */
  retries = 0;

  constructor(opts: HttpOutputOptions, name = "http") {
    super(name, { ...opts, batchMax: 1 });
    this.url = new URL(opts.url);
    if (this.url.protocol !== "http:" && this.url.protocol !== "https:") {
      throw new Error(`http output: url must be http:// or https://, got ${opts.url}`);
    }
    this.#opts = opts;
    this.#format = opts.format ?? "json";
    this.#renderer = opts.renderer ?? new AlertRenderer();
    this.#agent =
      this.url.protocol === "https:"
        ? new https.Agent({
            keepAlive: true,
            maxSockets: 1,
            ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
            ...(opts.cert !== undefined ? { cert: opts.cert } : {}),
            ...(opts.key !== undefined ? { key: opts.key } : {}),
            rejectUnauthorized: opts.insecure !== true,
          })
        : new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  protected async deliverBatch(alerts: Alert[]): Promise<void> {
    for (const a of alerts) await this.#deliverOne(a);
  }

  async #deliverOne(alert: Alert): Promise<void> {
    const body = Buffer.from(this.#renderer.line(alert, this.#format));
    const maxRetries = this.#opts.maxRetries ?? 5;
    let backoff = this.#opts.backoffMinMs ?? 100;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#post(body);
        return;
      } catch (err) {
        if (!retryable(err) || attempt >= maxRetries || this.#abort.signal.aborted) throw err;
        this.retries++;
        await sleep(backoff, this.#abort.signal);
        backoff = Math.min(backoff * 2, this.#opts.backoffMaxMs ?? 10_000);
      }
    }
  }

  #post(body: Buffer): Promise<void> {
    const timeoutMs = this.#opts.timeoutMs ?? 5000;
    const mod = this.url.protocol === "https:" ? https : http;
    return new Promise<void>((resolve, reject) => {
      const req = mod.request(this.url, {
        method: "POST",
        agent: this.#agent,
        signal: this.#abort.signal,
        headers: {
          "Content-Type": this.#format === "json" ? "application/json" : "text/plain",
          "Content-Length": body.length,
          "User-Agent": this.#opts.userAgent ?? "lanner",
          ...this.#opts.headers,
        },
      });
      const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      req.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.on("response", (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          if (text.length < 1024) text += c;
        });
        res.on("end", () => {
          clearTimeout(timer);
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve();
          else reject(new HttpStatusError(status, text.trim()));
        });
        res.on("error", (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      req.end(body);
    });
  }

  protected async release(): Promise<void> {
    this.#abort.abort();
    this.#agent.destroy();
  }
}
