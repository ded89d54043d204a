/**
 * A tunnel to one pod's port through the API server, as `kubectl port-forward` does it: a
 * local listener on 127.0.0.1 (any free port), and for each connection accepted there one
 * port-forward WebSocket (@kubernetes/client-node's PortForward: the kubelet's data and error
 * channels). Bytes go both ways unchanged; what the kubelet reports on the error channel (a
 * refused connection in the pod) ends that connection and is passed to `onError`.
 */
import { createServer, type Server, type Socket } from "node:net";
import { Writable } from "node:stream";
import { PortForward, type KubeConfig } from "@kubernetes/client-node";
import { LannerError, errorMessage } from "../../errors.js";

/** The subset of the WebSocket PortForward resolves with (isomorphic-ws: the `ws` package on Node). */
interface TunnelSocket {
  on(event: "close", fn: () => void): unknown;
  close(): void;
  readonly readyState: number;
}

export interface PortForwardOptions {
  readonly namespace: string;
  readonly pod: string;
  readonly port: number;
  /** a connection that failed (the API server refused the upgrade, the kubelet could not connect) */
  readonly onError?: (message: string) => void;
}

export class PortForwardTunnel {
  private server: Server | null = null;
  private readonly conns = new Set<Socket>();
  private readonly sockets = new Set<TunnelSocket>();
  /** connections accepted so far */
  connections = 0;
  /** the local address, `127.0.0.1:PORT`, once listening */
  address = "";

  constructor(
    private readonly kc: KubeConfig,
    readonly opts: PortForwardOptions,
  ) {}

  /** Starts the local listener; resolves with its address (`127.0.0.1:PORT`). */
  async listen(): Promise<string> {
    const server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    server.on("error", (e) => this.report(`local listener: ${errorMessage(e)}`));
    this.server = server;
    const a = server.address();
    if (a === null || typeof a !== "object")
      throw new LannerError("EPORTFORWARD", `port-forward to ${this.what()}: no local address`);
    this.address = `127.0.0.1:${a.port}`;
    return this.address;
  }

  private what(): string {
    return `pod ${this.opts.namespace}/${this.opts.pod} port ${this.opts.port}`;
  }

  private lastError = "";

  private report(message: string): void {
    // gRPC retries a refused connection: the same error is said once, not per attempt
    if (message === this.lastError) return;
    this.lastError = message;
    this.opts.onError?.(`port-forward to ${this.what()}: ${message}`);
  }

  private accept(conn: Socket): void {
    this.connections++;
    this.conns.add(conn);
    conn.on("close", () => this.conns.delete(conn));
    conn.on("error", () => conn.destroy());
    let errorText = "";
    const errors = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        errorText += chunk.toString("utf8");
        done();
      },
    });
    // the kubelet writes its error then closes: report it once the text is complete
    let reported = false;
    const finish = (): void => {
      if (!reported && errorText !== "") {
        reported = true;
        this.report(errorText.trim());
      }
      conn.destroy();
    };
    const pf = new PortForward(this.kc, true);
    pf.portForward(this.opts.namespace, this.opts.pod, [this.opts.port], conn, errors, conn)
      .then((ws) => {
        const sock = ws as unknown as TunnelSocket;
        this.sockets.add(sock);
        sock.on("close", () => {
          this.sockets.delete(sock);
          finish();
        });
        if (conn.destroyed) sock.close();
        else conn.on("close", () => sock.close());
      })
      .catch((e: unknown) => {
        // the WebSocket's error event is not an Error: its message is a property
        const m = (e as { message?: unknown } | null)?.message;
        this.report(typeof m === "string" ? m : errorMessage(e));
        conn.destroy();
      });
  }

  /** Stops listening and ends every tunnelled connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.close();
    this.sockets.clear();
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
