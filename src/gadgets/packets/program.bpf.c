// SPDX-License-Identifier: GPL-2.0
/*
 * The packet gadgets' kernel side (trace dns, trace sni): cgroup_skb programs on the cgroup
 * v2 root see every inet socket's packets in both directions, with the socket (its cookie,
 * its cgroup: the container selection applies to it) but no process: packets are received
 * in softirq context and often sent from it. So a socket's process is kept in socket local
 * storage, written by programs that run in the process's own context (socket creation,
 * bind, connect, UDP sendmsg/recvmsg, and every send and receive when the sock_send_length
 * and sock_recv_length BTF tracepoints are there), and copied to an accepted socket from its
 * listener (BPF_F_CLONE). The skb programs copy only what user space parses: DNS messages
 * on the configured ports, or the TLS ClientHello of a TCP connection.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "ln_gadget.h"
#include "program.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define PROTO_TCP 6
#define PROTO_UDP 17

const volatile __u8 lng_mode = LNG_MODE_DNS;
const volatile __u16 lng_ports[LNG_PORTS_MAX] = {};
const volatile __u32 lng_nports = 0;

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct lng_sock);
} lng_socks SEC(".maps");

/* socket cookie -> the process last seen with it: for user space, which asks again about
 * a packet that came before its socket's process was known */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct lng_owner);
} lng_owners SEC(".maps");

struct pkt_scratch {
	struct lng_pkt p;
	__u8 data[LNG_CAP_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pkt_scratch);
} lng_buf SEC(".maps");

/* ---------------------------------------------------------------- sockets' processes */

/* The current task owns the socket from now on. */
static __always_inline void lng_own(struct lng_sock *s, __u64 cookie)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct lng_owner *o = &s->o;
	struct task_struct *t;

	if (o->pid == id >> 32 && o->tid == (__u32)id)
		return;
	t = bpf_get_current_task_btf();
	o->pid = id >> 32;
	o->tid = (__u32)id;
	o->ppid = BPF_CORE_READ(t, real_parent, tgid);
	o->uid = BPF_CORE_READ(t, cred, uid.val);
	o->gid = BPF_CORE_READ(t, cred, gid.val);
	o->mntns = lng_task_mntns(t);
	bpf_get_current_comm(o->comm, sizeof(o->comm));
	bpf_map_update_elem(&lng_owners, &cookie, o, BPF_ANY);
}

static __always_inline bool lng_inet(__u32 family, __u32 type)
{
	return (family == AF_INET || family == AF_INET6) && (type == SOCK_STREAM || type == SOCK_DGRAM);
}

/* cgroup/sock_create, post_bind: the context is the socket */
static __always_inline int lng_track_ctx(struct bpf_sock *sk)
{
	struct lng_sock *s;

	if (!lng_inet(sk->family, sk->type))
		return 1;
	s = bpf_sk_storage_get(&lng_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (s)
		lng_own(s, bpf_get_socket_cookie(sk));
	return 1;
}

/* cgroup/connect, sendmsg, recvmsg: the context is the address, ctx->sk the socket */
static __always_inline int lng_track_addr(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct lng_sock *s;

	if (!sk || !lng_inet(sk->family, sk->type))
		return 1;
	s = bpf_sk_storage_get(&lng_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (s)
		lng_own(s, bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("cgroup/sock_create")
int lng_sock_create(struct bpf_sock *sk)
{
	return lng_track_ctx(sk);
}

SEC("cgroup/post_bind4")
int lng_post_bind4(struct bpf_sock *sk)
{
	return lng_track_ctx(sk);
}

SEC("cgroup/post_bind6")
int lng_post_bind6(struct bpf_sock *sk)
{
	return lng_track_ctx(sk);
}

SEC("cgroup/connect4")
int lng_connect4(struct bpf_sock_addr *ctx)
{
	return lng_track_addr(ctx);
}

SEC("cgroup/connect6")
int lng_connect6(struct bpf_sock_addr *ctx)
{
	return lng_track_addr(ctx);
}

SEC("cgroup/sendmsg4")
int lng_sendmsg4(struct bpf_sock_addr *ctx)
{
	return lng_track_addr(ctx);
}

SEC("cgroup/sendmsg6")
int lng_sendmsg6(struct bpf_sock_addr *ctx)
{
	return lng_track_addr(ctx);
}

SEC("cgroup/recvmsg4")
int lng_recvmsg4(struct bpf_sock_addr *ctx)
{
	return lng_track_addr(ctx);
}

SEC("cgroup/recvmsg6")
int lng_recvmsg6(struct bpf_sock_addr *ctx)
{
	return lng_track_addr(ctx);
}

/* Every send and receive (sock_sendmsg/sock_recvmsg, in the caller's context): sockets
 * older than the gadget, passed to another process or shared after fork get their current
 * user. */
static __always_inline void lng_track_sock(struct sock *sk)
{
	struct lng_sock *s;

	if (!sk || !lng_inet(sk->__sk_common.skc_family, sk->sk_type))
		return;
	s = bpf_sk_storage_get(&lng_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (s)
		lng_own(s, bpf_get_socket_cookie(sk));
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(lng_send_length, struct sock *sk, int ret, int flags)
{
	lng_track_sock(sk);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(lng_recv_length, struct sock *sk, int ret, int flags)
{
	lng_track_sock(sk);
	return 0;
}

/* ---------------------------------------------------------------- packets */

static __always_inline bool lng_port_wanted(__u16 port)
{
	for (int i = 0; i < LNG_PORTS_MAX; i++) {
		if (i >= lng_nports)
			break;
		if (lng_ports[i] == port)
			return true;
	}
	return false;
}

/* Network-order 32 bits from bytes (the verifier-friendly way). */
static __always_inline __u32 lng_be32(const __u8 *b)
{
	return ((__u32)b[0] << 24) | ((__u32)b[1] << 16) | ((__u32)b[2] << 8) | b[3];
}

static __always_inline int lng_packet(struct __sk_buff *skb, __u8 dir)
{
	struct bpf_sock *sk = skb->sk;
	struct pkt_scratch *b;
	struct lng_sock *s;
	__u32 zero = 0, proto, l4off, off, plen;
	__u64 n;
	__u8 l4proto, family, vb, flags = 0;
	__u16 sport, dport;
	__u32 seq = 0;
	__u64 cg;

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	proto = sk->protocol;
	if (proto != PROTO_TCP && proto != PROTO_UDP)
		return 1;
	if (lng_mode == LNG_MODE_SNI && proto != PROTO_TCP)
		return 1;
	b = bpf_map_lookup_elem(&lng_buf, &zero);
	if (!b)
		return 1;

	/* the network header is at offset 0 in both directions */
	if (bpf_skb_load_bytes(skb, 0, &vb, 1))
		return 1;
	if ((vb >> 4) == 4) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return 1;
		if (ip.frag_off & bpf_htons(0x1fff))
			return 1; /* a later fragment: no layer-4 header */
		family = 4;
		l4proto = ip.protocol;
		l4off = ip.ihl * 4;
		__builtin_memset(b->p.saddr, 0, sizeof(b->p.saddr));
		__builtin_memset(b->p.daddr, 0, sizeof(b->p.daddr));
		__builtin_memcpy(b->p.saddr, &ip.saddr, 4);
		__builtin_memcpy(b->p.daddr, &ip.daddr, 4);
	} else if ((vb >> 4) == 6) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 1;
		family = 6;
		l4proto = ip6.nexthdr; /* extension headers are not followed */
		l4off = sizeof(ip6);
		__builtin_memcpy(b->p.saddr, &ip6.saddr, 16);
		__builtin_memcpy(b->p.daddr, &ip6.daddr, 16);
	} else {
		return 1;
	}
	if (l4proto != proto)
		return 1;

	if (l4proto == PROTO_UDP) {
		struct udphdr uh;

		if (bpf_skb_load_bytes(skb, l4off, &uh, sizeof(uh)))
			return 1;
		sport = bpf_ntohs(uh.source);
		dport = bpf_ntohs(uh.dest);
		off = l4off + sizeof(uh);
	} else {
		__u8 th[16];

		if (bpf_skb_load_bytes(skb, l4off, th, sizeof(th)))
			return 1;
		sport = ((__u16)th[0] << 8) | th[1];
		dport = ((__u16)th[2] << 8) | th[3];
		seq = lng_be32(&th[4]);
		off = l4off + (th[12] >> 4) * 4;
	}
	if (skb->len <= off)
		return 1; /* no payload (a bare ACK, a SYN) */
	plen = skb->len - off;

	if (lng_mode == LNG_MODE_DNS && !lng_port_wanted(sport) && !lng_port_wanted(dport))
		return 1;

	cg = bpf_skb_cgroup_id(skb);
	if (lng_cgroup_dropped(cg))
		return 1;

	s = bpf_sk_storage_get(&lng_socks, sk, 0, 0);
	if (s && s->o.pid != 0 && s->o.pid == lng_self_tgid)
		return 1;

	if (lng_mode == LNG_MODE_SNI) {
		if (s && s->hello_left > 0) {
			/* the rest of a ClientHello: the segments that follow it, in order */
			__s32 d = (__s32)(seq - s->hello_next);

			if (d < 0)
				return 1; /* a retransmission */
			if (d > 0) {
				s->hello_left = 0; /* a gap: user space reports what it has */
				return 1;
			}
			s->hello_next = seq + plen;
			s->hello_left = plen >= s->hello_left ? 0 : s->hello_left - plen;
			flags |= LNG_PKT_CONT;
		} else {
			__u8 h[6];
			__u32 rec;

			if (plen < sizeof(h) || bpf_skb_load_bytes(skb, off, h, sizeof(h)))
				return 1;
			/* handshake record, TLS 1.x, ClientHello */
			if (h[0] != 0x16 || h[1] != 0x03 || h[5] != 0x01)
				return 1;
			if (!s)
				s = bpf_sk_storage_get(&lng_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
			if (s) {
				if (s->hello_seen && s->hello_seq == seq)
					return 1; /* a retransmission */
				s->hello_seen = 1;
				s->hello_seq = seq;
				rec = 5 + (((__u32)h[3] << 8) | h[4]);
				if (rec > LNG_HELLO_MAX)
					rec = LNG_HELLO_MAX;
				if (rec > plen) {
					s->hello_left = rec - plen;
					s->hello_next = seq + plen;
				}
			}
		}
	}

	if (plen > LNG_CAP_MAX)
		flags |= LNG_PKT_CUT;
	n = plen > LNG_CAP_MAX ? LNG_CAP_MAX : plen;
	/* one register, checked where the helper reads it */
	asm volatile("" : "+r"(n));
	if (n < 1 || n > LNG_CAP_MAX)
		return 1;
	if (bpf_skb_load_bytes(skb, off, b->data, n))
		return 1;

	__builtin_memset(&b->p.hdr, 0, sizeof(b->p.hdr));
	if (s && s->o.pid != 0) {
		b->p.hdr.mntns = s->o.mntns;
		b->p.hdr.pid = s->o.pid;
		b->p.hdr.tid = s->o.tid;
		b->p.hdr.ppid = s->o.ppid;
		b->p.hdr.uid = s->o.uid;
		b->p.hdr.gid = s->o.gid;
		__builtin_memcpy(b->p.hdr.comm, s->o.comm, sizeof(s->o.comm));
		flags |= LNG_PKT_OWNED;
	}
	b->p.hdr.ts = bpf_ktime_get_boot_ns();
	b->p.hdr.cgroup_id = cg;
	b->p.cookie = bpf_get_socket_cookie(skb);
	b->p.seq = seq;
	b->p.payload_len = plen;
	b->p.cap_len = n;
	b->p.sport = sport;
	b->p.dport = dport;
	b->p.family = family;
	b->p.proto = l4proto;
	b->p.dir = dir;
	b->p.flags = flags;
	if (bpf_ringbuf_output(&lng_events, b, sizeof(struct lng_pkt) + n, 0))
		lng_count_lost();
	return 1;
}

SEC("cgroup_skb/egress")
int lng_egress(struct __sk_buff *skb)
{
	return lng_packet(skb, LNG_DIR_EGRESS);
}

SEC("cgroup_skb/ingress")
int lng_ingress(struct __sk_buff *skb)
{
	return lng_packet(skb, LNG_DIR_INGRESS);
}

/* the record's enums reach BTF (layout.generated.ts) */
const enum lng_pkt_mode *lng_unused_mode __attribute__((unused));
const enum lng_pkt_dir *lng_unused_dir __attribute__((unused));
const enum lng_pkt_flag *lng_unused_flag __attribute__((unused));
const enum lng_pkt_limit *lng_unused_limit __attribute__((unused));
