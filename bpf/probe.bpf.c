// SPDX-License-Identifier: GPL-2.0
/*
 * Feature probes for `lanner doctor`: one trivial program per feature. The loader turns
 * autoload off for all of them and on for the one being probed, so each loads (and, where
 * it makes sense, attaches) alone; a refusal is reported with its errno.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* probe_send_signal signals this process (SIGUSR1) on its next getppid; 0 = nobody. */
const volatile __u32 probe_target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096 * 4);
} probe_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} probe_hits SEC(".maps");

static __always_inline void hit(void)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&probe_hits, &zero);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(probe_tp_btf, struct pt_regs *regs, long id)
{
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int probe_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_tracepoint(void *ctx)
{
	hit();
	return 0;
}

SEC("kprobe/do_nanosleep")
int probe_kprobe(struct pt_regs *ctx)
{
	return 0;
}

SEC("fentry/do_sys_openat2")
int BPF_PROG(probe_fentry)
{
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(probe_lsm, struct file *file)
{
	return 0;
}

SEC("xdp")
int probe_xdp(struct xdp_md *ctx)
{
	return 2; /* XDP_PASS */
}

/* libbpf 1.1 has no "tc" section name yet; "classifier" is the same program type. */
SEC("classifier")
int probe_tc(struct __sk_buff *skb)
{
	return 0; /* TC_ACT_OK */
}

SEC("cgroup_skb/egress")
int probe_cgroup_skb(struct __sk_buff *skb)
{
	return 1; /* allow */
}

SEC("socket")
int probe_socket_filter(struct __sk_buff *skb)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_ringbuf(void *ctx)
{
	__u64 *e = bpf_ringbuf_reserve(&probe_rb, sizeof(*e), 0);

	if (!e)
		return 0;
	*e = bpf_get_current_pid_tgid();
	bpf_ringbuf_submit(e, bpf_ringbuf_query(&probe_rb, BPF_RB_AVAIL_DATA) > 8192 ? 0 : BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("iter/task")
int probe_task_iter(struct bpf_iter__task *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_send_signal(void *ctx)
{
	if (probe_target_tgid && (bpf_get_current_pid_tgid() >> 32) == probe_target_tgid) {
		bpf_send_signal(10 /* SIGUSR1 */);
		hit();
	}
	return 0;
}
