/**
 * The engine's FieldReader: the values of rule fields for one event, read from the decoded
 * event and from state. Hot fields have direct extractors; the rest come from the event's
 * rendered field map (made once per event, only when a rule reads such a field).
 */
import { type DecodedEvent, type SyscallEvent } from "../decode/event.js";
import { resultName } from "../decode/errno.js";
import { SYSCALL_SPECS } from "../decode/syscall-params.js";
import { FIELDS, type FieldReader, type FieldValue } from "../rules/index.js";
import type { ProcessInfo, ProcessTable } from "../state/process-table.js";
import { argNumber, eventFields, resolvedPath, type EventFields } from "./event-fields.js";

/** Optional resolvers from state/ (containers, users); absent ones yield `host`/unknown. */
export interface Enrichers {
  containerId?(ev: DecodedEvent, proc: ProcessInfo | undefined): string;
  userName?(uid: number, pid: number): string | null;
  groupName?(gid: number, pid: number): string | null;
  containerField?(containerId: string, field: string, arg: string | undefined): FieldValue | undefined;
  /** The watched domain names that resolve to `ip` (fd.sip.name ...). */
  domainNames?(ip: string): readonly string[];
  /** The names the rules in force compare domain fields with: keep them resolved. */
  watchDomains?(names: readonly string[]): void;
}

type Extractor = (r: EventFieldReader, arg: string | number | undefined) => FieldValue;

const O_ACCMODE = 3;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;
const OPEN_TYPES = new Set(["open", "openat", "openat2", "creat"]);
const MAX_ANCESTORS = 32;

function openFlagsOf(ev: SyscallEvent): number | null {
  if (!OPEN_TYPES.has(ev.type)) return null;
  if (ev.type === "creat") return O_CREAT | O_WRONLY | O_TRUNC;
  if (ev.type === "openat2") return ev.openHow?.flags ?? null;
  const idx = ev.type === "open" ? 1 : 2;
  return Number(BigInt.asUintN(32, ev.args[idx] ?? 0n));
}

const EXTRACTORS: Readonly<Record<string, Extractor>> = {
  "evt.type": (r) => r.type,
  "evt.num": (r) => r.num,
  "evt.source": () => "syscall",
  "evt.dir": () => "<",
  "evt.cpu": (r) => r.ev.cpu,
  "evt.time": (r) => r.wallNs(),
  "evt.rawtime": (r) => r.wallNs(),
  "evt.hostname": (r) => r.hostname,
  "evt.res": (r) => (r.ev.kind === "syscall" ? resultName(r.ev.ret) : null),
  "evt.rawres": (r) => (r.ev.kind === "syscall" ? r.ev.ret : null),
  "evt.failed": (r) => (r.ev.kind === "syscall" ? r.ev.ret < 0 && r.ev.ret >= -4095 : false),
  "evt.is_open_read": (r) => {
    if (r.ev.kind !== "syscall") return false;
    const f = openFlagsOf(r.ev);
    return f !== null && ((f & O_ACCMODE) === 0 || (f & O_ACCMODE) === O_RDWR);
  },
  "evt.is_open_write": (r) => {
    if (r.ev.kind !== "syscall") return false;
    const f = openFlagsOf(r.ev);
    return f !== null && ((f & O_ACCMODE) === O_WRONLY || (f & O_ACCMODE) === O_RDWR);
  },
  "evt.is_open_create": (r) => {
    if (r.ev.kind !== "syscall") return false;
    const f = openFlagsOf(r.ev);
    return f !== null && (f & O_CREAT) !== 0;
  },
  "evt.is_open_exec": () => false,
  "proc.pid": (r) => r.ev.tgid,
  "thread.tid": (r) => r.ev.tid,
  "proc.name": (r) => (r.ev.kind !== "syscall" ? r.ev.comm : (r.proc()?.comm ?? null)),
  "proc.exepath": (r) => r.proc()?.exepath || null,
  "proc.exe": (r) => r.proc()?.argv[0] ?? null,
  "proc.args": (r) => {
    const p = r.proc();
    return p ? p.argv.slice(1).join(" ") : null;
  },
  "proc.cmdline": (r) => {
    const p = r.proc();
    return p ? [p.comm, ...p.argv.slice(1)].join(" ") : null;
  },
  "proc.cwd": (r) => r.proc()?.cwd || null,
  "proc.ppid": (r) => r.proc()?.ppid ?? null,
  "proc.pname": (r) => r.ancestor(1)?.comm ?? null,
  "proc.pexepath": (r) => r.ancestor(1)?.exepath || null,
  "proc.pexe": (r) => r.ancestor(1)?.argv[0] ?? null,
  "proc.pcmdline": (r) => {
    const p = r.ancestor(1);
    return p ? [p.comm, ...p.argv.slice(1)].join(" ") : null;
  },
  "proc.aname": (r, arg) => r.ancestorField(arg, (p) => p.comm),
  "proc.apid": (r, arg) => r.ancestorField(arg, (p) => p.pid),
  "proc.aexepath": (r, arg) => r.ancestorField(arg, (p) => p.exepath),
  "proc.aexe": (r, arg) => r.ancestorField(arg, (p) => p.argv[0] ?? ""),
  "proc.acmdline": (r, arg) => r.ancestorField(arg, (p) => [p.comm, ...p.argv.slice(1)].join(" ")),
  "user.uid": (r) => r.uid(),
  "user.name": (r) => r.enrich.userName?.(r.uid(), r.ev.tgid) ?? (r.uid() === 0 ? "root" : null),
  "user.loginuid": (r) => {
    const l = r.ev.kind !== "syscall" ? r.ev.loginuid : r.proc()?.loginuid;
    return l === undefined ? null : l === 0xffffffff ? -1 : l;
  },
  "group.gid": (r) => r.ev.egid,
  "group.name": (r) => r.enrich.groupName?.(r.ev.egid, r.ev.tgid) ?? (r.ev.egid === 0 ? "root" : null),
  "container.id": (r) => r.containerId(),
  "evt.arg": (r, arg) => r.arg(arg),
  "evt.rawarg": (r, arg) => r.rawArg(arg),
  "fd.cip.name": (r) => r.domainName("fd.cip"),
  "fd.sip.name": (r) => r.domainName("fd.sip"),
  "fd.lip.name": (r) => r.domainName("fd.lip"),
  "fd.rip.name": (r) => r.domainName("fd.rip"),
  "evt.abspath": (r) => {
    if (r.ev.kind !== "syscall") return null;
    const spec = SYSCALL_SPECS.get(r.ev.nr);
    return spec?.pathArg === undefined ? null : resolvedPath(r.ev, spec.pathArg);
  },
};

export class EventFieldReader implements FieldReader {
  ev!: DecodedEvent;
  type = "";
  num = 0;
  private fields: EventFields | null = null;
  private procCache: ProcessInfo | undefined | null = null;
  private readonly extract: (Extractor | undefined)[];
  private readonly names: readonly string[];
  private readonly ancestors: (ProcessInfo | undefined)[] = [];
  private readonly walked: number[] = [];
  private ancestorsFor = -1;
  private containerCache: string | null = null;

  constructor(
    private readonly procs: ProcessTable,
    readonly enrich: Enrichers,
    /** add to boot-time ns for wall-clock ns (set from the capture session) */
    public bootToWallNs: bigint,
    readonly hostname: string,
  ) {
    this.names = FIELDS.map((f) => f.name);
    this.extract = FIELDS.map((f) => EXTRACTORS[f.name]);
  }

  /** Points the reader at the next event. */
  set(ev: DecodedEvent, type: string, num: number): void {
    this.ev = ev;
    this.type = type;
    this.num = num;
    this.fields = null;
    this.procCache = null;
    this.ancestorsFor = -1;
    this.containerCache = null;
  }

  read(fieldId: number, arg: string | number | undefined): FieldValue {
    const x = this.extract[fieldId];
    if (x !== undefined) return x(this, arg);
    const name = this.names[fieldId];
    if (name === undefined) return null;
    if (name.startsWith("container.") || name.startsWith("k8s.")) {
      const v = this.enrich.containerField?.(
        this.containerId(),
        name,
        arg === undefined ? undefined : String(arg),
      );
      if (v !== undefined) return v;
    }
    const f = this.rendered();
    const key = arg === undefined ? name : `${name}[${arg}]`;
    const v = f[key] ?? (arg === undefined ? undefined : f[`${name}.${arg}`]);
    return v === undefined ? null : (v as FieldValue);
  }

  wallNs(): bigint {
    return BigInt(Math.round(this.ev.ts)) + this.bootToWallNs;
  }

  proc(): ProcessInfo | undefined {
    if (this.procCache === null) this.procCache = this.procs.lookup(this.ev.tgid);
    return this.procCache;
  }

  uid(): number {
    return this.ev.euid;
  }

  containerId(): string {
    if (this.containerCache === null)
      this.containerCache = this.enrich.containerId?.(this.ev, this.proc()) ?? "host";
    return this.containerCache;
  }

  /** The Nth ancestor (1 = parent). */
  ancestor(n: number): ProcessInfo | undefined {
    if (this.ancestorsFor !== this.ev.tgid) {
      this.ancestors.length = 0;
      let p = this.proc();
      const seen = this.walked; // reused: no allocation per event
      seen.length = 0;
      while (p && this.ancestors.length < MAX_ANCESTORS && p.ppid > 0 && !seen.includes(p.ppid)) {
        seen.push(p.pid);
        p = this.procs.lookup(p.ppid);
        this.ancestors.push(p);
      }
      this.ancestorsFor = this.ev.tgid;
    }
    return this.ancestors[n - 1];
  }

  ancestorField<T extends string | number>(
    arg: string | number | undefined,
    f: (p: ProcessInfo) => T,
  ): FieldValue {
    if (arg === undefined) {
      // any ancestor: the list of all of them
      const out: string[] = [];
      for (let i = 1; i <= MAX_ANCESTORS; i++) {
        const a = this.ancestor(i);
        if (!a) break;
        out.push(String(f(a)));
      }
      return out;
    }
    const n = Number(arg);
    if (n === 0) {
      const p = this.proc();
      return p ? f(p) : null;
    }
    const a = this.ancestor(n);
    return a ? f(a) : null;
  }

  /** `fd.sip.name` ...: the watched names that resolve to the IP; unknown when none does. */
  domainName(ipField: string): FieldValue {
    const ip = this.rendered()[ipField];
    if (typeof ip !== "string" || this.enrich.domainNames === undefined) return null;
    const names = this.enrich.domainNames(ip);
    return names.length === 0 ? null : names.length === 1 ? (names[0] as string) : names;
  }

  /** `evt.arg.NAME` / `evt.arg[N]`: rendered as Falco renders arguments. */
  arg(arg: string | number | undefined): FieldValue {
    if (arg === undefined) return null;
    const f = this.rendered();
    if (typeof arg === "number" || /^\d+$/.test(arg)) {
      if (this.ev.kind !== "syscall") return null;
      const spec = SYSCALL_SPECS.get(this.ev.nr);
      const p = spec?.params[Number(arg)];
      if (p) return (f[`evt.arg.${p.name}`] as FieldValue | undefined) ?? null;
      return (f[`evt.arg[${arg}]`] as FieldValue | undefined) ?? null;
    }
    if (arg === "res") return this.ev.kind === "syscall" ? resultName(this.ev.ret) : null;
    return (f[`evt.arg.${arg}`] as FieldValue | undefined) ?? null;
  }

  /** `evt.rawarg.NAME`: the number behind an argument. */
  rawArg(arg: string | number | undefined): FieldValue {
    if (this.ev.kind !== "syscall" || arg === undefined) return null;
    if (arg === "res") return this.ev.ret;
    const spec = SYSCALL_SPECS.get(this.ev.nr);
    const p = typeof arg === "number" ? spec?.params[arg] : spec?.params.find((x) => x.name === arg);
    if (!p) return null;
    return argNumber(this.ev.args[p.arg] ?? 0n, p.type);
  }

  private rendered(): EventFields {
    if (this.fields === null) this.fields = eventFields(this.ev, this.num, this.procs, this.bootToWallNs);
    return this.fields;
  }
}
