// SPDX-License-Identifier: GPL-2.0
/*
 * trace tcp, closes: without function probes (no tcp_close kprobe or fentry here), the close
 * of a connection is found on two tracepoints, each in the closing process's context:
 *
 * - sock:inet_sock_set_state: tcp_close() changes the state (ESTABLISHED -> FIN_WAIT1,
 *   CLOSE_WAIT -> LAST_ACK, -> CLOSE on abort) while the socket's file is being released
 *   (its reference count is gone: the process's last close(), or its exit). The same
 *   tracepoint also fires in softirq context for the peer's packets and the timers, and for
 *   shutdown(), where the file is alive: those are not closes.
 * - tcp:tcp_destroy_sock: a connection that was already CLOSE (reset by the peer) has no
 *   state change left; tcp_close() destroys it at once, with the socket still locked by the
 *   closing process (elsewhere destruction happens in softirq or timer context, unlocked,
 *   long after the close).
 *
 * lng_tcp_closed remembers the sockets reported by the first, so the second does not report
 * them again; tcp:tcp_destroy_sock forgets them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "ln_gadget.h"
#include "program.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u8 lng_ipver = 0; /* 0: both; 4 or 6: only that IP version */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} lng_tcp_closed SEC(".maps");

/* struct file's reference count before Linux 6.13 */
struct file___f_count {
	atomic_long_t f_count;
} __attribute__((preserve_access_index));

/* True while the socket's file is released: no reference left (__fput is running). */
static __always_inline bool file_released(struct socket *so)
{
	struct file *f = BPF_CORE_READ(so, file);

	if (!f)
		return false;
	if (bpf_core_field_exists(f->f_ref))
		return (__s64)BPF_CORE_READ(f, f_ref.refcnt.counter) < 0;
	return BPF_CORE_READ((struct file___f_count *)f, f_count.counter) == 0;
}

static __always_inline bool emit_close(const struct sock *sk)
{
	struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
	struct lng_tcp_close *r;
	struct lng_sock_tuple t;

	if (!lng_sock_tuple(sk, &t) || t.rport == 0) /* listeners, failed connects: no peer */
		return false;
	if (lng_ipver && t.ipver != lng_ipver)
		return false;
	r = lng_reserve(struct lng_tcp_close);
	if (!r)
		return true;
	lng_fill_hdr(&r->h, cur, 0);
	r->t = t;
	r->euid = BPF_CORE_READ(cur, cred, euid.val);
	r->egid = BPF_CORE_READ(cur, cred, egid.val);
	bpf_ringbuf_submit(r, 0);
	return true;
}

static __always_inline int on_state(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	__u8 one = 1;
	struct socket *so;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	so = BPF_CORE_READ(sk, sk_socket);
	if (!so || !file_released(so))
		return 0;
	if (bpf_map_lookup_elem(&lng_tcp_closed, &key)) /* a later change in the same close */
		return 0;
	if (lng_skip_current())
		return 0;
	if (emit_close(sk))
		bpf_map_update_elem(&lng_tcp_closed, &key, &one, BPF_ANY);
	return 0;
}

static __always_inline int on_destroy(const struct sock *sk)
{
	__u64 key = (__u64)sk;

	if (bpf_map_delete_elem(&lng_tcp_closed, &key) == 0) /* reported when it was closed */
		return 0;
	if (!BPF_CORE_READ(sk, sk_lock.owned)) /* destroyed by the stack, not by a close */
		return 0;
	if (lng_skip_current())
		return 0;
	emit_close(sk);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(lng_tcp_state_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	return on_state(sk);
}

SEC("raw_tracepoint/inet_sock_set_state")
int lng_tcp_state_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_state((const struct sock *)ctx->args[0]);
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(lng_tcp_destroy_btf, struct sock *sk)
{
	return on_destroy(sk);
}

SEC("raw_tracepoint/tcp_destroy_sock")
int lng_tcp_destroy_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_destroy((const struct sock *)ctx->args[0]);
}

const struct lng_tcp_close *unused_lng_tcp_close __attribute__((unused));
