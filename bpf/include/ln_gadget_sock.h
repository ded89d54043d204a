/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A socket's two ends as gadget records carry them (trace tcp, top tcp): local and remote
 * address and port, and the IP version of the connection. An IPv4 connection on an IPv6
 * socket (a dual-stack listener's accepted socket: ::ffff:a.b.c.d) is reported as IPv4, as
 * the capture path's decoder and /proc/net/tcp6 readers name it.
 */
#ifndef LN_GADGET_SOCK_H
#define LN_GADGET_SOCK_H

#ifndef LNG_AF_INET
#define LNG_AF_INET 2
#define LNG_AF_INET6 10
#endif

struct lng_sock_tuple {
	__u8 laddr[16]; /* IPv4: the first 4 bytes, network order */
	__u8 raddr[16];
	__u16 lport;    /* host order */
	__u16 rport;    /* host order */
	__u8 ipver;     /* 4 or 6 */
	__u8 pad[3];
};

static __always_inline bool lng_v4mapped(const __u8 *a)
{
	__u64 hi;
	__u32 mid;

	__builtin_memcpy(&hi, a, 8);
	__builtin_memcpy(&mid, a + 8, 4);
	return hi == 0 && mid == bpf_htonl(0x0000ffff);
}

static __always_inline bool lng_v6zero(const __u8 *a)
{
	__u64 hi, lo;

	__builtin_memcpy(&hi, a, 8);
	__builtin_memcpy(&lo, a + 8, 8);
	return hi == 0 && lo == 0;
}

/* Fills `t` from an IPv4 or IPv6 socket; false for other families. */
static __always_inline bool lng_sock_tuple(const struct sock *sk, struct lng_sock_tuple *t)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	__builtin_memset(t, 0, sizeof(*t));
	/* inet_sport, not skc_num: a socket moving to CLOSE is unbound (skc_num = 0) before the
	 * state changes, and a reset socket stays so; the port it used is still in inet_sport */
	t->lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	t->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == LNG_AF_INET) {
		__u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(t->laddr, &l, 4);
		__builtin_memcpy(t->raddr, &r, 4);
		t->ipver = 4;
		return true;
	}
	if (family != LNG_AF_INET6)
		return false;
	BPF_CORE_READ_INTO(&t->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
	BPF_CORE_READ_INTO(&t->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	if (lng_v4mapped(t->laddr) && (lng_v4mapped(t->raddr) || lng_v6zero(t->raddr))) {
		__u32 l, r;

		__builtin_memcpy(&l, t->laddr + 12, 4);
		__builtin_memcpy(&r, t->raddr + 12, 4);
		__builtin_memset(t->laddr, 0, 16);
		__builtin_memset(t->raddr, 0, 16);
		__builtin_memcpy(t->laddr, &l, 4);
		__builtin_memcpy(t->raddr, &r, 4);
		t->ipver = 4;
		return true;
	}
	t->ipver = 6;
	return true;
}

#endif /* LN_GADGET_SOCK_H */
