/**
 * Reading processes, threads and fds from /proc: the state of everything that started
 * before the agent. Every read may fail because the process exits meanwhile; a failure
 * returns null (the caller counts it), never throws. Socket fds are named from the
 * /proc/PID/net tables of the fd owner's network namespace (read once per namespace).
 */
import { existsSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { LN_CONST } from "../capture/abi.generated.js";
import { AF_INET6, parseSockaddr } from "../decode/sockaddr.js";
import { parseCapMask } from "./capabilities.js";
import {
  FdInfo,
  FdTable,
  ROLE_CLIENT,
  ROLE_NONE,
  ROLE_SERVER,
  socketName,
  type FdType,
  type SocketRole,
} from "./fd-table.js";

/** What /proc says about one process (its main thread). */
export interface ProcSnapshot {
  pid: number;
  ppid: number;
  vpid: number;
  comm: string;
  argv: string[];
  exepath: string;
  /** LN_PF_EXE_* flags derivable from /proc (memfd, deleted; never upper layer) */
  exeFlags: number;
  cwd: string;
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  loginuid: number;
  sid: number;
  vpgid: number;
  /** major << 20 | minor, as the kernel records carry it */
  tty: number;
  startNs: bigint;
  nthreads: number;
  capEffective: bigint;
  capPermitted: bigint;
}

export interface ThreadSnapshot {
  tid: number;
  vtid: number;
  capEffective: bigint;
  capPermitted: bigint;
}

/** USER_HZ: /proc/PID/stat counts start time in these ticks */
const TICK_NS = 10_000_000n;
const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;
const DELETED = " (deleted)";

function lastNum(s: string | undefined): number {
  if (s === undefined) return 0;
  const parts = s.trim().split(/\s+/);
  return Number(parts[parts.length - 1] ?? 0) || 0;
}

function nth(s: string | undefined, i: number): number {
  if (s === undefined) return 0;
  return Number(s.trim().split(/\s+/)[i] ?? 0) || 0;
}

/** Parses /proc/PID/status into key -> value (only the keys we use). */
function statusFields(text: string): Map<string, string> {
  const m = new Map<string, string>();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const colon = text.indexOf(":", start);
    if (colon > start && colon < end) m.set(text.slice(start, colon), text.slice(colon + 1, end).trim());
    start = end + 1;
  }
  return m;
}

/** /proc/PID/stat tty_nr (new_encode_dev) -> major << 20 | minor */
export function ttyFromProc(ttyNr: number): number {
  const major = (ttyNr >>> 8) & 0xfff;
  const minor = (ttyNr & 0xff) | ((ttyNr >>> 12) & 0xfff00);
  return ((major << 20) | minor) >>> 0;
}

/** A socket as the /proc/net tables show it. */
interface SockEntry {
  type: FdType;
  l4proto: string;
  lip: string;
  lport: number;
  rip: string;
  rport: number;
  listening: boolean;
}

interface NetTables {
  byInode: Map<number, SockEntry>;
  /** local ports with a listening socket: an established socket on one is the server side */
  listenPorts: Set<number>;
  readAtMs: number;
}

const sockBuf = Buffer.alloc(28);

/** /proc/net/tcp address "0100007F:1F90" or the 32-hex-digit IPv6 form. */
export function parseProcNetAddr(s: string): { ip: string; port: number } {
  const colon = s.indexOf(":");
  const hex = s.slice(0, colon);
  const port = parseInt(s.slice(colon + 1), 16) || 0;
  if (hex.length === 8) {
    const v = parseInt(hex, 16) >>> 0;
    return { ip: `${v & 0xff}.${(v >>> 8) & 0xff}.${(v >>> 16) & 0xff}.${v >>> 24}`, port };
  }
  if (hex.length === 32) {
    sockBuf.fill(0);
    sockBuf.writeUInt16LE(AF_INET6, 0);
    for (let w = 0; w < 4; w++) {
      // each 32-bit word is printed in host (little-endian) order
      sockBuf.writeUInt32LE(parseInt(hex.slice(w * 8, w * 8 + 8), 16) >>> 0, 8 + w * 4);
    }
    return { ip: parseSockaddr(sockBuf, 0, 28)?.addr ?? "", port };
  }
  return { ip: "", port };
}

export class ProcReader {
  readonly root: string;
  private readonly nets = new Map<string, NetTables>();
  /** files that could not be read although the process was there (permissions, races) */
  partialReads = 0;

  constructor(procRoot = "/proc") {
    this.root = procRoot;
  }

  /** Numeric entries of /proc, or [] when it cannot be listed. */
  listPids(): number[] {
    let names: string[];
    try {
      names = readdirSync(this.root);
    } catch {
      return [];
    }
    const out: number[] = [];
    for (const n of names) {
      const c = n.charCodeAt(0);
      if (c >= 48 && c <= 57) out.push(Number(n));
    }
    return out;
  }

  /** Whether /proc/PID exists (the process, or its zombie, is still there). */
  exists(pid: number): boolean {
    return existsSync(`${this.root}/${pid}`);
  }

  /** Threads of `pid` (including its main thread), or [] when it is gone. */
  listTids(pid: number): number[] {
    try {
      return readdirSync(`${this.root}/${pid}/task`)
        .map(Number)
        .filter((n) => n > 0);
    } catch {
      return [];
    }
  }

  private readText(path: string): string | null {
    try {
      return readFileSync(path, "latin1");
    } catch {
      return null;
    }
  }

  private link(path: string): string | null {
    try {
      return readlinkSync(path);
    } catch {
      return null;
    }
  }

  /** The process `pid`, or null when it vanished (or /proc/PID is unreadable). */
  readProcess(pid: number): ProcSnapshot | null {
    const dir = `${this.root}/${pid}`;
    const statusText = this.readText(`${dir}/status`);
    const stat = this.readText(`${dir}/stat`);
    if (statusText === null || stat === null) return null;
    const st = statusFields(statusText);
    // comm may contain anything, ')' included: the fields start after the last ')'
    const close = stat.lastIndexOf(")");
    const open = stat.indexOf("(");
    const f = stat.slice(close + 2).split(" ");
    const comm = open >= 0 && close > open ? stat.slice(open + 1, close) : (st.get("Name") ?? "");
    const cmdline = this.readText(`${dir}/cmdline`);
    let argv: string[] = [];
    if (cmdline !== null && cmdline.length > 0) {
      argv = Buffer.from(cmdline, "latin1").toString("utf8").replace(/\0$/, "").split("\0");
    }
    let exepath = this.link(`${dir}/exe`) ?? "";
    let exeFlags = 0;
    if (exepath.endsWith(DELETED)) {
      exepath = exepath.slice(0, -DELETED.length);
      exeFlags |= LN_CONST.LN_C_PF_EXE_DELETED;
      if (exepath.startsWith("/memfd:")) exeFlags |= LN_CONST.LN_C_PF_EXE_MEMFD;
    }
    const cwd = this.link(`${dir}/cwd`);
    if (cwd === null) this.partialReads++;
    const login = this.readText(`${dir}/loginuid`);
    return {
      pid,
      ppid: Number(f[1]) || 0,
      vpid: lastNum(st.get("NSpid")) || pid,
      comm,
      argv,
      exepath,
      exeFlags,
      cwd: cwd ?? "",
      uid: nth(st.get("Uid"), 0),
      gid: nth(st.get("Gid"), 0),
      euid: nth(st.get("Uid"), 1),
      egid: nth(st.get("Gid"), 1),
      loginuid: login === null ? 0xffffffff : Number(login.trim()) >>> 0,
      sid: Number(f[3]) || 0,
      vpgid: lastNum(st.get("NSpgid")),
      tty: ttyFromProc(Number(f[4]) || 0),
      startNs: BigInt(Number(f[19]) || 0) * TICK_NS,
      nthreads: Number(st.get("Threads")) || 1,
      capEffective: parseCapMask(st.get("CapEff") ?? ""),
      capPermitted: parseCapMask(st.get("CapPrm") ?? ""),
    };
  }

  /** One thread of `pid`, or null when it vanished. */
  readThread(pid: number, tid: number): ThreadSnapshot | null {
    const text = this.readText(`${this.root}/${pid}/task/${tid}/status`);
    if (text === null) return null;
    const st = statusFields(text);
    return {
      tid,
      vtid: lastNum(st.get("NSpid")) || tid,
      capEffective: parseCapMask(st.get("CapEff") ?? ""),
      capPermitted: parseCapMask(st.get("CapPrm") ?? ""),
    };
  }

  /** The fd table of `pid`; null when the process vanished. */
  readFds(pid: number): FdTable | null {
    const dir = `${this.root}/${pid}`;
    let names: string[];
    try {
      names = readdirSync(`${dir}/fd`);
    } catch {
      return null;
    }
    const table = new FdTable();
    let net: NetTables | null | undefined;
    for (const n of names) {
      const fd = Number(n);
      const target = this.link(`${dir}/fd/${n}`);
      if (target === null) continue; // closed meanwhile
      const info = this.readText(`${dir}/fdinfo/${n}`);
      let flags = 0;
      if (info !== null) {
        const m = /^flags:\s*([0-7]+)/m.exec(info);
        if (m?.[1] !== undefined) flags = parseInt(m[1], 8);
      }
      const cloexec = (flags & O_CLOEXEC) !== 0;
      if (target.startsWith("socket:[")) {
        if (net === undefined) net = this.netTables(pid);
        const ino = Number(target.slice(8, -1));
        table.set(fd, socketFromEntry(net?.byInode.get(ino), net, cloexec, target));
      } else {
        table.set(fd, fdFromLink(target, flags, cloexec));
      }
    }
    return table;
  }

  /** Socket tables of the network namespace `pid` lives in, cached per namespace. */
  private netTables(pid: number): NetTables | null {
    const ns = this.link(`${this.root}/${pid}/ns/net`) ?? "?";
    const now = Date.now();
    const cached = this.nets.get(ns);
    if (cached && now - cached.readAtMs < 1000) return cached;
    const t: NetTables = { byInode: new Map(), listenPorts: new Set(), readAtMs: now };
    const base = `${this.root}/${pid}/net`;
    for (const [file, type, l4] of [
      ["tcp", "ipv4", "tcp"],
      ["tcp6", "ipv6", "tcp"],
      ["udp", "ipv4", "udp"],
      ["udp6", "ipv6", "udp"],
      ["raw", "ipv4", "raw"],
      ["raw6", "ipv6", "raw"],
    ] as const) {
      const text = this.readText(`${base}/${file}`);
      if (text === null) continue;
      const lines = text.split("\n");
      for (let i = 1; i < lines.length; i++) {
        const c = lines[i]!.trim().split(/\s+/);
        if (c.length < 10) continue;
        const l = parseProcNetAddr(c[1] ?? "");
        const r = parseProcNetAddr(c[2] ?? "");
        const listening = l4 === "tcp" && c[3] === "0A";
        if (listening) t.listenPorts.add(l.port);
        t.byInode.set(Number(c[9]), {
          type,
          l4proto: l4,
          lip: l.ip,
          lport: l.port,
          rip: r.ip,
          rport: r.port,
          listening,
        });
      }
    }
    const unix = this.readText(`${base}/unix`);
    if (unix !== null) {
      const lines = unix.split("\n");
      for (let i = 1; i < lines.length; i++) {
        const c = lines[i]!.trim().split(/\s+/);
        if (c.length < 7) continue;
        t.byInode.set(Number(c[6]), {
          type: "unix",
          l4proto: "",
          lip: c[7] ?? "",
          lport: 0,
          rip: "",
          rport: 0,
          listening: c[5] === "01",
        });
      }
    }
    this.nets.set(ns, t);
    return t;
  }

  /** Forgets cached socket tables (after a seed pass). */
  clearNetCache(): void {
    this.nets.clear();
  }
}

function socketFromEntry(
  e: SockEntry | undefined,
  net: NetTables | null | undefined,
  cloexec: boolean,
  link: string,
): FdInfo {
  if (e === undefined) return new FdInfo("socket", link, cloexec); // netlink, packet... or gone
  if (e.type === "unix") return new FdInfo("unix", e.lip, cloexec);
  const connected = e.rport !== 0;
  let role: SocketRole = ROLE_NONE;
  if (e.listening) role = ROLE_SERVER;
  else if (connected) role = net?.listenPorts.has(e.lport) ? ROLE_SERVER : ROLE_CLIENT;
  const name = socketName(e.type, role, e.lip, e.lport, e.rip, e.rport, connected);
  return new FdInfo(
    e.type,
    name,
    cloexec,
    e.l4proto,
    role,
    e.lip,
    e.lport,
    connected ? e.rip : "",
    connected ? e.rport : 0,
    connected,
  );
}

const ANON: Readonly<Record<string, FdType>> = {
  "anon_inode:[eventpoll]": "eventpoll",
  "anon_inode:[eventfd]": "event",
  "anon_inode:[signalfd]": "signalfd",
  "anon_inode:[timerfd]": "timerfd",
  "anon_inode:inotify": "inotify",
  "anon_inode:[userfaultfd]": "userfaultfd",
  "anon_inode:[io_uring]": "io_uring",
  "anon_inode:[pidfd]": "pidfd",
  "anon_inode:bpf-map": "bpf",
  "anon_inode:bpf-prog": "bpf",
  "anon_inode:bpf_link": "bpf",
};

/** An fd from its /proc/PID/fd link text and its fdinfo flags. */
export function fdFromLink(target: string, flags: number, cloexec: boolean): FdInfo {
  if (target.startsWith("/")) {
    const path = target.endsWith(DELETED) ? target.slice(0, -DELETED.length) : target;
    if (path.startsWith("/memfd:")) return new FdInfo("memfd", path.slice(1), cloexec);
    return new FdInfo((flags & O_DIRECTORY) !== 0 ? "directory" : "file", path, cloexec);
  }
  if (target.startsWith("pipe:")) return new FdInfo("pipe", target, cloexec);
  const anon = ANON[target];
  if (anon !== undefined) return new FdInfo(anon, target, cloexec);
  if (target.startsWith("anon_inode:bpf")) return new FdInfo("bpf", target, cloexec);
  return new FdInfo("unknown", target, cloexec);
}
