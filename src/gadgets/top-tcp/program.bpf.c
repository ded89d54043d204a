// SPDX-License-Identifier: GPL-2.0
/*
 * top tcp: the tracepoints sock:sock_send_length and sock:sock_recv_length fire in the calling
 * process's context at the end of every sock_sendmsg()/sock_recvmsg() (write, send*, read,
 * recv*, sendfile/splice to a socket, io_uring sends) with the socket and the byte count, so
 * the process and the connection are both known and the bytes are exactly what the calls
 * moved. (tcp:tcp_sendmsg_locked fires per skb with no process attribution of receives, and
 * tcp:tcp_probe fires per segment in softirq context, where the process is not known.)
 * Per connection and process the bytes are summed here; user space reads each interval.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "ln_gadget.h"
#include "program.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u8 lng_ipver = 0;      /* 0: both; 4 or 6 */
const volatile __u32 lng_target_pid = 0; /* 0: every process */

#define LNG_MSG_PEEK 2

/* the two tables (the loader sets their size) */
#define LNG_TOPTCP_TABLE(name)                                                  \
	struct {                                                                \
		__uint(type, BPF_MAP_TYPE_HASH);                                \
		__uint(max_entries, 8192);                                      \
		__type(key, struct lng_toptcp_key);                             \
		__type(value, struct lng_toptcp_val);                           \
	} name SEC(".maps")

LNG_TOPTCP_TABLE(lng_toptcp_a);
LNG_TOPTCP_TABLE(lng_toptcp_b);

/* [0]: the table the programs add to (0: a, 1: b); user space flips it every interval */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} lng_toptcp_slot SEC(".maps");

/* connections not counted because the table was full (per CPU) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lng_toptcp_full SEC(".maps");

static __always_inline int count(const struct sock *sk, int ret, int flags, bool send)
{
	struct lng_toptcp_key key;
	struct lng_toptcp_val *v, init;
	__u32 zero = 0, *slot;
	__u64 id = bpf_get_current_pid_tgid();
	void *table;

	if (ret <= 0 || (!send && (flags & LNG_MSG_PEEK)))
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (lng_target_pid && (id >> 32) != lng_target_pid)
		return 0;
	if (lng_skip_current())
		return 0;
	__builtin_memset(&key, 0, sizeof(key));
	if (!lng_sock_tuple(sk, &key.t))
		return 0;
	if (lng_ipver && key.t.ipver != lng_ipver)
		return 0;
	key.pid = id >> 32;
	slot = bpf_map_lookup_elem(&lng_toptcp_slot, &zero);
	table = slot && *slot ? (void *)&lng_toptcp_b : (void *)&lng_toptcp_a;
	v = bpf_map_lookup_elem(table, &key);
	if (!v) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		struct task_struct *parent = BPF_CORE_READ(t, real_parent);

		__builtin_memset(&init, 0, sizeof(init));
		init.cgroup_id = bpf_get_current_cgroup_id();
		init.tid = (__u32)id;
		init.uid = BPF_CORE_READ(t, cred, euid.val);
		init.gid = BPF_CORE_READ(t, cred, egid.val);
		bpf_get_current_comm(&init.comm, sizeof(init.comm));
		/* the parent as it is now: the process may be gone when user space reads the row */
		if (parent) {
			init.ppid = BPF_CORE_READ(parent, tgid);
			BPF_CORE_READ_STR_INTO(&init.pcomm, parent, comm);
		}
		if (bpf_map_update_elem(table, &key, &init, BPF_NOEXIST) && bpf_map_lookup_elem(table, &key) == NULL) {
			__u64 *n = bpf_map_lookup_elem(&lng_toptcp_full, &zero);

			if (n)
				*n += 1;
			return 0;
		}
		v = bpf_map_lookup_elem(table, &key);
		if (!v)
			return 0;
	}
	if (send)
		__sync_fetch_and_add(&v->sent, (__u64)ret);
	else
		__sync_fetch_and_add(&v->received, (__u64)ret);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(lng_toptcp_send_btf, struct sock *sk, int ret, int flags)
{
	return count(sk, ret, flags, true);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(lng_toptcp_recv_btf, struct sock *sk, int ret, int flags)
{
	return count(sk, ret, flags, false);
}

SEC("raw_tracepoint/sock_send_length")
int lng_toptcp_send_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return count((const struct sock *)ctx->args[0], (int)ctx->args[1], (int)ctx->args[2], true);
}

SEC("raw_tracepoint/sock_recv_length")
int lng_toptcp_recv_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return count((const struct sock *)ctx->args[0], (int)ctx->args[1], (int)ctx->args[2], false);
}

const struct lng_toptcp_key *unused_lng_toptcp_key __attribute__((unused));
const struct lng_toptcp_val *unused_lng_toptcp_val __attribute__((unused));
