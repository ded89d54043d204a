/**
 * The event context the syscall field producers read: one decoded event plus the state
 * behind it. One object is reused for every event (`set`); what several fields share (the
 * process, its ancestors, the fd the event is about, its socket ends, the container) is
 * computed on first use and kept until the next event, so a rule that reads one field pays
 * for that field only.
 */
import type { DecodedEvent, FileInfo, SyscallEvent } from "../../decode/event.js";
import { resolvePath } from "../../decode/event.js";
import { AF_INET, AF_INET6, AF_UNIX, formatEndpoint, type SockAddr } from "../../decode/sockaddr.js";
import { SYSCALL_SPECS, type SyscallSpec } from "../../decode/syscall-params.js";
import { argI32 } from "../../decode/syscall-view.js";
import { HOST_CONTAINER, type ContainerInfo } from "../../state/containers/container-info.js";
import { fdTypeChar, ROLE_SERVER, type FdInfo } from "../../state/fd-table.js";
import type { IpServices } from "../../state/ip-services.js";
import type { PodMeta } from "../../state/k8s/k8s-metadata.js";
import type { ProcLive } from "../../state/proc-live.js";
import type { ProcessInfo, ProcessTable } from "../../state/process-table.js";
import type { StateServices } from "../../state/services.js";
import type { ThreadInfo } from "../../state/thread-table.js";
import type { GroupInfo, UserInfo } from "../../state/users/user-resolver.js";

const MAX_ANCESTORS = 32;

/** The fd an event is about: from the event itself first, the fd table for the rest. */
export interface FdView {
  /** fd.num; null when the event names no fd (or a failed call returned none) */
  readonly num: number | null;
  readonly type: string | null;
  readonly name: string | null;
  /** fd.nameraw: the path exactly as the syscall was given it */
  readonly nameRaw: string | null;
  /** the table entry behind the fd, when known */
  readonly entry: FdInfo | undefined;
}

/** Both ends of the socket an event is about. */
export interface SockView {
  readonly family: number;
  readonly l4proto: string | null;
  readonly cip: string | null;
  readonly cport: number | null;
  readonly sip: string | null;
  readonly sport: number | null;
  readonly lip: string | null;
  readonly lport: number | null;
  readonly rip: string | null;
  readonly rport: number | null;
  readonly connected: boolean | null;
  /** the process owns the server end (accepted or listening socket) */
  readonly server: boolean;
  /** `cip:cport->sip:sport`, the unix path, or null */
  readonly name: string | null;
}

/** What the producers read besides the event. */
export interface FieldServices {
  readonly procs: ProcessTable;
  readonly hostname: string;
  /** containers, pods, users, domain names; absent parts make their fields unknown */
  readonly state: StateServices | null;
  /** did applying the current record change the name of the fd it used (fd.name_changed) */
  readonly fdNameChanged: () => boolean;
  /** /proc values read when a rule asks (memory, limits, cgroups) */
  readonly live: ProcLive;
  /** port -> service name (fd.sproto) */
  readonly ipServices: IpServices;
}

const SERVER_SIDE = new Set(["accept", "accept4", "bind", "listen", "recvfrom", "recvmsg"]);

function familyType(family: number): string | null {
  return family === AF_INET ? "ipv4" : family === AF_INET6 ? "ipv6" : family === AF_UNIX ? "unix" : null;
}

function unsetAddr(a: SockAddr | null): boolean {
  return a === null || a.addr === "" || (a.port === 0 && (a.addr === "0.0.0.0" || a.addr === "::"));
}

export class EventContext {
  ev!: DecodedEvent;
  /** evt.type */
  type = "";
  /** evt.num: the event's number in this session */
  num = 0;
  /** boot ns of the previous record the engine saw (evt.deltatime), 0 before the first */
  prevTs = 0;
  /** boot ns of the session's start (evt.reltime) */
  startTs = 0;
  /** add to boot-time ns for wall-clock ns (set from the capture session) */
  bootToWallNs = 0n;

  private procV: ProcessInfo | undefined | null = null;
  private readonly ancestors: (ProcessInfo | undefined)[] = [];
  private ancestorsFor: ProcessInfo | undefined | null = null;
  private fdV: FdView | null | undefined = undefined;
  private sockV: SockView | null | undefined = undefined;
  private containerV: ContainerInfo | undefined | null = null;
  private podV: PodMeta | null | undefined = undefined;
  private userV: UserInfo | null | undefined = undefined;
  private groupV: GroupInfo | null | undefined = undefined;

  constructor(readonly services: FieldServices) {}

  get hostname(): string {
    return this.services.hostname;
  }

  /** Points the context at the next event (its record already applied to state). */
  set(ev: DecodedEvent, type: string, num: number): void {
    this.ev = ev;
    this.type = type;
    this.num = num;
    this.procV = null;
    this.ancestorsFor = null;
    this.fdV = undefined;
    this.sockV = undefined;
    this.containerV = null;
    this.podV = undefined;
    this.userV = undefined;
    this.groupV = undefined;
  }

  /** The event's user (effective uid) in the account files its process sees. */
  user(): UserInfo | null {
    if (this.userV === undefined)
      this.userV = this.services.state?.user(this.ev.euid, this.filesPid(), this.container()) ?? null;
    return this.userV;
  }

  group(): GroupInfo | null {
    if (this.groupV === undefined)
      this.groupV = this.services.state?.group(this.ev.egid, this.filesPid(), this.container()) ?? null;
    return this.groupV;
  }

  /**
   * A process whose root shows the event's files (/proc/PID/root/etc): the event's own, or,
   * once it has exited, its container's first process.
   */
  private filesPid(): number {
    const p = this.proc();
    if (p === undefined || p.exitedAt === 0) return this.ev.tgid;
    return this.container()?.initPid ?? this.ev.tgid;
  }

  /** The syscall event, or null for lifecycle records. */
  get sys(): SyscallEvent | null {
    return this.ev.kind === "syscall" ? this.ev : null;
  }

  spec(): SyscallSpec | undefined {
    return this.ev.kind === "syscall" ? SYSCALL_SPECS.get(this.ev.nr) : undefined;
  }

  wallNs(): bigint {
    return BigInt(Math.round(this.ev.ts)) + this.bootToWallNs;
  }

  /** The process of the event (after the event: a successful execve shows the new image). */
  proc(): ProcessInfo | undefined {
    if (this.procV === null) this.procV = this.services.procs.lookup(this.ev.tgid);
    return this.procV;
  }

  thread(): ThreadInfo | undefined {
    return this.services.procs.threads.get(this.ev.tid);
  }

  /** The Nth ancestor (1 = parent); 0 is the process itself. */
  ancestor(n: number): ProcessInfo | undefined {
    if (n === 0) return this.proc();
    const p = this.proc();
    if (this.ancestorsFor !== p) {
      const a = this.ancestors;
      a.length = 0;
      let cur = p;
      while (cur !== undefined && a.length < MAX_ANCESTORS && cur.ppid > 0 && cur.ppid !== cur.pid) {
        const next: ProcessInfo | undefined = this.services.procs.lookup(cur.ppid);
        if (next === undefined || a.includes(next)) break;
        a.push(next);
        cur = next;
      }
      this.ancestorsFor = p;
    }
    return this.ancestors[n - 1];
  }

  /** Every ancestor's value, parent first (proc.aname without index). */
  ancestorValues<T>(f: (p: ProcessInfo) => T): T[] {
    const out: T[] = [];
    for (let i = 1; i <= MAX_ANCESTORS; i++) {
      const a = this.ancestor(i);
      if (a === undefined) break;
      out.push(f(a));
    }
    return out;
  }

  process(pid: number): ProcessInfo | undefined {
    return this.services.procs.lookup(pid);
  }

  /** The container of the event's process: HOST_CONTAINER outside containers. */
  container(): ContainerInfo | undefined {
    if (this.containerV === null) {
      const st = this.services.state;
      const cg = this.ev.cgroupId;
      this.containerV = st === null ? HOST_CONTAINER : st.container(this.ev.tgid, cg === 0n ? undefined : cg);
    }
    return this.containerV;
  }

  /** The container id for fields that name it even when nothing else is known. */
  containerId(): string {
    return this.container()?.id ?? "host";
  }

  pod(): PodMeta | null {
    if (this.podV === undefined) {
      const c = this.container();
      const st = this.services.state;
      this.podV = c === undefined || c === HOST_CONTAINER || st === null ? null : st.pod(c);
    }
    return this.podV;
  }

  /** The fd this event is about, or null. */
  fd(): FdView | null {
    if (this.fdV === undefined) this.fdV = this.makeFd();
    return this.fdV;
  }

  /** The socket this event is about (its two ends), or null. */
  sock(): SockView | null {
    if (this.sockV === undefined) this.sockV = this.makeSock();
    return this.sockV;
  }

  /**
   * The fd number an event names: the return value of fd-creating calls (-1 when they
   * failed, as libsinsp's open_file_failed expects), else its fd argument.
   */
  fdNum(): number | null {
    const ev = this.sys;
    if (ev === null) return null;
    const spec = SYSCALL_SPECS.get(ev.nr);
    if (spec === undefined) return null;
    if (spec.ret === "fd" || ev.type === "dup" || ev.type === "dup2" || ev.type === "dup3")
      return ev.ret >= 0 ? ev.ret : -1;
    if (spec.fdArg === undefined) return null;
    const n = argI32(ev, spec.fdArg);
    return n >= 0 ? n : null;
  }

  private makeFd(): FdView | null {
    const ev = this.sys;
    if (ev === null) return null;
    const spec = SYSCALL_SPECS.get(ev.nr);
    if (spec === undefined) return null;
    const num = this.fdNum();
    const entry = this.fdEntry();
    let type: string | null = null;
    let name: string | null = null;
    let nameRaw: string | null = null;
    if (spec.pathArg !== undefined && spec.ret === "fd") {
      if (entry !== undefined && num !== null && num >= 0) {
        // a successful open: state just made the entry from this record's path
        return { num, type: entry.type, name: entry.name || null, nameRaw: entry.nameRaw || null, entry };
      }
      // a failed one: the path as given and resolved
      const raw = ev.paths.get(spec.pathArg);
      if (raw !== undefined) {
        nameRaw = raw;
        name = resolvePath(raw, ev.dirs.get(spec.pathArg));
      }
      type = "file";
    } else if (ev.type === "memfd_create") {
      name = `memfd:${ev.paths.get(0) ?? ""}`;
      type = "memfd";
    } else if (entry !== undefined && !entry.isSocket && entry.type !== "unix") {
      // a file, pipe, event fd...: the table knows it (no need to read the record's tails)
      return { num, type: entry.type, name: entry.name || null, nameRaw: entry.nameRaw || null, entry };
    }
    if (name === null) {
      const s = this.sock();
      if (s !== null) {
        type = familyType(s.family) ?? entry?.type ?? null;
        name = s.name;
      }
    }
    if (name === null && spec.fdArg !== undefined && entry === undefined) {
      // the file the kernel found behind the fd argument (dup, fchmod, fchdir...)
      const fp = ev.fdPaths.get(spec.fdArg);
      if (fp !== undefined) {
        name = fp;
        type = fp.startsWith("/memfd:") ? "memfd" : "file";
      }
    }
    if (name === null && entry !== undefined) name = entry.name || null;
    if (type === null && entry !== undefined) type = entry.type;
    if (num === null && name === null && type === null) return null;
    return { num, type, name, nameRaw: nameRaw ?? (entry?.nameRaw || null), entry };
  }

  /** The file an open returned (fd.dev, fd.ino, overlay layer), from the record. */
  fileInfo(): FileInfo | null {
    return this.sys?.fileInfo ?? null;
  }

  private makeSock(): SockView | null {
    const ev = this.sys;
    if (ev === null) return null;
    if (ev.tuple !== null || ev.sockaddrs.size > 0) {
      const t = ev.tuple;
      let local: SockAddr | null = t ? t.local : null;
      let remote: SockAddr | null = t ? t.remote : null;
      const user = ev.sockaddrs.values().next();
      if (!user.done && (unsetAddr(remote) || remote?.family === AF_UNIX)) {
        // connect/sendto to an address the kernel socket does not (yet) show
        remote = user.value;
        if (local === null) local = { family: remote.family, addr: "", port: 0 };
      }
      if (local !== null && remote !== null) {
        const family = t?.family || remote.family;
        const l4 =
          t === null
            ? (this.fdEntry()?.l4proto ?? null) || null
            : t.protocol === 6
              ? "tcp"
              : t.protocol === 17
                ? "udp"
                : t.protocol === 1 || t.protocol === 58
                  ? "icmp"
                  : family === AF_UNIX
                    ? null
                    : "raw";
        if (family === AF_UNIX) {
          return {
            family,
            l4proto: null,
            cip: null,
            cport: null,
            sip: null,
            sport: null,
            lip: null,
            lport: null,
            rip: null,
            rport: null,
            connected: null,
            server: SERVER_SIDE.has(ev.type),
            name: remote.addr || local.addr || null,
          };
        }
        const server = SERVER_SIDE.has(ev.type);
        // the client is the local end of an outbound socket, the remote end of an accepted one
        const client = server ? remote : local;
        const srv = server ? local : remote;
        const connected = !unsetAddr(remote);
        return {
          family,
          l4proto: l4,
          cip: client.addr || null,
          cport: client.port,
          sip: srv.addr || null,
          sport: srv.port,
          lip: local.addr || null,
          lport: local.port,
          rip: remote.addr || null,
          rport: remote.port,
          connected: this.fdEntry()?.connected ?? connected,
          server,
          name: `${endpoint(client)}->${endpoint(srv)}`,
        };
      }
    }
    const e = this.fdEntry();
    if (e === undefined) return null;
    if (e.type === "unix")
      return {
        family: AF_UNIX,
        l4proto: null,
        cip: null,
        cport: null,
        sip: null,
        sport: null,
        lip: null,
        lport: null,
        rip: null,
        rport: null,
        connected: e.connected,
        server: e.role === ROLE_SERVER,
        name: e.name || null,
      };
    if (!e.isSocket) return null;
    const listening = !e.connected && e.role === ROLE_SERVER;
    return {
      family: e.type === "ipv6" ? AF_INET6 : AF_INET,
      l4proto: e.l4proto || null,
      cip: e.connected ? e.cip || null : null,
      cport: e.connected ? e.cport : null,
      sip: e.connected ? e.sip || null : listening ? e.lip || null : null,
      sport: e.connected ? e.sport : listening ? e.lport : null,
      lip: e.lip || null,
      lport: e.lip !== "" || e.lport !== 0 ? e.lport : null,
      rip: e.connected ? e.rip || null : null,
      rport: e.connected ? e.rport : null,
      connected: e.connected,
      server: e.role === ROLE_SERVER,
      name: e.name || null,
    };
  }

  /** The fd table's entry for the event's fd (only where syscall records keep the tables current). */
  private fdEntry(): FdInfo | undefined {
    const n = this.fdNum();
    return n === null || n < 0 || !this.services.procs.fdsTracked ? undefined : this.proc()?.fds.get(n);
  }

  /** fd.typechar of a type name. */
  static typeChar(type: string | null): string | null {
    if (type === null) return null;
    return fdTypeChar(type as FdInfo["type"]) ?? "o";
  }
}

function endpoint(a: SockAddr): string {
  return formatEndpoint(a);
}
