/**
 * The node API's calls and answers as the CLI and the agent see them (the wire shapes are
 * codec.ts's): shared by the client (node-client.ts re-exports them) and the service.
 */
import type { GadgetRecord } from "../gadgets/gadget.js";
import type { BpftraceOptions } from "../bpftrace/runner.js";
import type { GadgetRequest } from "../gadgets/runner.js";

/** Mutual TLS material for a TCP endpoint (PEM). */
export interface NodeTls {
  readonly ca: Buffer | string;
  readonly cert: Buffer | string;
  readonly key: Buffer | string;
  /** the name the server's certificate is checked against when it is not the address's host */
  readonly serverName?: string;
}

/** Where a node's agent listens: `unix:///run/lanner/lanner.sock` or `host:port` (TCP: tls required). */
export interface NodeTarget {
  readonly address: string;
  readonly tls?: NodeTls;
}

/**
 * A gadget run, as the CLI parsed it (the server checks it again, as `prepare` does): the
 * gadget by name instead of its spec, and the server's own deadline.
 */
export interface GadgetCall extends Omit<GadgetRequest, "spec"> {
  readonly category: "trace" | "top" | "snapshot";
  readonly name: string;
  /** the server stops the gadget after this long */
  readonly timeoutS?: number | undefined;
}

export interface GadgetStreamSink {
  /** the gadget is attached on that node */
  ready(summary: string, node: string): void;
  event(r: GadgetRecord): void;
  table(rows: GadgetRecord[]): void;
  lost(n: number, why: string): void;
  warning(message: string): void;
}

/** A bpftrace run as it crosses the wire: the runner's options less the node's own settings. */
export type BpftraceCall = Omit<BpftraceOptions, "bpftrace" | "killGraceMs">;

export interface BpftraceStreamSink {
  ready(summary: string, node: string): void;
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface KernelFeatureStatus {
  readonly name: string;
  readonly available: boolean;
  readonly detail: string;
}

export interface NodeStatus {
  readonly node: string;
  readonly version: string;
  readonly kernel: string;
  readonly features: readonly KernelFeatureStatus[];
  readonly captureMode: string;
  readonly capturePrograms: number;
  readonly rules: number;
  readonly events: number;
  readonly alerts: number;
  readonly drops: number;
  readonly gadgetsRunning: number;
  readonly uptimeSeconds: number;
}
