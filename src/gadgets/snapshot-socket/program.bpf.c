// SPDX-License-Identifier: GPL-2.0
/*
 * snapshot socket: a task_file iterator (iter/task_file). For every open file of every
 * process the container selection keeps (lng_skip_task), a socket file is followed to its
 * struct sock (bpf_sock_from_file) and a TCP or UDP socket of family AF_INET/AF_INET6 is
 * reported with its process and fd. Tasks sharing a file table are visited once (the
 * iterator skips threads), so each (process, fd) is one record, whatever network namespace
 * the socket is in: no namespace has to be entered.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "ln_gadget.h"
#include "program.h"

char LICENSE[] SEC("license") = "GPL";

/* the record layouts user space decodes (gen-abi reads them from BTF) */
const enum lng_socket_protos *unused_protos __attribute__((unused));

const volatile __u8 lng_protos = LNG_SOCKET_TCP | LNG_SOCKET_UDP;

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lng_socket);
} lng_socket_scratch SEC(".maps");

SEC("iter/task_file")
int lng_snapshot_socket(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *t = ctx->task;
	struct file *f = ctx->file;
	struct lng_socket *r;
	struct socket *sock;
	struct sock *sk;
	__u16 family, proto;
	__u32 zero = 0;

	if (!t || !f)
		return 0;
	sock = bpf_sock_from_file(f);
	if (!sock)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	proto = BPF_CORE_READ(sk, sk_protocol);
	if (!(proto == IPPROTO_TCP && (lng_protos & LNG_SOCKET_TCP)) &&
	    !(proto == IPPROTO_UDP && (lng_protos & LNG_SOCKET_UDP)))
		return 0;
	if (lng_skip_task(t))
		return 0;
	r = bpf_map_lookup_elem(&lng_socket_scratch, &zero);
	if (!r)
		return 0;
	lng_fill_hdr(&r->h, t, 0);
	r->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	r->ino = BPF_CORE_READ(f, f_inode, i_ino);
	r->fd = ctx->fd;
	r->family = family;
	r->proto = proto;
	r->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	r->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	r->pad[0] = r->pad[1] = r->pad[2] = 0;
	__builtin_memset(r->laddr, 0, sizeof(r->laddr));
	__builtin_memset(r->raddr, 0, sizeof(r->raddr));
	if (family == AF_INET) {
		BPF_CORE_READ_INTO((__be32 *)r->laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__be32 *)r->raddr, sk, __sk_common.skc_daddr);
	} else if (bpf_core_field_exists(sk->__sk_common.skc_v6_rcv_saddr)) {
		BPF_CORE_READ_INTO((struct in6_addr *)r->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO((struct in6_addr *)r->raddr, sk, __sk_common.skc_v6_daddr);
	}
	if (proto == IPPROTO_TCP) {
		struct tcp_sock *tp = (struct tcp_sock *)sk;

		if (r->state == 10 /* TCP_LISTEN */) {
			r->rx_queue = BPF_CORE_READ(sk, sk_ack_backlog);
			r->tx_queue = BPF_CORE_READ(sk, sk_max_ack_backlog);
		} else {
			r->rx_queue = BPF_CORE_READ(tp, rcv_nxt) - BPF_CORE_READ(tp, copied_seq);
			r->tx_queue = BPF_CORE_READ(tp, write_seq) - BPF_CORE_READ(tp, snd_una);
		}
	} else {
		r->rx_queue = BPF_CORE_READ(sk, sk_backlog.rmem_alloc.counter);
		r->tx_queue = BPF_CORE_READ(sk, sk_wmem_alloc.refs.counter) - 1; /* a socket holds 1 */
	}
	bpf_seq_write(seq, r, sizeof(*r));
	return 0;
}
