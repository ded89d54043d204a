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

/** The fds of one process (or of several sharing one table through CLONE_FILES). */
export class FdTable {
  readonly fds: Map<number, FdInfo>;

  constructor(fds?: Map<number, FdInfo>) {
    this.fds = fds ?? new Map();
  }

  get(fd: number): FdInfo | undefined {
    return this.fds.get(fd);
  }
  set(fd: number, info: FdInfo): void {
    this.fds.set(fd, info);
  }
  delete(fd: number): boolean {
    return this.fds.delete(fd);
  }
  get size(): number {
    return this.fds.size;
  }

  /** The child's table after fork: same entries (same open files), its own map. */
  copy(): FdTable {
    return new FdTable(new Map(this.fds));
  }

  /** exec: drops close-on-exec fds; returns how many. */
  closeOnExec(): number {
    let n = 0;
    for (const [fd, info] of this.fds) {
      if (info.cloexec) {
        this.fds.delete(fd);
        n++;
      }
    }
    return n;
  }
}
