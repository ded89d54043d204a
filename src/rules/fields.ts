/**
 * The field registry: one table of every field Lanner supports in conditions and
 * outputs. It backs checking (unknown field, operator/type fit), the compiler (field ids),
 * `lanner rules fields` and the generated docs/fields.md.
 */

export type FieldType =
  | "string"
  | "path" // file-system path (string compared as text; pmatch is path aware)
  | "bytebuf" // raw bytes (evt.buffer): bcontains / bstartswith
  | "int64"
  | "uint64"
  | "int32"
  | "uint32"
  | "int16"
  | "port" // uint16 port number
  | "double"
  | "bool"
  | "ipaddr"
  | "ipnet" // an address tested against networks: fd.net = 10.0.0.0/8
  | "abstime" // nanoseconds since the epoch
  | "reltime" // nanoseconds
  | "list(string)";

/**
 * none: no argument. index: `[N]` required. key: `[key]` (or `.key` when dotted is true)
 * required. optional: `[N]` allowed; without it the field yields every value (proc.aname
 * = any ancestor).
 */
export type ArgKind = "none" | "index" | "key" | "optional";

export interface FieldDef {
  readonly id: number;
  readonly name: string;
  readonly type: FieldType;
  readonly desc: string;
  readonly arg: ArgKind;
  /** Key may also follow as a dotted suffix: `evt.arg.flags`, `container.label.io.x`. */
  readonly dotted: boolean;
  /** Event types that fill it: 'all' (process state, every event), 'fd' (events with a
   * file descriptor), or a list of event types. */
  readonly events: "all" | "fd" | readonly string[];
  /** Deprecated or compatibility-only field. */
  readonly deprecated: boolean;
  readonly className: string;
}

export type FieldCategory = "string" | "number" | "bool" | "ip" | "bytes" | "list";

export function categoryOf(t: FieldType): FieldCategory {
  switch (t) {
    case "string":
    case "path":
      return "string";
    case "bytebuf":
      return "bytes";
    case "bool":
      return "bool";
    case "ipaddr":
    case "ipnet":
      return "ip";
    case "list(string)":
      return "list";
    default:
      return "number";
  }
}

interface Spec {
  t: FieldType;
  d: string;
  a?: ArgKind;
  dot?: boolean;
  ev?: "all" | "fd" | readonly string[];
  dep?: boolean;
}

const OPEN = ["open", "openat", "openat2", "creat"];
const FS_PATH_EV = [
  "mkdir",
  "mkdirat",
  "rmdir",
  "unlink",
  "unlinkat",
  "rename",
  "renameat",
  "renameat2",
  "link",
  "linkat",
  "symlink",
  "symlinkat",
  "chmod",
  "fchmodat",
  "truncate",
  "mount",
  "umount2",
];

export const FIELD_CLASSES: readonly { name: string; desc: string }[] = [
  { name: "evt", desc: "Event fields: type, time, arguments, result." },
  { name: "proc", desc: "The process that generated the event, its parent and ancestors." },
  { name: "thread", desc: "The thread that generated the event." },
  { name: "fd", desc: "The file descriptor the event acts on (file, socket, pipe...)." },
  { name: "fdlist", desc: "File descriptor lists of poll-style events." },
  { name: "fs.path", desc: "Paths of file-system syscalls (mkdir, unlink, rename, link...)." },
  { name: "user", desc: "The user running the process." },
  { name: "group", desc: "The group running the process." },
  { name: "container", desc: "The container of the process (native, from the runtime and cgroups)." },
  { name: "k8s", desc: "Kubernetes pod and namespace of the container (from CRI labels)." },
];

const SPECS: Record<string, Spec> = {
  // ---- evt ----
  "evt.num": { t: "uint64", d: "Event number." },
  "evt.time": {
    t: "abstime",
    d: "Event timestamp; text output renders HH:MM:SS.nnnnnnnnn, JSON an integer (ns).",
  },
  "evt.time.s": { t: "string", d: "Event timestamp as HH:MM:SS." },
  "evt.time.iso8601": { t: "string", d: "Event timestamp in ISO 8601 with nanoseconds." },
  "evt.datetime": { t: "string", d: "Event timestamp with the date (YYYY-MM-DD HH:MM:SS.nnnnnnnnn)." },
  "evt.datetime.s": { t: "string", d: "Event timestamp with the date, seconds precision." },
  "evt.rawtime": { t: "abstime", d: "Absolute event timestamp, ns since the epoch." },
  "evt.rawtime.s": { t: "uint64", d: "Integer seconds part of the event timestamp." },
  "evt.rawtime.ns": { t: "uint64", d: "Fractional part of the event timestamp, in ns." },
  "evt.reltime": { t: "reltime", d: "Time since the start of capture, ns." },
  "evt.reltime.s": { t: "uint64", d: "Seconds part of evt.reltime." },
  "evt.reltime.ns": { t: "uint64", d: "Fractional part of evt.reltime, ns." },
  "evt.deltatime": { t: "reltime", d: "Time since the previous event, ns." },
  "evt.latency": {
    t: "reltime",
    d: "Time between syscall enter and exit, ns (0 when only exit is captured).",
  },
  "evt.source": { t: "string", d: "Event source: 'syscall'." },
  "evt.hostname": { t: "string", d: "Host name of the node the agent runs on." },
  "evt.pluginname": { t: "string", d: "Plugin that produced the event (empty for syscalls)." },
  "evt.is_async": { t: "bool", d: "True for asynchronous (non-syscall) events." },
  "evt.asynctype": { t: "string", d: "Type of an asynchronous event." },
  "evt.type": {
    t: "string",
    d: "Event type: the syscall name (open, execve, connect...) or tracepoint event.",
  },
  "evt.cpu": { t: "int16", d: "CPU on which the event happened." },
  "evt.category": { t: "string", d: "Event category (file, net, process, ipc, memory...)." },
  "evt.dir": {
    t: "string",
    d: "Event direction; always '<' (exit) since enter events are not captured.",
    dep: true,
  },
  "evt.args": { t: "string", d: "All event arguments as text, name=value separated by spaces." },
  "evt.arg": {
    t: "string",
    d: "One event argument as text, by name (evt.arg.flags, evt.arg[name]) or position (evt.arg[0]).",
    a: "key",
    dot: true,
  },
  "evt.rawarg": {
    t: "int64",
    d: "One numeric event argument, unformatted (evt.rawarg.res, evt.rawarg.flags).",
    a: "key",
    dot: true,
  },
  "evt.info": { t: "string", d: "Event arguments rendered for display." },
  "evt.res": { t: "string", d: "Syscall result as text: 'SUCCESS' or the errno name (ENOENT...)." },
  "evt.rawres": { t: "int64", d: "Syscall return value as a number." },
  "evt.failed": { t: "bool", d: "True if the syscall returned an error." },
  "evt.buffer": {
    t: "bytebuf",
    d: "Binary data buffer of I/O events (read/write/send/recv...).",
    ev: [
      "read",
      "write",
      "sendto",
      "recvfrom",
      "sendmsg",
      "recvmsg",
      "pread64",
      "pwrite64",
      "readv",
      "writev",
    ],
  },
  "evt.buflen": {
    t: "uint64",
    d: "Length of the data buffer of I/O events.",
    ev: ["read", "write", "sendto", "recvfrom", "sendmsg", "recvmsg"],
  },
  "evt.is_io": { t: "bool", d: "True for events that read or write data." },
  "evt.is_io_read": { t: "bool", d: "True for events that read data." },
  "evt.is_io_write": { t: "bool", d: "True for events that write data." },
  "evt.is_wait": { t: "bool", d: "True for events that make the thread wait (sleep, select, poll...)." },
  "evt.is_syslog": { t: "bool", d: "True for writes to /dev/log." },
  "evt.count": { t: "uint32", d: "Always 1 (useful for counting)." },
  "evt.is_open_read": { t: "bool", d: "True for open/openat/openat2/creat opening for reading.", ev: OPEN },
  "evt.is_open_write": { t: "bool", d: "True for open/openat/openat2/creat opening for writing.", ev: OPEN },
  "evt.is_open_exec": {
    t: "bool",
    d: "True for opens that create a file with execute permission.",
    ev: OPEN,
  },
  "evt.is_open_create": { t: "bool", d: "True for opens with O_CREAT that created the file.", ev: OPEN },
  "evt.abspath": {
    t: "path",
    d: "Absolute path of the path argument of *at syscalls (dirfd resolved).",
    ev: ["openat", "openat2", "unlinkat", "mkdirat", "fchmodat", "execveat"],
  },
  "evt.abspath.src": {
    t: "path",
    d: "Absolute source path of renameat/linkat/symlinkat.",
    ev: ["renameat", "renameat2", "linkat", "symlinkat"],
  },
  "evt.abspath.dst": {
    t: "path",
    d: "Absolute destination path of renameat/linkat/symlinkat.",
    ev: ["renameat", "renameat2", "linkat", "symlinkat"],
  },

  // ---- proc ----
  "proc.pid": { t: "int64", d: "Process id." },
  "proc.exe": { t: "string", d: "First command-line argument (argv[0]) as given." },
  "proc.name": {
    t: "string",
    d: "Process name (executable basename, up to 16 chars as in comm unless longer exe known).",
  },
  "proc.args": { t: "string", d: "Command-line arguments, without the executable, separated by spaces." },
  "proc.env": {
    t: "string",
    d: "Environment of the process (all variables), or one by name: proc.env[HOME].",
    a: "optional",
  },
  "proc.cmdline": { t: "string", d: "Full command line: proc.name followed by the arguments." },
  "proc.cmdnargs": { t: "uint64", d: "Number of command-line arguments." },
  "proc.cmdlenargs": { t: "uint64", d: "Total length of the command-line arguments." },
  "proc.exeline": { t: "string", d: "Full command line with proc.exe as the first word." },
  "proc.cwd": { t: "path", d: "Current working directory." },
  "proc.nthreads": { t: "uint64", d: "Number of threads of the process." },
  "proc.nchilds": { t: "uint64", d: "Number of child threads." },
  "proc.ppid": { t: "int64", d: "Parent process id." },
  "proc.pname": { t: "string", d: "Parent process name." },
  "proc.pcmdline": { t: "string", d: "Parent command line." },
  "proc.pexe": { t: "string", d: "Parent argv[0]." },
  "proc.pexepath": { t: "path", d: "Parent executable path." },
  "proc.apid": {
    t: "int64",
    d: "Ancestor pid: proc.apid[1] is the parent, [2] the grandparent...; without index, any ancestor.",
    a: "optional",
  },
  "proc.aname": {
    t: "string",
    d: "Ancestor name: proc.aname[1] is the parent...; without index, any ancestor.",
    a: "optional",
  },
  "proc.aexe": { t: "string", d: "Ancestor argv[0]; without index, any ancestor.", a: "optional" },
  "proc.aexepath": { t: "path", d: "Ancestor executable path; without index, any ancestor.", a: "optional" },
  "proc.acmdline": { t: "string", d: "Ancestor command line; without index, any ancestor.", a: "optional" },
  "proc.loginshellid": { t: "int64", d: "Pid of the oldest shell among the ancestors." },
  "proc.duration": { t: "reltime", d: "Time since the process started, ns." },
  "proc.ppid.duration": { t: "reltime", d: "Time since the parent process started, ns." },
  "proc.pid.ts": { t: "reltime", d: "Start time of the process, ns since the epoch." },
  "proc.ppid.ts": { t: "reltime", d: "Start time of the parent process, ns since the epoch." },
  "proc.exepath": { t: "path", d: "Full executable path (resolved at exec)." },
  "proc.is_exe_writable": { t: "bool", d: "True if the executable is writable by the process user." },
  "proc.is_exe_upper_layer": {
    t: "bool",
    d: "True if the executable is in the upper layer of an overlayfs (written in the container).",
  },
  "proc.is_exe_lower_layer": {
    t: "bool",
    d: "True if the executable is in a lower layer of an overlayfs (from the image).",
  },
  "proc.is_exe_from_memfd": { t: "bool", d: "True if the executable is a memfd (fileless execution)." },
  "proc.exe_ino": { t: "int64", d: "Inode number of the executable." },
  "proc.exe_ino.ctime": { t: "abstime", d: "Change time of the executable inode." },
  "proc.exe_ino.mtime": { t: "abstime", d: "Modification time of the executable inode." },
  "proc.exe_ino.ctime_duration_proc_start": {
    t: "reltime",
    d: "Process start time minus executable ctime, ns.",
  },
  "proc.exe_ino.ctime_duration_pidns_start": {
    t: "reltime",
    d: "Pid-namespace start minus executable ctime, ns.",
  },
  "proc.pidns_init_start_ts": { t: "uint64", d: "Start time of the pid namespace init process, ns." },
  "proc.vpid": { t: "int64", d: "Process id as seen in its pid namespace." },
  "proc.pvpid": { t: "int64", d: "Parent process id as seen in its pid namespace." },
  "proc.sid": { t: "int64", d: "Session id." },
  "proc.sname": { t: "string", d: "Name of the session leader." },
  "proc.sid.exe": { t: "string", d: "argv[0] of the session leader." },
  "proc.sid.exepath": { t: "path", d: "Executable path of the session leader." },
  "proc.vpgid": { t: "int64", d: "Process group id as seen in its pid namespace." },
  "proc.vpgid.name": { t: "string", d: "Name of the process group leader." },
  "proc.vpgid.exe": { t: "string", d: "argv[0] of the process group leader." },
  "proc.vpgid.exepath": { t: "path", d: "Executable path of the process group leader." },
  "proc.pgid": { t: "int64", d: "Process group id." },
  "proc.pgid.name": { t: "string", d: "Name of the process group leader (host pid namespace)." },
  "proc.pgid.exe": { t: "string", d: "argv[0] of the process group leader (host pid namespace)." },
  "proc.pgid.exepath": { t: "path", d: "Executable path of the process group leader (host pid namespace)." },
  "proc.is_sid_leader": { t: "bool", d: "True if the process is its session leader." },
  "proc.is_vpgid_leader": { t: "bool", d: "True if the process is its process group leader." },
  "proc.is_pgid_leader": {
    t: "bool",
    d: "True if the process is its process group leader (host pid namespace).",
  },
  "proc.tty": { t: "int32", d: "Controlling terminal device number; 0 when none." },
  "proc.is_container_healthcheck": { t: "bool", d: "True if the process runs a container healthcheck." },
  "proc.is_container_liveness_probe": {
    t: "bool",
    d: "True if the process runs a Kubernetes liveness probe.",
  },
  "proc.is_container_readiness_probe": {
    t: "bool",
    d: "True if the process runs a Kubernetes readiness probe.",
  },
  "proc.fdopencount": { t: "uint64", d: "Number of open file descriptors." },
  "proc.fdlimit": { t: "int64", d: "Maximum number of file descriptors." },
  "proc.fdusage": { t: "double", d: "Open file descriptors as a percentage of the limit." },
  "proc.vmsize": { t: "uint64", d: "Virtual memory size, KiB." },
  "proc.vmrss": { t: "uint64", d: "Resident memory, KiB." },
  "proc.vmswap": { t: "uint64", d: "Swapped memory, KiB." },
  "proc.pfmajor": { t: "uint64", d: "Major page faults." },
  "proc.pfminor": { t: "uint64", d: "Minor page faults." },
  "proc.stdin.type": { t: "string", d: "Type of fd 0 (file, pipe, ipv4...)." },
  "proc.stdin.name": { t: "string", d: "Name of fd 0." },
  "proc.stdout.type": { t: "string", d: "Type of fd 1." },
  "proc.stdout.name": { t: "string", d: "Name of fd 1." },
  "proc.stderr.type": { t: "string", d: "Type of fd 2." },
  "proc.stderr.name": { t: "string", d: "Name of fd 2." },

  // ---- thread ----
  "thread.tid": { t: "int64", d: "Thread id." },
  "thread.vtid": { t: "int64", d: "Thread id as seen in its pid namespace." },
  "thread.ismain": { t: "bool", d: "True if the thread is the main thread of its process." },
  "thread.nametid": { t: "string", d: "Thread name and id (name:tid)." },
  "thread.exectime": { t: "reltime", d: "CPU time of the last scheduled slice, ns." },
  "thread.totexectime": { t: "reltime", d: "Total CPU time of the thread, ns." },
  "thread.cgroups": { t: "string", d: "All cgroups of the thread, subsystem=path separated by spaces." },
  "thread.cgroup": {
    t: "string",
    d: "Cgroup path for one subsystem: thread.cgroup[cpuacct].",
    a: "key",
    dot: true,
  },
  "thread.cap_permitted": { t: "string", d: "Permitted capabilities, e.g. CAP_CHOWN CAP_SYS_ADMIN." },
  "thread.cap_inheritable": { t: "string", d: "Inheritable capabilities." },
  "thread.cap_effective": { t: "string", d: "Effective capabilities." },

  // ---- fd ----
  "fd.num": { t: "int64", d: "File descriptor number (-1 if the call failed).", ev: "fd" },
  "fd.type": {
    t: "string",
    d: "Type: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, timerfd, netlink, bpf, userfaultfd, io_uring, memfd, pidfd.",
    ev: "fd",
  },
  "fd.typechar": {
    t: "string",
    d: "One-letter type: f file, 4 ipv4, 6 ipv6, u unix, p pipe, e event, s signalfd, l eventpoll, i inotify, b bpf, r userfaultfd, m memfd, o other.",
    ev: "fd",
  },
  "fd.name": {
    t: "path",
    d: 'Full name: absolute path for files, "cip:cport->sip:sport" for sockets.',
    ev: "fd",
  },
  "fd.nameraw": { t: "path", d: "Name as passed to the syscall, not normalised.", ev: "fd" },
  "fd.directory": { t: "path", d: "Directory of a file fd.", ev: "fd" },
  "fd.filename": { t: "string", d: "Basename of a file fd.", ev: "fd" },
  "fd.ip": { t: "ipaddr", d: "Client or server IP (matches either).", ev: "fd" },
  "fd.cip": { t: "ipaddr", d: "Client IP.", ev: "fd" },
  "fd.sip": { t: "ipaddr", d: "Server IP.", ev: "fd" },
  "fd.lip": { t: "ipaddr", d: "Local IP.", ev: "fd" },
  "fd.rip": { t: "ipaddr", d: "Remote IP.", ev: "fd" },
  "fd.port": { t: "port", d: "Client or server port (matches either).", ev: "fd" },
  "fd.cport": { t: "port", d: "Client port.", ev: "fd" },
  "fd.sport": { t: "port", d: "Server port.", ev: "fd" },
  "fd.lport": { t: "port", d: "Local port.", ev: "fd" },
  "fd.rport": { t: "port", d: "Remote port.", ev: "fd" },
  "fd.l4proto": { t: "string", d: "Layer-4 protocol: tcp, udp, icmp, raw.", ev: "fd" },
  "fd.sockfamily": { t: "string", d: "Socket family: ip or unix.", ev: "fd" },
  "fd.is_server": { t: "bool", d: "True if the process owning the fd is the server side.", ev: "fd" },
  "fd.uid": { t: "string", d: "Unique id of the fd: tid and fd number.", ev: "fd" },
  "fd.containername": { t: "string", d: "Container id followed by fd.name.", ev: "fd" },
  "fd.containerdirectory": { t: "string", d: "Container id followed by fd.directory.", ev: "fd" },
  "fd.proto": { t: "string", d: "Protocol name of client or server port.", ev: "fd" },
  "fd.cproto": { t: "string", d: "Protocol name of the client port.", ev: "fd" },
  "fd.sproto": { t: "string", d: "Protocol name of the server port.", ev: "fd" },
  "fd.lproto": { t: "string", d: "Protocol name of the local port.", ev: "fd" },
  "fd.rproto": { t: "string", d: "Protocol name of the remote port.", ev: "fd" },
  "fd.net": { t: "ipnet", d: "Client or server IP tested against networks: fd.net = 10.0.0.0/8.", ev: "fd" },
  "fd.cnet": { t: "ipnet", d: "Client IP tested against networks.", ev: "fd" },
  "fd.snet": { t: "ipnet", d: "Server IP tested against networks.", ev: "fd" },
  "fd.lnet": { t: "ipnet", d: "Local IP tested against networks.", ev: "fd" },
  "fd.rnet": { t: "ipnet", d: "Remote IP tested against networks.", ev: "fd" },
  "fd.connected": { t: "bool", d: "True if the socket is connected.", ev: "fd" },
  "fd.name_changed": {
    t: "bool",
    d: "True if the fd name changed with this event (connect, accept...).",
    ev: "fd",
  },
  "fd.cip.name": {
    t: "string",
    d: "Domain name of the client IP: the names the rules compare this field with whose addresses (resolved by the agent, refreshed every 10 s) include fd.cip.",
    ev: "fd",
  },
  "fd.sip.name": { t: "string", d: "Domain name of the server IP, as fd.cip.name.", ev: "fd" },
  "fd.lip.name": { t: "string", d: "Domain name of the local IP, as fd.cip.name.", ev: "fd" },
  "fd.rip.name": { t: "string", d: "Domain name of the remote IP, as fd.cip.name.", ev: "fd" },
  "fd.dev": { t: "uint32", d: "Device number of the file.", ev: "fd" },
  "fd.dev.major": { t: "uint32", d: "Major device number.", ev: "fd" },
  "fd.dev.minor": { t: "uint32", d: "Minor device number.", ev: "fd" },
  "fd.ino": { t: "int64", d: "Inode number of the file.", ev: "fd" },
  "fd.is_upper_layer": { t: "bool", d: "True if the file is in the upper layer of an overlayfs.", ev: "fd" },
  "fd.is_lower_layer": { t: "bool", d: "True if the file is in a lower layer of an overlayfs.", ev: "fd" },
  "fd.types": {
    t: "list(string)",
    d: "Types of the fds of dup/poll-style events; fd.types[N] for one.",
    a: "optional",
    ev: "fd",
  },

  // ---- fdlist ----
  "fdlist.nums": { t: "list(string)", d: "Fd numbers of poll/select events.", ev: ["poll", "ppoll"] },
  "fdlist.names": { t: "list(string)", d: "Fd names of poll/select events.", ev: ["poll", "ppoll"] },
  "fdlist.cips": { t: "list(string)", d: "Client IPs of poll/select events.", ev: ["poll", "ppoll"] },
  "fdlist.sips": { t: "list(string)", d: "Server IPs of poll/select events.", ev: ["poll", "ppoll"] },
  "fdlist.cports": { t: "list(string)", d: "Client ports of poll/select events.", ev: ["poll", "ppoll"] },
  "fdlist.sports": { t: "list(string)", d: "Server ports of poll/select events.", ev: ["poll", "ppoll"] },

  // ---- fs.path ----
  "fs.path.name": {
    t: "path",
    d: "Path of a file-system syscall (absolute, resolved against cwd/dirfd).",
    ev: FS_PATH_EV,
  },
  "fs.path.nameraw": { t: "path", d: "Path of a file-system syscall as passed.", ev: FS_PATH_EV },
  "fs.path.source": { t: "path", d: "Source path of rename/link/symlink (absolute).", ev: FS_PATH_EV },
  "fs.path.sourceraw": { t: "path", d: "Source path as passed.", ev: FS_PATH_EV },
  "fs.path.target": { t: "path", d: "Target path of rename/link/symlink (absolute).", ev: FS_PATH_EV },
  "fs.path.targetraw": { t: "path", d: "Target path as passed.", ev: FS_PATH_EV },

  // ---- user / group ----
  "user.uid": { t: "uint32", d: "User id." },
  "user.name": { t: "string", d: "User name." },
  "user.homedir": { t: "path", d: "Home directory." },
  "user.shell": { t: "string", d: "Login shell." },
  "user.loginuid": { t: "int64", d: "Audit login uid (-1 when unset)." },
  "user.loginname": { t: "string", d: "Name of the audit login user." },
  "group.gid": { t: "uint32", d: "Group id." },
  "group.name": { t: "string", d: "Group name." },

  // ---- container ----
  "container.id": { t: "string", d: "Container id, 12 hex chars; 'host' outside containers." },
  "container.full_id": { t: "string", d: "Full 64-char container id; 'host' outside containers." },
  "container.name": { t: "string", d: "Container name; 'host' outside containers." },
  "container.image": { t: "string", d: "Image name (repository:tag)." },
  "container.image.id": { t: "string", d: "Image id." },
  "container.image.repository": { t: "string", d: "Image repository (docker.io/library/nginx)." },
  "container.image.tag": { t: "string", d: "Image tag." },
  "container.image.digest": { t: "string", d: "Image digest." },
  "container.type": { t: "string", d: "Runtime: docker, containerd, cri-o, podman, cri..." },
  "container.privileged": { t: "bool", d: "True if the container runs privileged." },
  "container.mounts": { t: "string", d: "Mounts as source:dest:mode:rdwr:propagation, comma separated." },
  "container.mount": {
    t: "string",
    d: "One mount, by index or destination glob: container.mount[/etc*].",
    a: "key",
  },
  "container.mount.source": { t: "string", d: "Mount source, by index or destination glob.", a: "key" },
  "container.mount.dest": { t: "string", d: "Mount destination, by index or source glob.", a: "key" },
  "container.mount.mode": { t: "string", d: "Mount mode, by index or destination glob.", a: "key" },
  "container.mount.rdwr": {
    t: "string",
    d: "Mount read/write flag, by index or destination glob.",
    a: "key",
  },
  "container.mount.propagation": {
    t: "string",
    d: "Mount propagation, by index or destination glob.",
    a: "key",
  },
  "container.healthcheck": { t: "string", d: "Health check command." },
  "container.liveness_probe": { t: "string", d: "Kubernetes liveness probe command." },
  "container.readiness_probe": { t: "string", d: "Kubernetes readiness probe command." },
  "container.start_ts": { t: "abstime", d: "Container start time, ns since the epoch." },
  "container.duration": { t: "reltime", d: "Time since the container started, ns." },
  "container.ip": { t: "ipaddr", d: "Container IP address." },
  "container.cni.json": { t: "string", d: "CNI result as JSON." },
  "container.host_pid": { t: "bool", d: "True if the container shares the host pid namespace." },
  "container.host_network": { t: "bool", d: "True if the container shares the host network namespace." },
  "container.host_ipc": { t: "bool", d: "True if the container shares the host ipc namespace." },
  "container.label": {
    t: "string",
    d: "One container label: container.label[io.kubernetes.pod.name] or container.label.io.kubernetes.pod.name.",
    a: "key",
    dot: true,
  },
  "container.labels": { t: "string", d: "All container labels, key:value comma separated." },
  "container.info": { t: "string", d: "Compatibility placeholder; renders empty.", dep: true },

  // ---- k8s ----
  "k8s.pod.name": { t: "string", d: "Pod name." },
  "k8s.pod.id": { t: "string", d: "Pod uid (alias of k8s.pod.uid).", dep: true },
  "k8s.pod.uid": { t: "string", d: "Pod uid." },
  "k8s.pod.sandbox_id": { t: "string", d: "Pod sandbox id, 12 chars." },
  "k8s.pod.full_sandbox_id": { t: "string", d: "Full pod sandbox id." },
  "k8s.pod.label": {
    t: "string",
    d: "One pod label: k8s.pod.label[app] or k8s.pod.label.app.",
    a: "key",
    dot: true,
  },
  "k8s.pod.labels": { t: "string", d: "All pod labels, key:value comma separated." },
  "k8s.pod.ip": { t: "ipaddr", d: "Pod IP address." },
  "k8s.pod.cni.json": { t: "string", d: "Pod CNI result as JSON." },
  "k8s.ns.name": { t: "string", d: "Namespace name." },
  "k8s.ns.id": { t: "string", d: "Namespace uid.", dep: true },
  "k8s.ns.label": { t: "string", d: "One namespace label.", a: "key", dot: true, dep: true },
  "k8s.ns.labels": { t: "string", d: "All namespace labels.", dep: true },
  "k8s.rc.name": { t: "string", d: "Replication controller name.", dep: true },
  "k8s.rs.name": { t: "string", d: "Replica set name.", dep: true },
  "k8s.svc.name": { t: "string", d: "Service name.", dep: true },
  "k8s.deployment.name": { t: "string", d: "Deployment name.", dep: true },
};

function build(): FieldDef[] {
  const out: FieldDef[] = [];
  for (const [name, s] of Object.entries(SPECS)) {
    const className = name.startsWith("fs.path.") ? "fs.path" : (name.split(".")[0] as string);
    out.push({
      id: out.length,
      name,
      type: s.t,
      desc: s.d,
      arg: s.a ?? "none",
      dotted: s.dot === true,
      events: s.ev ?? "all",
      deprecated: s.dep === true,
      className,
    });
  }
  return out;
}

/** Every field, in table order; `FIELDS[def.id] === def`. */
export const FIELDS: readonly FieldDef[] = build();

const BY_NAME = new Map<string, FieldDef>(FIELDS.map((f) => [f.name, f]));
const DOTTED = FIELDS.filter((f) => f.dotted);

export function fieldByName(name: string): FieldDef | undefined {
  return BY_NAME.get(name);
}

export function fieldById(id: number): FieldDef | undefined {
  return FIELDS[id];
}

/** Well-known ids used by the compiler and engine. */
export const EVT_TYPE_ID = (BY_NAME.get("evt.type") as FieldDef).id;

export interface ResolvedField {
  readonly def: FieldDef;
  /** Parsed argument: number for index arguments, string for keys, undefined if none. */
  readonly arg: string | number | undefined;
}

export type FieldResolution = { ok: true; field: ResolvedField } | { ok: false; message: string };

/**
 * Resolve `name` with an optional bracket argument: exact names first, then dotted-key
 * fields (`evt.arg.flags` -> evt.arg with key `flags`).
 */
export function resolveField(name: string, bracketArg: string | undefined): FieldResolution {
  let def = BY_NAME.get(name);
  let arg: string | undefined = bracketArg;
  if (def === undefined) {
    for (const d of DOTTED) {
      if (
        name.length > d.name.length + 1 &&
        name.startsWith(d.name) &&
        name.charCodeAt(d.name.length) === 46
      ) {
        if (bracketArg !== undefined)
          return {
            ok: false,
            message: `field '${name}' cannot take both a dotted key and '[${bracketArg}]'`,
          };
        def = d;
        arg = name.slice(d.name.length + 1);
        break;
      }
    }
  }
  if (def === undefined) return { ok: false, message: `unknown field '${name}'` };
  switch (def.arg) {
    case "none":
      if (arg !== undefined) return { ok: false, message: `field '${def.name}' does not take an argument` };
      return { ok: true, field: { def, arg: undefined } };
    case "index": {
      if (arg === undefined)
        return { ok: false, message: `field '${def.name}' requires an index argument: ${def.name}[N]` };
      if (!/^\d+$/.test(arg))
        return { ok: false, message: `field '${def.name}' requires a numeric index, got '${arg}'` };
      return { ok: true, field: { def, arg: Number(arg) } };
    }
    case "key":
      if (arg === undefined || arg === "")
        return { ok: false, message: `field '${def.name}' requires an argument: ${def.name}[...]` };
      return { ok: true, field: { def, arg: /^\d+$/.test(arg) ? Number(arg) : arg } };
    case "optional":
      if (arg === undefined) return { ok: true, field: { def, arg: undefined } };
      if (arg === "") return { ok: false, message: `field '${def.name}' has an empty argument` };
      return { ok: true, field: { def, arg: /^\d+$/.test(arg) ? Number(arg) : arg } };
  }
}

/** True when the field yields several values for one event (lists, argument-less ancestors). */
export function isMultiValued(f: ResolvedField): boolean {
  return f.def.type === "list(string)"
    ? f.arg === undefined
    : f.def.arg === "optional" && f.arg === undefined && f.def.name !== "proc.env";
}
