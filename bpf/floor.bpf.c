// SPDX-License-Identifier: GPL-2.0
/* Reference programs for the capture benchmark (bench/macro/capture.ts).
 *
 * floor_*: empty programs attached to the same tracepoints as Lanner's selected mode; they
 * measure what enabling those attach points costs by itself.
 *
 * ref_*: the research prototype's design (shared/research/capture-limits.md, section C): a
 * 32-byte event at every sys_enter and every sys_exit (tp_btf), ktime + pid/tid + syscall id
 * + one value, submitted with BPF_RB_NO_WAKEUP and drained every 10 ms. Run in the same
 * bench run as Lanner, it calibrates the VM: the absolute targets were set against
 * that design's numbers on the day of the notes.
 *
 * cost_*: the parts of Lanner's all-mode fast path, one more per `cost_step`
 * (bench/micro/capture-costs.ts measures what each adds per syscall):
 *   0 the program runs and returns; 1 + reserve and submit a 104-byte record;
 *   2 + bpf_ktime_get_boot_ns(); 3 + pid/tid, cpu, creds, the six argument registers;
 *   4 + the cgroup id (four pointer loads). cost_enter is an empty sys_enter program. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 ref_self_tgid = 0;
const volatile __u32 cost_step = 0;

struct ref_event {
	__u64 ts;
	__u32 pid, tid, id, kind;
	__s64 val;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} ref_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ref_drops SEC(".maps");

SEC("tracepoint")
int floor_enter(void *ctx)
{
	return 0;
}

SEC("tracepoint")
int floor_exit(void *ctx)
{
	return 0;
}

static __always_inline int ref_emit(__u32 id, __u32 kind, __s64 val)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ref_event *e;
	__u32 zero = 0;
	__u64 *drops;

	if ((pid_tgid >> 32) == ref_self_tgid)
		return 0;
	e = bpf_ringbuf_reserve(&ref_events, sizeof(*e), 0);
	if (!e) {
		drops = bpf_map_lookup_elem(&ref_drops, &zero);
		if (drops)
			*drops += 1;
		return 0;
	}
	e->ts = bpf_ktime_get_ns();
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->id = id;
	e->kind = kind;
	e->val = val;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ref_enter, struct pt_regs *regs, long id)
{
	return ref_emit(id, 0, regs->di);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(ref_exit, struct pt_regs *regs, long ret)
{
	return ref_emit(regs->orig_ax, 1, ret);
}

/* the same size as struct ln_syscall */
struct cost_record {
	__u64 ts;
	__u32 tgid, tid;
	__u16 kind, size, cpu, ntails;
	__u32 flags, nr, euid, egid;
	__s64 ret;
	__u64 args[6];
	__u64 cgroup_id;
};

SEC("tp_btf/sys_exit")
int BPF_PROG(cost_exit, struct pt_regs *regs, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *task;
	struct cost_record *e;

	if ((pid_tgid >> 32) == ref_self_tgid || cost_step == 0)
		return 0;
	e = bpf_ringbuf_reserve(&ref_events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->ts = cost_step >= 2 ? bpf_ktime_get_boot_ns() : 0;
	e->kind = 1;
	e->size = sizeof(*e);
	if (cost_step >= 3) {
		task = bpf_get_current_task_btf();
		e->tgid = pid_tgid >> 32;
		e->tid = (__u32)pid_tgid;
		e->cpu = bpf_get_smp_processor_id();
		e->euid = task->cred->euid.val;
		e->egid = task->cred->egid.val;
		e->nr = regs->orig_ax;
		e->ret = ret;
		e->args[0] = regs->di;
		e->args[1] = regs->si;
		e->args[2] = regs->dx;
		e->args[3] = regs->r10;
		e->args[4] = regs->r8;
		e->args[5] = regs->r9;
		if (cost_step >= 4)
			e->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	}
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(cost_enter, struct pt_regs *regs, long id)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
