/**
 * top tcp: bytes sent and received per process and TCP connection, every interval. The
 * kernel side (program.bpf.c) sums the byte counts of every send and receive call into a
 * table keyed by process and connection; each interval this side switches the programs to
 * the other table, then reads and empties the one they left.
 */
import { tracefsRoot, tracepointExists } from "../../capture/features.js";
import { clockOffsets, type BpfMap } from "../../native/index.js";
import { PLACE_COMMON, PLACE_DEFAULTS } from "../common-columns.js";
import type { GadgetContext, GadgetSpec, ParamValues, RunningSource, SourceEvent } from "../gadget.js";
import { cString, GadgetObject, hasTpBtf, u32, u8 } from "../kernel-object.js";
import { ENDPOINT_COLUMNS, endsFields, readEnds } from "../trace-tcp/endpoint.js";
import { LNG_TOPTCP_KEY, LNG_TOPTCP_VAL } from "./layout.generated.js";

/** Connections (process and 4-tuple) counted per interval; the rest are counted as lost. */
const TABLE_ENTRIES = 16384;
/** After switching tables, the programs still running on the old one finish well within this
 * (tracepoint programs run with preemption disabled). */
const SWITCH_GRACE_MS = 5;

function validate(p: ParamValues): string | undefined {
  const f = p["family"];
  if (f !== undefined && f !== 4 && f !== 6) return `--family: expected 4 or 6, got '${String(f)}'`;
  const pid = p["pid"];
  if (pid !== undefined && !(typeof pid === "number" && pid > 0))
    return `--pid: expected a positive process id, got '${String(pid)}'`;
  return undefined;
}

/** Reads every entry of `m` and deletes them: [key, value] copies. */
function drainTable(m: BpfMap): [Buffer, Buffer][] {
  const keys: Buffer[] = [];
  let prev: Buffer | null = null;
  for (let i = 0; i < TABLE_ENTRIES * 2; i++) {
    const next = Buffer.alloc(m.keySize);
    if (!m.nextKey(prev, next)) break;
    keys.push(next);
    prev = next;
  }
  const out: [Buffer, Buffer][] = [];
  for (const k of keys) {
    const v = Buffer.alloc(m.valueBufferSize);
    if (m.lookup(k, v)) out.push([k, v]);
    m.delete(k);
  }
  return out;
}

export const TOP_TCP: GadgetSpec = {
  category: "top",
  name: "tcp",
  summary: "bytes sent and received per process and TCP connection, per interval",
  common: [
    "evt.time",
    "proc.pid",
    "thread.tid",
    "proc.ppid",
    "proc.name",
    "proc.pname",
    "user.uid",
    "group.gid",
    ...PLACE_COMMON,
  ],
  columns: [
    ...ENDPOINT_COLUMNS,
    {
      name: "tcp.sent",
      type: "uint64",
      desc: "Bytes the process's send calls (write, send*, sendfile...) passed to the connection in the interval.",
      title: "SENT",
      width: 10,
      align: "right",
      sum: true,
    },
    {
      name: "tcp.received",
      type: "uint64",
      desc: "Bytes the process's receive calls (read, recv*...) took from the connection in the interval (peeks not counted).",
      title: "RECV",
      width: 10,
      align: "right",
      sum: true,
    },
  ],
  defaults: [
    ...PLACE_DEFAULTS,
    "proc.pid",
    "proc.name",
    "tcp.family",
    "tcp.src",
    "tcp.dst",
    "tcp.sent",
    "tcp.received",
  ],
  defaultSort: ["-tcp.sent", "-tcp.received"],
  params: [
    { name: "family", type: "int", desc: "only IPv4 (4) or IPv6 (6) connections" },
    { name: "pid", type: "int", desc: "only this process (host pid)" },
  ],
  validate,
  unavailable(): string | undefined {
    if (tracefsRoot() === null) return undefined;
    const missing = ["sock_send_length", "sock_recv_length"].filter((n) => !tracepointExists("sock", n));
    if (missing.length === 0) return undefined;
    return `needs the tracepoints ${missing.map((n) => `sock:${n}`).join(", ")}, which this kernel lacks`;
  },
  start(ctx: GadgetContext): RunningSource {
    const family = typeof ctx.params["family"] === "number" ? ctx.params["family"] : 0;
    const pid = typeof ctx.params["pid"] === "number" ? ctx.params["pid"] : 0;
    const btf = hasTpBtf();
    const suffix = btf ? "_btf" : "_raw";
    const obj = GadgetObject.load({
      dir: "top-tcp",
      kernelFilter: ctx.kernelFilter,
      ringBytes: 4096,
      programs: (n) => n.endsWith(suffix),
      globals: { lng_ipver: u8(family), lng_target_pid: u32(pid) },
      maxEntries: { lng_toptcp_a: TABLE_ENTRIES, lng_toptcp_b: TABLE_ENTRIES },
    });
    try {
      const how = btf ? "tp_btf" : "raw_tracepoint";
      obj.attach("sock/sock_send_length", [{ program: `lng_toptcp_send${suffix}`, how }]);
      obj.attach("sock/sock_recv_length", [{ program: `lng_toptcp_recv${suffix}`, how }]);
    } catch (e) {
      obj.close();
      throw e;
    }
    const tables = [obj.obj.map("lng_toptcp_a"), obj.obj.map("lng_toptcp_b")] as const;
    const full = obj.obj.map("lng_toptcp_full");
    const zero = u32(0);
    let slot = 0;
    let fullSeen = 0;
    const K = LNG_TOPTCP_KEY;
    const V = LNG_TOPTCP_VAL;
    const tuple = {
      LADDR: K.T_LADDR,
      RADDR: K.T_RADDR,
      LPORT: K.T_LPORT,
      RPORT: K.T_RPORT,
      IPVER: K.T_IPVER,
    };
    return {
      summary: `sock/sock_send_length, sock/sock_recv_length (${btf ? "tp_btf" : "raw_tracepoint"})`,
      collect: async (): Promise<SourceEvent[]> => {
        const old = slot;
        slot = 1 - slot;
        obj.obj.mapUpdate("lng_toptcp_slot", zero, u32(slot));
        await new Promise((r) => setTimeout(r, SWITCH_GRACE_MS));
        const rows: SourceEvent[] = [];
        const entries = drainTable(tables[old] as BpfMap);
        // a row's time is the end of its interval (every row of one table has the same)
        const now = Number(clockOffsets().boottimeNs);
        for (const [k, v] of entries) {
          rows.push({
            pid: k.readUInt32LE(K.PID),
            tid: v.readUInt32LE(V.TID),
            ts: now,
            cgroupId: v.readBigUInt64LE(V.CGROUP_ID),
            fields: {
              "proc.name": cString(v, V.COMM, 16),
              "proc.ppid": v.readUInt32LE(V.PPID),
              "proc.pname": cString(v, V.PCOMM, 16),
              "user.uid": v.readUInt32LE(V.UID),
              "group.gid": v.readUInt32LE(V.GID),
              ...endsFields(readEnds(k, 0, tuple)),
              "tcp.sent": Number(v.readBigUInt64LE(V.SENT)),
              "tcp.received": Number(v.readBigUInt64LE(V.RECEIVED)),
            },
          });
        }
        const fv = Buffer.alloc(full.valueBufferSize);
        let n = 0;
        if (full.lookup(zero, fv)) for (const c of full.perCpuValues(fv)) n += Number(c.readBigUInt64LE(0));
        if (n > fullSeen) {
          ctx.lost(n - fullSeen, "top tcp: connection table full");
          fullSeen = n;
        }
        return rows;
      },
      stop: () => obj.close(),
    };
  },
};
