// HTTP endpoint for metrics: GET /metrics (Prometheus text) and GET /healthz (200 "ok", or 503
// with the reason when the health check fails). Bind to loopback unless told otherwise.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { MetricsRegistry } from "./metrics.js";

export interface MetricsServerOptions {
  /** `host:port`, `:port` or a port number; default `127.0.0.1:8765`. */
  readonly address?: string | number;
  readonly registry: MetricsRegistry;
  /** Return undefined when healthy, otherwise the reason. */
  readonly health?: () => string | undefined;
}

export interface MetricsServer {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

export function parseListenAddress(address: string | number | undefined): { host: string; port: number } {
  if (address === undefined) return { host: "127.0.0.1", port: 8765 };
  if (typeof address === "number") return { host: "127.0.0.1", port: address };
  const i = address.lastIndexOf(":");
  const host = i <= 0 ? "127.0.0.1" : address.slice(0, i).replace(/^\[(.*)\]$/, "$1");
  const port = Number(i < 0 ? address : address.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`metrics address ${address}: bad port`);
  return { host, port };
}

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(opts.address);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      let body: string;
      try {
        body = opts.registry.render();
      } catch (err) {
        res.writeHead(500, { "Content-Type": "text/plain" }).end(`collecting metrics: ${String(err)}\n`);
        return;
      }
      res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" }).end(body);
    } else if (path === "/healthz") {
      const problem = opts.health?.();
      if (problem === undefined) res.writeHead(200, { "Content-Type": "text/plain" }).end("ok\n");
      else res.writeHead(503, { "Content-Type": "text/plain" }).end(`${problem}\n`);
    } else {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) =>
      reject(new Error(`metrics server listening on ${host}:${port}: ${e.message}`)),
    );
    server.listen(port, host, resolve);
  });
  const addr = server.address() as AddressInfo;
  return {
    port: addr.port,
    host,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
