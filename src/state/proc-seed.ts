/**
 * Reading processes, threads and fds from /proc: the state of everything that started
 * before the agent. Every read may fail because the process exits meanwhile; a failure
 * returns null (the caller counts it), never throws. Socket fds are named from the
 * /proc/PID/net tables of the fd owner's network namespace (read once per namespace).
 */
import {
  accessSync,
  constants as fsConstants,
  existsSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  type BigIntStats,
} from "node:fs";
import { LN_CONST } from "../capture/abi.generated.js";
import { splitStrings } from "../decode/event.js";
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
  /**
   * LN_PF_EXE_* flags derivable from /proc: memfd, deleted, writable (Falco's rule, see
   * exeWritable); never the overlay layers
   */
  exeFlags: number;
  /** environment (/proc/PID/environ, bounded like the kernel's LN_T_ENV) */
  env: readonly string[];
  /** the executable's inode number and times (stat of /proc/PID/exe); 0 when unknown */
  exeIno: number;
  exeCtimeNs: bigint;
  exeMtimeNs: bigint;
  /** process group id (/proc/PID/stat) */
  pgid: number;
  /** pid namespace inode (/proc/PID/ns/pid); 0n when unknown */
  pidns: bigint;
  /** start (boot ns, clock-tick resolution) of the init process of that pid namespace */
  pidnsInitStartNs: bigint;
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
const MAX_ENV = LN_CONST.LN_C_MAX_ENV;
const CAP_DAC_OVERRIDE = 1n << 1n;
const CAP_FOWNER = 1n << 3n;
const NO_ENV: readonly string[] = [];

/**
 * /proc/PID/environ bytes as the kernel's LN_T_ENV tail carries them: at most LN_MAX_ENV
 * bytes, the last string cut and terminated at the bound.
 */
export function envFromProc(raw: Buffer): string[] {
  if (raw.length === 0) return [];
  if (raw.length > MAX_ENV) {
    raw = Buffer.from(raw.subarray(0, MAX_ENV));
    raw[MAX_ENV - 1] = 0;
  }
  return splitStrings(raw, 0, raw.length);
}

/** Whether `id` has a mapping in a /proc/PID/uid_map or gid_map text ("first lower count"). */
function idMapped(mapText: string | null, id: number): boolean {
  if (mapText === null) return true; // no user namespaces: every id maps
  for (const line of mapText.split("\n")) {
    const c = line.trim().split(/\s+/);
    if (c.length < 3) continue;
    const lower = Number(c[1]);
    const count = Number(c[2]);
    if (id >= lower && id - lower < count) return true;
  }
  return false;
}

/** What Falco's EXE_WRITABLE decides, from user space (the kernel side: ln_exe_writable). */
export interface ExeAccess {
  /** st_mode, st_uid, st_gid of the executable */
  mode: number;
  uid: number;
  gid: number;
  /** the superblock is read-only (a read-only bind mount of a writable fs is not: Falco's rule) */
  readOnly: boolean;
  /** the inode is immutable (chattr +i) */
  immutable: boolean;
  fsuid: number;
  fsgid: number;
  groups: readonly number[];
  capEffective: bigint;
  uidMap: string | null;
  gidMap: string | null;
}

/**
 * Falco's rule: not writable on a read-only fs or an immutable inode (regular files,
 * directories, links) or when the inode's ids are unmapped (-1); writable when the fsuid
 * owns it, when the permission bits of its class allow writing (group: fsgid or a
 * supplementary group), or with CAP_DAC_OVERRIDE (uid and gid mapped in the process's user
 * namespace) or CAP_FOWNER (uid mapped). POSIX ACLs are not consulted.
 */
export function exeWritable(a: ExeAccess): boolean {
  const fmt = a.mode & 0o170000;
  if (a.readOnly && (fmt === 0o100000 || fmt === 0o040000 || fmt === 0o120000)) return false;
  if (a.immutable) return false;
  if (a.uid === 0xffffffff || a.gid === 0xffffffff) return false;
  if (a.fsuid === a.uid) return true;
  let mode = a.mode;
  if (a.gid === a.fsgid || a.groups.includes(a.gid)) mode >>= 3;
  if ((mode & 2) !== 0) return true;
  if ((a.capEffective & (CAP_DAC_OVERRIDE | CAP_FOWNER)) === 0n || !idMapped(a.uidMap, a.uid)) return false;
  if ((a.capEffective & CAP_FOWNER) !== 0n) return true;
  return idMapped(a.gidMap, a.gid);
}

/** "pid:[4026531836]" -> 4026531836n; 0n when it is not such a link */
function nsInode(link: string | null): bigint {
  const m = link === null ? null : /\[(\d+)\]$/.exec(link);
  return m?.[1] !== undefined ? BigInt(m[1]) : 0n;
}

function lastNum(s: string | undefined): number {
  if (s === undefined) return 0;
  const parts = s.trim().split(/\s+/);
  return Number(parts[parts.length - 1] ?? 0) || 0;
}

/** Entries of an NSpid line: pid namespace levels from the host's down to the process's. */
function nsLevels(s: string | undefined): number {
  return s === undefined ? 1 : s.trim().split(/\s+/).length;
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
  /** pid namespace link -> start (boot ns) of its init process; 0n: not found */
  private readonly pidnsInits = new Map<string, bigint>();
  /** st_dev -> whether its superblock is read-only */
  private readonly sbRo = new Map<bigint, boolean>();
  /** identical environments share one array */
  private readonly envs = new Map<string, readonly string[]>();
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
    const startNs = BigInt(Number(f[19]) || 0) * TICK_NS;
    const vpid = lastNum(st.get("NSpid")) || pid;
    const capEffective = parseCapMask(st.get("CapEff") ?? "");
    let exeIno = 0;
    let exeCtimeNs = 0n;
    let exeMtimeNs = 0n;
    const exeStat = this.stat(`${dir}/exe`);
    if (exeStat !== null) {
      exeIno = Number(exeStat.ino);
      exeCtimeNs = exeStat.ctimeNs;
      exeMtimeNs = exeStat.mtimeNs;
      const writable = exeWritable({
        mode: Number(exeStat.mode),
        uid: Number(exeStat.uid),
        gid: Number(exeStat.gid),
        readOnly: this.sbReadOnly(pid, exeStat.dev),
        immutable: this.immutable(`${dir}/exe`),
        fsuid: nth(st.get("Uid"), 3),
        fsgid: nth(st.get("Gid"), 3),
        groups: (st.get("Groups") ?? "")
          .split(/\s+/)
          .filter((g) => g !== "")
          .map(Number),
        capEffective,
        uidMap: this.readText(`${dir}/uid_map`),
        gidMap: this.readText(`${dir}/gid_map`),
      });
      if (writable) exeFlags |= LN_CONST.LN_C_PF_EXE_WRITABLE;
    }
    const pidnsLink = this.link(`${dir}/ns/pid`);
    return {
      pid,
      ppid: Number(f[1]) || 0,
      vpid,
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
      startNs,
      nthreads: Number(st.get("Threads")) || 1,
      capEffective,
      capPermitted: parseCapMask(st.get("CapPrm") ?? ""),
      env: this.readEnv(`${dir}/environ`),
      exeIno,
      exeCtimeNs,
      exeMtimeNs,
      pgid: Number(f[2]) || 0,
      pidns: nsInode(pidnsLink),
      pidnsInitStartNs: this.pidnsInitStart(
        pidnsLink,
        nsLevels(st.get("NSpid")),
        vpid === 1 ? startNs : -1n,
        Number(f[1]) || 0,
      ),
    };
  }

  private stat(path: string): BigIntStats | null {
    try {
      return statSync(path, { bigint: true });
    } catch {
      return null;
    }
  }

  /** access(W_OK) fails with EPERM for an immutable inode (as root nothing else does). */
  private immutable(path: string): boolean {
    try {
      accessSync(path, fsConstants.W_OK);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "EPERM";
    }
  }

  /**
   * Whether the superblock of device `dev` (st_dev) is read-only: the super options of its
   * line in /proc/PID/mountinfo (every mount of one superblock shows the same), cached by
   * device. Unknown counts as writable.
   */
  private sbReadOnly(pid: number, dev: bigint): boolean {
    const known = this.sbRo.get(dev);
    if (known !== undefined) return known;
    const text = this.readText(`${this.root}/${pid}/mountinfo`);
    if (text === null) return false;
    const want = `${Number((dev >> 8n) & 0xfffn)}:${Number((dev & 0xffn) | ((dev >> 12n) & 0xfff00n))}`;
    let ro = false;
    for (const line of text.split("\n")) {
      const c = line.split(" ");
      if (c[2] !== want) continue;
      const sep = c.indexOf("-", 6);
      ro = sep > 0 && (c[sep + 3] ?? "").split(",").includes("ro");
      break;
    }
    if (this.sbRo.size >= 4096) this.sbRo.clear();
    this.sbRo.set(dev, ro);
    return ro;
  }

  private readEnv(path: string): readonly string[] {
    let raw: Buffer;
    try {
      raw = readFileSync(path);
    } catch {
      return NO_ENV;
    }
    if (raw.length === 0) return NO_ENV;
    const key = raw.toString("latin1", 0, Math.min(raw.length, MAX_ENV));
    const known = this.envs.get(key);
    if (known !== undefined) return known;
    const env = envFromProc(raw);
    if (this.envs.size >= 1024) this.envs.clear();
    this.envs.set(key, env);
    return env;
  }

  /**
   * Start of the init process of the pid namespace of a process whose NSpid has `levels`
   * entries and whose /proc/PID/ns/pid reads `link` (null when unreadable): pid 1 for the
   * host namespace; `ownStart` when the process is that init (its vpid is 1); else found once
   * per namespace up the parent chain from `ppid` while the parents have as many levels (the
   * init is an ancestor, unless the process entered the namespace with setns), or else among
   * all of /proc by namespace link, and cached by link.
   */
  private pidnsInitStart(link: string | null, levels: number, ownStart: bigint, ppid: number): bigint {
    if (levels <= 1) {
      const host = this.initStartOf(1).start;
      return host < 0n ? 0n : host;
    }
    if (ownStart >= 0n) {
      if (link !== null) this.pidnsInits.set(link, ownStart);
      return ownStart;
    }
    const known = link === null ? undefined : this.pidnsInits.get(link);
    if (known !== undefined) return known;
    let found = -1n;
    for (let pid = ppid, depth = 0; pid > 0 && depth < 64 && found < 0n; depth++) {
      const r = this.initStartOf(pid);
      if (r.levels !== levels) break; // left the namespace (setns, or a lost parent)
      found = r.start;
      pid = r.ppid;
    }
    for (const pid of found >= 0n || link === null ? [] : this.listPids()) {
      if (this.link(`${this.root}/${pid}/ns/pid`) !== link) continue;
      const r = this.initStartOf(pid);
      if (r.start >= 0n) {
        found = r.start;
        break;
      }
    }
    if (found < 0n) found = 0n;
    if (link !== null) {
      if (this.pidnsInits.size >= 4096) this.pidnsInits.clear();
      this.pidnsInits.set(link, found);
    }
    return found;
  }

  /**
   * Start (boot ns) of `pid` when it is the init of its pid namespace (else -1n), its ppid,
   * and how many pid namespace levels its NSpid lists (0 when it is gone).
   */
  private initStartOf(pid: number): { start: bigint; ppid: number; levels: number } {
    const text = this.readText(`${this.root}/${pid}/status`);
    const stat = this.readText(`${this.root}/${pid}/stat`);
    if (text === null || stat === null) return { start: -1n, ppid: 0, levels: 0 };
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(f[1]) || 0;
    const nspid = statusFields(text).get("NSpid");
    const levels = nsLevels(nspid);
    if (lastNum(nspid) !== 1) return { start: -1n, ppid, levels };
    return { start: BigInt(Number(f[19]) || 0) * TICK_NS, ppid, levels };
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

  /** Forgets cached socket tables and pid namespace inits (after a seed pass). */
  clearNetCache(): void {
    this.nets.clear();
    this.pidnsInits.clear();
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
