/**
 * The state facade: processes, threads and fds behind every event, in one object.
 *
 *   const state = new State();
 *   session = CaptureSession.start(...);  state.seed();   // attach first, then read /proc
 *   onRecord: state.applyRecord(v)  (raw record: no decoding)  or  state.apply(decodedEvent)
 *   render:   state.procs.lookup(ev.tgid), state.threads.get(ev.tid), proc.fds.get(fd)
 *   every second: state.purge(Date.now())
 *
 * Apply first, then render: a close is applied lazily (the fd disappears when the next
 * event is applied), so the close event itself still sees what it closed.
 *
 * Syscalls that change state: open/openat/openat2/creat, socket, socketpair, connect,
 * accept/accept4, bind, listen, dup/dup2/dup3, fcntl (F_DUPFD, F_DUPFD_CLOEXEC, F_SETFD),
 * pipe/pipe2, memfd_create, eventfd*, epoll_create*, signalfd*, timerfd_create,
 * inotify_init*, pidfd_open, userfaultfd, io_uring_setup, bpf, close, close_range,
 * chdir/fchdir, clone/clone3 (CLONE_FILES), capset. Everything else costs one array load.
 */
import { LN_CONST } from "../capture/abi.generated.js";
import { decodeRecord, resolvePath, type DecodedEvent, type ProcEvent } from "../decode/event.js";
import { KIND_SYSCALL, type RecordView } from "../decode/record-view.js";
import { AF_UNIX } from "../decode/sockaddr.js";
import { syscallName, syscallNr } from "../decode/syscall-params.js";
import type { FdTable } from "./fd-table.js";
import {
  FdInfo,
  ROLE_CLIENT,
  ROLE_NONE,
  ROLE_SERVER,
  l4protoName,
  socketFd,
  socketTypeOf,
  type FdType,
} from "./fd-table.js";
import {
  ProcessTable,
  type ProcessInfo,
  type ProcessTableOptions,
  type ProcessTableStats,
} from "./process-table.js";
import { EventSource, ViewSource, type SyscallSource } from "./syscall-source.js";
import type { ThreadInfo } from "./thread-table.js";

/**
 * The syscalls whose records keep the tables current (fds, cwd, threads, capabilities):
 * whatever the rules need, the kernel must capture these for state to be right.
 */
export function stateSyscalls(): string[] {
  const out: string[] = [];
  for (let nr = 0; nr < OPS.length; nr++) if (OPS[nr] !== 0 && PASSIVE[nr] === 0) out.push(syscallName(nr));
  return out;
}

export type StateOptions = ProcessTableOptions;

export interface StateStats extends ProcessTableStats {
  /** fds across all fd tables (shared tables counted once per process) */
  fds: number;
  /** syscall records that changed state */
  updates: number;
  /** state-changing records about a process we could not find or read */
  unknownProcess: number;
}

const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;
const CLONE_FILES = 0x400;
const CLONE_THREAD = 0x10000;
const EINPROGRESS = -115;
const EBADF = -9;
const F_DUPFD = 0;
const F_SETFD = 2;
const F_DUPFD_CLOEXEC = 1030;
const CLOSE_RANGE_CLOEXEC = 4;
/** bpf(2) commands that return a new fd */
const BPF_FD_CMDS = new Set([0, 5, 7, 13, 14, 15, 16, 18, 28, 29, 34]);

const enum Op {
  None = 0,
  Open,
  Creat,
  Openat2,
  Socket,
  Socketpair,
  Connect,
  Accept,
  Bind,
  Listen,
  Dup,
  Fcntl,
  Pipe,
  Memfd,
  Anon,
  Close,
  CloseRange,
  Chdir,
  Clone,
  Clone3,
  Capset,
  Bpf,
  /** sendto/recvfrom (and sendmsg/recvmsg): a UDP socket's peer; applied when captured, never forces capture */
  Datagram,
}

/** What each syscall number does to the state (0 = nothing). */
const OPS = new Uint8Array(LN_CONST.LN_C_MAX_SYSCALL);
/** Ops applied when the rules capture the syscall anyway: they never widen the kernel's selection. */
const PASSIVE = new Uint8Array(LN_CONST.LN_C_MAX_SYSCALL);
/** fd type and the argument holding its flags, for syscalls that make anonymous fds */
const ANON_TYPE = new Map<number, { type: FdType; flagsArg: number; always: boolean }>();

function op(name: string, o: Op): void {
  const nr = syscallNr(name);
  if (nr !== undefined && nr < OPS.length) OPS[nr] = o;
}
function anon(name: string, type: FdType, flagsArg: number, always = false): void {
  const nr = syscallNr(name);
  if (nr === undefined) return;
  op(name, Op.Anon);
  ANON_TYPE.set(nr, { type, flagsArg, always });
}
for (const n of ["open", "openat"]) op(n, Op.Open);
op("creat", Op.Creat);
op("openat2", Op.Openat2);
op("socket", Op.Socket);
op("socketpair", Op.Socketpair);
op("connect", Op.Connect);
op("accept", Op.Accept);
op("accept4", Op.Accept);
op("bind", Op.Bind);
op("listen", Op.Listen);
for (const n of ["dup", "dup2", "dup3"]) op(n, Op.Dup);
op("fcntl", Op.Fcntl);
op("pipe", Op.Pipe);
op("pipe2", Op.Pipe);
op("memfd_create", Op.Memfd);
op("close", Op.Close);
op("close_range", Op.CloseRange);
op("chdir", Op.Chdir);
op("fchdir", Op.Chdir);
op("clone", Op.Clone);
op("clone3", Op.Clone3);
op("capset", Op.Capset);
op("bpf", Op.Bpf);
for (const n of ["sendto", "recvfrom", "sendmsg", "recvmsg"]) {
  op(n, Op.Datagram);
  const nr = syscallNr(n);
  if (nr !== undefined && nr < PASSIVE.length) PASSIVE[nr] = 1;
}
anon("eventfd", "event", -1);
anon("eventfd2", "event", 1);
anon("epoll_create", "eventpoll", -1);
anon("epoll_create1", "eventpoll", 0);
anon("signalfd", "signalfd", -1);
anon("signalfd4", "signalfd", 3);
anon("timerfd_create", "timerfd", 1);
anon("inotify_init", "inotify", -1);
anon("inotify_init1", "inotify", 0);
anon("pidfd_open", "pidfd", -1, true);
anon("userfaultfd", "userfaultfd", 0);
anon("io_uring_setup", "io_uring", -1, true);

const NR_DUP3 = syscallNr("dup3") ?? -1;
const NR_ACCEPT4 = syscallNr("accept4") ?? -1;
const NR_PIPE2 = syscallNr("pipe2") ?? -1;
const NR_OPEN = syscallNr("open") ?? -1;
const NR_SENDTO = syscallNr("sendto") ?? -1;
const NR_RECVFROM = syscallNr("recvfrom") ?? -1;

/** An absolute path with no "//", "/." (covers "/./" and "/../") or trailing "/": already normal. */
function isPlainAbsolute(p: string): boolean {
  return (
    p.charCodeAt(0) === 47 &&
    !p.includes("//") &&
    !p.includes("/.") &&
    (p.length === 1 || p.charCodeAt(p.length - 1) !== 47)
  );
}

/** An fd named by a kernel FDPATH tail (dup, fchmod...): files and memfds; pseudo files are "/" */
function fdFromPath(path: string, cloexec: boolean): FdInfo {
  if (path.startsWith("/memfd:")) return new FdInfo("memfd", path.slice(1), cloexec);
  if (path === "/") return new FdInfo("unknown", "", cloexec);
  return new FdInfo("file", path, cloexec);
}

export class State {
  readonly procs: ProcessTable;
  private readonly viewSrc = new ViewSource();
  private readonly eventSrc = new EventSource();
  private pendingTable: FdTable | null = null;
  /** the file entry closed last, with its table and number (see openFile) */
  private lastClosed: FdInfo | null = null;
  private lastClosedTable: FdTable | null = null;
  private lastClosedFd = -1;
  private pendingFd = -1;
  private updates = 0;
  private unknownProcess = 0;
  /**
   * The lifecycle record applied last, decoded (fork/exec/exit records are decoded to be
   * applied; the engine reuses the event instead of decoding the record again).
   */
  lastLifecycle: ProcEvent | null = null;
  /** whether applying the last record changed the name of the fd it used */
  private nameChanged = false;
  /** the fd the last record created (its name_changed is computed when asked), or -1 */
  private newFd = -1;
  private newFdTgid = 0;

  constructor(opts: StateOptions = {}) {
    this.procs = new ProcessTable(opts);
    this.procs.fdsTracked = true;
  }

  get threads(): ProcessTable["threads"] {
    return this.procs.threads;
  }

  /** Reads every process, thread and fd from /proc. Call after attaching. */
  seed(): number {
    return this.procs.seed();
  }

  /** seed() in slices, yielding to the event loop between them (see ProcessTable.seedAsync). */
  seedAsync(sliceMs?: number): Promise<number> {
    return this.procs.seedAsync(sliceMs);
  }

  /** The process of `pid` (read from /proc on first sight). */
  process(pid: number): ProcessInfo | undefined {
    return this.procs.lookup(pid);
  }

  thread(tid: number): ThreadInfo | undefined {
    return this.procs.threads.get(tid);
  }

  fd(pid: number, fd: number): FdInfo | undefined {
    return this.procs.lookup(pid)?.fds.get(fd);
  }

  /** Purges processes that exited more than the grace period ago. */
  purge(nowMs: number): number {
    this.flushClose();
    return this.procs.purge(nowMs);
  }

  stats(): StateStats {
    let fds = 0;
    // counted on demand (stats are not on the event path)
    for (const p of this.procs.values()) fds += p.fds.size;
    return { ...this.procs.stats(), fds, updates: this.updates, unknownProcess: this.unknownProcess };
  }

  /**
   * Applies a record straight from the ring. Syscalls that change nothing cost one array
   * load; the others read only the registers and tails they need (no decodeRecord).
   * Lifecycle records are decoded (they are rare).
   */
  applyRecord(v: RecordView, nowMs = 0): void {
    if (this.pendingTable !== null) this.flushClose();
    this.nameChanged = false;
    this.newFd = -1;
    if (v.kind !== KIND_SYSCALL) {
      const ev = decodeRecord(v);
      this.lastLifecycle = ev !== null && ev.kind !== "syscall" ? ev : null;
      if (this.lastLifecycle !== null) this.procs.apply(this.lastLifecycle, nowMs || Date.now());
      return;
    }
    const nr = v.nr;
    if (nr >= OPS.length || OPS[nr] === Op.None) return;
    this.applySyscall(this.viewSrc.set(v), OPS[nr] as Op);
  }

  /** Applies one decoded event. Never throws. */
  apply(ev: DecodedEvent, nowMs = 0): void {
    if (this.pendingTable !== null) this.flushClose();
    this.nameChanged = false;
    this.newFd = -1;
    if (ev.kind !== "syscall") {
      this.procs.apply(ev, nowMs || Date.now());
      return;
    }
    const o = ev.nr < OPS.length ? (OPS[ev.nr] as Op) : Op.None;
    if (o === Op.None) return;
    this.applySyscall(this.eventSrc.set(ev), o);
  }

  /**
   * fd.name_changed: the last record applied changed the name of the fd it used (a connect,
   * bind or listen, a UDP datagram to or from a new peer, a new fd's first name).
   */
  fdNameChanged(): boolean {
    if (this.newFd >= 0) {
      // a new fd (open, accept): changed when it has a name (computed only when asked)
      this.nameChanged = (this.procs.get(this.newFdTgid)?.fds.get(this.newFd)?.name ?? "") !== "";
      this.newFd = -1;
    }
    return this.nameChanged;
  }

  private applySyscall(ev: SyscallSource, o: Op): void {
    this.newFd = -1;
    if (o === Op.Connect || o === Op.Bind || o === Op.Listen || o === Op.Datagram) {
      const fd = ev.argInt(0);
      const before = this.procs.get(ev.tgid)?.fds.get(fd)?.name;
      this.applyOp(ev, o);
      const after = this.procs.get(ev.tgid)?.fds.get(fd)?.name;
      this.nameChanged = after !== undefined && after !== (before ?? "");
      return;
    }
    this.applyOp(ev, o);
    if (o === Op.Open || o === Op.Creat || o === Op.Openat2 || o === Op.Accept) {
      this.newFd = ev.ret;
      this.newFdTgid = ev.tgid;
    }
  }

  private applyOp(ev: SyscallSource, o: Op): void {
    const ret = ev.ret;
    if (ret < 0 && !(o === Op.Connect && ret === EINPROGRESS)) {
      if (o === Op.Close && ret !== EBADF) this.closeFd(ev); // close releases the fd on EINTR/EIO too
      return;
    }
    const p = this.procs.lookup(ev.tgid);
    if (p === undefined) {
      this.unknownProcess++;
      return;
    }
    this.updates++;
    const fds = p.fds;
    switch (o) {
      case Op.Open: {
        const pathArg = ev.nr === NR_OPEN ? 0 : 1;
        this.openFile(fds, ev, pathArg, ev.argUint(pathArg + 1));
        return;
      }
      case Op.Creat:
        this.openFile(fds, ev, 0, 0); // O_CREAT|O_WRONLY|O_TRUNC: never close-on-exec
        return;
      case Op.Openat2:
        this.openFile(fds, ev, 1, ev.openHowFlags());
        return;
      case Op.Socket: {
        const type = ev.argUint(1);
        const ft = socketTypeOf(ev.argUint(0));
        const l4 = ft === "ipv4" || ft === "ipv6" ? l4protoName(type, ev.argUint(2)) : "";
        fds.set(ret, new FdInfo(ft, "", (type & O_CLOEXEC) !== 0, l4));
        return;
      }
      case Op.Socketpair: {
        const a = ev.fd0();
        const b = ev.fd1();
        if (a < 0 || b < 0) return;
        const type = ev.argUint(1);
        const info = new FdInfo(socketTypeOf(ev.argUint(0)), "", (type & O_CLOEXEC) !== 0);
        fds.set(a, info);
        fds.set(b, info);
        return;
      }
      case Op.Connect: {
        const fd = ev.argInt(0);
        const prev = fds.get(fd);
        const cloexec = prev?.cloexec ?? false;
        const sa = ev.sockaddr(1);
        const t = ev.tuple();
        if (t !== null && t.family !== AF_UNIX) {
          let info = socketFd(t, ROLE_CLIENT, cloexec);
          if (!info.connected && sa !== undefined && sa.addr !== "") {
            // EINPROGRESS before the kernel filled the peer in: take it from the sockaddr
            const name = `${t.local.addr}:${t.local.port}->${sa.addr}:${sa.port}`;
            info = new FdInfo(
              info.type,
              name,
              cloexec,
              info.l4proto,
              ROLE_CLIENT,
              t.local.addr,
              t.local.port,
              sa.addr,
              sa.port,
              true,
            );
          }
          fds.set(fd, info);
        } else if (sa !== undefined) {
          const type = socketTypeOf(sa.family);
          if (type === "unix")
            fds.set(fd, new FdInfo("unix", sa.addr, cloexec, "", ROLE_CLIENT, "", 0, "", 0, true));
          else {
            const name = `:0->${sa.addr}:${sa.port}`;
            fds.set(
              fd,
              new FdInfo(
                type,
                name,
                cloexec,
                prev?.l4proto ?? "",
                ROLE_CLIENT,
                "",
                0,
                sa.addr,
                sa.port,
                true,
              ),
            );
          }
        }
        return;
      }
      case Op.Accept: {
        const t = ev.tuple();
        const cloexec = ev.nr === NR_ACCEPT4 && (ev.argUint(3) & O_CLOEXEC) !== 0;
        const listener = fds.get(ev.argInt(0));
        if (t !== null)
          fds.set(ret, socketFd(t, ROLE_SERVER, cloexec, t.family === AF_UNIX ? (listener?.name ?? "") : ""));
        else if (listener !== undefined)
          fds.set(ret, new FdInfo(listener.type, listener.name, cloexec, listener.l4proto, ROLE_SERVER));
        return;
      }
      case Op.Bind: {
        const fd = ev.argInt(0);
        const cloexec = fds.get(fd)?.cloexec ?? false;
        const t = ev.tuple();
        if (t !== null && t.family !== AF_UNIX) fds.set(fd, socketFd(t, ROLE_NONE, cloexec));
        else {
          const sa = ev.sockaddr(1);
          if (sa !== undefined && sa.family === AF_UNIX) fds.set(fd, new FdInfo("unix", sa.addr, cloexec));
        }
        return;
      }
      case Op.Listen: {
        const fd = ev.argInt(0);
        const prev = fds.get(fd);
        const t = ev.tuple();
        if (t !== null && t.family !== AF_UNIX) fds.set(fd, socketFd(t, ROLE_SERVER, prev?.cloexec ?? false));
        else if (prev !== undefined && prev.role !== ROLE_SERVER)
          fds.set(
            fd,
            new FdInfo(
              prev.type,
              prev.name,
              prev.cloexec,
              prev.l4proto,
              ROLE_SERVER,
              prev.lip,
              prev.lport,
              prev.rip,
              prev.rport,
              prev.connected,
            ),
          );
        return;
      }
      case Op.Dup: {
        const cloexec = ev.nr === NR_DUP3 && (ev.argUint(2) & O_CLOEXEC) !== 0;
        this.dupFd(fds, ev, ev.argInt(0), cloexec);
        return;
      }
      case Op.Fcntl: {
        const fd = ev.argInt(0);
        const cmd = ev.argUint(1);
        if (cmd === F_DUPFD || cmd === F_DUPFD_CLOEXEC) this.dupFd(fds, ev, fd, cmd === F_DUPFD_CLOEXEC);
        else if (cmd === F_SETFD) {
          const prev = fds.get(fd);
          if (prev !== undefined) fds.set(fd, prev.withCloexec((ev.argUint(2) & 1) !== 0));
        }
        return;
      }
      case Op.Pipe: {
        const a = ev.fd0();
        const b = ev.fd1();
        if (a < 0 || b < 0) return;
        const cloexec = ev.nr === NR_PIPE2 && (ev.argUint(1) & O_CLOEXEC) !== 0;
        const info = new FdInfo("pipe", "", cloexec);
        fds.set(a, info);
        fds.set(b, info);
        return;
      }
      case Op.Memfd:
        fds.set(ret, new FdInfo("memfd", `memfd:${ev.path(0) ?? ""}`, (ev.argUint(1) & 1) !== 0));
        return;
      case Op.Anon: {
        const a = ANON_TYPE.get(ev.nr);
        if (a === undefined) return;
        const cloexec = a.always || (a.flagsArg >= 0 && (ev.argUint(a.flagsArg) & O_CLOEXEC) !== 0);
        fds.set(ret, new FdInfo(a.type, "", cloexec));
        return;
      }
      case Op.Bpf:
        if (ret > 0 && BPF_FD_CMDS.has(ev.argUint(0))) fds.set(ret, new FdInfo("bpf", "", true));
        return;
      case Op.Datagram: {
        // an unconnected UDP socket takes the peer of its last datagram as its name (libsinsp)
        const fd = ev.argInt(0);
        const prev = fds.get(fd);
        if (prev === undefined || !prev.isSocket || prev.l4proto !== "udp" || prev.role === ROLE_SERVER)
          return;
        // sendto/recvfrom carry the peer in arg 4; sendmsg/recvmsg in the msghdr (arg 1)
        const sa = ev.sockaddr(ev.nr === NR_SENDTO || ev.nr === NR_RECVFROM ? 4 : 1);
        if (
          sa === undefined ||
          sa.addr === "" ||
          (prev.connected && prev.rip === sa.addr && prev.rport === sa.port)
        )
          return;
        const t = ev.tuple();
        const lip = t !== null && t.local.addr !== "" ? t.local.addr : prev.lip;
        const lport = t !== null && t.local.port !== 0 ? t.local.port : prev.lport;
        fds.set(
          fd,
          new FdInfo(
            prev.type,
            `${lip}:${lport}->${sa.addr}:${sa.port}`,
            prev.cloexec,
            "udp",
            ROLE_CLIENT,
            lip,
            lport,
            sa.addr,
            sa.port,
            prev.connected,
          ),
        );
        return;
      }
      case Op.Close:
        this.closeFd(ev);
        return;
      case Op.CloseRange: {
        const first = ev.argUint(0);
        const last = ev.argUint(1);
        const cloexecOnly = (ev.argUint(2) & CLOSE_RANGE_CLOEXEC) !== 0;
        for (const [fd, info] of fds.entries()) {
          if (fd < first || fd > last) continue;
          if (cloexecOnly) fds.set(fd, info.withCloexec(true));
          else fds.delete(fd);
        }
        return;
      }
      case Op.Chdir: {
        let cwd = ev.cwd();
        if (cwd === null) {
          const path = ev.path(0);
          if (path !== undefined) cwd = resolvePath(path, ev.dir(0) ?? p.cwd);
          else {
            const d = fds.get(ev.argInt(0));
            if (d !== undefined && d.name.startsWith("/")) cwd = d.name;
          }
        }
        if (cwd !== null) p.cwd = cwd;
        return;
      }
      case Op.Clone:
      case Op.Clone3: {
        if (ret <= 0) return;
        const flags = o === Op.Clone ? ev.argUint(0) : ev.dataU32(0);
        if (flags !== -1 && (flags & CLONE_FILES) !== 0 && (flags & CLONE_THREAD) === 0) {
          const child = this.procs.get(ret);
          if (child !== undefined) child.fds = fds; // one table, as in the kernel
        }
        return;
      }
      case Op.Capset: {
        const t = this.procs.threads.get(ev.tid);
        const e0 = ev.dataU32(0);
        const e1 = ev.dataU32(12);
        const p0 = ev.dataU32(4);
        const p1 = ev.dataU32(16);
        if (t === undefined || e0 < 0 || e1 < 0 || p0 < 0 || p1 < 0) return;
        t.capEffective = BigInt(e0) | (BigInt(e1) << 32n);
        t.capPermitted = BigInt(p0) | (BigInt(p1) << 32n);
        return;
      }
      default:
        return;
    }
  }

  private openFile(fds: FdTable, ev: SyscallSource, pathArg: number, flags: number): void {
    const type = (flags & O_DIRECTORY) !== 0 ? "directory" : "file";
    const cloexec = (flags & O_CLOEXEC) !== 0;
    const fd = ev.ret;
    // A file closed and opened again under the same number (the commonest open/close loop):
    // the entry just closed is reused when the path bytes match: no string, no object.
    const last = this.lastClosed;
    if (
      last !== null &&
      this.lastClosedFd === fd &&
      this.lastClosedTable === fds &&
      last.type === type &&
      last.cloexec === cloexec &&
      last.nameRaw === last.name &&
      ev.pathIs(pathArg, last.name)
    ) {
      fds.set(fd, last);
      return;
    }
    const path = ev.path(pathArg);
    let name = "";
    if (path !== undefined) {
      // normalising costs more than the rest of the update: only when the path needs it
      name = isPlainAbsolute(path) ? path : resolvePath(path, ev.dir(pathArg));
    }
    fds.set(fd, new FdInfo(type, name, cloexec, "", ROLE_NONE, "", 0, "", 0, false, path ?? ""));
  }

  private dupFd(fds: FdTable, ev: SyscallSource, oldFd: number, cloexec: boolean): void {
    const newFd = ev.ret;
    const old = fds.get(oldFd);
    if (old !== undefined) {
      fds.set(newFd, old.withCloexec(cloexec));
      return;
    }
    // not in the table: the kernel named the new fd (LN_T_TUPLE or LN_T_FDPATH, arg RET)
    const t = ev.tuple();
    if (t !== null) fds.set(newFd, socketFd(t, t.remote.port !== 0 ? ROLE_CLIENT : ROLE_NONE, cloexec));
    else {
      const fp = ev.fdPath(LN_CONST.LN_C_ARG_RET);
      if (fp !== undefined) fds.set(newFd, fdFromPath(fp, cloexec));
    }
  }

  /** Deferred: the fd disappears when the next event is applied. */
  private closeFd(ev: SyscallSource): void {
    const p = this.procs.get(ev.tgid);
    if (p === undefined) return;
    this.pendingTable = p.fds;
    this.pendingFd = ev.argInt(0);
  }

  private flushClose(): void {
    const t = this.pendingTable;
    if (t === null) return;
    const fd = this.pendingFd;
    const info = t.get(fd);
    if (info !== undefined && (info.type === "file" || info.type === "directory")) {
      this.lastClosed = info;
      this.lastClosedTable = t;
      this.lastClosedFd = fd;
    }
    t.delete(fd);
    this.pendingTable = null;
    this.pendingFd = -1;
  }
}
