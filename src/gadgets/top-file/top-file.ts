/**
 * top file: reads, writes and bytes per thread and file over each interval, counted in the
 * kernel (program.bpf.c) from the read/write syscalls' tracepoints. Each interval the
 * programs are switched to the other of two tables and the one they left is read and
 * emptied, so every successful call is counted in exactly one interval.
 */
import { tracepointExists } from "../../capture/features.js";
import { LannerError } from "../../errors.js";
import { clockOffsets } from "../../native/index.js";
import { ruleColumn } from "../capture-fields.js";
import { PLACE_COMMON, PLACE_DEFAULTS } from "../common-columns.js";
import type { GadgetContext, GadgetSpec, RunningSource, SourceEvent } from "../gadget.js";
import { cString, GadgetObject, headerEvent, readHeader, u32, u8 } from "../kernel-object.js";
import { LNG_TF_FLAG, LNG_TF_KEY, LNG_TF_MAGIC, LNG_TF_TYPE, LNG_TF_VAL } from "./layout.generated.js";

/** The syscalls counted, each with the program that reads its file descriptors at entry. */
const SYSCALLS: readonly { readonly name: string; readonly enter: string }[] = [
  { name: "read", enter: "lng_tf_enter_read" },
  { name: "pread64", enter: "lng_tf_enter_read" },
  { name: "readv", enter: "lng_tf_enter_read" },
  { name: "preadv", enter: "lng_tf_enter_read" },
  { name: "preadv2", enter: "lng_tf_enter_read" },
  { name: "write", enter: "lng_tf_enter_write" },
  { name: "pwrite64", enter: "lng_tf_enter_write" },
  { name: "writev", enter: "lng_tf_enter_write" },
  { name: "pwritev", enter: "lng_tf_enter_write" },
  { name: "pwritev2", enter: "lng_tf_enter_write" },
  { name: "sendfile64", enter: "lng_tf_enter_sendfile" },
  { name: "splice", enter: "lng_tf_enter_splice" },
  { name: "copy_file_range", enter: "lng_tf_enter_splice" },
];

/** Entries per table (TF_ENTRIES in program.bpf.c): more files in an interval are counted lost. */
const TABLE_ENTRIES = 10240;
/** After the switch, programs that read the old table's number finish before it is read (ms). */
const SETTLE_MS = 5;

const TYPE_LETTER: Readonly<Record<number, string>> = {
  [LNG_TF_TYPE.LNG_TF_REGULAR]: "R",
  [LNG_TF_TYPE.LNG_TF_SOCKET]: "S",
  [LNG_TF_TYPE.LNG_TF_OTHER]: "O",
};

/** The kernel's dev_t (major << 20 | minor) as stat(2) encodes st_dev. */
export function statDev(kdev: number): number {
  const major = kdev >>> 20;
  const minor = kdev & 0xfffff;
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** A file's name as /proc/PID/fd shows it: the path, or pipe:[ino], socket:[ino], anon_inode:... */
export function fileName(magic: number, ino: bigint, path: string, truncated: boolean): string {
  if (magic === LNG_TF_MAGIC.LNG_TF_PIPEFS) return `pipe:[${ino}]`;
  if (magic === LNG_TF_MAGIC.LNG_TF_SOCKFS) return `socket:[${ino}]`;
  if (magic === LNG_TF_MAGIC.LNG_TF_ANON_INODEFS) return `anon_inode:${path.replace(/^\//, "")}`;
  return truncated ? `${path}…` : path;
}

/** Bytes of the path buffer (LNG_TF_PATH). */
const PATH_BYTES = LNG_TF_VAL.SIZEOF - LNG_TF_VAL.PATH;

/** One table entry as a row. */
function row(key: Buffer, val: Buffer, nowBootNs: number): SourceEvent {
  const ino = key.readBigUInt64LE(LNG_TF_KEY.INO);
  const magic = val.readUInt32LE(LNG_TF_VAL.MAGIC);
  const truncated = (val.readUInt32LE(LNG_TF_VAL.FLAGS) & LNG_TF_FLAG.LNG_TF_TRUNCATED) !== 0;
  const path = cString(val, LNG_TF_VAL.PATH, Math.min(val.readUInt32LE(LNG_TF_VAL.PATH_LEN), PATH_BYTES));
  const ev = headerEvent(readHeader(val, LNG_TF_VAL.HDR_TS), {
    "file.reads": Number(val.readBigUInt64LE(LNG_TF_VAL.READS)),
    "file.writes": Number(val.readBigUInt64LE(LNG_TF_VAL.WRITES)),
    "file.rbytes": Number(val.readBigUInt64LE(LNG_TF_VAL.RBYTES)),
    "file.wbytes": Number(val.readBigUInt64LE(LNG_TF_VAL.WBYTES)),
    "file.type": TYPE_LETTER[val.readUInt32LE(LNG_TF_VAL.TYPE)] ?? "O",
    "file.path": fileName(magic, ino, path, truncated),
    "fd.ino": Number(ino),
    "fd.dev": statDev(key.readUInt32LE(LNG_TF_KEY.DEV)),
  });
  // the row's time is the end of its interval (every row of one table has the same)
  return { ...ev, ts: nowBootNs };
}

function start(ctx: GadgetContext): RunningSource {
  const allFiles = ctx.params["all-files"] === true;
  const g = GadgetObject.load({
    dir: "top-file",
    kernelFilter: ctx.kernelFilter,
    ringBytes: 4096, // no records: the tables are read instead
    globals: { lng_tf_all_files: u8(allFiles ? 1 : 0) },
  });
  const missing: string[] = [];
  try {
    for (const s of SYSCALLS) {
      const exit = `sys_exit_${s.name}`;
      const enter = `sys_enter_${s.name}`;
      if (!tracepointExists("syscalls", enter) || !tracepointExists("syscalls", exit)) {
        if (s.name === "read" || s.name === "write")
          throw new LannerError("EGADGET", `top file: tracepoint syscalls/${enter} is missing`);
        missing.push(s.name);
        continue;
      }
      // the exit first: an entry is never kept without its exit attached
      g.attach(`syscalls/${exit}`, [
        {
          program: "lng_tf_exit",
          spec: { kind: "tracepoint", category: "syscalls", name: exit },
          how: "tracepoint",
        },
      ]);
      g.attach(`syscalls/${enter}`, [
        {
          program: s.enter,
          spec: { kind: "tracepoint", category: "syscalls", name: enter },
          how: "tracepoint",
        },
      ]);
    }
  } catch (e) {
    g.close();
    throw e;
  }
  const zero = u32(0);
  const fullMap = g.obj.map("lng_tf_full");
  const fullValue = Buffer.alloc(fullMap.valueBufferSize);
  let gen = 0;
  let fullSeen = 0;
  const tableFull = (): number => {
    if (!fullMap.lookup(zero, fullValue)) return 0;
    let n = 0;
    for (const c of fullMap.perCpuValues(fullValue)) n += Number(c.readBigUInt64LE(0));
    return n;
  };
  const keys: Buffer[] = [];
  const value = Buffer.alloc(LNG_TF_VAL.SIZEOF);
  const attachedSyscalls = SYSCALLS.length - missing.length;
  return {
    summary:
      `programs=${g.attached.length} (${attachedSyscalls} syscalls` +
      `${missing.length > 0 ? `; missing: ${missing.join(", ")}` : ""}), ` +
      `files=${allFiles ? "all" : "regular"}`,
    async collect(): Promise<SourceEvent[]> {
      // switch the programs to the other table, then empty the one they left
      gen ^= 1;
      g.obj.mapUpdate("lng_tf_gen", zero, u32(gen));
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const table = g.obj.map(gen === 1 ? "lng_tf_stats0" : "lng_tf_stats1");
      keys.length = 0;
      let prev: Buffer | null = null;
      while (keys.length <= TABLE_ENTRIES) {
        const next = Buffer.alloc(LNG_TF_KEY.SIZEOF);
        if (!table.nextKey(prev, next)) break;
        keys.push(next);
        prev = next;
      }
      const now = Number(clockOffsets().boottimeNs);
      const rows: SourceEvent[] = [];
      for (const k of keys) {
        if (!table.lookup(k, value)) continue;
        table.delete(k);
        rows.push(row(k, value, now));
      }
      const full = tableFull();
      if (full > fullSeen) {
        ctx.lost(full - fullSeen, `top file: more than ${TABLE_ENTRIES} files in an interval`);
        fullSeen = full;
      }
      return rows;
    },
    stop: () => g.close(),
  };
}

export const TOP_FILE: GadgetSpec = {
  category: "top",
  name: "file",
  summary: "reads and writes per file and process over each interval, counted in the kernel",
  common: [
    "evt.time",
    "proc.pid",
    "thread.tid",
    "proc.ppid",
    "proc.name",
    "user.uid",
    "group.gid",
    ...PLACE_COMMON,
  ],
  columns: [
    {
      name: "file.reads",
      type: "uint64",
      desc: "Successful reads of the file in the interval (read, pread64, readv, preadv, preadv2; sendfile, splice and copy_file_range from it).",
      title: "READS",
      width: 7,
      align: "right",
      sum: true,
    },
    {
      name: "file.writes",
      type: "uint64",
      desc: "Successful writes to the file in the interval (write, pwrite64, writev, pwritev, pwritev2; sendfile, splice and copy_file_range to it).",
      title: "WRITES",
      width: 7,
      align: "right",
      sum: true,
    },
    {
      name: "file.rbytes",
      type: "uint64",
      desc: "Bytes read from the file in the interval (what the calls returned).",
      title: "RBYTES",
      width: 10,
      align: "right",
      sum: true,
    },
    {
      name: "file.wbytes",
      type: "uint64",
      desc: "Bytes written to the file in the interval (what the calls returned).",
      title: "WBYTES",
      width: 10,
      align: "right",
      sum: true,
    },
    {
      name: "file.type",
      type: "string",
      desc: "R regular file, S socket, O other (pipe, character device, anonymous inode...).",
      title: "T",
      width: 1,
      minWidth: 1,
    },
    {
      name: "file.path",
      type: "path",
      desc: "The file's path as the process sees it (from its root); pipe:[ino], socket:[ino] or anon_inode:[name] for files without one, as /proc/PID/fd shows them.",
      title: "FILE",
      width: 40,
      ellipsis: "start",
    },
    ruleColumn("fd.ino", { title: "INODE", width: 10, align: "right" }),
    ruleColumn("fd.dev", { title: "DEV", width: 8, align: "right" }),
  ],
  defaults: [
    ...PLACE_DEFAULTS,
    "proc.pid",
    "proc.name",
    "file.reads",
    "file.writes",
    "file.rbytes",
    "file.wbytes",
    "file.type",
    "file.path",
  ],
  params: [
    {
      name: "all-files",
      type: "boolean",
      desc: "every kind of file (sockets, pipes, devices...), not only regular files",
    },
  ],
  defaultSort: ["-file.reads", "-file.writes", "-file.rbytes", "-file.wbytes"],
  unavailable(): string | undefined {
    for (const tp of ["sys_enter_read", "sys_exit_read", "sys_enter_write", "sys_exit_write"])
      if (!tracepointExists("syscalls", tp))
        return `needs the syscall tracepoints (syscalls/${tp} is missing: tracefs not mounted, or a kernel without CONFIG_FTRACE_SYSCALLS)`;
    return undefined;
  },
  start,
};
