/**
 * File descriptor tables: what each fd of a process is (file, socket with its tuple,
 * pipe...), so that a later event on the fd (close, dup2, connect, fchmod...) knows it.
 * One table per process, shared by its threads (and by processes cloned with CLONE_FILES);
 * fork copies it. Entries are immutable once published: a table copied by fork shares
 * entry objects with its parent, and changes replace entries instead of mutating them.
 */
import { AF_INET, AF_INET6, AF_UNIX, type SockTuple } from "../decode/sockaddr.js";

export type FdType =
  | "file"
  | "directory"
  | "ipv4"
  | "ipv6"
  | "unix"
  | "netlink"
  | "socket"
  | "pipe"
  | "event"
  | "signalfd"
  | "eventpoll"
  | "inotify"
  | "timerfd"
  | "bpf"
  | "userfaultfd"
  | "io_uring"
  | "memfd"
  | "pidfd"
  | "unknown";

const TYPECHAR: Readonly<Record<FdType, string>> = {
  file: "f",
  directory: "d",
  ipv4: "4",
  ipv6: "6",
  unix: "u",
  netlink: "n",
  socket: "o",
  pipe: "p",
  event: "e",
  signalfd: "s",
  eventpoll: "l",
  inotify: "i",
  timerfd: "t",
  bpf: "b",
  userfaultfd: "u",
  io_uring: "r",
  memfd: "m",
  pidfd: "P",
  unknown: "o",
};

/** fd.typechar, as Falco prints it */
export function fdTypeChar(t: FdType): string {
  return TYPECHAR[t];
}

export const ROLE_NONE = 0;
export const ROLE_CLIENT = 1;
export const ROLE_SERVER = 2;
export type SocketRole = typeof ROLE_NONE | typeof ROLE_CLIENT | typeof ROLE_SERVER;

/** One fd. Fixed shape (every field always present) so lookups stay monomorphic. */
export class FdInfo {
  constructor(
    readonly type: FdType,
    /** fd.name: absolute path, `cip:cport->sip:sport`, unix path, `memfd:name`, `pipe:[ino]`... */
    readonly name: string,
    /** closed by exec (O_CLOEXEC, SOCK_CLOEXEC, F_DUPFD_CLOEXEC, dup3 O_CLOEXEC, FD_CLOEXEC) */
    readonly cloexec: boolean,
    /** tcp | udp | raw | icmp | "" */
    readonly l4proto: string = "",
    readonly role: SocketRole = ROLE_NONE,
    readonly lip: string = "",
    readonly lport: number = 0,
    readonly rip: string = "",
    readonly rport: number = 0,
    readonly connected: boolean = false,
    /** fd.nameraw: a file's path exactly as the opening syscall was given it */
    readonly nameRaw: string = "",
  ) {}

  /** The same file under another fd (dup*): only close-on-exec differs. */
  withCloexec(cloexec: boolean): FdInfo {
    if (cloexec === this.cloexec) return this;
    return new FdInfo(
      this.type,
      this.name,
      cloexec,
      this.l4proto,
      this.role,
      this.lip,
      this.lport,
      this.rip,
      this.rport,
      this.connected,
      this.nameRaw,
    );
  }

  get isSocket(): boolean {
    return this.type === "ipv4" || this.type === "ipv6";
  }
  /** fd.cip / fd.cport: the client end (the local end of an outbound socket) */
  get cip(): string {
    return this.role === ROLE_SERVER ? this.rip : this.lip;
  }
  get cport(): number {
    return this.role === ROLE_SERVER ? this.rport : this.lport;
  }
  get sip(): string {
    return this.role === ROLE_SERVER ? this.lip : this.rip;
  }
  get sport(): number {
    return this.role === ROLE_SERVER ? this.lport : this.rport;
  }
}

export function l4protoName(sockType: number, protocol: number): string {
  if (protocol === 6) return "tcp";
  if (protocol === 17) return "udp";
  if (protocol === 1 || protocol === 58) return "icmp";
  const t = sockType & 0xf;
  return t === 1 ? "tcp" : t === 2 ? "udp" : t === 3 ? "raw" : "";
}

function endpoint(ip: string, port: number): string {
  return `${ip}:${port}`;
}

/** `cip:cport->sip:sport` of an IP socket, or the local end alone while unconnected. */
export function socketName(
  type: FdType,
  role: SocketRole,
  lip: string,
  lport: number,
  rip: string,
  rport: number,
  connected: boolean,
): string {
  if (type !== "ipv4" && type !== "ipv6") return "";
  if (!connected) return lip === "" && lport === 0 ? "" : endpoint(lip, lport);
  return role === ROLE_SERVER
    ? `${endpoint(rip, rport)}->${endpoint(lip, lport)}`
    : `${endpoint(lip, lport)}->${endpoint(rip, rport)}`;
}

export function socketTypeOf(family: number): FdType {
  return family === AF_INET
    ? "ipv4"
    : family === AF_INET6
      ? "ipv6"
      : family === AF_UNIX
        ? "unix"
        : family === 16
          ? "netlink"
          : "socket";
}

/** An fd built from a kernel socket tuple (connect, accept, bind, dup of a socket). */
export function socketFd(t: SockTuple, role: SocketRole, cloexec: boolean, unixName = ""): FdInfo {
  const type = socketTypeOf(t.family);
  if (type === "unix")
    return new FdInfo("unix", unixName || t.remote.addr || t.local.addr, cloexec, "", role);
  const l4 = l4protoName(t.type, t.protocol);
  const connected =
    t.remote.port !== 0 || (t.remote.addr !== "" && t.remote.addr !== "0.0.0.0" && t.remote.addr !== "::");
  const name = socketName(type, role, t.local.addr, t.local.port, t.remote.addr, t.remote.port, connected);
  return new FdInfo(
    type,
    name,
    cloexec,
    l4,
    role,
    t.local.addr,
    t.local.port,
    connected ? t.remote.addr : "",
    connected ? t.remote.port : 0,
    connected,
  );
}

/** fds below this live in an array (dense, cheap to set and clear); larger ones in a Map */
const DENSE = 1024;

/**
 * The fds of one process (or of several sharing one table through CLONE_FILES). Small fd
 * numbers index an array: an open/close loop then costs a store each, where a Map's
 * delete+set churn costs a rehash now and then (measured: 5x the rest of the update).
 */
export class FdTable {
  private dense: (FdInfo | undefined)[];
  private sparse: Map<number, FdInfo> | null;
  private count: number;

  constructor(dense: (FdInfo | undefined)[] = [], sparse: Map<number, FdInfo> | null = null, count = 0) {
    this.dense = dense;
    this.sparse = sparse;
    this.count = count;
  }

  get(fd: number): FdInfo | undefined {
    if (fd >= 0 && fd < DENSE) return this.dense[fd];
    return this.sparse?.get(fd);
  }

  set(fd: number, info: FdInfo): void {
    if (fd < 0) return;
    if (fd < DENSE) {
      const d = this.dense;
      if (fd < d.length) {
        if (d[fd] === undefined) this.count++;
        d[fd] = info;
        return;
      }
      while (d.length < fd) d.push(undefined); // stay packed: no holes
      d.push(info);
      this.count++;
      return;
    }
    this.sparse ??= new Map();
    const before = this.sparse.size;
    this.sparse.set(fd, info);
    this.count += this.sparse.size - before;
  }

  delete(fd: number): boolean {
    if (fd >= 0 && fd < DENSE) {
      if (this.dense[fd] === undefined) return false;
      this.dense[fd] = undefined;
      this.count--;
      return true;
    }
    if (this.sparse?.delete(fd)) {
      this.count--;
      return true;
    }
    return false;
  }

  get size(): number {
    return this.count;
  }

  /** Open fd numbers, ascending (not for the event path). */
  numbers(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.dense.length; i++) if (this.dense[i] !== undefined) out.push(i);
    if (this.sparse) out.push(...[...this.sparse.keys()].sort((a, b) => a - b));
    return out;
  }

  /** [fd, info] pairs, ascending (not for the event path). */
  entries(): [number, FdInfo][] {
    return this.numbers().map((n) => [n, this.get(n) as FdInfo]);
  }

  /** The child's table after fork: same entries (same open files), its own storage. */
  copy(): FdTable {
    return new FdTable(this.dense.slice(), this.sparse ? new Map(this.sparse) : null, this.count);
  }

  /** exec: drops close-on-exec fds; returns how many. */
  closeOnExec(): number {
    let n = 0;
    for (const fd of this.numbers()) {
      if (this.get(fd)?.cloexec) {
        this.delete(fd);
        n++;
      }
    }
    return n;
  }
}
