// SPDX-License-Identifier: GPL-2.0
/*
 * Selftest object for the native addon (the src/native kernel tests). Not used by the agent.
 *
 * ln_st_getppid: on every getppid(2) of the process `filter_tgid` (0 = any process) it
 *   emits one record to `st_rb` with BPF_RB_NO_WAKEUP (the consumer drains on a timer):
 *     u64 pid_tgid; u64 seq; u8 tail[seq % 16] where tail[i] = (seq + i) & 0xff
 *   so record lengths are 16..31 bytes (mostly not multiples of 8) and the consumer's
 *   framing and padding are exercised. `seq` starts at 1 and is global (one shared
 *   counter), so a test can check that every record arrives exactly once. It also bumps
 *   st_counts[ST_C_GETPPID] (per-CPU); a failed ring reserve bumps st_counts[ST_C_DROPS].
 * ln_st_generic: bare SEC("tracepoint"), for attaching one program to many tracepoints;
 *   bumps st_counts[ST_C_GENERIC].
 * ln_st_raw: raw tracepoint without a target (attach explicitly), bumps st_counts[ST_C_RAW].
 * ln_st_bad: autoload off ("?" prefix); dereferences a map lookup without a NULL check, so
 *   loading it fails in the verifier (EACCES) — the load-error test turns it on.
 * ln_st_xdp, ln_st_cgskb, ln_st_uprobe, ln_st_tc: autoload off; attach-kind tests turn them on and
 *   count hits in st_counts[ST_C_XDP / _CGROUP / _UPROBE / _TC] (uprobe: filter_tgid only).
 * ln_st_iter_task: a task iterator (autoload off): one record per task (thread) of the
 *   process filter_tgid (every task when 0): u32 tgid, u32 tid.
 * st_kv: a plain hash map for CRUD/iteration tests.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 filter_tgid = 0;
const volatile __u64 seq_base = 0; /* added to every seq; lets a test check set-global */

enum {
	ST_C_GETPPID = 0,
	ST_C_GENERIC = 1,
	ST_C_RAW = 2,
	ST_C_DROPS = 3,
	ST_C_XDP = 4,
	ST_C_CGROUP = 5,
	ST_C_UPROBE = 6,
	ST_C_TC = 7,
	ST_C__N = 8,
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} st_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_C__N);
	__type(key, __u32);
	__type(value, __u64);
} st_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} st_seq SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} st_kv SEC(".maps");

static __always_inline void bump(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&st_counts, &idx);
	if (v)
		*v += 1;
}

struct st_rec {
	__u64 pid_tgid;
	__u64 seq;
	__u8 tail[16];
};

SEC("tracepoint/syscalls/sys_enter_getppid")
int ln_st_getppid(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0;
	struct st_rec r = {};
	__u64 *seqp, seq;
	__u32 len, i;

	if (filter_tgid && (__u32)(id >> 32) != filter_tgid)
		return 0;
	bump(ST_C_GETPPID);
	seqp = bpf_map_lookup_elem(&st_seq, &zero);
	if (!seqp)
		return 0;
	seq = __sync_fetch_and_add(seqp, 1) + 1 + seq_base;
	r.pid_tgid = id;
	r.seq = seq;
	for (i = 0; i < 16; i++)
		r.tail[i] = (__u8)(seq + i);
	len = 16 + (__u32)(seq & 15);
	if (bpf_ringbuf_output(&st_rb, &r, len, BPF_RB_NO_WAKEUP))
		bump(ST_C_DROPS);
	return 0;
}

SEC("tracepoint")
int ln_st_generic(void *ctx)
{
	bump(ST_C_GENERIC);
	return 0;
}

SEC("raw_tp")
int ln_st_raw(void *ctx)
{
	bump(ST_C_RAW);
	return 0;
}

SEC("?tracepoint/syscalls/sys_enter_getppid")
int ln_st_bad(void *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&st_kv, &k);
	return (int)*v; /* no NULL check: the verifier rejects this */
}

SEC("?xdp")
int ln_st_xdp(struct xdp_md *ctx)
{
	bump(ST_C_XDP);
	return XDP_PASS;
}

SEC("?cgroup_skb/egress")
int ln_st_cgskb(struct __sk_buff *skb)
{
	bump(ST_C_CGROUP);
	return 1; /* allow */
}

SEC("?uprobe")
int ln_st_uprobe(void *ctx)
{
	__u32 tgid = (__u32)(bpf_get_current_pid_tgid() >> 32);

	if (filter_tgid && tgid != filter_tgid)
		return 0;
	bump(ST_C_UPROBE);
	return 0;
}

SEC("?tc")
int ln_st_tc(struct __sk_buff *skb)
{
	bump(ST_C_TC);
	return 0; /* TC_ACT_OK */
}

SEC("?iter/task")
int ln_st_iter_task(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	__u32 rec[2];

	if (!t)
		return 0;
	rec[0] = t->tgid;
	rec[1] = t->pid;
	if (filter_tgid && rec[0] != filter_tgid)
		return 0;
	bpf_seq_write(ctx->meta->seq, rec, sizeof(rec));
	return 0;
}
