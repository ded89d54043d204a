/**
 * fd.* (the file descriptor an event is about: a file, a socket's two ends, a pipe...) and
 * fdlist.* (the fds of a poll).
 */
import type { FileInfo } from "../../decode/event.js";
import { AF_INET, AF_INET6, AF_UNIX } from "../../decode/sockaddr.js";
import type { CompareFactory, FieldClass, FieldSpec, FieldValue } from "../../rules/index.js";
import { fdTypeChar, type FdInfo } from "../../state/fd-table.js";
import type { EventContext, FdView, SockView } from "./context.js";
import { HOST } from "./host.js";

type Spec = FieldSpec<EventContext>;
const FD = "fd" as const;
const OPEN = ["open", "openat", "openat2", "creat"];
const POLL = ["poll", "ppoll"];

function fdField(
  name: string,
  type: Spec["type"],
  desc: string,
  get: (f: FdView, c: EventContext) => FieldValue,
  show = false,
): Spec {
  return {
    name,
    type,
    desc,
    events: FD,
    show,
    get: (c) => {
      const f = c.fd();
      return f === null ? null : get(f, c);
    },
  };
}

function sockField(
  name: string,
  type: Spec["type"],
  desc: string,
  get: (s: SockView) => FieldValue,
  show = false,
): Spec {
  return {
    name,
    type,
    desc,
    events: FD,
    show,
    get: (c) => {
      const s = c.sock();
      return s === null ? null : get(s);
    },
  };
}

/** A field of the file an open returned (open, openat, openat2, creat). */
function fileField(name: string, type: Spec["type"], desc: string, get: (f: FileInfo) => FieldValue): Spec {
  return {
    name,
    type,
    desc,
    events: OPEN,
    get: (c) => {
      const f = c.fileInfo();
      return f === null ? null : get(f);
    },
  };
}

function isFile(f: FdView): boolean {
  return f.type === "file" || f.type === "directory" || f.type === "memfd";
}

function directory(f: FdView): string | null {
  if (f.name === null || !isFile(f) || !f.name.startsWith("/")) return null;
  if (f.type === "directory") return f.name;
  const slash = f.name.lastIndexOf("/");
  return slash > 0 ? f.name.slice(0, slash) : "/";
}

function filename(f: FdView): string | null {
  if (f.name === null || !isFile(f) || f.type === "directory") return null;
  return f.name.slice(f.name.lastIndexOf("/") + 1);
}

/** Both ends' values (client first), the unknown ones left out. */
function ends(a: string | number | null, b: string | number | null): string[] | null {
  if (a === null && b === null) return null;
  const out: string[] = [];
  if (a !== null) out.push(String(a));
  if (b !== null) out.push(String(b));
  return out;
}

function proto(c: EventContext, port: number | null, s: SockView): string | null {
  return port === null || port === 0 ? null : c.services.ipServices.name(port, s.l4proto);
}

function protoField(name: string, desc: string, port: (s: SockView) => number | null): Spec {
  return {
    name,
    type: "string",
    desc,
    events: FD,
    get: (c) => {
      const s = c.sock();
      return s === null ? null : proto(c, port(s), s);
    },
  };
}

/**
 * fd.cip.name ...: extracted as the first watched name whose addresses include the IP; compared
 * as libsinsp compares domains: `= x` / `in (x, y)` hold when the IP is one of the name's
 * addresses, `!= x` when the IP is known and is not.
 */
function domainField(name: string, desc: string, ip: (s: SockView) => string | null): Spec {
  const ipOf = (c: EventContext): string | null => {
    const s = c.sock();
    return s === null ? null : ip(s);
  };
  const compare: CompareFactory<EventContext> = (op, values) => {
    const has = (c: EventContext, a: string): boolean => {
      const names = c.services.state?.domainNames(a) ?? [];
      for (const v of values) if (names.includes(v)) return true;
      return false;
    };
    switch (op) {
      case "=":
      case "==":
      case "in":
      case "intersects":
        return (c) => {
          const a = ipOf(c);
          return a !== null && has(c, a);
        };
      case "!=":
        return (c) => {
          const a = ipOf(c);
          return a !== null && !has(c, a);
        };
      default:
        return undefined;
    }
  };
  return {
    name,
    type: "string",
    desc,
    events: FD,
    watchesLiterals: true,
    compare,
    get: (c) => {
      const a = ipOf(c);
      if (a === null) return null;
      return c.services.state?.domainNames(a)[0] ?? null;
    },
  };
}

/** The poll's fds, each with its table entry (fdlist.*). */
function pollEntries(c: EventContext): { fd: number; e: FdInfo | undefined }[] | null {
  const ev = c.sys;
  if (ev === null || ev.pollFds === null) return null;
  const p = c.proc();
  return ev.pollFds.map((x) => ({ fd: x.fd, e: p?.fds.get(x.fd) }));
}

function fdlist(
  name: string,
  desc: string,
  get: (x: { fd: number; e: FdInfo | undefined }) => string | number | null,
): Spec {
  return {
    name,
    type: "string",
    desc: `${desc} Comma separated, one entry per fd of the poll.`,
    events: POLL,
    get: (c) => {
      const l = pollEntries(c);
      if (l === null) return null;
      return l
        .map((x) => {
          const v = get(x);
          return v === null ? "" : String(v);
        })
        .join(",");
    },
  };
}

export const FD_FIELDS: FieldClass<EventContext> = {
  name: "fd",
  desc: "The file descriptor the event acts on (file, socket, pipe...).",
  fields: [
    fdField("fd.num", "int64", "File descriptor number.", (f) => f.num, true),
    fdField(
      "fd.type",
      "string",
      "Type: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, timerfd, netlink, bpf, userfaultfd, io_uring, memfd, pidfd.",
      (f) => f.type,
      true,
    ),
    fdField(
      "fd.typechar",
      "string",
      "One-letter type: f file, d directory, 4 ipv4, 6 ipv6, u unix, p pipe, e event, s signalfd, l eventpoll, i inotify, t timerfd, n netlink, b bpf, r io_uring, m memfd, o other.",
      (f) => (f.type === null ? null : (fdTypeChar(f.type as FdInfo["type"]) ?? "o")),
      true,
    ),
    fdField(
      "fd.name",
      "path",
      'Full name: absolute path for files, "cip:cport->sip:sport" for sockets.',
      (f) => f.name,
      true,
    ),
    fdField(
      "fd.nameraw",
      "path",
      "The file's path exactly as the opening syscall was given it (not made absolute, not normalised).",
      (f) => f.nameRaw,
    ),
    fdField(
      "fd.directory",
      "path",
      "Directory of a file fd (the fd itself for a directory).",
      directory,
      true,
    ),
    fdField("fd.filename", "string", "Basename of a file fd.", filename, true),
    {
      name: "fd.ip",
      type: "ipaddr",
      desc: "Either end's IP: = and in hold when the client or the server IP matches, != when neither does.",
      events: FD,
      filterOnly: true,
      multi: "either",
      get: (c) => {
        const s = c.sock();
        return s === null ? null : ends(s.cip, s.sip);
      },
    },
    sockField("fd.cip", "ipaddr", "Client IP.", (s) => s.cip, true),
    sockField("fd.sip", "ipaddr", "Server IP.", (s) => s.sip, true),
    sockField("fd.lip", "ipaddr", "Local IP.", (s) => s.lip),
    sockField("fd.rip", "ipaddr", "Remote IP.", (s) => s.rip),
    {
      name: "fd.port",
      type: "port",
      desc: "Either end's port: =, in and the orderings hold when the client or the server port matches, != when neither is equal.",
      events: FD,
      filterOnly: true,
      multi: "either",
      get: (c) => {
        const s = c.sock();
        return s === null ? null : ends(s.cport, s.sport);
      },
    },
    sockField("fd.cport", "port", "Client port.", (s) => s.cport, true),
    sockField("fd.sport", "port", "Server port.", (s) => s.sport, true),
    sockField("fd.lport", "port", "Local port.", (s) => s.lport),
    sockField("fd.rport", "port", "Remote port.", (s) => s.rport),
    sockField("fd.l4proto", "string", "Layer-4 protocol: tcp, udp, icmp, raw.", (s) => s.l4proto, true),
    sockField("fd.sockfamily", "string", "Socket family: ip (IPv4 and IPv6) or unix.", (s) =>
      s.family === AF_INET || s.family === AF_INET6 ? "ip" : s.family === AF_UNIX ? "unix" : null,
    ),
    sockField(
      "fd.is_server",
      "bool",
      "True if the process owns the server end (accepted or listening socket).",
      (s) => s.server,
    ),
    {
      name: "fd.uid",
      type: "string",
      desc: "Unique id of the fd on the node: the process id and the fd number (pid:fd).",
      events: FD,
      get: (c) => {
        const f = c.fd();
        return f === null || f.num === null ? null : `${c.ev.tgid}:${f.num}`;
      },
    },
    fdField(
      "fd.containername",
      "string",
      "Container id, a colon, and fd.name.",
      (f, c) => `${c.containerId()}:${f.name ?? ""}`,
    ),
    fdField(
      "fd.containerdirectory",
      "string",
      "Container id, a colon, and fd.directory.",
      (f, c) => `${c.containerId()}:${directory(f) ?? ""}`,
    ),
    {
      name: "fd.proto",
      type: "string",
      desc: "Either end's port as a service name (/etc/services): = and in hold when either matches, != when neither is equal.",
      events: FD,
      filterOnly: true,
      multi: "either",
      get: (c) => {
        const s = c.sock();
        return s === null ? null : ends(proto(c, s.cport, s), proto(c, s.sport, s));
      },
    },
    protoField("fd.cproto", "Service name of the client port (/etc/services).", (s) => s.cport),
    protoField("fd.sproto", "Service name of the server port (/etc/services).", (s) => s.sport),
    protoField("fd.lproto", "Service name of the local port (/etc/services).", (s) => s.lport),
    protoField("fd.rproto", "Service name of the remote port (/etc/services).", (s) => s.rport),
    {
      name: "fd.net",
      type: "ipnet",
      desc: "Either end's IP against networks: fd.net = 10.0.0.0/8 holds when the client or the server is in it, != when neither is.",
      events: FD,
      filterOnly: true,
      multi: "either",
      get: (c) => {
        const s = c.sock();
        return s === null ? null : ends(s.cip, s.sip);
      },
    },
    sockField("fd.cnet", "ipnet", "Client IP tested against networks.", (s) => s.cip),
    sockField("fd.snet", "ipnet", "Server IP tested against networks.", (s) => s.sip),
    sockField("fd.lnet", "ipnet", "Local IP tested against networks.", (s) => s.lip),
    sockField("fd.rnet", "ipnet", "Remote IP tested against networks.", (s) => s.rip),
    sockField("fd.connected", "bool", "True if the socket is connected.", (s) => s.connected),
    {
      name: "fd.name_changed",
      type: "bool",
      desc: "True if this event changed the fd's name (connect, or a UDP send or receive with a new peer).",
      events: FD,
      get: (c) => (c.fd() === null ? null : c.services.fdNameChanged()),
    },
    domainField(
      "fd.cip.name",
      "Domain name of the client IP: the names rules compare this field with whose addresses (resolved by the agent, refreshed every 10 s) include fd.cip.",
      (s) => s.cip,
    ),
    domainField("fd.sip.name", "Domain name of the server IP, as fd.cip.name.", (s) => s.sip),
    domainField("fd.lip.name", "Domain name of the local IP, as fd.cip.name.", (s) => s.lip),
    domainField("fd.rip.name", "Domain name of the remote IP, as fd.cip.name.", (s) => s.rip),
    fileField(
      "fd.dev",
      "uint32",
      "Device number of the file's file system, encoded as stat(2)'s st_dev.",
      (f) => f.dev,
    ),
    fileField(
      "fd.dev.major",
      "uint32",
      "Major device number of the file's file system.",
      (f) => (f.dev >>> 8) & 0xfff,
    ),
    fileField(
      "fd.dev.minor",
      "uint32",
      "Minor device number of the file's file system.",
      (f) => (f.dev & 0xff) | ((f.dev >>> 12) & 0xfff00),
    ),
    fileField("fd.ino", "int64", "Inode number of the file.", (f) => f.ino),
    {
      ...fileField(
        "fd.is_upper_layer",
        "bool",
        "True if the file is in the upper layer of an overlayfs.",
        (f) => f.upper,
      ),
      unavailable: () => HOST.overlayLayers(),
    },
    {
      ...fileField(
        "fd.is_lower_layer",
        "bool",
        "True if the file is in a lower layer of an overlayfs.",
        (f) => f.lower,
      ),
      unavailable: () => HOST.overlayLayers(),
    },
    {
      name: "fd.types",
      type: "list(string)",
      desc: "The distinct types of the process's open fds, in fd order; fd.types[N]: the type of fd N (a one-item list).",
      arg: "optional",
      multi: "list",
      make: (arg) => {
        if (arg === undefined)
          return (c) => {
            const p = c.proc();
            if (p === undefined) return null;
            const types = new Set<string>();
            for (const n of p.fds.numbers()) types.add(p.fds.get(n)?.type ?? "unknown");
            return [...types];
          };
        const n = Number(arg);
        return (c) => {
          const t = Number.isInteger(n) ? c.proc()?.fds.get(n)?.type : undefined;
          return t === undefined ? null : [t];
        };
      },
    },
  ],
};

export const FDLIST_FIELDS: FieldClass<EventContext> = {
  name: "fdlist",
  desc: "The fds of a poll/ppoll.",
  fields: [
    fdlist("fdlist.nums", "Fd numbers.", (x) => x.fd),
    fdlist("fdlist.names", "Fd names.", (x) => x.e?.name || null),
    fdlist("fdlist.cips", "Client IPs.", (x) => (x.e?.isSocket && x.e.connected ? x.e.cip : null)),
    fdlist("fdlist.sips", "Server IPs.", (x) => (x.e?.isSocket && x.e.connected ? x.e.sip : null)),
    fdlist("fdlist.cports", "Client ports.", (x) => (x.e?.isSocket && x.e.connected ? x.e.cport : null)),
    fdlist("fdlist.sports", "Server ports.", (x) => (x.e?.isSocket && x.e.connected ? x.e.sport : null)),
  ],
};
