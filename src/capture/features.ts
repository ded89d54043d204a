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

/** Probe programs in bpf/probe.bpf.c and what Lanner uses each type for. */
export const PROGRAM_PROBES: readonly { prog: string; id: string; use: string; attach?: boolean }[] = [
  {
    prog: "probe_tp_btf",
    id: "prog:tp_btf",
    use: "all-syscalls capture and process lifecycle (BTF tracepoints)",
    attach: true,
  },
  { prog: "probe_raw_tp", id: "prog:raw_tracepoint", use: "fallback for tp_btf", attach: true },
  {
    prog: "probe_tracepoint",
    id: "prog:tracepoint",
    use: "selected-syscalls capture (per-syscall tracepoints)",
    attach: true,
  },
  {
    prog: "probe_kprobe",
    id: "prog:kprobe",
    use: "kernel function probes for gadgets (optional)",
    attach: true,
  },
  { prog: "probe_fentry", id: "prog:fentry", use: "cheaper kernel function probes (optional)", attach: true },
  { prog: "probe_lsm", id: "prog:lsm", use: "BPF LSM enforcement (optional)", attach: true },
  { prog: "probe_xdp", id: "prog:xdp", use: "packet counting at XDP (networking)" },
  { prog: "probe_tc", id: "prog:tc", use: "traffic control programs (networking)" },
  { prog: "probe_cgroup_skb", id: "prog:cgroup_skb", use: "cgroup socket buffer programs (policy)" },
  { prog: "probe_socket_filter", id: "prog:socket_filter", use: "socket filters" },
  { prog: "probe_ringbuf", id: "map:ringbuf", use: "BPF ring buffer (the event channel)" },
  {
    prog: "probe_task_iter",
    id: "prog:iter_task",
    use: "task iterators for seeding process state (optional)",
  },
  { prog: "probe_send_signal", id: "helper:send_signal", use: "bpf_send_signal for enforcement (optional)" },
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
    return `${line}: the kernel lacks this attach point (e.g. CONFIG_KPROBES unset)`;
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
    use: "CO-RE relocation and BTF tracepoints",
    ...(btf
      ? {}
      : { reason: "/sys/kernel/btf/vmlinux is missing (kernel built without CONFIG_DEBUG_INFO_BTF)" }),
  });
  const tfs = tracefsRoot();
  out.push({
    id: "mount:tracefs",
    ok: tfs !== null,
    use: "per-syscall tracepoint ids",
    ...(tfs !== null ? {} : { reason: "tracefs is not mounted: mount -t tracefs nodev /sys/kernel/tracing" }),
  });
  const bpffs = isMounted("/sys/fs/bpf", "bpf");
  out.push({
    id: "mount:bpffs",
    ok: bpffs,
    use: "pinning maps and links (networking)",
    ...(bpffs ? {} : { reason: "bpffs is not mounted: mount -t bpf bpf /sys/fs/bpf" }),
  });
  const cg2 = isMounted("/sys/fs/cgroup", "cgroup2") || isMounted("/sys/fs/cgroup/unified", "cgroup2");
  out.push({
    id: "mount:cgroup2",
    ok: cg2,
    use: "cgroup ids of containers",
    ...(cg2 ? {} : { reason: "no cgroup2 hierarchy mounted" }),
  });
  const kprobeEvents = tfs !== null && existsSync(`${tfs}/kprobe_events`);
  out.push({
    id: "tracefs:kprobe_events",
    ok: kprobeEvents,
    use: "kprobes",
    ...(kprobeEvents
      ? {}
      : { reason: "no kprobe_events in tracefs (CONFIG_KPROBES unset or tracefs missing)" }),
  });
  if (!existsSync(bpfObjectPath("probe"))) {
    out.push({
      id: "bpf:objects",
      ok: false,
      use: "all programs",
      reason: `${bpfObjectPath("probe")} is missing: run make build`,
    });
    return out;
  }
  for (const p of PROGRAM_PROBES) out.push(probeProgram(p.prog, p.id, p.use, p.attach ?? false));
  return out;
}
