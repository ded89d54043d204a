/**
 * One call on many nodes at once, and the merge of what comes back: `forEachNode` runs any
 * call (a gadget, bpftrace, status) on every node concurrently, reporting the nodes that fail
 * while the others go on; `runGadgetOnNodes` runs a gadget and merges its output: trace
 * events as they come, each tagged with its node (`k8s.node.name`); top tables, one per
 * interval, merged into one (sorted, cut to --max-rows); snapshot rows merged and sorted.
 */
import { errorMessage } from "../../errors.js";
import type { GadgetRecord } from "../../gadgets/gadget.js";
import { sortRows, type RunStats, type SortKey } from "../../gadgets/runner.js";
import { NodeCallError, NodeClient, type GadgetCall, type NodeClientOptions } from "../node-client.js";
import type { ClusterNode } from "./connect.js";

export { NODE_FIELD } from "../../gadgets/common-columns.js";
import { NODE_FIELD } from "../../gadgets/common-columns.js";

export interface FanoutOptions {
  /** a node that failed (could not be reached, failed mid-stream), with what happened */
  readonly onFailure?: (node: string, message: string) => void;
  readonly clientOptions?: NodeClientOptions;
}

export interface FanoutResult<T> {
  /** what each node's call returned, by node */
  readonly results: Map<string, T>;
  /** the nodes whose call failed, with why */
  readonly failures: Map<string, string>;
}

/** How a failed node call is said: the gRPC status for transport problems, else the message. */
export function failureText(e: unknown): string {
  if (e instanceof NodeCallError)
    return e.status === "UNAVAILABLE" || e.status === "DEADLINE_EXCEEDED" || e.status === "INTERNAL"
      ? `${e.status}: ${e.message}`
      : e.message;
  return errorMessage(e);
}

/**
 * Runs `fn` with a client of each node, all at once; resolves when every call has ended.
 * A call that throws is reported through `onFailure` and recorded; the others go on.
 */
export async function forEachNode<T>(
  nodes: readonly ClusterNode[],
  fn: (client: NodeClient, node: ClusterNode) => Promise<T>,
  opts: FanoutOptions = {},
): Promise<FanoutResult<T>> {
  const results = new Map<string, T>();
  const failures = new Map<string, string>();
  await Promise.all(
    nodes.map(async (node) => {
      const client = new NodeClient(node.target, opts.clientOptions ?? {});
      try {
        results.set(node.name, await fn(client, node));
      } catch (e) {
        const m = failureText(e);
        failures.set(node.name, m);
        opts.onFailure?.(node.name, m);
      } finally {
        client.close();
      }
    }),
  );
  return { results, failures };
}

/** Where the merged output of a gadget goes. */
export interface ClusterGadgetSink {
  /** a trace event (tagged with its node) */
  event(r: GadgetRecord): void;
  /** a merged top table or the merged snapshot */
  table(rows: GadgetRecord[]): void;
  /** every node is attached or has failed; `ready` the nodes attached, with their summaries */
  ready(ready: ReadonlyMap<string, string>): void;
  /** a line for stderr about one node (lost events, warnings) */
  notice(node: string, message: string): void;
}

export interface ClusterGadgetOptions extends FanoutOptions {
  /** top and snapshot: how merged rows are sorted */
  readonly sort: readonly SortKey[];
  /** top: rows per merged table */
  readonly maxRows: number;
  /** top: seconds between tables (how long a merged table waits for slow nodes: half of it) */
  readonly intervalS: number;
  /** stops every node's stream */
  readonly signal?: AbortSignal | undefined;
}

export interface ClusterGadgetResult {
  /** nodes that answered (attached, or sent something) */
  readonly answered: string[];
  /** nodes that failed, with why (a node may have answered, then failed) */
  readonly failures: Map<string, string>;
  /** each node's stats, for the nodes whose stream ended normally */
  readonly stats: Map<string, RunStats>;
}

/** Sets `k8s.node.name` when the node left it unknown. */
export function tagNode(r: GadgetRecord, node: string): GadgetRecord {
  const v = r[NODE_FIELD];
  if (v === undefined || v === null || v === "") r[NODE_FIELD] = node;
  return r;
}

/**
 * Top tables of several nodes, merged per interval: a round ends when every live node sent
 * its table, when a node sends its next one, or half an interval after the round's first
 * table (a slow node's rows come in the next round).
 */
export class TopMerger {
  private readonly round = new Map<string, GadgetRecord[]>();
  private readonly live: Set<string>;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    nodes: readonly string[],
    private readonly sort: readonly SortKey[],
    private readonly maxRows: number,
    private readonly waitMs: number,
    private readonly out: (rows: GadgetRecord[]) => void,
  ) {
    this.live = new Set(nodes);
  }

  add(node: string, rows: GadgetRecord[]): void {
    if (this.round.has(node)) this.flush();
    this.round.set(node, rows);
    if ([...this.live].every((n) => this.round.has(n))) this.flush();
    else if (this.timer === null) this.timer = setTimeout(() => this.flush(), this.waitMs);
  }

  /** The node's stream ended: rounds no longer wait for it. */
  gone(node: string): void {
    this.live.delete(node);
    if (this.round.size > 0 && [...this.live].every((n) => this.round.has(n))) this.flush();
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.round.size === 0) return;
    const rows = [...this.round.values()].flat();
    this.round.clear();
    this.out(sortRows(rows, this.sort).slice(0, this.maxRows));
  }
}

export async function runGadgetOnNodes(
  nodes: readonly ClusterNode[],
  call: GadgetCall,
  sink: ClusterGadgetSink,
  opts: ClusterGadgetOptions,
): Promise<ClusterGadgetResult> {
  const answered = new Set<string>();
  const readyNodes = new Map<string, string>();
  const settled = new Set<string>();
  let readySaid = false;
  const checkReady = (): void => {
    if (readySaid || readyNodes.size === 0) return;
    if (nodes.every((n) => readyNodes.has(n.name) || settled.has(n.name))) {
      readySaid = true;
      sink.ready(readyNodes);
    }
  };
  const top =
    call.category === "top"
      ? new TopMerger(
          nodes.map((n) => n.name),
          opts.sort,
          opts.maxRows,
          Math.max(50, (opts.intervalS * 1000) / 2),
          (rows) => sink.table(rows),
        )
      : null;
  const snapshot: GadgetRecord[] = [];
  const stats = new Map<string, RunStats>();
  const { failures } = await forEachNode(
    nodes,
    async (client, node) => {
      try {
        const st = await client.runGadget(
          call,
          {
            ready: (summary) => {
              answered.add(node.name);
              readyNodes.set(node.name, summary);
              checkReady();
            },
            event: (r) => {
              answered.add(node.name);
              sink.event(tagNode(r, node.name));
            },
            table: (rows) => {
              answered.add(node.name);
              for (const r of rows) tagNode(r, node.name);
              if (top !== null) top.add(node.name, rows);
              else for (const r of rows) snapshot.push(r);
            },
            lost: (n, why) => sink.notice(node.name, n === 0 ? why : `${n} events lost (${why})`),
            warning: (m) => sink.notice(node.name, m),
          },
          opts.signal,
        );
        answered.add(node.name);
        stats.set(node.name, st);
        return st;
      } finally {
        settled.add(node.name);
        top?.gone(node.name);
        checkReady();
      }
    },
    opts,
  );
  top?.flush();
  if (call.category === "snapshot") sink.table(sortRows(snapshot, opts.sort));
  return { answered: nodes.map((n) => n.name).filter((n) => answered.has(n)), failures, stats };
}
