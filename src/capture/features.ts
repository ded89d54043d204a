/**
 * Feature probes: what this kernel and machine offer, found by trying (loading a trivial
 * program of each type), never by kernel version. Results feed the attach plan and
 * `lanner doctor`.
 */
import { existsSync, readFileSync } from "node:fs";
import { errorMessage } from "../errors.js";
import { BpfObject } from "../native/index.js";
import { bpfObjectPath } from "./paths.js";

export interface ProbeResult {
  /** feature id, e.g. `prog:tp_btf` or `mount:tracefs` */
  readonly id: string;
  readonly ok: boolean;
  /** what it is used for */
  readonly use: string;
  /** why not, when not ok (errno and message) */
  readonly reason?: string;
}

/**
 * Probe programs in bpf/probe.bpf.c for the program and map types the capture object
 * (bpf/capture.bpf.c) is built from, each with what Lanner uses it for today. `kind` is the
 * libbpf section kind (the section name up to its first "/") shared by the probe and the
 * capture programs it stands for; a test holds every entry to that. bpf/probe.bpf.c has probes
 * for more types (kprobe, fentry, LSM, XDP, TC...); nothing in Lanner uses those yet, so doctor
 * does not report them.
 */
export const PROGRAM_PROBES: readonly {
  prog: string;
  id: string;
  kind: string;
  use: string;
  attach?: boolean;
}[] = [
  {
    prog: "probe_tp_btf",
    id: "prog:tp_btf",
    kind: "tp_btf",
    use: "process lifecycle (fork, exec, exit) and all-syscalls capture",
    attach: true,
  },
  {
    prog: "probe_raw_tp",
    id: "prog:raw_tracepoint",
    kind: "raw_tracepoint",
    use: "the same programs where tp_btf is refused (the fallback)",
    attach: true,
  },
  {
    prog: "probe_tracepoint",
    id: "prog:tracepoint",
    kind: "tracepoint",
    use: "selected-syscalls capture (one tracepoint per syscall)",
    attach: true,
  },
  {
    prog: "probe_ringbuf",
    id: "map:ringbuf",
    kind: "map:ringbuf",
    use: "the event channel from kernel to agent",
  },
];

const cache = new Map<string, ProbeResult>();

/** Loads one probe program alone; true if the kernel accepted it. */
export function probeProgram(prog: string, id: string, use: string, attach = false): ProbeResult {
  const hit = cache.get(id);
  if (hit) return hit;
  let result: ProbeResult;
  let obj: BpfObject | undefined;
  try {
    obj = BpfObject.open(bpfObjectPath("probe"));
    for (const p of obj.programs()) obj.setAutoload(p.name, p.name === prog);
    obj.load();
    if (attach) obj.attach(prog); // closed with the object
    result = { id, ok: true, use };
  } catch (e) {
    result = { id, ok: false, use, reason: condense(e) };
  } finally {
    obj?.close();
  }
  cache.set(id, result);
  return result;
}

/** One line: what failed and the errno, plus what it means where that is known. */
function condense(e: unknown): string {
  const first = errorMessage(e).split("\n")[0] ?? "";
  const line = first.replace(/: libbpf: .*$/, "");
  if (/\bEPERM\b/.test(first) && /^loading/.test(first)) {
    return `${line}: refused by policy (kernel lockdown or an LSM), although the kernel has the program type`;
  }
  if (/\bENOENT\b|\bEOPNOTSUPP\b|\bENOTSUP\b/.test(first) && /attach/.test(first)) {
    return `${line}: the kernel lacks this attach point`;
  }
  return line;
}

export function isMounted(path: string, fstype: string): boolean {
  try {
    const mounts = readFileSync("/proc/self/mounts", "utf8");
    return mounts.split("\n").some((l) => {
      const f = l.split(" ");
      return f[1] === path && f[2] === fstype;
    });
  } catch {
    return false;
  }
}

/** Where tracefs is mounted, or null. */
export function tracefsRoot(): string | null {
  if (isMounted("/sys/kernel/tracing", "tracefs")) return "/sys/kernel/tracing";
  if (existsSync("/sys/kernel/debug/tracing/events")) return "/sys/kernel/debug/tracing";
  return null;
}

/** True if tracepoint category/name exists in tracefs. */
export function tracepointExists(category: string, name: string): boolean {
  const root = tracefsRoot();
  return root !== null && existsSync(`${root}/events/${category}/${name}/id`);
}

/** Everything `lanner doctor` reports about the machine, besides the capture plan. */
export function probeAll(): ProbeResult[] {
  const out: ProbeResult[] = [];
  const btf = existsSync("/sys/kernel/btf/vmlinux");
  out.push({
    id: "btf:vmlinux",
    ok: btf,
    use: "CO-RE: the capture programs find kernel structure fields by BTF; tp_btf programs",
    ...(btf
      ? {}
      : { reason: "/sys/kernel/btf/vmlinux is missing (kernel built without CONFIG_DEBUG_INFO_BTF)" }),
  });
  const tfs = tracefsRoot();
  out.push({
    id: "mount:tracefs",
    ok: tfs !== null,
    use: "per-syscall tracepoints (selected mode, and entry paths in all mode); which syscalls exist",
    ...(tfs !== null ? {} : { reason: "tracefs is not mounted: mount -t tracefs nodev /sys/kernel/tracing" }),
  });
  const cg2 = isMounted("/sys/fs/cgroup", "cgroup2") || isMounted("/sys/fs/cgroup/unified", "cgroup2");
  out.push({
    id: "mount:cgroup2",
    ok: cg2,
    use: "the container of each event (the task's cgroup v2 id, resolved to its path)",
    ...(cg2 ? {} : { reason: "no cgroup2 hierarchy mounted" }),
  });
  if (!existsSync(bpfObjectPath("probe"))) {
    out.push({
      id: "bpf:objects",
      ok: false,
      use: "every Lanner program",
      reason: `${bpfObjectPath("probe")} is missing: run make build`,
    });
    return out;
  }
  for (const p of PROGRAM_PROBES) out.push(probeProgram(p.prog, p.id, p.use, p.attach ?? false));
  return out;
}
